"""signalprop verify: Monte-Carlo simulation of real random networks.

Importing this package configures JAX once for the whole package (07 §6):

* ``jax_enable_x64`` on, so float64 is *available* (every array we create passes an explicit
  dtype; the default simulation dtype is float64 on CPU and float32 on accelerators);
* ``jax_default_matmul_precision = "highest"`` so float32 matmuls on recent NVIDIA GPUs do not
  silently use TF32 (our own dot products also pass ``precision=HIGHEST`` explicitly);
* ``jax_threefry_partitionable`` on, so random samples do not depend on the device count.

The three settings are recorded in every report (:func:`verify.reporting.report.environment`), with
:data:`COMPILER_OPTIONS`.
"""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")
jax.config.update("jax_threefry_partitionable", True)

COMPILER_OPTIONS = {"xla_backend_optimization_level": 1} if jax.default_backend() == "cpu" else {}
"""XLA options of every program ``verify`` compiles (``jax.jit(..., compiler_options=...)``).
LLVM optimisation level 1 instead of XLA's default, on a CPU only (on an accelerator the default
level is kept: its effect on GPU kernels was not measured): on a CPU, where compiling dominates a run, it
compiles the simulation programs in about half the time (vanilla family 5.7 s -> 3.9 s, GRU
10.0 s -> 5.4 s, LSTM 11.5 s -> 6.2 s) and runs them as fast (the time goes to the random draws and
small matrix products, not to code LLVM's later passes improve).  Fast-math stays off; the
statistics agree with the default level's to rounding (absolute differences <= 1e-15 on N = 64
vanilla, minimalRNN, GRU and LSTM runs; 2e-13 after 60 chaotic feed-forward layers), as with any
change of the compiled program."""

__all__: list[str] = ["COMPILER_OPTIONS"]
