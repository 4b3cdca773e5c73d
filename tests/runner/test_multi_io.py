"""The multi-input, multi-output recipe trains with dict losses and matches hand-written Keras."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import RECIPES, run_cli


def test_multi_io_matches_hand_written(tmp_path):
    import keras

    run_dir = tmp_path / "run"
    run_cli("run", RECIPES / "multi_io.yaml", "-o", run_dir, check=True)
    ours = json.loads((run_dir / "history.json").read_text())

    keras.utils.set_random_seed(42)
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")
    x1 = keras.layers.Conv2D(3, 3, name="x1")(image_input)
    x1 = keras.layers.GlobalMaxPooling2D(name="x1p")(x1)
    x2 = keras.layers.Conv1D(3, 3, name="x2")(timeseries_input)
    x2 = keras.layers.GlobalMaxPooling1D(name="x2p")(x2)
    x = keras.layers.Concatenate(name="x")([x1, x2])
    score_output = keras.layers.Dense(1, name="score_output")(x)
    class_output = keras.layers.Dense(5, activation="softmax", name="class_output")(x)
    model = keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"score_output": keras.losses.MeanSquaredError(),
              "class_output": keras.losses.CategoricalCrossentropy()},
        loss_weights={"score_output": 2.0, "class_output": 1.0},
        metrics={"class_output": [keras.metrics.CategoricalAccuracy()]},
    )
    # The synthetic source: uniform [0, 1) arrays shaped like the model, from the recipe seed.
    rng = np.random.default_rng(42)
    img = rng.random((1280, 32, 32, 3)).astype("float32")
    ts = rng.random((1280, 10, 10)).astype("float32")
    score = rng.random((1280, 1)).astype("float32")
    cls = rng.random((1280, 5)).astype("float32")
    history = model.fit({"img_input": img, "ts_input": ts}, {"score_output": score, "class_output": cls},
                        batch_size=32, epochs=3, verbose=0)
    assert sorted(history.history) == sorted(ours)
    for key, values in history.history.items():
        np.testing.assert_allclose(ours[key], values, rtol=0, atol=1e-6, err_msg=key)
