"""Public API: ``predict``, ``trajectory``, ``critical_line``, ``cells``, ``parameters``.

One-way flow of a parameter (design.md): keyword -> validated here -> passed positionally, in the
cell's declared order, to a generated kernel.
"""
from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

import numpy as np

from . import cells as _registry
from . import grid
from .codegen import trust as _trust
from .codegen.render import CORRELATION_QUANTITIES, STATUS_DOC, STATUS_TEXT
from .declare.cell import Cell
from .declare.params import spec
from .declare.registry import CORE_PREDICTORS, CRITICAL_QUANTITY, TRAJECTORIES, lookup
from .validate import choice, count, finite, flag, scalar
from .float64 import float64, is_tracer  # is_tracer: served as api.is_tracer too

QUANTITIES = ("q_star", "Q_star", "c_star", "c_h_star", "chi", "xi", "xi_q")
BACKENDS = ("numba", "jax")
#: keyword options of predict for core quantities (closure of gated cells, see theory.closures.gated_api)
CORE_OPTIONS = ("closure", "size", "seed")


class FixedPointError(RuntimeError):
    """No finite fixed point, or the solver did not converge, at the requested parameters."""


#: Extra quantities served by other modules (isometry, dying ReLU, gated cells, ...):
#: name -> Quantity.  ``predict`` takes the quantity's own keyword arguments (``extra``) besides
#: the cell parameters and hands everything to ``evaluate(cell, backend, params, extra)``.
EXTRA_QUANTITIES: dict = {}


class Quantity:
    """A quantity defined outside the core kernels (see ``register_quantity``)."""

    def __init__(self, name, evaluate, extra=None, doc="", applies=None, applies_to=""):
        self.name, self.evaluate, self.extra, self.doc = name, evaluate, dict(extra or {}), doc
        self.applies, self.applies_to = applies, applies_to

    def check_cell(self, c) -> None:
        """ValueError unless this quantity is served for cell ``c`` (says for which cells it is)."""
        if self.applies is not None and not self.applies(c):
            raise ValueError(f"{self.name!r} is served for {self.applies_to}; not for {c.name!r}")


def register_quantity(name: str, evaluate, extra: dict | None = None, doc: str = "", *, applies=None,
                      applies_to: str = "") -> Quantity:
    """Serve ``name`` through ``predict``: ``evaluate(cell, backend, params, extra) -> value``.
    ``extra``: {keyword: default} of the quantity's own arguments (e.g. ``T``, ``weights``).
    ``applies``: predicate on the cell declaration (None: every cell); ``applies_to`` says in words
    which cells it serves, for the error a request for another cell gets."""
    if name in QUANTITIES:
        raise ValueError(f"{name!r} is a core quantity")
    if applies is not None and not applies_to:
        raise ValueError("a quantity restricted by applies= must say which cells it serves (applies_to=)")
    q = Quantity(name, evaluate, extra, doc, applies, applies_to)
    EXTRA_QUANTITIES[name] = q
    return q


#: the tied-weight (real-network) solver: (predict, trajectory), registered by theory.tied.api
_TIED: dict = {}


def register_tied(**servers) -> None:
    """Serve the tied (real-network) forms: ``predict=`` (``predict(..., tied=True)``), ``trajectory=``,
    ``critical_line=``; each module of :mod:`theory.tied` registers what it serves."""
    unknown = set(servers) - {"predict", "trajectory", "critical_line"}
    if unknown:
        raise ValueError(f"unknown tied server(s) {sorted(unknown)}")
    _TIED.update(servers)


def _tied_server(c, what: str):
    if what not in _TIED:
        raise ValueError(f"the tied-weight {what} is not loaded (import theory first)")
    if not c.recurrent:
        raise ValueError(f"{c.name} is a feed-forward net: each layer has its own weights, so tied and untied "
                         f"coincide; use tied=False")
    return _TIED[what]


def quantities() -> list:
    """Names of every quantity ``predict`` serves (core first, then registered extras)."""
    return list(QUANTITIES) + sorted(EXTRA_QUANTITIES)


def cells() -> list[str]:
    """Names of all declared cells (CLI spelling, hyphenated), sorted."""
    return _registry.names()


def cell(name) -> Cell:
    """The declaration of a cell (ValueError naming the valid choices for an unknown name)."""
    return _registry.get(name)


def register(c: Cell) -> Cell:
    """Declare a new cell for this session; ``predict`` then generates its kernels on first use."""
    return _registry.register(c)


def parameters(name) -> dict:
    """{parameter: default} in kernel argument order."""
    return dict(cell(name).params)


# ----------------------------------------------------------------------------------------------
# where generated packages live
# ----------------------------------------------------------------------------------------------

def default_out_dir(c: Cell) -> Path:
    """``derivations/<package>`` next to ``theory`` for built-in cells (editable checkout: the repo;
    installed: site-packages); user cells go to ``$SIGNALPROP_CACHE`` (default ``~/.cache/signalprop``)."""
    if _registry.is_builtin(c.name):
        import derivations
        return Path(derivations.__file__).parent / c.package
    root = Path(os.environ.get("SIGNALPROP_CACHE", Path.home() / ".cache" / "signalprop"))
    return root / "derivations" / c.package


def generate(c, out=None, backends=BACKENDS) -> list:
    """Write the generated package of cell ``c`` (default location: :func:`default_out_dir`); returns
    the paths written.  For a user cell the sha256 manifest of the files (:mod:`theory.codegen.trust`) is
    written last, beside them: ``predict`` imports only files that hash to it."""
    from .codegen.outdir import OutputError, check_target, write_files
    from .codegen.render import render_package
    c = cell(c) if isinstance(c, str) else c
    out = out or default_out_dir(c)
    check_target(out, c.name)  # before rendering (slow): refuse a bad folder at once
    files = render_package(c, backends)
    paths = write_files(out, files, c.name)
    if not _registry.is_builtin(c.name):
        try:
            paths.append(_trust.write_manifest(paths[0].parent, files))
        except OSError as e:
            raise OutputError(f"cannot write {_trust.MANIFEST} into {paths[0].parent}: {e.strerror or e}") from None
    return paths


_MODULES: dict = {}


def kernels(name, backend: str = "numba"):
    """The generated module (``numba_kernels`` or ``jax_kernels``) of a cell, generating it if missing
    or stale (the header's declaration hash differs from the declaration)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    return generated_module(name, f"{backend}_kernels")


def generated_module(name, stem: str):
    """The generated module ``<stem>.py`` of a cell's package (``numba_kernels``, ``isometry_jax``,
    ``tied_numba``, ...): imported from ``derivations`` for built-in cells; for user cells from the
    cache, and only if the file hashes to the sha256 recorded when it was generated
    (:func:`theory.codegen.trust.load_verified`), regenerated first if missing, changed or stale (its
    header's declaration hash differs).  Returns the module."""
    c = cell(name)
    # the folder is part of the key: a user cell's files live under $SIGNALPROP_CACHE, and a session
    # that changes it must get (and find) the files there, not a module loaded from the old folder
    key = (c.name, stem, c.declaration_hash(), str(default_out_dir(c)))
    if key in _MODULES:
        return _MODULES[key]
    # a first import inside the user's jit is safe: the generated jax modules build their constants with
    # numpy, never jax, at import (theory.codegen.jax_float64.CONSTANTS), so no tracer is cached in them
    mod = _load_generated(c, stem)
    _MODULES[key] = mod
    return mod


def _load_generated(c, stem: str):
    directory = default_out_dir(c)
    path = directory / f"{stem}.py"
    if _registry.is_builtin(c.name):
        if not path.exists() or c.declaration_hash() not in path.read_text()[:400]:
            if path.exists():
                raise RuntimeError(f"{path} is stale (declaration changed): run `derive cell={c.name}`")
            generate(c, directory)
            if not path.exists():
                raise ValueError(f"{c.name}: no generated module {stem!r} (not served for this cell)")
        mod = importlib.import_module(f"derivations.{c.package}.{stem}")
    else:
        stamp = c.declaration_hash().encode()
        mod = _trust.load_verified(path, f"signalprop_user_{c.package}_{stem}", lambda: generate(c, directory),
                                   fresh=lambda data: stamp in data[:400])
        if mod is None:
            raise ValueError(f"{c.name}: no generated module {stem!r} (not served for this cell)")
    return mod


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------

def resolve_params(c: Cell, params: dict) -> dict:
    """Fill defaults and validate: unknown names and out-of-domain values raise ValueError."""
    unknown = sorted(set(params) - set(c.param_names))
    if unknown:
        raise ValueError(f"{c.name}: unknown parameter(s) {unknown}; valid: {list(c.param_names)}")
    out = {}
    for n, default in c.params:
        v = params.get(n, default)
        if is_tracer(v):
            out[n] = v
            continue
        msg = spec(n).check(v)
        if msg:
            raise ValueError(f"{c.name}: {msg}")
        out[n] = v
    return out


# ----------------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------------

@float64
def predict(name, quantity: str, backend: str = "numba", *, tied: bool = False, progress=None, **params):
    r"""Mean-field prediction of ``quantity`` for cell ``name``; broadcasts over array parameters.

    Quantities: ``q_star`` (field variance at the fixed point, σ_w²Q* + σ_v²R + σ_b²), ``Q_star``
    (hidden second moment), ``c_star`` (field correlation of two sequences, q_ab*/q*), ``c_h_star``
    (hidden correlation C*/Q*), ``chi`` (mean squared singular value of ∂h_t/∂h_{t-1}), ``xi``
    (−1/ln slope of the covariance map at C*), ``xi_q`` (−1/ln|slope of the variance map at Q*)).

    Returns a float (numba, scalar parameters), a numpy array (numba, arrays) or a jax array (jax;
    composes with jit/vmap/grad).  Scalar requests whose fixed point does not exist or does not
    converge raise :class:`FixedPointError`; array requests return NaN there with a RuntimeWarning
    counting the failures (``theory.status`` says why per point).

    ``closure="gaussian"`` (the default, also when omitted) gives the generated kernels.  Gated cells
    also take ``closure="population"`` (with ``size=``, ``seed=``) for ``Q_star``, ``q_star`` and ``chi``:
    the exact untied one-site law by population dynamics (:mod:`theory.closures.gated_api`); other cells and
    other names raise ValueError for it.

    ``tied=False`` (default): the annealed theory (weights redrawn every step), exact for untied
    networks.  ``tied=True``: real networks (one W at every step), by the single-site process of
    dynamical mean-field theory (:mod:`theory.tied.api`; Monte-Carlo with a standard error, options
    ``paths``, ``steps``, ``burn``, ``seed``, ``return_error``).

    ``progress``: a grid evaluation of a core quantity (numba, or jax in several chunks) that runs
    longer than 2 s reports on stderr how many points are done and how long the rest should take
    (:mod:`theory.grid`); ``progress=False`` silences it, ``True`` reports from the start.  The tied
    solver's grids (one solve per point) report the same way; the extra quantities do not use it.
    """
    c = cell(name)
    tied = flag("tied", tied)
    progress = None if progress is None else flag("progress", progress)
    choice("backend", backend, BACKENDS)
    if not isinstance(quantity, str):
        raise ValueError(f"quantity must be a name, one of {quantities()}; got {quantity!r}")
    if tied:
        return _tied_server(c, "predict")(c, quantity, backend, params, progress=progress)
    if quantity not in QUANTITIES + tuple(EXTRA_QUANTITIES):
        raise ValueError(f"unknown quantity {quantity!r}; choose one of {quantities()}")
    if quantity in EXTRA_QUANTITIES:
        q = EXTRA_QUANTITIES[quantity]
        q.check_cell(c)
        extra = {k: params.pop(k, v) for k, v in q.extra.items()}
        return q.evaluate(c, backend, resolve_params(c, params), extra)
    options = {k: params.pop(k) for k in CORE_OPTIONS if k in params}
    core = lookup(CORE_PREDICTORS, c)  # gated cells: closure=gaussian|population (theory.closures.gated_api)
    if options and core is not None:
        return core(c, quantity, backend, resolve_params(c, params), options)
    if options and options != {"closure": "gaussian"}:
        raise ValueError(f"{c.name}: {sorted(options)} (closure='population') apply to gated cells only; "
                         f"{c.name} is served by its Gaussian-field kernels (closure='gaussian')")
    p = resolve_params(c, params)
    mod = kernels(c, backend)
    fn = getattr(mod, quantity)
    args = [p[n] for n in c.param_names]
    if backend == "jax":
        out = jax_value(mod, quantity, args, progress=progress, label=f"predict {c.name} {quantity}")
        if not is_tracer(out):
            check_defined(c, quantity, np.asarray(out), p)
        return out
    arrs = [np.asarray(a, dtype=np.float64) for a in args]
    out = quietly(lambda *a: grid.evaluate(fn, a, f"predict {c.name} {quantity}", progress), *arrs)
    check_defined(c, quantity, np.asarray(out), p)
    return float(out) if np.ndim(out) == 0 else out


def critical_quantity(c) -> str:
    """The quantity that is 1 on the order-chaos boundary of declaration ``c``: ``"chi"``, or the
    family's registered name (gated cells: ``"lambda_max"``, the perturbation map's top eigenvalue)."""
    return lookup(CRITICAL_QUANTITY, c) or "chi"


def quietly(fn, *args):
    """``fn(*args)`` with numpy's floating-point warnings off: a kernel's NaN at a failed point is
    reported once, with the solver's reason, by :func:`check_defined` (not as thousands of
    "invalid value encountered" lines)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


_PROGRAMS: dict = {}


def jax_value(mod, quantity: str, args, progress=None, label: str = ""):
    """``quantity`` of a generated jax module at ``args`` (scalars or broadcastable arrays).

    Under a trace (the caller's ``jit``/``vmap``/``grad``) the kernel is called as it is.  Otherwise the
    value comes from the compiled program that serves every quantity of the same solve
    (``mod.PROGRAMS``): compiling one costs seconds on a CPU, and asking for ``chi`` after ``q_star``
    then costs none.  Arrays are flattened and padded to a few sizes (:func:`_padded_size`), so grids
    of nearby sizes share a program too; a grid of several chunks reports progress as
    :class:`theory.grid.Progress` says (``label``, ``progress``).  Returns a jax array (NaN where the
    kernel failed)."""
    import jax.numpy as jnp
    if any(is_tracer(a) for a in args):
        fn = getattr(mod, quantity)
        return fn(*args) if all(np.ndim(a) == 0 for a in args) else jnp.vectorize(fn)(*args)
    function, group = next(((f, g) for f, g in mod.PROGRAMS.items() if quantity in g), (None, (quantity,)))
    arrs = [jnp.asarray(a, dtype=jnp.float64) for a in args]
    scalar = all(a.ndim == 0 for a in arrs)
    shape = np.broadcast_shapes(*(a.shape for a in arrs))
    if not scalar and 0 in shape:  # an empty grid: nothing to compile
        return jnp.zeros(shape, dtype=jnp.float64)
    program = _program(mod, function, group, scalar)
    out = program(*arrs) if scalar else _chunked(program, arrs, shape, grid.Progress(label, int(np.prod(shape)), progress))
    return out[group.index(quantity)]


def _program(mod, function, group: tuple, scalar: bool):
    """``jax.jit`` of the tuple of ``group``'s values (``jnp.vectorize``-d for 1-D arrays), built once:
    from the module's group ``function`` (one solve for all of them, ``mod.PROGRAMS``), or for a
    quantity outside every group (``function`` None) from its own kernel."""
    key = (mod, group, scalar)
    if key not in _PROGRAMS:
        import jax
        import jax.numpy as jnp
        if function is None:
            kernel = getattr(mod, group[0])

            def all_of_group(*a):
                return (kernel(*a),)
        else:
            served = getattr(mod, function)

            def all_of_group(*a):
                values = served(*a)
                return tuple(values[n] for n in group)
        _PROGRAMS[key] = jax.jit(all_of_group if scalar else jnp.vectorize(all_of_group))
    return _PROGRAMS[key]


#: grid points per jax call: bounds the memory of the vectorised quadrature (~160 nodes per point)
JAX_CHUNK = 16384


def _padded_size(n: int) -> int:
    """Lanes compiled for ``n`` points: the next power of two from 8 up to 1024, then the next multiple
    of 1024 up to :data:`JAX_CHUNK` (at most 2x the work below 1024 points, 1.6% above, and few shapes)."""
    if n <= 1024:
        return max(8, 1 << (n - 1).bit_length())
    return min(JAX_CHUNK, -(-n // 1024) * 1024)


def _chunked(program, arrs, shape, report=None):
    """Evaluate a jitted, vectorised program (a tuple of outputs) over ``arrs`` broadcast to ``shape``:
    flattened, padded with copies of the last point to :func:`_padded_size` lanes, in chunks of at most
    :data:`JAX_CHUNK`.  Lanes are independent (each point's solve stops on its own), so the padding does
    not change values."""
    import jax
    import jax.numpy as jnp
    flat = [jnp.broadcast_to(a, shape).reshape(-1) for a in arrs]
    n = flat[0].shape[0]
    size = _padded_size(n)
    total = -(-n // size) * size
    flat = [jnp.concatenate([f, jnp.broadcast_to(f[-1:], (total - n,))]) for f in flat]
    parts = []
    for i in range(0, total, size):
        parts.append(program(*[f[i:i + size] for f in flat]))
        if report is not None and total > size:  # several chunks: wait for this one, to say how far it is
            jax.block_until_ready(parts[-1])
            report.update(min(n, i + size))
    if report is not None:
        report.finish()
    return tuple(jnp.concatenate([p[k] for p in parts])[:n].reshape(shape) for k in range(len(parts[0])))


def status(name, correlation: bool = False, **params):
    """Integer status per point of the Q* solve (or the C* solve): """ + STATUS_DOC
    c = cell(name)
    p = resolve_params(c, params)
    mod = kernels(c, "numba")
    fn = mod.correlation_status if correlation else mod.fixed_point_status
    return quietly(fn, *[np.asarray(p[n], dtype=np.float64) for n in c.param_names])


TIMESCALE_QUANTITIES = frozenset({"xi", "xi_q", "xi_2", "xi_q_2"})
"""Quantities whose exact value may be ``+inf`` (a timescale diverges at the critical point); any other
quantity that comes out infinite has overflowed float64, and :func:`check_defined` says so."""


def check_defined(c: Cell, quantity: str, out: np.ndarray, p: dict):
    """Raise :class:`FixedPointError` (scalar) or warn (array) where ``out`` is NaN, or infinite for a
    quantity that is not a timescale (:data:`TIMESCALE_QUANTITIES`: an overflow, e.g. q* at sigma_w = 1e200),
    with the solver's status in words (:data:`theory.codegen.render.STATUS_TEXT`): the one place a
    kernel's NaN or overflow becomes an error."""
    bad = ~np.isfinite(out)
    if quantity in TIMESCALE_QUANTITIES:
        bad &= ~np.isposinf(out)
    if not np.any(bad):
        return
    st = np.broadcast_to(status(c, correlation=quantity in CORRELATION_QUANTITIES, **p), out.shape)
    codes = sorted({int(s) for s in np.ravel(st[bad]) if s != 0})
    reasons = [STATUS_TEXT.get(k, str(k)) for k in codes]
    inf = np.isinf(out[bad])
    if inf.any():
        reasons.append("the value overflows float64 (|x| > 1.8e308)")
    why = ", ".join(reasons) or "NaN from the kernel"
    if out.ndim == 0:
        shown = ", ".join(f"{k}={float(np.asarray(v))!r}" for k, v in p.items())
        raise FixedPointError(f"{c.name}: {quantity} undefined at {shown}: {why}")
    what = "infinite" if inf.all() else "NaN or infinite" if inf.any() else "NaN"
    warnings.warn(f"{c.name}: {quantity} is {what} at {int(bad.sum())} of {out.size} points ({why}); "
                  "see theory.status", RuntimeWarning, stacklevel=3)


# ----------------------------------------------------------------------------------------------
# trajectories and the critical line
# ----------------------------------------------------------------------------------------------

@float64
def trajectory(name, steps: int, Q0: float, C0: float | None = None, backend: str = "numba", *, tied: bool = False,
               **params) -> dict:
    r"""Iterate the generated maps from second moment ``Q0`` and overlap ``C0`` (default ``Q0``).

    Returns numpy arrays of length ``steps`` (entry t-1 is step t): ``q`` (field variance q_t =
    q(Q_{t-1})), ``Q`` (Q_t = V(Q_{t-1})), ``C`` (C_t = C(C_{t-1}; Q_{t-1})), ``c`` (field correlation
    q_ab(C_{t-1})/q_t) and ``c_h`` (C_t/Q_t).  Both sequences share Q_t (same input statistics).

    ``tied=True``: the real network's transient by the tied-weight site process (any recurrent cell;
    ``C0`` is the same covariance, ``None`` for one sequence; options ``paths``, ``groups``, ``seed``,
    ``return_error`` (per-step standard errors); see :func:`theory.tied.api.trajectory_tied`)."""
    c = cell(name)
    tied = flag("tied", tied)
    choice("backend", backend, BACKENDS)
    steps = count("steps", steps)
    if tied:
        return _tied_server(c, "trajectory")(c, steps, Q0, C0, **params)
    family = lookup(TRAJECTORIES, c)  # gated cells: one Q and C per state component (theory.closures.gated_api)
    if family is not None:
        if backend != "numba":
            raise ValueError(f"{c.name}: the annealed trajectory of a gated cell is served by the numba kernels "
                             f"only (backend='numba')")
        return family(c, steps, Q0, C0, **params)
    if isinstance(Q0, dict) or isinstance(C0, dict):
        raise ValueError(f"{c.name} has one state component: Q0 and C0 are numbers (dicts are for gated cells)")
    Q0 = scalar("Q0", Q0)
    if Q0 < 0:
        raise ValueError(f"Q0 must be a finite second moment >= 0, got {Q0!r}")
    C0 = Q0 if C0 is None else scalar("C0", C0)
    if abs(C0) > Q0 * (1 + 1e-12) + 1e-300:
        raise ValueError(f"C0 must satisfy |C0| <= Q0 (Cauchy-Schwarz), got C0={C0!r}, Q0={Q0!r}")
    p = resolve_params(c, params)
    if any(np.ndim(v) for v in p.values()):
        raise ValueError(f"{c.name}: a trajectory takes scalar parameters (one run); loop over a grid yourself")
    mod = kernels(c, backend)
    args = [float(p[n]) for n in c.param_names]
    out = {k: np.empty(int(steps)) for k in ("q", "Q", "C", "c", "c_h")}
    Q, C = float(Q0), float(C0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for t in range(int(steps)):
            q = float(mod.field_variance(Q, *args))
            qab = float(mod.field_covariance(C, *args))
            Qn = float(mod.variance_map(Q, *args))
            Cn = float(mod.covariance_map(C, Q, *args))
            out["q"][t], out["Q"][t], out["C"][t] = q, Qn, Cn
            out["c"][t] = qab / q if q > 0 else np.nan
            out["c_h"][t] = Cn / Qn if Qn > 0 else np.nan
            Q, C = Qn, Cn
    check_trajectory(c, out, ("q", "Q", "C"))
    return out


def check_trajectory(c, out: dict, moments) -> None:
    """ValueError at the first step where a second moment of a trajectory is not finite (the map
    diverges past float64, or its quadrature failed): never an array of silent inf/NaN.  ``c_*``
    entries may be NaN only where their Q is 0 (documented)."""
    for k in moments:
        bad = np.nonzero(~np.isfinite(out[k]))[0]
        if bad.size:
            raise ValueError(f"{c.name}: trajectory {k}_t is not finite from step {bad[0] + 1} (the map leaves "
                             f"float64 there: diverging second moments); ask for fewer steps")


#: where critical_line(along=...) looks for the sign change of (criterion - 1), by the solved
#: parameter's kind: standard deviations >= 0, real bias means of either sign
SEARCH_GRID = {"std": (1e-3, 10.0), "real": (-20.0, 20.0)}


@float64
def critical_line(name, q_star=None, *, along: str | None = None, values=None, solve_for: str | None = None,
                  backend: str = "numba", tied: bool = False, **params) -> dict:
    r"""The critical curve (χ = 1; gated cells: λ_max = 1, the top eigenvalue of the perturbation map) as arrays.

    * ``critical_line(cell, q_star=array, **fixed)``: the generated parametrisation by q*
      (``cell.critical_pair``, e.g. σ_w, σ_b for vanilla; σ_w, σ_v for minimalrnn); NaN where
      infeasible (a negative square).  Single-field cells only (gated cells have no closed form).
    * ``critical_line(cell, along="sigma_b", values=array, solve_for=None, **fixed)``: for each value of
      ``along``, solve criterion(``solve_for``) = 1 by Brent's method on the generated kernels
      (``solve_for`` defaults to the first member of the critical pair; gated cells must name it, e.g.
      ``critical_line("lstm", along="mu_b_f", values=..., solve_for="sigma_w")``).  ``along`` and
      ``solve_for`` are parameters or parameter families (:func:`axis_members`: ``"sigma_w"`` on a gated
      cell is every ``sigma_w_<gate>`` set to one common value).  The root is the first sign change on
      a 201-point grid over :data:`SEARCH_GRID` (by the parameter's kind), scanned in one vectorised
      kernel call per value; NaN where there is none.  Annealed (untied) theory.
    * ``tied=True`` (with ``along``/``values``): the real network's line, tied λ_max = 1, one
      :func:`theory.tied.critical.critical_init_tied` root per value (Monte-Carlo with common random
      numbers; seconds per value; ``solve_for`` defaults to the memory-gate bias of a gated cell, else
      σ_w; options ``paths``, ``steps``, ``burn``, ``seed``, ``bracket``); the dict adds
      ``<solve_for>_se``, the root's standard error.
    Returns a dict of arrays keyed by parameter name (and ``q_star``)."""
    c = cell(name)
    choice("backend", backend, BACKENDS)
    if flag("tied", tied):
        if q_star is not None or along is None or values is None:
            raise ValueError("critical_line(tied=True) takes along=<parameter> and values=array (no q* form)")
        return _tied_server(c, "critical_line")(c, along, values, solve_for, **params)
    criterion = critical_quantity(c)
    pair = c.critical_pair
    if q_star is not None:
        if pair is None:
            raise ValueError(f"{c.name}: no closed-form parametrisation of {criterion} = 1 by q* (gated cell); "
                             f"use along=<parameter>, values=array, solve_for=<parameter>")
        a, b = pair
        qs = np.atleast_1d(np.asarray(finite("q_star", q_star), dtype=float))
        if np.any(qs <= 0):
            raise ValueError("q_star must be > 0")
        p = resolve_params(c, {k: v for k, v in params.items() if k not in (a, b)})
        mod = kernels(c, backend)
        if not hasattr(mod, f"critical_{a}"):
            raise ValueError(f"{c.name}: no parametrisation by q* was derived; use along=...")
        rest = [p[n] for n in c.param_names if n not in (a, b)]
        return {"q_star": qs, a: np.asarray(quietly(getattr(mod, f"critical_{a}"), qs, *rest)),
                b: np.asarray(quietly(getattr(mod, f"critical_{b}"), qs, *rest))}
    if along is None or values is None:
        raise ValueError("give q_star=array, or along=<parameter> and values=array")
    a = solve_for or (pair[0] if pair is not None else None)
    if a is None:
        raise ValueError(f"{c.name}: name the parameter to solve {criterion} = 1 for (solve_for=...), one of "
                         f"{list(c.param_names)}")
    moved, solved = axis_pair(c, along, a, roles=("along", "solve_for"))
    if set(solved) & set(params):
        raise ValueError(f"{a} is solved for; do not also fix {sorted(set(solved) & set(params))}")
    from scipy.optimize import brentq

    vals = np.atleast_1d(np.asarray(finite("values", values), dtype=float))
    lo, hi = SEARCH_GRID["real" if spec(solved[0]).kind == "real" else "std"]
    grid = np.linspace(lo, hi, 201)
    sol = np.full(vals.shape, np.nan)
    for i, v in enumerate(vals):
        p = resolve_params(c, {**params, **{m: v for m in moved}})

        def f(s):
            # NaN where the fixed point fails: the scan skips those points, it does not stop there
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    out = predict(c, criterion, backend, **{**p, **{m: s for m in solved}})
                return np.asarray(out, dtype=float) - 1.0
            except FixedPointError:
                return np.full(np.shape(s), np.nan)
        fs = f(grid)  # one broadcast kernel call brackets the first crossing
        idx = np.nonzero(np.isfinite(fs[:-1]) & np.isfinite(fs[1:]) & (np.sign(fs[:-1]) != np.sign(fs[1:])))[0]
        if idx.size:
            sol[i] = brentq(lambda s: float(f(s)), grid[idx[0]], grid[idx[0] + 1], xtol=1e-14, rtol=1e-14)
    return {along: vals, a: sol}


def axis_pair(c, first: str, second: str, roles=("x", "y")) -> tuple:
    """``(axis_members(first), axis_members(second))``; ValueError if the two axes set a common parameter."""
    a, b = axis_members(c, first, role=roles[0]), axis_members(c, second, role=roles[1])
    common = sorted(set(a) & set(b))
    if common:
        raise ValueError(f"{roles[0]}={first!r} and {roles[1]}={second!r} both set the same parameter(s) {common}")
    return a, b


def axis_members(c, name: str, role: str = "axis") -> tuple:
    """The parameters that the axis ``name`` sets: ``(name,)`` for a parameter of ``c``; for a family
    prefix that is not itself a parameter (``"sigma_w"``, ``"sigma_v"``, ``"mu_b"`` on a gated cell) every
    ``<name>_<gate>``, moved together to one common value.  ValueError for anything else."""
    if not isinstance(name, str):
        raise ValueError(f"{role} must be a parameter name, got {name!r}")
    if name in c.param_names:
        return (name,)
    family = tuple(n for n in c.param_names if n.startswith(name + "_"))
    if not family:
        raise ValueError(f"{c.name}: {role} {name!r} is not a parameter or a family of parameters; choose from "
                         f"{list(c.param_names)}")
    return family
