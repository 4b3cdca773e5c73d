"""The one place that imports Keras, after pinning the JAX backend.

trainctl selects the backend itself so users never set KERAS_BACKEND. Import Keras
from here (`from trainctl.backend import keras`) and only inside code that trains or
evaluates: importing this module costs seconds, and `--help`/`validate` must not.
"""

import os

# Keras reads the backend once, at its first import; a user's shell setting for
# another backend must not change what a recipe means.
os.environ["KERAS_BACKEND"] = "jax"

import warnings  # noqa: E402

with warnings.catch_warnings():
    # Keras probes `np.object` at import, which NumPy 1.x answers with a FutureWarning.
    warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)
    import keras  # noqa: E402

if keras.backend.backend() != "jax":  # keras was imported earlier with another backend
    raise RuntimeError(
        f"trainctl needs the JAX backend but Keras was already imported with "
        f"{keras.backend.backend()!r}; import trainctl before keras."
    )

__all__ = ["keras"]
