"""Everything trainctl takes from Keras's private `keras.src` modules, and nothing else.

Keras promises nothing about `keras.src`: a minor release may move or rename any of it.
trainctl needs some of it to run Keras's own JAX `fit` loop step by step (so a run can
resume mid-epoch and equal `model.fit`), to save and restore Keras's random state, and to
list the names Keras accepts. Every other module imports these pieces from here (a test
checks it), so a Keras upgrade is this file to read and the core tests to run (`CORE_TESTS`
in .ci/run). Checked on Keras 3.13.0 (the lowest pyproject.toml declares; CI runs the core
tests on it) and 3.15.1 (the whole suite); every piece imports from 3.14.1 too. Keras 3.12
lacks `GLOBAL_SEED_GENERATOR`, and with the name supplied a mid-epoch resume is no longer
exact there; 3.11 also needs the JAX trainer's sharding spec recorded before a train step,
3.10 lacks `is_nnx_enabled`.

What each piece is, and where trainctl uses it:

- `JAXEpochIterator` (`keras.src.backend.jax.trainer`): the batch iterator of the JAX
  trainer's `fit`/`evaluate`; runner/loop.py drives it.
- `ArrayDataAdapter`, `array_slicing`, `data_adapter_utils`
  (`keras.src.trainers.data_adapters`): how `fit` turns arrays into batches, shuffles and
  unpacks `(x, y, sample_weight)`; runner/loop.py and runner/fused.py (device-resident arrays).
- `python_utils`, `is_default` (`keras.src.utils.python_utils`): `pythonify_logs` (logs as
  Python floats) and whether a callback overrides a hook (Keras skips batch hooks nobody
  overrides); runner/loop.py and runner/execution.py.
- `tree` (`keras.src.tree`): Keras's nested-structure helpers, with `none_is_leaf` as the
  data adapters use it; runner/fused.py keeps training arrays on the device with them.
- `distribution_lib` (`keras.src.distribution`): whether a `keras.distribution` is set;
  runner/fused.py.
- `is_nnx_enabled` (`keras.src.backend.config`): whether Flax NNX variables are on;
  runner/fused.py.
- `global_state`, `GLOBAL_SEED_GENERATOR`, `global_seed_generator`
  (`keras.src.backend.common.global_state`, `keras.src.random.seed_generator`): the
  generator behind `keras.random.*(seed=None)` and default initializers, which a
  checkpoint saves and a resume restores; checkpoint/state.py.
- `H5IOStore`, `save_state` (`keras.src.saving.saving_lib`): the weights file's store and
  the walk of `save_weights` over a model; checkpoint/state.py records the walk once and
  writes each checkpoint's weights file from a copy of the values, off the training thread.
- `activations_src`, `losses_src`, `metrics_src`, `optimizers_src`, `compile_utils`,
  `dtypes_src` (`keras.src.{activations,losses,metrics,optimizers}`,
  `keras.src.trainers.compile_utils`, `keras.src.backend.common.dtypes`): the name tables
  and the string lookup of `compile()`, read when `python -m trainctl.recipe.names --write`
  regenerates keras_names.json; recipe/names.py.

Private attributes of public objects that runner/loop.py and checkpoint/state.py also rely
on (no import, so listed here): `model._jax_state`, `_jax_state_synced`, `_get_jax_state`,
`_symbolic_build`, `_eval_epoch_iterator`, `_get_metrics_result_or_logs`, `_should_eval`;
`ArrayDataAdapter._size`, `_partial_batch_size`, `_inputs`; `callback._set_monitor_op`.

Example:

    >>> from trainctl.keras_internals import is_default, keras
    >>> is_default(keras.callbacks.Callback().on_batch_end)
    True
"""

from __future__ import annotations

from trainctl.backend import keras

KERAS_TESTED = ">=3.13,<3.16"  # pyproject.toml declares the same (a test checks)

try:
    from keras.src import activations as activations_src
    from keras.src import losses as losses_src
    from keras.src import metrics as metrics_src
    from keras.src import optimizers as optimizers_src
    from keras.src import tree
    from keras.src.backend.common import dtypes as dtypes_src
    from keras.src.backend.common import global_state
    from keras.src.backend.config import is_nnx_enabled
    from keras.src.backend.jax.trainer import JAXEpochIterator
    from keras.src.distribution import distribution_lib
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR, global_seed_generator
    from keras.src.saving.saving_lib import H5IOStore
    from keras.src.saving.saving_lib import _save_state as save_state
    from keras.src.trainers import compile_utils
    from keras.src.trainers.data_adapters import array_slicing, data_adapter_utils
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    from keras.src.utils import python_utils
    from keras.src.utils.python_utils import is_default
except ImportError as exc:  # a Keras outside the tested range moved something
    from trainctl.errors import TrainctlError

    raise TrainctlError(
        f"trainctl needs keras{KERAS_TESTED} (the versions it is tested with); Keras {keras.__version__} "
        f"is installed and lacks an internal trainctl uses ({exc}). Install a supported version: "
        f"pip install 'keras{KERAS_TESTED}'"
    ) from exc

__all__ = [
    "ArrayDataAdapter", "GLOBAL_SEED_GENERATOR", "H5IOStore", "JAXEpochIterator", "activations_src", "array_slicing",
    "compile_utils", "data_adapter_utils", "distribution_lib", "dtypes_src", "global_seed_generator",
    "global_state", "is_default", "is_nnx_enabled", "losses_src", "metrics_src", "optimizers_src", "python_utils",
    "save_state",
]
