"""Simulation throughput as a fraction of the same device's dense-matmul FLOP/s.

Run by hand (CPU) or on a GPU machine:

    python benchmarks/bench_simulation.py                 # defaults per platform
    python benchmarks/bench_simulation.py --width 8192 --ensemble 64 --steps 50

Both numbers are measured in the same process on the same device:

* **dense matmul**: ``jit(a @ b)`` on ``M x M`` matrices, ``2 M^3`` FLOPs, best of ``--reps``;
* **simulation**: ``verify``'s vanilla-tanh ensemble (tied and untied), counting only the
  useful dense arithmetic per network and step: the four mat-vecs ``W h_a, W h_b, V x_a, V x_b``
  (``4 * 2N^2``), the Jacobian probes ``W v_p`` (``P * 2N^2``) and the exact-chi row norms of
  ``W`` (``2N^2``). Random-number generation (the bulk of an untied run) counts zero FLOPs, so the
  untied fraction shows what regenerating weights costs. Best of ``--reps`` after a warm-up
  (compile excluded).

A network's step is a batch of mat-vecs (memory-bound, ``O(1)`` FLOPs per weight loaded), so the
fraction is expected to sit far below 1; the number to watch is how it moves with N and device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import verify  # noqa: E402,F401  (x64, matmul precision "highest")
from verify.engine.sharding import _sharded_function, make_mesh  # noqa: E402
from verify.engine.simulate import RunShape  # noqa: E402

PARAMS = {"sigma_w": 1.5, "sigma_v": 0.5, "sigma_b": 0.1, "R": 1.0, "Sigma": 1.0}


def best_time(fn, reps: int) -> float:
    jax.block_until_ready(fn())  # warm-up / compile
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_flops(m: int, dtype, reps: int) -> float:
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (m, m), dtype)
    b = jax.random.normal(kb, (m, m), dtype)
    f = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
    return 2.0 * m**3 / best_time(lambda: f(a, b), reps)


def simulation_flops(width: int, ensemble: int, steps: int, tied: bool, probes: int, dtype: str,
                     reps: int) -> tuple[float, float]:
    shape = RunShape(width, steps, tied, probes, dtype)
    devices = tuple(jax.devices())
    fn = _sharded_function("vanilla-tanh", shape, devices)
    from jax.sharding import NamedSharding, PartitionSpec as P

    ens = ensemble - ensemble % len(devices) or len(devices)
    idx = jax.device_put(np.arange(ens, dtype=np.int32), NamedSharding(make_mesh(devices), P("ens")))
    key = jax.random.key(0)
    t = best_time(lambda: fn(key, idx, PARAMS, 1.0, 0.0), reps)
    flops = ens * steps * (4 + probes + 1) * 2.0 * width**2
    return flops / t, t


def main(argv=None) -> int:
    cpu = jax.devices()[0].platform == "cpu"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=512 if cpu else 8192)
    ap.add_argument("--ensemble", type=int, default=16 if cpu else 64)
    ap.add_argument("--steps", type=int, default=20 if cpu else 50)
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--matmul", type=int, default=1024 if cpu else 8192)
    ap.add_argument("--dtype", default="float64" if cpu else "float32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", type=str, default="")
    a = ap.parse_args(argv)
    dtype = jnp.dtype(a.dtype)
    dev = jax.devices()[0]
    peak = matmul_flops(a.matmul, dtype, a.reps)
    rows = []
    for tied in (True, False):
        fl, t = simulation_flops(a.width, a.ensemble, a.steps, tied, a.probes, a.dtype, a.reps)
        rows.append({"regime": "tied" if tied else "untied", "seconds": t, "flops": fl,
                     "fraction": fl / peak})
    out = {
        "device": f"{dev.platform} {dev.device_kind} x{len(jax.devices())}",
        "jax": jax.__version__, "dtype": a.dtype, "prng_impl": str(jax.config.jax_default_prng_impl),
        "matmul": {"size": a.matmul, "flops": peak},
        "simulation": {"cell": "vanilla-tanh", "width": a.width, "ensemble": a.ensemble,
                       "steps": a.steps, "probes": a.probes, "rows": rows},
    }
    print(f"device: {out['device']}  jax {jax.__version__}  dtype {a.dtype}")
    print(f"dense matmul {a.matmul}x{a.matmul}: {peak / 1e9:.2f} GFLOP/s")
    print(f"vanilla-tanh N={a.width} E={a.ensemble} T={a.steps} P={a.probes}:")
    for r in rows:
        print(f"  {r['regime']:7s} {r['seconds']:.3f} s  {r['flops'] / 1e9:.3f} GFLOP/s  "
              f"= {100 * r['fraction']:.2f}% of dense matmul")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
