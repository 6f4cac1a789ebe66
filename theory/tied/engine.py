r"""Forward solver of the single-site process of a tied-weight network (08 §2-§6).

One pass over ``steps`` time steps carries ``paths`` sample paths of one unit (and, for two-input
statistics, a second replica that shares the unit's biases).  The recurrent field of each gate is a
Gaussian process whose covariance is the population's own two-time correlation of what the gate
reads, :math:`\operatorname{Cov}(g^k_x,g^k_y)=\sigma_{w,k}^2\,\overline{r^k_xr^k_y}` over the index
:math:`x=(t,\text{replica})` in causal order.  :class:`_Gram` keeps the read vectors seen so far and
the Cholesky factor of their Gram matrix, so a new index gets its conditional draw in
:math:`O(jM)`: exact self-consistency, no reaction term (i.i.d. couplings), causality (08 §2).

Tangent (08 §5): a perturbation of the state is carried along replica 0; its field perturbations are a
second, independent Gaussian process over the tangent's reads (the cross-covariance with the state's
fields vanishes by the symmetry δ → -δ).  It is renormalised every step by one common factor, and the
log of that factor averaged over the late window gives :math:`\ln\lambda_{\max}`.  A fresh probe (a new
random perturbation every step, fields drawn with equal-time variance only) gives
:math:`\chi=\operatorname{Tr}J_t^\top J_t/(nN)`, the mean squared singular value of one step.

Output: per-step population means and, per path, the late-window averages of each observable.  A
run is one population; its paths share the estimated covariance and the sample of quenched biases, so
their spread misses collective fluctuations: :mod:`theory.tied.api` runs independent groups and takes
the standard error from their spread.

The site functions are the generated ``tied_numba`` ufuncs of the cell (:mod:`theory.tied.render`):
nothing here knows any cell.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

#: relative conditional variance below which a new read is taken as in the span of earlier ones
PIVOT_RTOL = 1e-10


@njit(cache=True)
def _forward_substitution(L, k, n):
    """x with L[:n, :n] x = k[:n] for a lower-triangular factor whose zero pivots mark dependent
    rows (their coefficient is 0: a positive semi-definite Gram matrix is consistent there)."""
    x = np.zeros(n)
    for s in range(n):
        acc = k[s]
        for i in range(s):
            acc -= L[s, i] * x[i]
        d = L[s, s]
        x[s] = acc / d if d > 0.0 else 0.0
    return x


class _Gram:
    """Centred Gaussian process with covariance ⟨u_x, u_y⟩/M over a causal sequence of read vectors
    u_x ∈ R^M (one entry per path), drawn for ``draws`` independent fields at once (gates whose
    matrices read the same vector: independent matrices, same covariance up to σ_w²).

    The Gram matrix and its Cholesky factor are float64 (the factor of nearly collinear reads needs it);
    the stored standard normals are float32: the draw is a memory-bound product over the whole history,
    and float32 halves its traffic at a relative error ~1e-7 in the field, far below the Monte-Carlo
    error."""

    def __init__(self, capacity: int, paths: int, draws: int, rng: np.random.Generator):
        self.U = np.empty((capacity, paths))
        self.L = np.zeros((capacity, capacity))
        self.Xi = np.empty((capacity, draws * paths), dtype=np.float32)
        self.rng, self.j, self.M, self.draws = rng, 0, paths, draws

    def add(self, u: np.ndarray) -> np.ndarray:
        """Append read vector ``u``; return (draws, M) unit-scale fields for this index."""
        j, M = self.j, self.M
        self.U[j] = u
        k = self.U[:j + 1] @ u / M
        row = _forward_substitution(self.L, k, j)
        d = k[j] - row @ row
        self.L[j, :j] = row
        self.L[j, j] = math.sqrt(d) if d > PIVOT_RTOL * k[j] and k[j] > 0.0 else 0.0
        self.Xi[j] = self.rng.standard_normal(self.draws * M, dtype=np.float32)
        self.j = j + 1
        g = self.L[j, :j + 1].astype(np.float32) @ self.Xi[:j + 1]
        return g.astype(np.float64).reshape(self.draws, M)


@dataclass
class Run:
    """One forward pass.  Time series (length ``steps``, entry t is after step t+1) of population
    means; ``window``: per-path late-window averages (arrays of length ``paths``) for the errors."""

    steps: int
    burn: int
    paths: int
    Q: dict = field(default_factory=dict)          # component -> E[s^2](t), replica 0
    q: dict = field(default_factory=dict)          # field -> E[(a - mu)^2](t)
    C: dict = field(default_factory=dict)          # component -> E[s^a s^b](t) (two replicas)
    q_ab: dict = field(default_factory=dict)       # field -> E[(a^a - mu)(a^b - mu)](t)
    log_growth: np.ndarray | None = None           # ln(|ds_t|^2 / |ds_(t-1)|^2) of the carried tangent
    chi: np.ndarray | None = None                  # fresh-probe mean squared singular value per window step
    tangent_share: dict = field(default_factory=dict)  # component -> |dk_t|^2 / |ds_t|^2 of the carried tangent
    window: dict = field(default_factory=dict)     # name -> per-path window average


def _call(mod, name, env):
    """Generated site function ``name`` evaluated on the arrays/numbers of ``env`` (by argument name)."""
    return getattr(mod, name)(*[env[a] for a in mod.ARGS[name]])


def forward(mod, params: dict, *, steps: int, burn: int, paths: int, seed, replicas: int = 1,
            Q0=1.0, C0: float = 0.5, tangent: bool = True, probe: bool = True, tangent_start: int = 0,
            tangent_weights: dict | None = None) -> Run:
    """Run the site process of generated module ``mod`` (a cell's ``tied_numba``) at ``params``.

    ``Q0``: initial second moment (a number, or {component: number}); states start i.i.d. Gaussian.
    ``C0``: initial correlation between the two replicas (``replicas=2``).  The last ``steps - burn``
    steps are the averaging window.  ``seed``: anything ``numpy.random.default_rng`` takes (an int, a
    ``SeedSequence``); deterministic for a given seed.

    ``tangent_start``: the step at which the carried tangent is drawn (0: with the state; later: a
    Jacobian probe started at a stationary state, :mod:`theory.tied.jacobian`); ``tangent_weights``:
    {component: weight} of its initial draw (default 1 each; 0 leaves a component unperturbed)."""
    rng = np.random.default_rng(seed)
    M, T, burn = int(paths), int(steps), int(burn)
    env0 = {n: np.float64(params[n]) for n in mod.PARAMS}
    laws = {k: tuple(float(x) for x in v) for k, v in mod.field_laws(*[params[n] for n in mod.PARAMS]).items()}
    fields = [f for f, _ in mod.FIELDS]
    sym = dict(zip(fields, mod.FIELD_SYMBOLS))
    scaled_by = dict(mod.FIELDS)
    comps = mod.COMPONENTS
    reps = range(replicas)
    R, Sigma = float(params.get("R", 0.0)), float(params.get("Sigma", 1.0))
    sq_in = math.sqrt(max(1.0 - Sigma * Sigma, 0.0))

    heads = [f for f in fields if mod.SHARED_READS[f] == f]
    slot = {f: [g for g in fields if mod.SHARED_READS[g] == mod.SHARED_READS[f]].index(f) for f in fields}
    draws = {h: sum(1 for f in fields if mod.SHARED_READS[f] == h) for h in heads}
    gram = {h: _Gram(T * replicas, M, draws[h], rng) for h in heads}
    dgram = {h: _Gram(T, M, draws[h], rng) for h in heads} if tangent else {}

    # quenched per-unit parts: biases (shared by the replicas) and reset-after recurrent biases
    bias = {f: laws[f][3] + laws[f][2] * rng.standard_normal(M) for f in fields}
    bias_h = {f: laws[f][4] * rng.standard_normal(M) for f in fields if scaled_by[f] is not None}

    Q0 = {c: float(Q0[c] if isinstance(Q0, dict) else Q0) for c in comps}
    state = [{c: math.sqrt(Q0[c]) * rng.standard_normal(M) for c in comps}]
    if replicas == 2:
        state.append({c: C0 * state[0][c] + math.sqrt(max(1.0 - C0 * C0, 0.0) * Q0[c]) * rng.standard_normal(M)
                      for c in comps})
    weights = {c: float((tangent_weights or {}).get(c, 1.0)) for c in comps}

    def fresh_tangent():
        d = {c: weights[c] * rng.standard_normal(M) for c in comps}
        norm = math.sqrt(sum(float(v @ v) for v in d.values()) / (M * len(comps)))
        return {c: v / norm for c, v in d.items()}
    dstate = fresh_tangent() if tangent and tangent_start == 0 else None

    run = Run(steps=T, burn=burn, paths=M)
    run.Q = {c: np.empty(T) for c in comps}
    run.q = {f: np.empty(T) for f in fields}
    if replicas == 2:
        run.C = {c: np.empty(T) for c in comps}
        run.q_ab = {f: np.empty(T) for f in fields}
    run.log_growth = np.full(T, np.nan) if tangent else None
    if tangent:
        run.tangent_share = {c: np.full(T, np.nan) for c in comps}
    run.chi = np.full(T, np.nan) if probe else None
    acc: dict = {}

    half = burn + (T - burn) // 2

    def accumulate(name, x):
        acc[name] = acc.get(name, 0.0) + x
        if name.startswith(("Q_", "C_")):  # second half separately: the paired drift test of the caller
            if t >= half:
                acc["late:" + name] = acc.get("late:" + name, 0.0) + x

    for t in range(T):
        env = [dict(env0, **s) for s in state]
        carrying = tangent and t >= tangent_start
        if carrying and dstate is None:
            dstate = fresh_tangent()
        if mod.DIRECT_INPUT:  # the input the update reads directly (second moment R, correlation Sigma)
            za = rng.standard_normal(M)
            zb = Sigma * za + sq_in * rng.standard_normal(M)
            for r in reps:
                env[r]["z"] = math.sqrt(R) * (za, zb)[r]
        denv = dict({"d_" + c: v for c, v in dstate.items()}) if carrying else None
        probing = probe and t >= burn  # chi is a window average: no probe during the burn-in
        penv = {"d_" + c: rng.standard_normal(M) for c in comps} if probing else None
        drawn = {}
        for f in fields:
            sw, sv, sb, mu, sbh = laws[f]
            head = mod.SHARED_READS[f]
            if f == head:  # one draw for every field reading this vector, per replica in causal order
                for r in reps:
                    drawn[(f, r)] = gram[f].add(_call(mod, "read_" + f, env[r]))
            xa = rng.standard_normal(M)  # the input part: fresh, correlation Sigma across replicas
            xs = (xa, Sigma * xa + sq_in * rng.standard_normal(M)) if replicas == 2 else (xa,)
            for r in reps:
                rec = sw * drawn[(head, r)][slot[f]]
                u = sv * math.sqrt(R) * xs[r] + bias[f]
                if scaled_by[f] is None:
                    env[r][sym[f]] = rec + u
                else:
                    env[r]["_rec_" + f] = rec + bias_h[f]
                    env[r][sym[f]] = u + _call(mod, "scale_" + f, env[r]) * env[r]["_rec_" + f]
            if carrying:
                if f == head:
                    drawn[("d", f)] = dgram[f].add(_call(mod, "dread_" + f, {**env[0], **denv}))
                dg = sw * drawn[("d", head)][slot[f]]
                denv["d_" + sym[f]] = _tangent_field(mod, f, scaled_by[f], sym, env[0], denv, dg)
            if probing:
                pr = _call(mod, "dread_" + f, {**env[0], **penv})
                pg = sw * math.sqrt(float(pr @ pr) / M) * rng.standard_normal(M)
                penv["d_" + sym[f]] = _tangent_field(mod, f, scaled_by[f], sym, env[0], penv, pg)
            a0 = env[0][sym[f]] - mu
            run.q[f][t] = float(np.mean(a0 * a0))
            if t >= burn:
                accumulate("q_" + f, a0 * a0)
            if replicas == 2:
                ab = a0 * (env[1][sym[f]] - mu)
                run.q_ab[f][t] = float(np.mean(ab))
                if t >= burn:
                    accumulate("qab_" + f, ab)
        for n in mod.NOISE:  # hidden-state noise: fresh every step, independent across replicas unless shared
            draw = rng.standard_normal(M)
            for r in reps:
                env[r][n] = draw if (r == 0 or mod.NOISE_SHARED) else rng.standard_normal(M)
        new = [{} for _ in reps]
        dnew, pnew = {}, {}
        for c in comps:  # in declared order: later components may read earlier new values (c_t)
            for r in reps:
                new[r][c] = env[r][c + "_t"] = _call(mod, "update_" + c, env[r])
            if carrying:
                dnew[c] = denv["d_" + c + "_t"] = _call(mod, "dupdate_" + c, {**env[0], **denv})
            if probing:
                pnew[c] = penv["d_" + c + "_t"] = _call(mod, "dupdate_" + c, {**env[0], **penv})
        state = new
        for c in comps:
            s0 = state[0][c]
            run.Q[c][t] = float(np.mean(s0 * s0))
            if t >= burn:
                accumulate("Q_" + c, s0 * s0)
            if replicas == 2:
                cab = s0 * state[1][c]
                run.C[c][t] = float(np.mean(cab))
                if t >= burn:
                    accumulate("C_" + c, cab)
        if carrying:
            grow = sum(float(v @ v) for v in dnew.values()) / (M * len(comps))  # carried: unit mean square
            run.log_growth[t] = math.log(grow) if grow > 0.0 else -math.inf
            for c, v in dnew.items():
                run.tangent_share[c][t] = float(v @ v) / (M * len(comps) * grow) if grow > 0.0 else math.nan
            scale = 1.0 / math.sqrt(grow) if 0.0 < grow < math.inf else 1.0
            dstate = {c: v * scale for c, v in dnew.items()}
        if probing:
            per_path = sum(v * v for v in pnew.values()) / len(comps)
            run.chi[t] = float(np.mean(per_path))
            accumulate("chi", per_path)
    run.window = {k: v / (T - half if k.startswith("late:") else T - burn) for k, v in acc.items()}
    return run


def _tangent_field(mod, f, scale_field, sym, env, denv, dg):
    """Perturbation of field ``f``: δg, or for a reset-after field ρ'(a_j) δa_j (g + b_h) + ρ(a_j) δg."""
    if scale_field is None:
        return dg
    rho = _call(mod, "scale_" + f, env)
    drho = _call(mod, "dscale_" + f, env)
    return drho * denv["d_" + sym[scale_field]] * env["_rec_" + f] + rho * dg
