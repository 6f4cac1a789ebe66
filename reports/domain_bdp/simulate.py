"""Brute-force simulation behind reports/domain_bdp/README.md (independent of theory/).

Bias-free ReLU nets, input dimension 1, i.i.d. standard normal weights (the scale drops out by
homogeneity), width N, depths 1..DEPTH.  Each net is run at x = +1 and x = -1 with plain matrix
products; activations are renormalised per layer (signs, hence death, are unchanged) and a net is
born dead on [-1, 1] by layer l when its layer-l activations at both points are all zero.  Nets dead
at both points are dropped (a dead layer stays dead).

    PYTHONPATH=. python reports/domain_bdp/simulate.py N NETS OUT.json

writes {"N", "nets", "depth", "dead_by": [count dead by layer 1..DEPTH], "seed", "seconds"}.
"""
import json
import sys
import time

import numpy as np

DEPTH = 50
CHUNK = 20000
SEED = 20261205


def chunk_first_dead(n, nets, rng):
    """First layer (1..DEPTH) at which both points are dead, DEPTH + 1 if none, for ``nets`` nets."""
    w = rng.standard_normal((nets, n))
    a, b = np.maximum(w, 0.0), np.maximum(-w, 0.0)      # layer 1 at x = +1 and x = -1
    first = np.full(nets, DEPTH + 1)
    idx = np.arange(nets)
    for layer in range(2, DEPTH + 1):
        W = rng.standard_normal((idx.size, n, n))
        a = np.maximum(np.einsum("bij,bj->bi", W, a), 0.0)
        b = np.maximum(np.einsum("bij,bj->bi", W, b), 0.0)
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        dead = (na == 0) & (nb == 0)
        first[idx[dead]] = layer
        keep = ~dead
        idx = idx[keep]
        a = a[keep] / np.where(na[keep] > 0, na[keep], 1.0)[:, None]
        b = b[keep] / np.where(nb[keep] > 0, nb[keep], 1.0)[:, None]
    return first


def main(n, nets, out):
    t0 = time.time()
    counts = np.zeros(DEPTH + 2, dtype=np.int64)
    for c in range(0, nets, CHUNK):
        rng = np.random.default_rng([SEED, n, c])
        counts += np.bincount(chunk_first_dead(n, min(CHUNK, nets - c), rng), minlength=DEPTH + 2)
    dead_by = np.cumsum(counts)[1:DEPTH + 1]
    with open(out, "w") as f:
        json.dump({"N": n, "nets": nets, "depth": DEPTH, "dead_by": dead_by.tolist(), "seed": SEED,
                   "seconds": time.time() - t0}, f)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
