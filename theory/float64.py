"""float64 for the library's own jax work, without changing the user's jax settings (issue 21 item 5).

The theory side computes in float64.  jax computes in float32 unless ``jax_enable_x64`` is on, and that
flag is process-wide: a library that turned it on at import (as signalprop's generated modules used to)
changes the dtypes of its user's own code.  Instead:

* :func:`scope` turns ``jax_enable_x64`` on for the duration of one library call (``jax.enable_x64``,
  a context manager: the user's setting is back when the call returns, also on error);
* :func:`float64` is that scope as a decorator, for the public entry points (``predict``,
  ``trajectory``, ``critical_line``, ``critical_init``, ``phase_diagram``, ``spectrum``);
* under the user's own ``jit``/``vmap``/``grad`` (an argument is a jax tracer) the scope cannot help --
  the trace is already float32 -- so the call raises :class:`RuntimeError` saying how to turn float64
  on, instead of mixing dtypes inside the user's program;
* the generated jax modules check the flag themselves (:mod:`theory.codegen.jax_float64`).

Values returned from a scoped call are float64 jax arrays; outside the scope jax treats them by the
user's setting (an operation with x64 off computes in float32).
"""
from __future__ import annotations

import contextlib
import functools

MESSAGE = ("signalprop's jax kernels compute in float64, but jax_enable_x64 is off in this process and the "
           "call is inside your own jax trace (jit/vmap/grad), whose dtypes signalprop cannot change. Turn "
           "float64 on at program start with jax.config.update('jax_enable_x64', True) (or trace under "
           "`with jax.enable_x64(True):`)")


def _leaves(args, kwargs):
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, dict):
            yield from v.values()
        elif isinstance(v, (list, tuple)):
            yield from v
        else:
            yield v


def _jax():
    try:
        import jax
    except ImportError:  # pragma: no cover - a numba-only install
        return None
    return jax


def is_tracer(v) -> bool:
    """True if ``v`` is a jax tracer (an argument inside a ``jit``/``vmap``/``grad`` trace); False without jax."""
    jax = _jax()
    return jax is not None and isinstance(v, jax.core.Tracer)


@contextlib.contextmanager
def scope(*args, **kwargs):
    """``jax_enable_x64`` on inside, the user's setting restored after.  Raises RuntimeError
    (:data:`MESSAGE`) when it is off and one of ``args``/``kwargs`` (or their dict/list items) is a jax
    tracer: a float32 trace of the user's cannot be made float64 from inside."""
    jax = _jax()
    if jax is None or jax.config.jax_enable_x64:
        yield
        return
    if any(is_tracer(v) for v in _leaves(args, kwargs)):
        raise RuntimeError(MESSAGE)
    with jax.enable_x64(True):
        yield


def float64(fn):
    """``fn`` run inside :func:`scope` of its own arguments."""
    @functools.wraps(fn)
    def in_float64(*args, **kwargs):
        with scope(*args, **kwargs):
            return fn(*args, **kwargs)
    return in_float64


def require():
    """RuntimeError unless ``jax_enable_x64`` is on: for library internals that must only run inside a
    :func:`scope` (a missing scope is a library bug, said as such, not a silent float32 result)."""
    jax = _jax()
    if jax is not None and not jax.config.jax_enable_x64:
        raise RuntimeError("internal: a signalprop jax computation ran outside theory.float64.scope "
                           "(float64 is off); please report this")


__all__ = ["MESSAGE", "is_tracer", "scope", "float64", "require"]
