"""signalprop: signal propagation in randomly initialised networks.

The theory's API (:mod:`theory`: ``predict``, ``critical_init``, ``trajectory``, ...) is served here
too; ``signalprop.torch`` (the ``torch`` extra) applies and predicts it for PyTorch modules.

The implementation still lives in the top-level packages ``theory``, ``verify`` and ``derivations``
(moving them under this name is open work); this package does not copy them.
"""
from theory import *  # noqa: F401,F403
from theory import __all__  # noqa: F401
