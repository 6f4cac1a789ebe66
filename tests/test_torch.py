"""signalprop.torch: the theory's critical initialisation written into real PyTorch modules, and the
theory's prediction for a module as initialised, both held against the module itself.

The reference is a measurement of the module as PyTorch runs it (``signalprop.torch.lyapunov``:
Benettin on the module's own forward), at two widths and extrapolated in 1/N to the infinite width
the tied theory is exact at.  Each width averages ``NETS`` independently initialised modules; the
standard error is their spread (so network-to-network fluctuations are in it), combined with the
tied solver's own SE; a check passes within ``Z`` combined SEs.  The layout (which rows are which
gate) is checked against PyTorch's documented order, independently of the code that writes it.

CI installs the CPU torch wheel and sets SIGNALPROP_REQUIRE_EXTRAS=1, so these tests cannot skip there.
"""
import math
import os

import pytest

if os.environ.get("SIGNALPROP_REQUIRE_EXTRAS"):
    import torch
else:
    torch = pytest.importorskip("torch")

import signalprop.torch as st  # noqa: E402
import theory  # noqa: E402
from tied_networks import extrapolate  # noqa: E402

Z = 4.0
WIDTHS = (128, 512)
NETS = 4
#: a fixed tied-solver budget (SE ~1e-3 on lambda_max here), seed fixed: the test is deterministic
SOLVER = dict(paths=8192, seed=0)


def measured(build, seed):
    """(lambda_inf, SE): the module built by ``build(n, generator)`` measured at each width in WIDTHS
    over NETS modules each, extrapolated in 1/N."""
    out = []
    for w in WIDTHS:
        lams = []
        for k in range(NETS):
            g = torch.Generator().manual_seed(1000 * seed + 10 * w + k)
            m = build(w, g)
            lams.append(st.lyapunov(m, steps=300, burn=100, batch=8, seed=k)[0])
        mean = sum(lams) / NETS
        sd = math.sqrt(sum((x - mean) ** 2 for x in lams) / (NETS - 1))
        out.append((mean, sd / math.sqrt(NETS)))
    return extrapolate(out[0], out[1], *WIDTHS)


def test_gru_critical_init_gives_the_requested_timescale_in_the_real_module():
    """critical_init_(nn.GRU, xi=5) solves the tied lambda_max = exp(-1/5) and writes it; modules
    initialised with those parameters grow perturbations by that factor per step (measured,
    extrapolated to infinite width), and the annealed theory's lambda_max there is rejected."""
    target = math.exp(-1 / 5)
    first = torch.nn.GRU(WIDTHS[-1], WIDTHS[-1])
    r = st.critical_init_(first, xi=5.0, generator=torch.Generator().manual_seed(0), **SOLVER)
    assert r.theory == "tied" and r.feasible and abs(r.lambda_max - target) < 1e-6
    assert st.parameters(first)[1]["mu_b_z"] == pytest.approx(r.params["mu_b_z"], abs=Z * 1e-9 + 1e-6)
    lam, se = measured(lambda w, g: st.initialize_(torch.nn.GRU(w, w), r.params, generator=g), seed=1)
    total = math.hypot(se, r.lambda_max_se)
    assert abs(lam - target) < Z * total, (lam, se, target)
    annealed = theory.predict("gru-reset-after", "lambda_max", **r.params)
    assert abs(lam - annealed) > Z * total, (lam, annealed)


def test_default_pytorch_lstm_is_predicted_by_the_tied_theory_not_the_annealed_one():
    """predict(nn.LSTM as PyTorch initialises it, "lambda_max") equals the module's measured growth
    factor; the annealed theory's value is rejected.  Input size = hidden size, so PyTorch's default
    U(-1/sqrt(H), 1/sqrt(H)) gives the same sigma_w^2 = sigma_v^2 = 1/3 at both widths."""
    lam, se = measured(lambda w, g: _seeded(g, lambda: torch.nn.LSTM(w, w)), seed=2)
    big = _seeded(torch.Generator().manual_seed(7), lambda: torch.nn.LSTM(WIDTHS[-1], WIDTHS[-1]))
    pred, pred_se = st.predict(big, "lambda_max", return_error=True, **SOLVER)
    total = math.hypot(se, pred_se)
    assert abs(lam - pred) < Z * total, (lam, se, pred, pred_se)
    annealed = st.predict(big, "lambda_max", tied=False)
    assert abs(lam - annealed) > Z * total, (lam, annealed)


def test_vanilla_rnn_critical_init_puts_the_module_at_the_edge_of_chaos():
    """critical_init_(nn.RNN) solves tied lambda_max = 1 in sigma_w; the real module grows perturbations
    by a factor 1 per step (extrapolated), and modules at 0.8 of that sigma_w are measurably ordered."""
    r = st.critical_init_(torch.nn.RNN(64, 64), **SOLVER)
    assert r.details["solve_for"] == "sigma_w" and r.feasible
    lam, se = measured(lambda w, g: st.initialize_(torch.nn.RNN(w, w), r.params, generator=g), seed=3)
    assert abs(lam - 1.0) < Z * math.hypot(se, r.lambda_max_se), (lam, se)
    below = {**r.params, "sigma_w": 0.8 * r.params["sigma_w"]}
    m = st.initialize_(torch.nn.RNN(512, 512), below, generator=torch.Generator().manual_seed(0))
    assert st.lyapunov(m, steps=200, burn=100, batch=8)[0] < 1.0 - Z * se


def _seeded(g, make):
    """``make()`` with torch's global generator seeded from ``g`` (PyTorch's own default init draws from it)."""
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=g)))
    return make()


# --------------------------------------------------------------------------------------------------
# layout: PyTorch's documented gate order, independent of the code that writes it
# --------------------------------------------------------------------------------------------------

def test_lstm_forget_bias_lands_in_pytorchs_forget_rows():
    """PyTorch documents bias_ih_l0 as (b_ii | b_if | b_ig | b_io): the solved forget-gate bias mean is
    the mean of rows H:2H (and only there); every weight block has the written variance."""
    H = 256
    m = torch.nn.LSTM(64, H)
    r = st.critical_init_(m, tied=False, generator=torch.Generator().manual_seed(0))
    b = m.bias_ih_l0.detach().double()
    mu_f = r.params["mu_b_f"]
    assert mu_f > 0.5
    assert abs(float(b[H:2 * H].mean()) - mu_f) < 1e-9 + Z * r.params["sigma_b_f"] / math.sqrt(H)
    for blk in (0, 2, 3):
        assert abs(float(b[blk * H:(blk + 1) * H].mean())) < 1e-12 + Z * max(r.params["sigma_b_i"], 1e-12) / math.sqrt(H)
    assert float(m.bias_hh_l0.detach().abs().max()) == 0.0
    for k, gate in enumerate("ifgo"):
        w = m.weight_hh_l0.detach().double()[k * H:(k + 1) * H]
        var = float((w ** 2).mean()) * H  # sigma_w^2, relative SE sqrt(2 / H^2)
        assert abs(var / r.params[f"sigma_w_{gate}"] ** 2 - 1) < Z * math.sqrt(2 / H ** 2)


def test_gru_candidate_recurrent_bias_is_pytorchs_b_hn():
    """PyTorch's GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); b_hn is rows 2H:3H of bias_hh_l0.
    A module whose only bias is b_hn reads back as sigma_b_hn (and nothing else), and one whose b_hr is
    set reads back as the reset gate's bias (b_ir + b_hr are one bias to the theory)."""
    H = 256
    m = torch.nn.GRU(32, H)
    with torch.no_grad():
        m.bias_ih_l0.zero_()
        m.bias_hh_l0.zero_()
        m.bias_hh_l0[2 * H:].normal_(0.0, 0.3, generator=torch.Generator().manual_seed(0))
        m.bias_hh_l0[:H] = 0.7
    name, p = st.parameters(m)
    assert name == "gru-reset-after"
    assert abs(p["sigma_b_hn"] - 0.3) < Z * 0.3 / math.sqrt(2 * H)
    assert p["sigma_b_n"] == 0.0 and p["sigma_b_z"] == 0.0 and p["mu_b_z"] == 0.0
    assert abs(p["mu_b_r"] - 0.7) < 1e-6 and p["sigma_b_r"] < 1e-6


def test_cell_forms_read_like_their_sequence_modules():
    """nn.LSTMCell / GRUCell / RNNCell hold the same layout without the _l0 suffix."""
    for seq, cell in ((torch.nn.LSTM, torch.nn.LSTMCell), (torch.nn.GRU, torch.nn.GRUCell),
                      (torch.nn.RNN, torch.nn.RNNCell)):
        torch.manual_seed(0)
        a = seq(16, 64)
        b = cell(16, 64)
        with torch.no_grad():
            for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(b, n).copy_(getattr(a, n + "_l0"))
        assert st.parameters(a) == st.parameters(b)
        assert st.lyapunov(a, steps=30, burn=10, batch=4) == pytest.approx(st.lyapunov(b, steps=30, burn=10, batch=4),
                                                                          rel=1e-12)


# --------------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (lambda: torch.nn.Linear(4, 4), "serves"),
    (lambda: torch.nn.LSTM(4, 8, num_layers=2), "num_layers=2"),
    (lambda: torch.nn.GRU(4, 8, bidirectional=True), "bidirectional"),
    (lambda: torch.nn.LSTM(4, 8, proj_size=4), "proj_size"),
])
def test_modules_outside_the_theory_are_refused(make, words):
    with pytest.raises(ValueError, match=words):
        st.parameters(make())


def test_weights_with_a_mean_or_nan_are_refused():
    m = torch.nn.RNN(16, 256)
    with torch.no_grad():
        m.weight_hh_l0 += 0.05
    with pytest.raises(ValueError, match="zero-mean weights"):
        st.predict(m, "chi", tied=False)
    m = torch.nn.RNN(16, 64)
    with torch.no_grad():
        m.weight_ih_l0[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        st.parameters(m)


def test_a_bias_mean_where_the_cell_has_none_is_refused():
    m = torch.nn.LSTM(16, 256)
    with torch.no_grad():
        m.bias_ih_l0[512:768] = 1.0  # the g (candidate) block: mean-zero in the theory
    with pytest.raises(ValueError, match="zero-mean bias"):
        st.parameters(m)


def test_critical_init_refuses_what_it_cannot_write_and_leaves_the_module_untouched():
    m = torch.nn.LSTM(16, 64, bias=False)
    before = m.weight_hh_l0.detach().clone()
    with pytest.raises(ValueError, match="bias=False"):
        st.critical_init_(m, tied=False)
    with pytest.raises(ValueError, match="missing"):
        st.initialize_(torch.nn.GRU(16, 64), {"sigma_w_r": 1.0})
    with pytest.raises(ValueError, match="unknown parameter"):
        st.initialize_(torch.nn.RNN(16, 64), {"sigma_w": 1.0, "sigma_v": 1.0, "sigma_b": 0.0, "mu_b_f": 1.0})
    with pytest.raises(ValueError, match="input_variance"):
        st.critical_init_(torch.nn.LSTM(16, 64), R=2.0)
    with pytest.raises(ValueError, match="xi"):
        st.critical_init_(torch.nn.GRU(16, 64), xi=10.0, tied=False)
    with pytest.raises(ValueError, match="no critical initialisation"):
        st.critical_init_(torch.nn.GRU(16, 64), bracket=(5.0, 6.0), paths=1024)
    assert torch.equal(m.weight_hh_l0, before)
    with pytest.raises(ValueError, match="input_variance"):
        st.parameters(torch.nn.RNN(4, 8), input_variance=-1.0)


def test_the_lstm_example_runs_and_writes_its_table_and_plot(tmp_path):
    """examples/lstm_timescales.py at a toy size (one timescale, two width-64 nn.LSTMs, a small solve):
    it writes its table and plot, its measured xi is near the requested 3 (a smoke test of the script,
    bound loose for width 64; the statistical checks are the tests above) and far from the annealed one,
    and it refuses unknown options.  tests/test_flax_equinox.py runs it for Flax and Equinox."""
    rows = run_example(tmp_path, "torch")
    assert abs(rows[0]["xi_measured"] - 3.0) < 0.5 and rows[0]["xi_annealed"] < 2.5
    with pytest.raises(SystemExit, match="usage"):
        load_example().main(["width"])
    with pytest.raises(SystemExit, match="framework"):
        load_example().main(["framework=keras"])


def load_example():
    from example_scripts import load
    return load("lstm_timescales")


def run_example(tmp_path, framework):
    rows = load_example().main([f"framework={framework}", "xis=3", "width=64", "nets=2", "paths=1024",
                                f"out={tmp_path}"])
    assert (tmp_path / "table.md").is_file() and (tmp_path / "timescales.png").stat().st_size > 10_000
    return rows
