"""The float64 contract of every generated jax module, printed from this one place (issue 21 item 5).

The theory side is float64 throughout, but a library must not change its user's jax defaults: a
generated jax module used to call ``jax.config.update("jax_enable_x64", True)`` at import, which
silently turned every later ``jnp.array(1.0)`` of the user's own code into float64.  Now:

* importing a generated module changes no jax setting: its quadrature constants are numpy float64
  arrays (:data:`CONSTANTS`), not ``jnp`` arrays that would be float32 under the default setting;
* every public function of the module checks ``jax_enable_x64`` when it is called or traced
  (:data:`FOOTER`): under ``jit``/``vmap``/``grad`` the check runs once per trace, so it costs nothing
  per evaluation, and a float32 trace fails at once with a message saying how to turn float64 on;
* :mod:`theory.float64` turns it on for the duration of the library's own calls
  (``theory.predict(..., backend="jax")``) and restores the user's setting after.
"""
from __future__ import annotations

DOC = ("Needs float64 (jax_enable_x64): importing changes no jax setting; a call or trace with it off raises\n"
       "RuntimeError saying how to turn it on (theory.predict(..., backend=\"jax\") turns it on for its own call only).")
"""The sentence every generated jax module's docstring carries."""

IMPORTS = "import functools\nimport math\n\nimport jax\nimport jax.numpy\nimport jax.numpy as jnp\nimport jax.scipy.special\nimport numpy as np\n"
"""Imports of a generated jax module (``functools`` for :data:`FOOTER`)."""

CONSTANTS = ("_GL_T = np.asarray(_T)\n_GL_W = np.asarray(_W)")
"""Gauss-Legendre nodes and weights as numpy float64 (a ``jnp`` array made at import would be float32
under the user's default setting, and a tracer if the first import happens inside a trace)."""

FOOTER = '''
# float64 without touching the process's jax settings: each public function checks jax_enable_x64 when it
# is called or traced (once per trace under jit/vmap/grad), instead of this module turning it on at import
_X64_MESSAGE = ("needs float64, but jax_enable_x64 is off in this process (signalprop changes no jax "
                "setting). Turn it on at program start with jax.config.update('jax_enable_x64', True), run "
                "under `with jax.enable_x64(True):`, or call theory.predict(..., backend='jax'), which turns "
                "it on for its own call only")


def _float64_only(fn):
    @functools.wraps(fn)
    def checked(*args, **kwargs):
        if not jax.config.jax_enable_x64:
            raise RuntimeError(f"{__name__}.{fn.__name__} {_X64_MESSAGE}")
        return fn(*args, **kwargs)
    return checked


for _name, _fn in list(globals().items()):
    if (not _name.startswith("_") and callable(_fn) and not isinstance(_fn, type)
            and getattr(_fn, "__module__", None) == __name__):
        globals()[_name] = _float64_only(_fn)
del _name, _fn
'''
"""Appended to every generated jax module: wraps its public functions in the float64 check."""

__all__ = ["DOC", "IMPORTS", "CONSTANTS", "FOOTER"]
