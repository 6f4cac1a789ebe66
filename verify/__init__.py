"""signalprop verify: Monte-Carlo simulation of real random networks.

Importing this package configures JAX once for the whole package (07 §6):

* ``jax_enable_x64`` on, so float64 is *available* (every array we create passes an explicit
  dtype; the default simulation dtype is float64 on CPU and float32 on accelerators);
* ``jax_default_matmul_precision = "highest"`` so float32 matmuls on recent NVIDIA GPUs do not
  silently use TF32 (our own dot products also pass ``precision=HIGHEST`` explicitly);
* ``jax_threefry_partitionable`` on, so random samples do not depend on the device count.

The three settings are recorded in every report (:func:`verify.report.environment`).
"""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_default_matmul_precision", "highest")
jax.config.update("jax_threefry_partitionable", True)

__all__: list[str] = []
