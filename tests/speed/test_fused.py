"""Fused executions: one `lax.scan` call, kept only when it equals separate steps bit for bit."""

from __future__ import annotations

import jax
import numpy as np

from trainctl.backend import keras
from trainctl.runner.fused import FusedSteps

STEPS = 4
RNG = np.random.default_rng(0)
X = RNG.random((16 * 12, 8), dtype="float32")
Y = RNG.integers(0, 3, 16 * 12).astype("float32")
BATCHES = [(X[i * 16:(i + 1) * 16], Y[i * 16:(i + 1) * 16], None) for i in range(12)]


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.3), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=STEPS)
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


def test_nothing_is_fused_with_one_step_per_execution():
    assert FusedSteps(_model(), 1).status == "off: one step per execution"
