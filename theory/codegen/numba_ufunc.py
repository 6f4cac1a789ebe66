"""How generated numba modules declare their public elementwise kernels: ufuncs built on first call.

Every public numba kernel is a float64 numpy ufunc (broadcasting, scalars in and out, ``out=``).
numba caches a ufunc's compiled scalar function on disk (``cache=True``), but not the ufunc's loop
wrapper: building it costs ~0.1-0.2 s per ufunc, and with eager signatures at decoration time a
module with 90 of them (LSTM) took ~5 s to *import* in every process, whether or not any kernel was
used (issue 22 item 4: the suite's xdist workers and CLI subprocesses paid it again and again).

So a generated module decorates its public kernels with ``_ufunc(signature)`` (:data:`HELPER`, written
into each module so that ``derivations/`` needs numba and numpy only): the function is made a ufunc
with exactly the same signature and ``cache=True`` the first time it is called (or an attribute of the
ufunc is read), and is that ufunc from then on.  The values are those of the eager ufunc: same
signature, same compiled scalar code.  A kernel's body must not call another *public* kernel (numba
cannot type the lazy object inside compiled code); it calls the private ``@njit`` helpers instead.
"""

#: source of the decorator, emitted once per generated numba module (after its imports)
HELPER = '''

class _LazyUfunc:
    """A numba ufunc (one float64 signature, cached on disk) built the first time it is used: building
    a ufunc's loop at import cost ~0.1-0.2 s per kernel in every process (theory/codegen/numba_ufunc.py)."""

    def __init__(self, py_func, signature):
        self._py_func, self._signature, self._built = py_func, signature, None
        functools.update_wrapper(self, py_func)

    @property
    def ufunc(self):
        if self._built is None:
            self._built = vectorize([self._signature], cache=True)(self._py_func)
        return self._built

    def __call__(self, *args, **kwargs):
        return self.ufunc(*args, **kwargs)

    def __getattr__(self, name):  # nin, nout, types, reduce, ...: the built ufunc's
        if name.startswith("__") or name in ("_py_func", "_signature", "_built"):
            raise AttributeError(name)
        return getattr(self.ufunc, name)

    def __repr__(self):
        return f"<lazily built numba ufunc {self.__name__} {self._signature}>"

    def __reduce__(self):  # pickled by reference, as numpy pickles its ufuncs (process pools, Dask)
        return self.__qualname__


def _ufunc(signature):
    """Decorator: the function as a numba ufunc with this signature, built on its first call."""
    return lambda py_func: _LazyUfunc(py_func, signature)

'''


def decorator(signature: str) -> str:
    """The decorator line of a public kernel with numba signature ``signature`` (e.g. ``'float64(float64)'``)."""
    return f"@_ufunc({signature!r})\n"


def signature(n_args: int, result: str = "float64") -> str:
    """``'float64(float64, ..., float64)'``: a kernel of ``n_args`` float64 arguments."""
    return f"{result}(" + ", ".join(["float64"] * n_args) + ")"


def module_imports(numpy: bool = True, njit: bool = True) -> str:
    """The import block of a generated numba module, followed by :data:`HELPER`."""
    lines = ["import functools", "import math", ""] + (["import numpy as np"] if numpy else [])
    lines.append("from numba import njit, vectorize" if njit else "from numba import vectorize")
    return "\n".join(lines) + "\n" + HELPER
