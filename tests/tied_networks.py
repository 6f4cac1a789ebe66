"""Plain numpy simulations of real (tied) networks, written here independently of the library, and the
two-width 1/N extrapolation the tests hold the infinite-width theories against."""
import math

import numpy as np


def extrapolate(small, large, n_small, n_large):
    """X(N) = X_inf + a/N through two widths: ((mean, SE) at n_small, (mean, SE) at n_large) -> (X_inf, SE)."""
    (xs, ss), (xl, sl) = small, large
    w = n_large / (n_large - n_small)
    return w * xl - (w - 1) * xs, math.hypot(w * sl, (w - 1) * ss)


def leaky_tanh_Q(N, nets, steps, late, a, p, seed, sigma_eps=0.0):
    """Tied leaky-tanh networks h_t = (1 - a) h_(t-1) + a tanh(W h_(t-1) + V x_t + b) + sigma_eps eps_t (one W, V,
    b per network; fresh inputs x_t ~ N(0, R I) and noise eps_t ~ N(0, I)), parameters ``p`` (sigma_w, sigma_v,
    sigma_b, R): (mean, SE) over networks of each network's late-window mean of |h_t|^2/N."""
    rng = np.random.default_rng(seed)
    out = np.empty(nets)
    for k in range(nets):
        W = rng.standard_normal((N, N)) * (p["sigma_w"] / math.sqrt(N))
        V = rng.standard_normal((N, N)) * (p["sigma_v"] / math.sqrt(N))
        b = rng.standard_normal(N) * p["sigma_b"]
        h = np.zeros(N)
        acc = []
        for t in range(steps):
            x = rng.standard_normal(N) * math.sqrt(p["R"])
            h = (1 - a) * h + a * np.tanh(W @ h + V @ x + b)
            if sigma_eps:
                h = h + sigma_eps * rng.standard_normal(N)
            if t >= steps - late:
                acc.append(h @ h / N)
        out[k] = np.mean(acc)
    return out.mean(), out.std(ddof=1) / math.sqrt(nets)
