"""Fused executions: one `lax.scan` call, kept only when it equals separate steps bit for bit."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from trainctl.backend import keras
from trainctl.runner.fused import FusedSteps

STEPS = 4
RNG = np.random.default_rng(0)
X = RNG.random((16 * 12, 8), dtype="float32")
Y = RNG.integers(0, 3, 16 * 12).astype("float32")
BATCHES = [(X[i * 16:(i + 1) * 16], Y[i * 16:(i + 1) * 16], None) for i in range(12)]


def _model(steps=STEPS):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.3), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps)
    model.fit(X[:16], Y[:16], batch_size=16, epochs=1, verbose=0)  # builds the optimizer and the train function
    return model


def _state(model):
    return model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                optimizer_variables=True, metrics_variables=True)


def _train(execute, model, chunks):
    state = _state(model)
    for chunk in chunks:
        logs, state = execute(state, iter(chunk))
    return jax.tree.map(np.asarray, (logs, state))


def _assert_identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)


CHUNKS = [BATCHES[0:4], BATCHES[4:8], BATCHES[8:11], BATCHES[11:12]]  # two fused, then 3 and 1 separately


def test_fused_executions_equal_separate_steps():
    separate = _model()
    expected = _train(separate.train_function, separate, CHUNKS)
    model = _model()
    fused = FusedSteps(model, STEPS)
    calls = []
    scan = fused._scan
    fused._scan = lambda *args: calls.append(1) or scan(*args)
    _assert_identical(_train(fused, model, CHUNKS), expected)
    assert fused.status == "on" and len(calls) == 2  # checked on the first, trusted on the second


def test_a_difference_keeps_the_separate_steps_and_stops_fusing():
    separate = _model()
    expected = _train(separate.train_function, separate, CHUNKS)
    model = _model()
    fused = FusedSteps(model, STEPS)
    scan = fused._scan

    def off_by_a_bit(state, stacked):
        logs, (trainable, *rest) = scan(state, stacked)
        return logs, ([trainable[0] + 1e-6, *trainable[1:]], *rest)

    fused._scan = off_by_a_bit
    _assert_identical(_train(fused, model, CHUNKS), expected)
    assert fused.status.startswith("off: the fused steps differed")


@pytest.mark.parametrize("differs", [False, True])
def test_a_short_scan_is_compared_before_the_first_long_one(differs):
    # A model whose scan differs (convolutions on CPU) is found in two steps, not a whole execution.
    chunks = [BATCHES[0:10], BATCHES[10:12]]
    separate = _model(10)
    expected = _train(separate.train_function, separate, chunks)
    model = _model(10)
    fused = FusedSteps(model, 10)
    lengths, scan = [], fused._scan

    def recorded(state, stacked):
        lengths.append(len(jax.tree.leaves(stacked)[0]))
        logs, (trainable, *rest) = scan(state, stacked)
        return logs, ([trainable[0] + (1e-6 if differs else 0.0), *trainable[1:]], *rest)

    fused._scan = recorded
    _assert_identical(_train(fused, model, chunks), expected)
    assert lengths == ([2] if differs else [2, 10])
    assert fused.status.startswith("off: the fused steps differed") if differs else fused.status == "on"


def test_nothing_is_fused_with_one_step_per_execution():
    assert FusedSteps(_model(), 1).status == "off: one step per execution"


@pytest.mark.parametrize("shuffle", [True, False, "batch"])
def test_device_arrays_give_the_batches_of_keras_adapter_in_its_order(shuffle):
    # The batches as indices: same permutation drawn from NumPy's global RNG, same slices, same RNG state after.
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    from trainctl.runner.fused import DeviceArrays

    x, y = X.astype("float64"), Y  # float64 is cast to floatx, as Keras casts it
    adapter = ArrayDataAdapter(x, y, batch_size=20, shuffle=shuffle)  # 192 samples: a last batch of 12
    arrays = DeviceArrays.of(adapter)
    np.random.seed(5)
    expected = [jax.tree.map(np.asarray, b) for b in adapter.get_jax_iterator()]
    after = np.random.get_state()[1]
    np.random.seed(5)
    ours = [arrays.slice(b) for b in arrays.batches()]
    np.testing.assert_array_equal(np.random.get_state()[1], after)
    assert len(ours) == len(expected) == 10
    _assert_identical(ours, expected)
    assert all(a.dtype == b.dtype for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(expected)))
    np.random.seed(5)  # gathered on the device, as a fused execution gathers them
    _assert_identical([jax.tree.map(lambda a: a[b.indices], arrays.device) for b in arrays.batches()], expected)


def test_data_that_is_not_plain_arrays_stays_with_keras():
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    from trainctl.runner.fused import DeviceArrays

    assert DeviceArrays.of(ArrayDataAdapter(X, Y, batch_size=16)) is not None
    assert DeviceArrays.of(object()) is None
