"""Issue 21 item 5: signalprop changes no jax setting of its user's process.

The suite itself runs with ``jax_enable_x64`` on (conftest), so each claim is checked in a fresh Python
process with jax at its defaults:

* importing ``theory`` and generated jax modules leaves ``jax_enable_x64`` off (a user's
  ``jnp.array(1.0)`` stays float32);
* a generated kernel called or traced with float64 off raises RuntimeError naming ``jax_enable_x64``
  (never a silent float32 result);
* ``theory.predict(..., backend="jax")`` computes in float64 (equal to the numba kernels to 1e-12; the gated
  renderer's modules carry the same guard, checked on the GRU's jit route above)
  and the setting is off again afterwards, also after a call that raised;
* under the user's own float32 ``grad`` it raises the library's message; under ``jax.enable_x64``
  ``grad`` works and matches a central finite difference of the numba kernel.
"""
import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(r"""
    import json, jax, jax.numpy as jnp, numpy as np
    import theory
    import theory.float64
    from derivations.vanilla_tanh import jax_kernels as vk, isometry_jax
    from derivations.gru import jax_kernels as gk
    out = {"after_import": bool(jax.config.jax_enable_x64), "user_dtype": str(jnp.array(1.0).dtype)}

    def error_of(fn):
        try:
            fn()
        except RuntimeError as e:
            return str(e)
        return None

    out["direct"] = error_of(lambda: vk.chi(1.0, 1.0, 0.1, 1.0, 1.0))
    out["jit"] = error_of(lambda: jax.jit(gk.lambda_max)(*[float(v) for v in theory.parameters("gru").values()]))
    out["isometry"] = error_of(lambda: isometry_jax.isometry_mean(2.0, 0.5, 1.0, 1.0, 0.1, 1.0, 1.0))
    sw = [0.5, 1.0, 2.5]
    a = np.asarray(theory.predict("vanilla-tanh", "chi", backend="jax", sigma_w=sw))
    b = theory.predict("vanilla-tanh", "chi", sigma_w=sw)
    out["vanilla_dtype"], out["vanilla_rel"] = str(a.dtype), float(np.max(np.abs(a - b) / b))
    out["after_predict"] = bool(jax.config.jax_enable_x64)
    try:
        theory.predict("vanilla-tanh", "chi", backend="jax", sigma_w=-1.0)
    except ValueError:
        pass
    out["after_error"] = bool(jax.config.jax_enable_x64)
    f = lambda s: theory.predict("vanilla-tanh", "chi", backend="jax", sigma_w=s)
    out["grad_x32"] = error_of(lambda: jax.grad(f)(1.0))
    with jax.enable_x64(True):
        out["grad_x64"] = float(jax.grad(f)(1.0))
    h = 1e-5
    out["fd"] = (theory.predict("vanilla-tanh", "chi", sigma_w=1.0 + h)
                 - theory.predict("vanilla-tanh", "chi", sigma_w=1.0 - h)) / (2 * h)
    out["end"] = bool(jax.config.jax_enable_x64)
    out["message"] = theory.float64.MESSAGE
    print("RESULT" + json.dumps(out))
""")


def _run():
    env_free = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert env_free.returncode == 0, env_free.stderr[-3000:]
    line = next(l for l in env_free.stdout.splitlines() if l.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def test_signalprop_leaves_the_users_jax_float64_setting_alone_and_still_computes_in_float64():
    r = _run()
    # importing changes nothing
    assert r["after_import"] is False and r["user_dtype"] == "float32"
    # a generated kernel refuses to run or be traced in float32, and says what to enable
    for route in ("direct", "jit", "isometry"):
        assert r[route] is not None and "jax_enable_x64" in r[route], (route, r[route])
    # the library's own calls are float64 (numba agreement far below float32's 1e-7) and scoped
    assert r["vanilla_dtype"] == "float64"
    assert r["vanilla_rel"] < 1e-12, r["vanilla_rel"]
    assert r["after_predict"] is False and r["after_error"] is False and r["end"] is False
    # inside the user's float32 trace: the library's message, not a dtype error from deep inside
    assert r["grad_x32"] == r["message"]
    # with float64 on, grad composes (central difference of the numba kernel, h = 1e-5: error ~1e-10)
    assert abs(r["grad_x64"] - r["fd"]) < 1e-7 * abs(r["fd"]), (r["grad_x64"], r["fd"])
