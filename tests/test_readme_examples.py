"""The READMEs' examples are executed, so the documentation and the behaviour cannot drift (issue 18 item 6).

* Every fenced ```python block of the documentation READMEs (:data:`READMES`) runs, statement by statement.
  The blocks of one README run **sequentially in one namespace**, as a reader pastes them top to bottom:
  README.md's later blocks use ``theory``/``np``/``jax`` imported by its API tour.  READMEs do not share a
  namespace, and every README's first block imports what it uses.
* Where a statement carries a result in its comment (``# float``, ``# {'sigma_w': 2.0, ...}``, ``# 1.69 steps``)
  that result is asserted (:data:`EXPECTED`).  A commented expression without a checkable result must be listed
  in :data:`UNCHECKED_COMMENTS` with the reason: no comment goes unread silently.
* Expensive examples still run, at a reduced size, through the visible rewrite table :data:`SHRINK`; each entry's
  original text must still occur in its README (the table cannot go stale).  A block may be left out only through
  :data:`EXCLUDED_BLOCKS` (none at present), with a reason.
* Command lines (```bash and unlabelled fences, and inline `derive ...` / `verify ...` spans in the prose) are
  passed through the real ``derive`` / ``verify`` entry points with only the work stubbed out: every documented
  key=value argument goes through the same parsing and validation as from the shell, and must be accepted
  (exit 0 and the runner reached), or refused where the README says it is refused (:data:`DOCUMENTED_REFUSALS`).
  Lines that are not such commands (installs, pytest, scripts) are listed in :data:`NOT_VALIDATED` with a reason.
"""
from __future__ import annotations

import ast
import math
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import theory

ROOT = Path(__file__).resolve().parents[1]

#: documentation with examples (generated derivations/*/derivation.md and reports/ are not API docs)
READMES = ("README.md", "theory/README.md", "theory/README_gated.md", "theory/README_isometry.md",
           "verify/README.md", "verify/README_spectra.md", "verify/README_dying_relu.md",
           "verify/README_trainability.md", "verify/README_relu_growth.md")
NOT_DOCUMENTATION = ("derivations", "reports", ".git", ".venv", "out", "node_modules",
                     "build", "dist")  # build outputs: a wheel built in the checkout copies the READMEs there


def _text(readme: str) -> str:
    return (ROOT / readme).read_text(encoding="utf-8")


def fences(readme: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order (opening and closing fences paired line by line)."""
    out, lang, body = [], None, []
    for line in _text(readme).splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, body = line[3:].strip(), []
            else:
                out.append((lang, "\n".join(body) + "\n"))
                lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{readme}: unclosed code fence"
    return out


def python_blocks(readme: str) -> list[str]:
    return [body for lang, body in fences(readme) if lang == "python"]


# ------------------------------------------------------------------------------------------------
# Rewrites that shrink expensive examples (README, exact text in the README, replacement, why)
# ------------------------------------------------------------------------------------------------
SHRINK = [
    ("README.md", "sigma_w=np.linspace(0.5, 3, 1000)[:, None]", "sigma_w=np.linspace(0.5, 3, 20)[:, None]",
     "1000 x 1000 tanh xi grid is ~4 h on a 2-core CPU; 20 x 20 exercises the same broadcasting"),
    ("README.md", "sigma_b=np.linspace(0, 1, 1000)[None, :])", "sigma_b=np.linspace(0, 1, 20)[None, :])",
     "(the second axis of the same grid)"),
    ("README.md", 'theory.predict("lstm", "lambda_max", tied=True, mu_b_f=4.5)',
     'theory.predict("lstm", "lambda_max", tied=True, mu_b_f=4.5, paths=8192, return_error=True)',
     "at the default 1e-3 targets this point near the edge of chaos takes minutes (170 s on one idle core, more "
     "than 7 min on the loaded 2-core machine); a fixed budget of 8192 paths gives lambda_max to +-0.0013 in 4-8 s"),
]
EXCLUDED_BLOCKS: dict[tuple[str, int], str] = {}
"""(README, index of its python block) -> reason.  Empty: every block runs."""


def shrunk(readme: str, source: str) -> str:
    for where, old, new, _ in SHRINK:
        if where == readme:
            source = source.replace(old, new)
    return source



# ------------------------------------------------------------------------------------------------
# What the comments claim (README, exact text of the statement, claim, check(value, namespace))
# ------------------------------------------------------------------------------------------------
def _is_float(v, ns):
    assert type(v) is float, f"documented as float, got {type(v).__name__}"


def _cells_listing(v, ns):
    # ['feedforward-erf', ..., 'minimalrnn', 'vanilla-tanh', ...]: a sorted list starting with
    # feedforward-erf, with minimalrnn before vanilla-tanh
    assert isinstance(v, list) and v == sorted(v) and v[0] == "feedforward-erf"
    assert v.index("minimalrnn") < v.index("vanilla-tanh")


def _xi_grid(v, ns):
    assert isinstance(v, np.ndarray) and v.shape == (20, 20)  # the 1000 x 1000 grid, shrunk (SHRINK)
    assert np.isfinite(v).all() and (v > 0).all()


def _jax_array(v, ns):
    import jax
    assert isinstance(v, jax.Array) and v.shape == ()
    assert float(v) == pytest.approx(theory.predict("minimalrnn", "q_star", mu_b=4.0), rel=1e-10)


def _trajectory(v, ns):
    for name in ("q", "Q", "C", "c", "c_h"):  # q_t, Q_t, C_t, c_t, c_h_t
        assert len(v[name]) == 50, name


def _on_chi_1(**params):
    def check(v, ns):  # every point of the line is finite and has chi = 1
        assert np.isfinite(v["sigma_w"]).all() and np.isfinite(v["sigma_b"]).all(), v
        chi = theory.predict("vanilla-tanh", "chi", sigma_w=v["sigma_w"], sigma_b=v["sigma_b"], **params)
        np.testing.assert_allclose(chi, 1.0, atol=1e-9)
    return check


def _grad_mu_b(v, ns):
    # dchi/dmu_b at the minimalRNN defaults, against a central difference of the numba chi
    h = 1e-5
    chi = [theory.predict("minimalrnn", "chi", mu_b=1.0 + s * h) for s in (1, -1)]
    assert float(v) == pytest.approx((chi[0] - chi[1]) / (2 * h), rel=1e-6)


def _generated_on_first_use(v, ns):
    assert type(v) is float and 0 < v
    assert (theory.api.default_out_dir(theory.cell("vanilla-softsign")) / "numba_kernels.py").exists()


def _generated_leaky(v, ns):
    assert type(v) is float and 0 < v
    assert (theory.api.default_out_dir(theory.cell("leaky-tanh")) / "numba_kernels.py").exists()


def _rounds_to(x, digits):
    def check(v, ns):
        assert round(float(v), digits) == x, f"documented {x}, got {float(v)!r}"
    return check


def _within_se(x, se_doc):
    def check(v, ns):
        value, se = v
        assert se == pytest.approx(se_doc, rel=0.3), f"documented SE {se_doc}, got {se}"
        assert abs(value - x) <= 4 * math.hypot(se, se_doc), f"documented {x} +- {se_doc}, got {value} +- {se}"
    return check


def _m1_is_chi_T(v, ns):
    assert v == pytest.approx(theory.predict("vanilla-tanh", "chi", sigma_w=1.2, sigma_b=0.3) ** 10, rel=1e-10)


def _spectrum_density(v, ns):
    g = v.grid_moments()  # a probability density whose mean is m1 (README: mass, m1 reproduced to ~1e-6)
    assert g["mass"] == pytest.approx(1.0, abs=1e-5)
    assert g["m1"] == pytest.approx(v.m1, rel=1e-5)


def _critical_within_budget(v, ns):
    assert v.feasible and v.chi == pytest.approx(1.0, abs=1e-10)
    assert v.params["sigma_v"] == 0.0 and v.T == 20 and v.variance <= 0.1


def _initializer_keys(v, ns):
    assert set(v) == {"W", "V", "b"}


def _scaled_orthogonal(v, ns):
    sw = ns["cp"].params["sigma_w"]
    w = np.asarray(v, dtype=np.float64)  # W^T W = sigma_w^2 I, to the rounding of the initialiser's dtype
    np.testing.assert_allclose(w.T @ w, sw ** 2 * np.eye(256), atol=100 * np.finfo(np.asarray(v).dtype).eps * sw ** 2)


def _chaotic_tied_lstm(v, ns):
    value, se = v  # the shrunk call (SHRINK) returns the standard error too
    assert value - 1.0 > 4 * se, f"documented chaotic (> 1), got {value} +- {se}"
    assert abs(value - 1.0195) <= 4 * math.hypot(se, 1e-3), f"documented 1.0195 (SE <= 1e-3), got {value} +- {se}"
    assert round(theory.predict("lstm", "lambda_max", mu_b_f=4.5), 3) == 0.976  # annealed: ordered


def _transient(v, ns):
    assert len(v["Q"]) == 100 and np.isfinite(v["Q"]).all()


def _horizon_100(v, ns):
    assert v["feasible"], v["message"]
    assert v["lambda_max"] == pytest.approx(1.0, abs=1e-8)
    assert v["xi_q"] == pytest.approx(100.0, rel=1e-6)


def _gaussian_kernel_f(v, ns):
    # N(0, sigma_w_f^2 / 256): 65536 draws, sample variance within 5 % (its relative SE is 0.55 %)
    sw = ns["sol"]["params"]["sigma_w_f"]
    w = np.asarray(v, dtype=np.float64)
    assert w.shape == (256, 256) and abs(w.mean()) < 5 * sw / 16 / 256
    assert w.var() == pytest.approx(sw ** 2 / 256, rel=0.05)


def _annealed_recursion(v, ns):
    # README: the free S-product isometry_variance_free is "16 % low at the defaults, 18 % with orthogonal W, T = 8"
    assert v == theory.predict("minimalrnn", "isometry_variance", T=8)  # Gaussian W is the default
    free = theory.predict("minimalrnn", "isometry_variance_free", T=8, weights="gaussian")
    assert round(100 * (1 - free / v)) == 16
    exact, free = (theory.predict("minimalrnn", q, T=8, weights="orthogonal")
                   for q in ("isometry_variance", "isometry_variance_free"))
    assert round(100 * (1 - free / exact)) == 18


def _lstm_power(block):
    # README: m_1 = (1/n) 1^T M^T 1 (full) or e_h^T M^T e_h (block), M from the served perturbation_map_ij kernels
    def check(v, ns):
        mod = theory.api.kernels("lstm", "numba")
        c = theory.cell("lstm")
        args = [theory.api.resolve_params(c, {})[n] for n in c.param_names]
        Q = (mod.Q_c_star(*args), mod.Q_star(*args))
        M = np.array([[getattr(mod, f"perturbation_map_{i}{j}")(*Q, *args) for j in range(2)] for i in range(2)])
        MT = np.linalg.matrix_power(M, 12)
        assert v == pytest.approx(MT[1, 1] if block else MT.sum() / 2, rel=1e-12)
        if not block:
            assert round(v, 5) == 0.00061  # "annealed 6.1e-4" in the text
    return check


def _tied_m1(v, ns):
    # README: "tied theory 2.49e-3 ± 0.05e-3" at T = 12
    assert abs(v - 2.49e-3) <= 4 * 0.05e-3, v


def _torch_parameters(v, ns):
    # README: ('lstm', {..., 'sigma_w_f': 0.578, 'sigma_v_f': 0.287, ...}) for PyTorch's default init at seed 0
    p = ns["params"]
    assert ns["cell"] == "lstm" and (round(p["sigma_w_f"], 3), round(p["sigma_v_f"], 3)) == (0.578, 0.287), p


def _torch_measured(v, ns):
    # README: "the default LSTM grows perturbations by 0.4010 +- 0.0006 per step" (a deterministic measurement)
    lam, se = v
    assert abs(lam - 0.4010) <= 4 * math.hypot(se, 0.0006), (lam, se)


def _torch_critical_gru(v, ns):
    assert v.theory == "tied" and v.feasible and round(v.params["mu_b_z"], 2) == 2.16, v.message
    assert abs(v.lambda_max - math.exp(-1 / 5)) < 1e-6


def _torch_initialised(v, ns):
    import signalprop.torch as st
    assert v.hidden_size == 512 and st.parameters(v)[1]["mu_b_z"] == pytest.approx(ns["r"].params["mu_b_z"], abs=1e-6)


EXPECTED = {
    ("README.md", 'theory.cells()'): _cells_listing,
    ("README.md", 'theory.predict("lstm", "isometry_mean", T=12)'): _lstm_power(False),
    ("README.md", 'theory.predict("lstm", "isometry_mean", T=12, block="h")'): _lstm_power(True),
    ("README.md", 'theory.predict("lstm", "isometry_mean", T=12, tied=True)'): _tied_m1,
    ("README.md", 'theory.parameters("minimalrnn")'):
        lambda v, ns: v == {'sigma_w': 2.0, 'sigma_v': 1.0, 'sigma_b': 0.0, 'mu_b': 1.0, 'R': 1.0, 'Sigma': 1.0} or
        pytest.fail(f"got {v}"),
    ("README.md", 'theory.predict("vanilla-tanh", "chi", sigma_w=1.5, sigma_b=0.1)'): _is_float,
    ("README.md", 'theory.predict("vanilla-tanh", "xi", sigma_w=np.linspace('): _xi_grid,
    ("README.md", 'theory.predict("minimalrnn", "q_star", backend="jax", mu_b=4.0)'): _jax_array,
    ("README.md", 'theory.trajectory("vanilla-tanh", steps=50, Q0=2.0, C0=0.5)'): _trajectory,
    ("README.md", 'theory.critical_line("vanilla-tanh", q_star=np.logspace(-2, 1, 50), sigma_v=0.0)'):
        _on_chi_1(sigma_v=0.0),
    ("README.md", 'theory.critical_line("vanilla-tanh", along="sigma_b", values=[0.05, 0.1, 0.2])'): _on_chi_1(),
    ("README.md", 'jax.grad(k.chi, argnums=3)(2.0, 1.0, 0.0, 1.0, 1.0, 1.0)'): _grad_mu_b,
    ("README.md", 'theory.predict("vanilla-softsign", "chi", sigma_w=1.2)'): _generated_on_first_use,
    ("README.md", 'theory.predict("lstm", "xi", mu_b_f=1.0)'): _rounds_to(1.69, 2),
    ("README.md", 'theory.predict("lstm", "xi", tied=True, return_error=True, mu_b_f=1.0)'): _within_se(2.607, 0.010),
    ("README.md", 'theory.predict("lstm", "lambda_max", tied=True, mu_b_f=4.5'): _chaotic_tied_lstm,
    ("README.md", 'theory.critical_init("lstm", tied=True)["value"]'): _rounds_to(2.90, 2),
    ("README.md", 'theory.trajectory("minimalrnn", 100, 1.0, tied=True, sigma_w=3.49)'): _transient,
    ("README.md", 'theory.predict("vanilla-tanh", "isometry_mean", T=10, sigma_w=1.2, sigma_b=0.3)'): _m1_is_chi_T,
    ("README.md", 'theory.spectrum("vanilla-tanh", T=10, weights="orthogonal", sigma_w=1.2, sigma_b=0.3)'):
        _spectrum_density,
    ("README.md", 'cp = theory.critical_init("vanilla-tanh", sigma_v=0.0, T=20, max_variance=0.1)'):
        _critical_within_budget,
    ("README.md", 'inits = cp.initializers()'): _initializer_keys,
    ("README.md", 'W = inits["W"](jax.random.PRNGKey(0), (256, 256))'): _scaled_orthogonal,
    ("theory/README_isometry.md", 'theory.predict("vanilla-tanh", "isometry_mean", T=10, sigma_w=1.2, sigma_b=0.3)'):
        _m1_is_chi_T,
    ("theory/README_isometry.md", 'cp = theory.critical_init("vanilla-tanh", sigma_v=0.0, T=20, max_variance=0.1)'):
        _critical_within_budget,
    ("theory/README_isometry.md", 'inits = cp.initializers()'): _initializer_keys,
    ("theory/README_isometry.md", 'W = inits["W"](jax.random.PRNGKey(0), (256, 256))'): _scaled_orthogonal,
    ("theory/README.md", 'theory.predict("leaky-tanh", "chi")'): _generated_leaky,
    ("README.md", 'theory.register(with_noise(vanilla("tanh"), multiplicative=True))'):
        lambda v, ns: v.name == "vanilla-tanh-noisy" or pytest.fail(f"registered {v.name!r}"),
    ("README.md", 'theory.predict("vanilla-tanh-noisy", "c_h_star", sigma_w=1.5, sigma_eps=0.3, sigma_m=0.4)'):
        _rounds_to(0.454, 3),
    ("theory/README_isometry.md", 'theory.predict("minimalrnn", "isometry_variance", T=8, weights="gaussian")'):
        _annealed_recursion,
    ("theory/README_gated.md", 'sol = theory.cell("lstm").critical_init(horizon=100.0)'): _horizon_100,
    ("theory/README_gated.md", 'W_f = init["recurrent_kernel_f"](key, (256, 256))'): _gaussian_kernel_f,
    ("README.md", "cell, params = st.parameters(lstm)"): _torch_parameters,
    ("README.md", 'st.predict(lstm, "lambda_max", return_error=True)'): _within_se(0.4005, 0.0003),
    ("README.md", 'st.predict(lstm, "lambda_max", tied=False)'): _rounds_to(0.275, 3),
    ("README.md", "measured = st.lyapunov(lstm)"): _torch_measured,
    ("README.md", "r = st.critical_init_(gru, xi=5.0)"): _torch_critical_gru,
    ("README.md", "more = st.initialize_(torch.nn.GRU(64, 512), r.params)"): _torch_initialised,
}
for _readme in ("README.md", "theory/README_isometry.md"):
    EXPECTED.update({
        (_readme, 'theory.critical_init("vanilla-tanh", q_star=0.5, sigma_v=0.0).params'):
            lambda v, ns: (round(v["sigma_w"], 4), round(v["sigma_b"], 4), v["sigma_v"]) == (1.2992, 0.1950, 0.0)
            or pytest.fail(f"got {v}"),
        (_readme, 'theory.critical_init("vanilla-tanh", sigma_b=0.05).params["sigma_w"]'): _rounds_to(1.8563, 4),
        (_readme, 'theory.critical_init("minimalrnn", q_star=16.0, R=0.46, mu_b=0.0).params["sigma_w"]'):
            _rounds_to(6.8917, 4),
    })
"""Statements whose comment states a result, and the check of that result."""

UNCHECKED_COMMENTS = {
    ("README.md", "lstm = torch.nn.LSTM(64, 256)                          # as PyTorch initialises it"):
        "says where the weights come from, not a result",
    ("theory/README.md", 'update=(1 - a) * H + a * sp.tanh(E),   # degree <= 1 in h and z'):
        "a rule for declarations (tests/test_user_cell.py checks it is enforced), not a result",
}
"""Commented statements whose comment is prose, not a checkable result: (README, statement text) -> reason."""


def statements(source: str) -> list[tuple[str, ast.stmt]]:
    lines = source.splitlines()
    return [("\n".join(lines[s.lineno - 1:s.end_lineno]), s) for s in ast.parse(source).body]


def _expectation(readme, text):
    hits = [check for (r, key), check in EXPECTED.items() if r == readme and key in text]
    assert len(hits) <= 1, f"{readme}: several EXPECTED entries match {text!r}"
    return hits[0] if hits else None


def _python_cases():
    return [pytest.param(readme, i, id=f"{readme}#python{i + 1}", marks=_marks(readme, i))
            for readme in READMES for i, _ in enumerate(python_blocks(readme))]


def _marks(readme, i):
    marks = [pytest.mark.slow] if (readme, i) in SLOW_BLOCKS else []
    if (readme, i) in KNOWN_BROKEN:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BROKEN[readme, i]))
    return marks


SLOW_BLOCKS = {
    ("theory/README_gated.md", 0): "critical_init(horizon=100) compiles a forward-mode Jacobian of the LSTM's "
                                   "lambda_max and xi_q through the fixed point: ~45 s on 2 loaded cores (it runs; "
                                   "marked slow so that -m 'not slow' can leave it out)",
}


KNOWN_BROKEN: dict[tuple[str, int], str] = {}
"""(README, index of its python block) -> the library bug that makes the documented example fail (xfail, strict)."""

_NAMESPACES: dict[str, dict] = {}


@pytest.fixture(scope="module")
def user_cell_cache(tmp_path_factory):
    """User-declared cells of the examples generate into a fresh cache, and leave the registry afterwards."""
    import os
    import sys
    cells_module = sys.modules["theory.cells"]
    before = set(theory.cells())
    old = os.environ.get("SIGNALPROP_CACHE")
    os.environ["SIGNALPROP_CACHE"] = str(tmp_path_factory.mktemp("signalprop-cache"))
    yield
    for name in set(theory.cells()) - before:
        cells_module._REGISTRY.pop(name, None)
    if old is None:
        os.environ.pop("SIGNALPROP_CACHE")
    else:
        os.environ["SIGNALPROP_CACHE"] = old


@pytest.mark.parametrize("readme, index", _python_cases())
def test_python_example_runs_and_shows_what_its_comments_claim(user_cell_cache, readme, index):
    # Blocks of one README share a namespace and run in document order (parametrisation order).
    assert (readme, index) not in EXCLUDED_BLOCKS or pytest.skip(EXCLUDED_BLOCKS[readme, index])
    ns = _NAMESPACES.setdefault(readme, {"__name__": "__main__"})
    source = shrunk(readme, python_blocks(readme)[index])
    if re.search(r"^import torch$", source, re.M):
        _need_torch()
    for text, node in statements(source):
        check = _expectation(readme, text)
        if isinstance(node, ast.Expr):
            value = eval(compile(ast.Expression(node.value), f"<{readme}>", "eval"), ns)
        else:
            exec(compile(ast.Module([node], []), f"<{readme}>", "exec"), ns)
            targets = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            value = ns[targets[0]] if targets else None
        if check is not None:
            check(value, ns)


def _need_torch():
    """The torch extra's examples run where torch is installed (CI installs the CPU wheel and sets
    SIGNALPROP_REQUIRE_EXTRAS=1, so there they cannot skip); elsewhere they skip, saying why."""
    import importlib.util
    import os
    if importlib.util.find_spec("torch") is None and not os.environ.get("SIGNALPROP_REQUIRE_EXTRAS"):
        pytest.skip("the torch extra is not installed (pip install -e '.[torch]')")


def test_every_commented_result_is_checked_or_listed_as_prose():
    unread = []
    for readme in READMES:
        for block in python_blocks(readme):
            for text, node in statements(shrunk(readme, block)):
                if isinstance(node, (ast.Import, ast.ImportFrom)) or "#" not in text:
                    continue
                if _expectation(readme, text) is None and not any(
                        r == readme and key in text for r, key in UNCHECKED_COMMENTS):
                    unread.append((readme, text))
    assert not unread, f"commented statements with neither a check nor a reason: {unread}"


def test_rewrite_and_expectation_tables_are_not_stale():
    for readme, old, _, _ in SHRINK:
        assert old in _text(readme), f"SHRINK: {old!r} no longer in {readme}"
    for table in (EXPECTED, UNCHECKED_COMMENTS):
        for readme, key in table:
            assert any(key in block for block in python_blocks(readme)), f"{key!r} no longer in {readme}"
    for readme, i in list(EXCLUDED_BLOCKS) + list(KNOWN_BROKEN):
        assert i < len(python_blocks(readme)), (readme, i)


# ------------------------------------------------------------------------------------------------
# Command lines
# ------------------------------------------------------------------------------------------------
INLINE_COMMAND = re.compile(r"`((?:derive|verify|python -m verify) [^`]*)`")
CLI_WORDS = ("derive", "verify")

NOT_VALIDATED = {
    "python3 -m venv .venv": "creates a virtual environment (installation, not the API)",
    '.venv/bin/pip install -q -e ".[test]"': "installation",
    'pip install -e . "jax[cuda12]"': "installation (GPU machine)",
    ".venv/bin/python -m pytest -q": "the whole test suite (~20 min)",
    "python examples/gate_timescales.py T=100": "a plotting script (LSTM numba kernels and 121-bias scans, minutes); "
                                                "it reads any key=value into a dict, so there is no parser to check",
    "python benchmarks/bench_simulation.py": "a benchmark (minutes); takes no arguments",
    "python -m verify ...": "placeholder for any verify command line",
}
"""Command lines of the documentation that are not derive/verify invocations, with the reason."""

DOCUMENTED_REFUSALS = {
    # inline text -> (command actually run: the README's "..." made a number, message the refusal gives)
    "derive all sigma_w=...": ("derive all sigma_w=1.5", "need a single cell"),
}
"""Command lines the README documents as refused (exit 2); they must still be refused, for the stated reason."""


def _command_lines(readme: str) -> list[str]:
    """derive/verify (and other) command lines of the fenced shell blocks, one per command."""
    out = []
    for lang, body in fences(readme):
        if lang not in ("bash", "sh", ""):
            continue
        body = body.replace("\\\n", " ")
        for line in body.splitlines():
            line = re.split(r"\s#\s", " " + line, maxsplit=1)[0].strip()
            for part in re.split(r"\s(?:&&|\|)\s", line):
                part = part.strip()
                words = part.split()
                if words and (words[0].split("/")[-1] in CLI_WORDS or words[0].startswith(("python", "pip"))
                              or part in NOT_VALIDATED or part.startswith(".venv/")):
                    out.append(part)
    return out


def _inline_commands(readme: str) -> list[str]:
    return INLINE_COMMAND.findall(_text(readme))


def all_command_lines() -> list[tuple[str, str]]:
    seen, out = set(), []
    for readme in READMES:
        for line in _command_lines(readme) + _inline_commands(readme):
            if (readme, line) not in seen:
                seen.add((readme, line))
                out.append((readme, line))
    return out


def argv_of(line: str) -> tuple[str, list[str]]:
    """('derive' | 'verify', arguments) of a documented command; synopsis brackets and '...' dropped."""
    words = shlex.split(line.replace("[", " ").replace("]", " "))
    if words[:3] == ["python", "-m", "verify"]:
        words = ["verify"] + words[3:]
    prog = words[0].split("/")[-1]
    assert prog in CLI_WORDS, f"not a derive/verify command: {line!r}"
    return prog, [w for w in words[1:] if w != "..."]


class Reached(Exception):
    """Raised by a stubbed runner: validation passed and the work would start here."""


@pytest.fixture
def dry_cli(monkeypatch, tmp_path):
    """``derive`` / ``verify`` main() with every validation step real and only the work stubbed out: the runner a
    command reaches is recorded (with the settings it was handed) and nothing is derived, simulated or written."""
    import theory.cli as derive_cli
    import verify.cli as verify_cli
    import verify.commands.cliutil
    import verify.studies.dying_relu
    import verify.studies.trainability_cli
    import verify.studies.jacobian_moments
    import verify.studies.relu_growth
    import verify.commands.gated_cli

    reached = []

    def stub(name, check=None):
        def run(*args, **kwargs):
            if check is not None:
                check(*args)
            reached.append((name, args))
            return 0
        return run

    monkeypatch.chdir(tmp_path)  # relative out=DIR lands here (validation of out= may create the folder)
    monkeypatch.setattr(verify.commands.cliutil, "check_out", lambda path: Path(path))  # absolute out= (/tmp/dr) untouched
    monkeypatch.setattr(derive_cli, "_derive_one", stub("derive"))
    monkeypatch.setattr(derive_cli, "_plot_phase", stub("derive plot=phase"))
    monkeypatch.setattr(verify_cli, "run_cell", stub("verify cell"))
    monkeypatch.setattr(verify_cli, "run_suite", stub("verify all"))
    monkeypatch.setattr(verify_cli, "run_spectra", stub("verify spectra"))
    monkeypatch.setattr(verify.commands.gated_cli, "horizon", lambda cell, params: 40)  # a theory solve, not parsing
    monkeypatch.setattr(verify.commands.gated_cli, "run_cell", stub("verify gated cell", lambda kv: verify.commands.gated_cli.parse(dict(kv))))
    monkeypatch.setattr(verify.studies.dying_relu, "main", stub("verify study", lambda kv: verify.studies.dying_relu.parse(kv)))
    monkeypatch.setattr(verify.studies.trainability_cli, "main",
                        stub("verify study", lambda kv: verify.studies.trainability_cli.parse(kv)))
    monkeypatch.setattr(verify.studies.jacobian_moments, "main",
                        stub("verify study", lambda kv: verify.studies.jacobian_moments.parse(kv)))
    monkeypatch.setattr(verify.studies.relu_growth, "main",
                        stub("verify study", lambda kv: verify.studies.relu_growth.parse(kv)))

    def run(line):
        prog, args = argv_of(line)
        del reached[:]
        rc = (derive_cli.main if prog == "derive" else verify_cli.main)(args)
        return rc, list(reached)
    return run


def _commands_to_validate():
    return [(r, line) for r, line in all_command_lines() if line not in NOT_VALIDATED and line not in DOCUMENTED_REFUSALS]


@pytest.mark.parametrize("readme, line", _commands_to_validate(), ids=lambda x: x if "=" in x or " " in x else None)
def test_documented_command_line_is_accepted(dry_cli, capsys, readme, line):
    rc, reached = dry_cli(line)
    err = capsys.readouterr().err
    assert rc == 0, f"{readme}: `{line}` is refused: {err.strip()}"
    help_like = line.split()[-1] in ("--help", "list")
    assert reached or help_like, f"{readme}: `{line}` exited 0 without reaching a runner"


@pytest.mark.parametrize("inline", sorted(DOCUMENTED_REFUSALS))
def test_documented_refusal_is_refused_for_the_stated_reason(dry_cli, capsys, inline):
    assert any(inline == line for _, line in all_command_lines()), f"`{inline}` no longer in a README"
    command, reason = DOCUMENTED_REFUSALS[inline]
    rc, reached = dry_cli(command)
    err = capsys.readouterr().err
    assert (rc, reached) == (2, []) and reason in err, (rc, err)


def test_every_command_line_in_the_docs_is_validated_or_excluded_with_a_reason():
    lines = {line for _, line in all_command_lines()}
    for line in lines - set(NOT_VALIDATED) - set(DOCUMENTED_REFUSALS):
        argv_of(line)  # a derive/verify command (asserts otherwise)
    stale = [line for line in NOT_VALIDATED if line not in lines]
    assert not stale, f"NOT_VALIDATED lists command lines no README shows any more: {stale}"


def test_every_markdown_file_with_examples_is_covered():
    """A new README with python blocks or derive/verify command lines cannot be left out of this test."""
    found = []
    for md in sorted(ROOT.rglob("*.md")):
        rel = md.relative_to(ROOT)
        if rel.parts[0] in NOT_DOCUMENTATION or str(rel) in READMES:
            continue
        text = md.read_text(encoding="utf-8", errors="replace")
        if "```python" in text or re.search(r"^(derive|verify) \w+=", text, re.M) or INLINE_COMMAND.search(text):
            found.append(str(rel))
    assert not found, f"markdown with examples not in READMES: {found}"


@pytest.mark.parametrize("readme", ["README.md", "theory/README_isometry.md"])
def test_documented_infeasible_critical_init_raises_saying_why(readme):
    assert 'critical_init("vanilla-tanh", q_star=0.5)` does' in _text(readme)
    assert theory.parameters("vanilla-tanh")["sigma_v"] == theory.parameters("vanilla-tanh")["R"] == 1.0
    with pytest.raises(ValueError, match="q_star=0.5 is infeasible"):
        theory.critical_init("vanilla-tanh", q_star=0.5)
