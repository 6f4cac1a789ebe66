r"""Checks of the dying-ReLU study: every formal comparison becomes a p-value (05 §6, 07 §4).

One Bonferroni family per report (:class:`Checks`, ``ALPHA / m``); frequencies get Wilson
intervals, exact binomial tests against the exact laws of :mod:`theory.studies.dying_relu`, one-sided
exact tests against its bounds, and power checks (the ``2^(1-N)`` law must be rejected).  This is
the only dying-ReLU module that calls the theory (``theory.predict``, ``theory.trajectory``).
"""
from __future__ import annotations

import math

import numpy as np

from theory.studies.dying_relu_domain import N_MAX as DOMAIN_N_MAX          # widest net domain_bdp computes
from theory.studies.dying_relu_domain import NUMERICAL_ERROR as DOMAIN_ERR  # its stated absolute error

from . import dying_relu_stats as st

ALPHA = 0.01
"""Family-wise false-alarm rate of one report; each p-value is compared with ``ALPHA / m``."""


class Checks:
    """Collects ``(name, p-value)`` families; verdicts use ``ALPHA / m`` with ``m`` the total count."""

    def __init__(self):
        self.items = []

    def add(self, name: str, pvalues) -> int:
        self.items.append((name, np.atleast_1d(np.asarray(pvalues, dtype=float))))
        return len(self.items) - 1

    @property
    def m(self) -> int:
        return int(sum(p.size for _, p in self.items))

    def threshold(self) -> float:
        return ALPHA / max(self.m, 1)

    def verdict(self, i: int) -> str:
        return "agree" if np.all(self.items[i][1] >= self.threshold()) else "disagree"


def dead_by(hist, depth):
    """Networks dead by depth l = 1..depth (death is monotone: the first dead layer decides)."""
    return np.cumsum(hist)[1: depth + 1]


def _predict(q, **kw):
    import theory
    return np.asarray(theory.predict("feedforward-relu", q, **kw), dtype=float)


def _mean_se(s, s2, n):
    mean = s / n
    var = np.maximum(s2 / n - mean ** 2, 0) * n / max(n - 1, 1)
    return mean, np.sqrt(var / n)


def analyse_point(c, width, init, res, checks, pending):
    from .dying_relu_sim import A3_INITS
    E, depths = res["n"], np.arange(1, c.depth + 1)
    k = dead_by(res["hist_point"], c.depth)
    lo, hi = st.wilson(k, E, ALPHA)
    sel = depths >= c.depth_lo
    theory_ = _predict("p_point_collapse", N=width, L=depths)
    wrong = 1 - (1 - 2.0 ** (1 - width)) ** depths
    cp_lo, cp_hi = st.clopper_pearson(k, E, ALPHA)
    out = {"n": E, "dead": k, "freq": k / E, "wilson_lo": lo, "wilson_hi": hi, "theory": theory_,
           "clopper_pearson_lo": cp_lo, "clopper_pearson_hi": cp_hi,
           "dkw_halfwidth": st.dkw(E, ALPHA), "assumption_A3": init in A3_INITS}
    deaths = int(k[-1])
    exposure = int(E * c.depth - np.sum(k[:-1]))
    out["hazard"] = {"deaths": deaths, "layers_at_risk": exposure, "estimate": deaths / max(exposure, 1),
                     "theory": 2.0 ** -width, "wilson": [float(x) for x in st.wilson(deaths, max(exposure, 1), ALPHA)],
                     "note": "censored geometric: likelihood of a binomial in the layers at risk"}
    p_exact = st.binom_p(k[sel], E, theory_[sel])
    p_wrong = st.binom_p(k[sel], E, wrong[sel])
    p_h = st.binom_p(deaths, exposure, 2.0 ** -width)
    p_hw = st.binom_p(deaths, exposure, 2.0 ** (1 - width))
    out.update(p_values=p_exact, hazard_p=float(p_h), wrong_p_values=p_wrong, wrong_hazard_p=float(p_hw))
    if init in A3_INITS:
        out["check"] = checks.add(f"point law N={width} {init}", np.concatenate([p_exact, [p_h]]))
        pending.append((out, "power", np.concatenate([p_wrong, [p_hw]])))
    else:
        pending.append((out, "control", np.concatenate([p_exact, [p_h]])))
    # dead-unit fraction per layer at the point; z-test with the SE under the tested law (a sample SE
    # is 0 where every network is dead, which would make any prediction below 1 "significant")
    mean, se = _mean_se(res["frac_point"], res["frac_point_sq"], E)
    pred = _predict("dead_fraction_point", N=width, L=depths)
    dead_in = np.concatenate([[0.0], theory_[:-1]])
    wrong_in = np.concatenate([[0.0], wrong[:-1]])
    frac = {"mean": mean, "se": se, "theory": pred, "se_under_theory": _frac_se(dead_in, width, E)}
    if init in A3_INITS:
        frac["check"] = checks.add(f"dead fraction N={width} {init}",
                                   st.z_p(mean[sel], frac["se_under_theory"][sel], pred[sel]))
        pending.append((frac, "power", st.z_p(mean[sel], _frac_se(wrong_in, width, E)[sel], ((1 + wrong_in) / 2)[sel])))
    out["dead_fraction"] = frac
    out["dead_fraction_domain_mean"] = res["frac"] / E
    # norms: mean ratio (all networks, dead ones count 0) and survivors' quantiles
    m_r, se_r = _mean_se(res["ratio"], res["ratio_sq"], E)
    lr = res["log_ratio"]
    q = np.full((3, c.depth), np.nan)
    for j in range(c.depth):
        alive = lr[:, j][np.isfinite(lr[:, j])]
        if alive.size:
            q[:, j] = np.exp(np.percentile(alive, [10, 50, 90]))
    relvar = _predict("norm_relvar", N=width, L=depths)
    norms = {"mean_ratio": m_r, "se": se_r, "survivor_q10_q50_q90": q, "relvar_theory": relvar,
             "relvar_sample": np.where(m_r > 0, (res["ratio_sq"] / E) / np.where(m_r > 0, m_r, 1) ** 2 - 1, np.nan),
             "checked_depths": depths[sel & (relvar <= 1)]}
    if init == "he":   # SE under the exact law: sqrt(relvar / E) (mean 1), only where relvar <= 1
        ok = sel & (relvar <= 1)
        if ok.any():
            norms["check"] = checks.add(f"E[Q_l/Q_0] = 1 N={width} he", st.z_p(m_r[ok], np.sqrt(relvar[ok] / E), 1.0))
    out["norms"] = norms
    return out


def _frac_se(p_dead_input, width, n):
    """SE of the mean dead-unit fraction over ``n`` networks under A3: the fraction is 1 when the
    layer's input is dead (probability ``p``), else K/N with K ~ Bin(N, 1/2) (all sign patterns of
    ``W v`` equally likely), so E[f^2] = p + (1-p)(1/4 + 1/(4N))."""
    p = np.asarray(p_dead_input, dtype=float)
    m1 = p + (1 - p) / 2
    m2 = p + (1 - p) * (0.25 + 0.25 / width)
    return np.sqrt(np.maximum(m2 - m1 ** 2, 0) / n)


def _bound_p(k, n, bound, side):
    """One-sided p-value that the true probability violates ``bound`` (upper: exceeds it; lower:
    falls below it)."""
    from scipy import stats as sps
    k, bound = np.asarray(k), np.clip(np.asarray(bound, dtype=float), 0, 1)
    if side == "upper":
        return sps.binom.sf(k - 1, n, bound)
    return sps.binom.cdf(k, n, bound)


def _interval_p(k, n, centre, err):
    """Two-sided exact binomial p-values of ``k`` of ``n`` against the composite null "the probability
    lies in [centre - err, centre + err]": 1 when ``k / n`` is inside, else the test against the
    nearest end (the largest p-value over the null, up to the discreteness of the binomial)."""
    k, centre = np.asarray(k), np.asarray(centre, dtype=float)
    freq = k / n
    near = np.clip(freq, np.clip(centre - err, 0, 1), np.clip(centre + err, 0, 1))
    inside = np.abs(freq - near) == 0
    return np.where(inside, 1.0, st.binom_p(k, n, near))


def analyse_domain(c, width, init, k, n, checks, method, extra=None):
    depths = np.arange(1, c.depth + 1)
    sel = depths >= c.depth_lo
    lo, hi = st.wilson(k, n, ALPHA)
    out = {"n": n, "dead": k, "freq": k / n, "wilson_lo": lo, "wilson_hi": hi, "method": method,
           "upper": _predict("bdp_upper", N=width, L=depths),
           "lower": _predict("bdp_lower", N=width, L=depths),
           "bounds_apply": {"upper": init in ("he", "orthogonal"), "lower": init in ("he", "rademacher")},
           **(extra or {})}
    if init == "he":
        out["estimate"] = _predict("bdp_estimate", N=width, L=depths)
        out["estimate_max_abs_error"] = float(np.max(np.abs(k / n - out["estimate"])))
        if method.startswith("two points") and width <= DOMAIN_N_MAX:
            # the exact d = 1 law (Gaussian W, zero biases), computed to +-DOMAIN_ERR: a verdict
            exact = _predict("domain_bdp", N=width, L=depths)
            p = _interval_p(k[sel], n, exact[sel], DOMAIN_ERR)
            out["domain_bdp"] = {"theory": exact, "numerical_error": DOMAIN_ERR, "p_values": p,
                                 "max_abs_error": float(np.max(np.abs(k / n - exact))),
                                 "test": "two-sided exact binomial against the nearest end of "
                                         "[domain_bdp - err, domain_bdp + err] (p = 1 inside)"}
            out["exact_check"] = checks.add(f"BDP = domain_bdp N={width} {init} {method}", p)
    if init in ("he", "orthogonal"):
        out["upper_check"] = checks.add(f"BDP <= point law N={width} {init} {method}",
                                        _bound_p(k[sel], n, out["upper"][sel], "upper"))
    if init in ("he", "rademacher"):   # the orthant argument needs symmetric i.i.d. entries (not RAI)
        out["lower_check"] = checks.add(f"BDP >= orthant bound N={width} {init} {method}",
                                        _bound_p(k[sel], n, out["lower"][sel], "lower"))
    late = depths > c.depth // 2
    if init == "he" and late.sum() >= 2:
        before = np.concatenate([[0], k[:-1]])          # dead before layer l
        deaths = int(k[-1] - (k[c.depth // 2 - 1] if c.depth // 2 >= 1 else 0))
        risk = int(np.sum(n - before[late]))
        out["late_hazard"] = {"depths": [int(c.depth // 2 + 1), int(c.depth)], "deaths": deaths,
                              "layers_at_risk": risk, "estimate": deaths / risk if risk > 0 else None,
                              "conjecture": 2.0 ** -width, "status": "heuristic (05 §3), no verdict"}
    return out


EXPLODE_RATE = 0.05
"""A network "explodes" when log|h_t|^2 grows faster than this per step over the second half of the
run: polynomial growth t^p gives p ln 2 / (T/2), i.e. 0.007 p at T = 200, so 0.05 separates the two
forms for p < 7 (fixed before the runs).  At finite width log|h_t|^2 also diffuses (per-step variance
about 5/N), so the count is meaningful only where that spread, sqrt(5 T / 2N), is well below
0.05 T / 2; the untied networks of the same width are the control (their count estimates the false
positives)."""


def analyse_rnn(c, runs, death_runs, checks):
    import theory
    T = c.rnn_steps
    t = np.arange(1, T + 1)
    mf = theory.trajectory("vanilla-relu", T, 0.0, sigma_w=math.sqrt(2.0), sigma_v=1.0, sigma_b=0.0, R=1.0)["Q"]
    out = {"mean_field_Q": mf, "fit_window": [T // 4, T], "growth": {}, "death": {}}
    win = t >= T // 4
    for (width, regime), r in runs.items():
        logq = r["log_Q"]
        with np.errstate(divide="ignore"):
            mean_q = np.log(np.mean(np.exp(logq), axis=0))
        finite = np.isfinite(logq)
        geo = np.sum(np.where(finite, logq, 0), axis=0) / np.maximum(finite.sum(0), 1)
        med = np.median(logq, axis=0)
        out["growth"][f"{regime} N={width}"] = {
            "width": width, "regime": regime, "n": int(logq.shape[0]), "log_mean_Q": mean_q,
            "mean_log_Q_alive": geo, "median_log_Q": med, "q10_q90_log_Q": np.percentile(logq, [10, 90], axis=0),
            "inactive": r["inactive"].mean(0), "never_active": r["never_active"].mean(0),
            "zero_state": r["zero"].mean(0),
            "fit_median_log_Q": st.growth_fits(t[win], med[win]),
            "fit_log_mean_Q": st.growth_fits(t[win], mean_q[win]),
            "fit_mean_log_Q_alive": st.growth_fits(t[win], geo[win])}
        half = T // 2
        with np.errstate(invalid="ignore"):
            late = (logq[:, T - 1] - logq[:, half - 1]) / (T - half)
        late = np.where(np.isfinite(late), late, -np.inf)          # a zero state does not explode
        k = int((late > EXPLODE_RATE).sum())
        fin = late[np.isfinite(late)]
        out["growth"][f"{regime} N={width}"]["exploding"] = {
            "rate_threshold": EXPLODE_RATE, "window": [half, T], "count": k, "n": int(late.size),
            "fraction": k / late.size, "wilson": [float(x) for x in st.wilson(k, late.size, ALPHA)],
            "late_rate_q10_q50_q90": np.percentile(fin, [10, 50, 90]) if fin.size else None}
    for (width, regime), r in death_runs.items():
        Td = r["zero"].shape[1]
        k = r["zero"].astype(bool).sum(0)
        n = r["zero"].shape[0]
        pred = _predict("p_point_collapse", N=width, L=np.arange(1, Td + 1))
        lo, hi = st.wilson(k, n, ALPHA)
        p = st.binom_p(k, n, pred)
        e = {"n": n, "dead": k, "freq": k / n, "wilson_lo": lo, "wilson_hi": hi, "theory": pred, "p_values": p}
        if regime == "untied":
            e["check"] = checks.add(f"untied RNN death N={width}", p)
        else:
            e["status"] = "tied: open question (05 §7), reported without verdict"
        out["death"][f"{regime} N={width}"] = e
    return out


def rai_vs_he(c, domain, point):
    """One-sided Fisher tests at ``L* = min(depth, round(2^N ln 2))``; the claim "RAI lowers the
    born-dead frequency" agrees when p < ALPHA / (number of widths)."""
    out = []
    widths = [w for w in c.widths if ("rai", w) in domain and ("he", w) in domain]
    for w in widths:
        L = int(min(c.depth, max(1, round(2.0 ** w * math.log(2)))))
        row = {"width": w, "depth": L, "rule": "L* = min(depth, round(2^N ln 2))"}
        for name, src in (("domain", domain), ("point", point)):
            he, rai = src[("he", w)], src[("rai", w)]
            kh, kr = int(he["dead"][L - 1]), int(rai["dead"][L - 1])
            p = st.rai_vs_he_p(kh, he["n"], kr, rai["n"])
            row[name] = {"he": [kh, he["n"]], "rai": [kr, rai["n"]], "he_freq": kh / he["n"], "rai_freq": kr / rai["n"],
                         "he_wilson": [float(x) for x in st.wilson(kh, he["n"], ALPHA)],
                         "rai_wilson": [float(x) for x in st.wilson(kr, rai["n"], ALPHA)], "fisher_p": p}
        row["verdict"] = "agree" if row["domain"]["fisher_p"] < ALPHA / len(widths) else "disagree"
        out.append(row)
    return out
