"""Exact resume: capture, write, read and restore real Keras models on CPU."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ckpt_tiny import (
    BATCH,
    SEED,
    RestoreAtTrainBegin,
    build_model,
    data,
    fit,
    make_callbacks,
    max_abs_diff,
    training_arrays,
)

from trainctl.backend import keras
from trainctl.checkpoint import CheckpointMismatch, CheckpointStore, Unsupported, capture, restore
from trainctl.checkpoint.state import WEIGHTS_FILE

REPO = Path(__file__).resolve().parents[2]


def test_resume_in_another_process_is_exact(tmp_path):
    # The checkpoint is written by a separate process, as when a run is resumed.
    subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ckpt_tiny.py")), str(tmp_path), "2"],
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    keras.utils.set_random_seed(SEED)
    reference, reference_callbacks = build_model(), make_callbacks()
    fit(reference, reference_callbacks, 0, 4)

    path, load = CheckpointStore(tmp_path / "ckpt").latest()
    state = load()
    assert path.name == f"{2 * 96 // BATCH:09d}"
    assert state.position["epoch"] == 2
    epoch_rng = state.position["epoch_rng"]
    assert isinstance(epoch_rng, tuple) and epoch_rng[1].dtype == np.uint32

    keras.utils.set_random_seed(SEED + 1)  # whatever the new process does first must not matter
    resumed, callbacks = build_model(), make_callbacks()
    fit(resumed, callbacks + [RestoreAtTrainBegin(state, callbacks)], 2, 4)

    assert max_abs_diff(training_arrays(resumed), training_arrays(reference)) == 0.0
    early, reference_early = callbacks[0], reference_callbacks[0]
    for name in ("best", "wait", "best_epoch", "stopped_epoch", "min_delta"):
        assert getattr(early, name) == getattr(reference_early, name), name
    assert [a.tolist() for a in early.best_weights] == [a.tolist() for a in reference_early.best_weights]
    assert callbacks[1].losses == reference_callbacks[1].losses
    assert len(callbacks[1].losses) == 4 * 96 // BATCH


def test_reduce_lr_on_plateau_resume_is_exact():
    def plateau():
        # min_delta so large that no epoch improves: the LR drops every 2 epochs,
        # and a wrongly restored sign of min_delta would turn every epoch into a gain.
        return keras.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=0.5, patience=1, min_delta=10.0, cooldown=1
        )

    keras.utils.set_random_seed(SEED)
    reference, reference_plateau = build_model(schedule=False), plateau()
    fit(reference, [reference_plateau], 0, 5)

    keras.utils.set_random_seed(SEED)
    first, first_plateau = build_model(schedule=False), plateau()
    fit(first, [first_plateau], 0, 2)
    state = capture(first, [first_plateau], position={"epoch": 2})

    keras.utils.set_random_seed(SEED + 1)
    resumed, resumed_plateau = build_model(schedule=False), plateau()
    fit(resumed, [resumed_plateau, RestoreAtTrainBegin(state, [resumed_plateau])], 2, 5)

    assert float(resumed.optimizer.learning_rate) < 0.01 / 2
    assert max_abs_diff(training_arrays(resumed), training_arrays(reference)) == 0.0
    for name in ("best", "wait", "cooldown_counter", "min_delta"):
        assert getattr(resumed_plateau, name) == getattr(reference_plateau, name), name


def _steps(model, count):
    """Training steps that draw from all three global random generators."""
    x, y = data()
    for _ in range(count):
        rows = np.random.choice(len(x), BATCH, replace=False)
        # seed=None draws from Keras's global SeedGenerator.
        noise = keras.ops.convert_to_numpy(keras.random.normal((BATCH, 8), stddev=0.01))
        model.train_on_batch(x[rows] + noise * random.random(), y[rows])


def test_mid_epoch_resume_from_disk_is_exact(tmp_path):
    keras.utils.set_random_seed(SEED)
    reference = build_model()
    _steps(reference, 6)

    keras.utils.set_random_seed(SEED)
    first = build_model()
    _steps(first, 3)
    store = CheckpointStore(tmp_path / "ckpt")
    store.save(capture(first, position={"step_in_epoch": 3}), 3, {})

    keras.utils.set_random_seed(SEED + 1)
    resumed = build_model()
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.evaluate(*[a[:BATCH] for a in data()], verbose=0)  # builds the compiled metrics
    restore(store.load(store.list()[-1]), resumed)
    assert resumed.get_metrics_result() == first.get_metrics_result()
    _steps(resumed, 3)

    assert max_abs_diff(training_arrays(resumed), training_arrays(reference)) == 0.0
    assert resumed.get_metrics_result() == reference.get_metrics_result()


def test_weights_file_loads_with_plain_keras_and_is_a_snapshot(tmp_path):
    keras.utils.set_random_seed(SEED)
    model = build_model()
    fit(model, [], 0, 1)
    captured = [np.array(w.numpy()) for w in model.weights]
    captured_optimizer = [np.array(v.numpy()) for v in model.optimizer.variables]
    state = capture(model, position={})
    fit(model, [], 1, 2)  # the state must not follow the model
    path = CheckpointStore(tmp_path / "ckpt").save(state, 6, {})

    plain = build_model()
    plain.optimizer.build(plain.trainable_variables)
    plain.load_weights(path / WEIGHTS_FILE)
    assert all(np.array_equal(w.numpy(), c) for w, c in zip(plain.weights, captured))
    assert all(np.array_equal(v.numpy(), c) for v, c in zip(plain.optimizer.variables, captured_optimizer))


def test_restore_into_another_model_names_the_first_differing_variable():
    keras.utils.set_random_seed(SEED)
    captured = build_model(width=16)
    captured.optimizer.build(captured.trainable_variables)
    state = capture(captured, position={})
    wider = r"weights variable #0 .*\(8, 16\) float32.*\(8, 32\) float32"
    with pytest.raises(CheckpointMismatch, match=wider):
        restore(state, build_model(width=32))

    model = build_model()
    with pytest.raises(CheckpointMismatch, match=r"optimizer variable #1 is '.*' .* but absent in the model"):
        restore(state, model)  # its optimizer is not built yet

    model.optimizer.build(model.trainable_variables)
    with_callbacks = capture(model, make_callbacks(), position={})
    with pytest.raises(CheckpointMismatch, match="EarlyStopping.*History"):
        restore(with_callbacks, model, [keras.callbacks.History()])


def test_capture_keeps_callback_data_and_skips_objects():
    model = build_model()
    early, history = make_callbacks()
    early.wait, early.best = 2, np.float32(0.5)
    history.losses = [0.9, 0.8]
    state = capture(model, [early, history], position={})
    early_record, history_record = state.callbacks
    assert early_record["attrs"]["wait"] == 2 and type(early_record["attrs"]["best"]) is np.float32
    assert "monitor" not in early_record["attrs"]  # a string: configuration, not progress
    assert history_record["attrs"] == {"losses": [0.9, 0.8]}
    assert history_record["unsaved"] == ["formatter"]

    history.losses.append(0.7)  # the state is a copy
    assert state.callbacks[1]["attrs"]["losses"] == [0.9, 0.8]


def test_capture_refuses_position_that_is_not_plain_data():
    with pytest.raises(Unsupported, match="position"):
        capture(build_model(), position={"sampler": object()})


def test_weights_snapshot_is_the_file_save_weights_writes(tmp_path):
    # The walk of `save_weights` is recorded once and each snapshot copies only the values;
    # the file made later from it is byte for byte the one `save_weights` writes now.
    from trainctl.checkpoint.state import WeightsSnapshot

    keras.utils.set_random_seed(SEED)
    model = build_model()
    for epoch in range(3):
        fit(model, [], epoch, epoch + 1)
        snapshot = WeightsSnapshot.of(model)
        model.save_weights(tmp_path / "now.weights.h5")
        fit(model, [], epoch + 1, epoch + 2)  # trains on before the file is made
        assert bytes(snapshot) == (tmp_path / "now.weights.h5").read_bytes()
    assert model._trainctl_weights_walk[1] is not None  # the recorded walk was used


class _StoresADerivedArray(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.scale

    def save_own_variables(self, store):
        store["0"] = self.scale.numpy() * 2  # not the variable: a walk recorded once would go stale

    def load_own_variables(self, store):
        self.scale.assign(store["0"] / 2)


def test_weights_snapshot_of_a_layer_storing_derived_arrays_is_made_at_once(tmp_path):
    from trainctl.checkpoint.state import WeightsSnapshot

    model = keras.Sequential([keras.Input((3,)), _StoresADerivedArray(), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    snapshot = WeightsSnapshot.of(model)
    model.save_weights(tmp_path / "now.weights.h5")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
    assert model._trainctl_weights_walk[1] is None
    assert bytes(snapshot) == (tmp_path / "now.weights.h5").read_bytes()
