"""Control for the tied-weight lambda_max gap of gated cells (reports/gated_cpu/REPORT.md): the same
tangent-growth estimator (verify.judge.gated) on a vanilla tanh RNN, hand-written here, whose mean field
is exact for tied weights too (01 §5).  Tied growth must match chi; if it did not, the gated gap
would be an estimator artefact.  N = 64, 256; E = 16; T = 40; late window = last 20 steps.

    python benchmarks/gated_tangent_control.py > reports/gated_cpu/vanilla_tangent_control.txt
"""
import numpy as np, jax, jax.numpy as jnp, theory, verify
from verify.simulators.gated_base import GatedSimulator, gate_weights
from verify.simulators.base import matvec
from verify.judge.gated import simulate
from verify.statistics.estimators import late_window, window_average
from verify.statistics.stats import ensemble_estimate

def draw(key, n, p, dtype):
    return gate_weights(key, n, {"sigma_w_a": p["sigma_w"], "sigma_v_a": p["sigma_v"], "sigma_b_a": p["sigma_b"]}, ("a",), dtype)
def step(w, state, x, p):
    (h,) = state
    W, U, b = w["a"]
    a = matvec(W, h) + matvec(U, x) + b
    return (jnp.tanh(a),), {"a": a}
sim = GatedSimulator(cell="vanilla-tanh", param_names=("sigma_w","sigma_v","sigma_b","R","Sigma"), components=("h",), read="h",
                     gates=("a",), memory_gate="a", draw_weights=draw, step=step, recurrent_field=lambda w, s: matvec(w["a"][0], s[0]))
for sw in (0.8, 1.5):
    p = dict(sigma_w=sw, sigma_v=1.0, sigma_b=0.1, R=1.0, Sigma=1.0)
    chi = theory.predict("vanilla-tanh", "chi", **p)
    for tied in (False, True):
        for n in (64, 256):
            s = simulate(sim, p, width=n, ensemble=16, steps=40, tied=tied, seed=3)
            g = ensemble_estimate(window_average(s["growth"], late_window(40)))
            c = ensemble_estimate(window_average(s["chi"], late_window(40)))
            print(f"vanilla-tanh sigma_w={sw} tied={tied} N={n}: chi theory {chi:.4f}  growth {float(g.mean):.4f}±{float(g.se):.1g}  hutchinson {float(c.mean):.4f}±{float(c.se):.1g}", flush=True)
