from __future__ import annotations

import io
import re

import jax.numpy as jnp
import pytest

from trainctl.backend import keras
from trainctl.logs.console import Reporter
from trainctl.logs.progress import ConsoleProgress, format_duration, monitor_mode

from .helpers import tiny_data, tiny_model


class _Sync(keras.callbacks.Callback):
    """Has a batch hook and is not async_safe, so Keras calls batch hooks in order."""

    def on_train_batch_end(self, batch, logs=None):
        pass


def _epoch_lines(text):
    return [line for line in text.splitlines() if re.match(r"Epoch \d+/\d+ - [\d.:]+s? - ", line)]


def test_monitor_mode_guesses_like_keras():
    assert monitor_mode("val_accuracy") == "max"
    assert monitor_mode("class_output_categorical_accuracy") == "max"
    assert monitor_mode("val_auc") == "max"
    assert monitor_mode("val_loss") == "min"
    assert monitor_mode("val_mae") == "min"
    assert monitor_mode("val_accuracy", "min") == "min"
    with pytest.raises(ValueError, match="'auto', 'min' or 'max'"):
        monitor_mode("loss", "lowest")


def test_format_duration():
    assert [format_duration(s) for s in (0.84, 12.2, 123.4, 3723)] == ["0.8s", "12s", "2:03", "1:02:03"]


def test_plain_mode_one_line_per_epoch_then_best_table(captured):
    _, err, out = captured
    model = tiny_model()
    x, y = tiny_data(20)
    progress = ConsoleProgress(monitor="val_loss", every_n_steps=2)
    h = model.fit(
        x, y, batch_size=4, epochs=3, validation_split=0.2, verbose=0, callbacks=[progress, _Sync()]
    )

    lines = _epoch_lines(err.getvalue())
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for i, line in enumerate(lines):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert f"{key}: {h.history[key][i]:.4g}" in line.split(" - ")

    steps = re.findall(r"^Epoch (\d)/3 - step (\d)/4 - ", err.getvalue(), re.M)
    assert steps == [(e, s) for e in "123" for s in "24"]

    best = min(range(3), key=lambda i: h.history["val_loss"][i])
    table = out.getvalue().splitlines()
    assert table[0] == "Best epoch by val_loss (min)"
    assert table[1].split() == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert table[2].split() == [str(best + 1)] + [
        f"{h.history[k][best]:.4g}" for k in ("accuracy", "loss", "val_accuracy", "val_loss")
    ]


def test_resume_mid_epoch_counts_from_start_step_and_keeps_earlier_best(captured):
    _, err, out = captured
    model = tiny_model()
    x, y = tiny_data(16)  # 4 steps per fit epoch: the remainder of a 6-step epoch
    history_rows = [{"epoch": 0, "loss": 0.01}]  # unbeatable: the best stays epoch 1
    progress = ConsoleProgress(
        monitor="val_loss", steps=6, start_step=2, every_n_steps=1, history_rows=history_rows
    )
    model.fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0, callbacks=[progress, _Sync()])

    text = err.getvalue()
    assert re.findall(r"^Epoch 2/3 - step (\d)/6", text, re.M) == ["3", "4", "5", "6"]
    assert re.findall(r"^Epoch 3/3 - step (\d)/6", text, re.M) == ["1", "2", "3", "4"]
    assert [line.split(" - ")[0] for line in _epoch_lines(text)] == ["Epoch 2/3", "Epoch 3/3"]
    # No validation data: val_loss falls back to loss, and epoch 1 from the checkpoint wins.
    assert out.getvalue().splitlines()[:3] == ["Best epoch by loss (min)", "epoch  loss", "1      0.01"]


def test_unknown_steps_learned_after_the_first_epoch_and_jax_logs(captured):
    _, err, _ = captured
    progress = ConsoleProgress(every_n_steps=2)
    # Driven by hand: Keras reports steps=None for data of unknown length.
    progress.set_params({"epochs": 2, "steps": None, "verbose": 0})
    progress.on_train_begin()
    for epoch in range(2):
        progress.on_epoch_begin(epoch)
        for batch in range(4):
            progress.on_train_batch_end(batch, {"loss": jnp.float32(0.5 / (batch + 1))})
        progress.on_epoch_end(epoch, {"loss": jnp.float32(0.125)})
    progress.on_train_end()
    steps = re.findall(r"^Epoch \d/2 - (step \S+) - .* - loss: (\S+)$", err.getvalue(), re.M)
    assert steps == [("step 2", "0.25"), ("step 4", "0.125"), ("step 2/4", "0.25"), ("step 4/4", "0.125")]


def test_val_monitor_shown_once_an_epoch_has_validation(captured):
    _, err, out = captured
    progress = ConsoleProgress(monitor="val_accuracy", history_rows=[{"epoch": 0, "accuracy": 0.9}])
    progress.set_params({"epochs": 3, "steps": 1, "verbose": 0})
    progress.on_train_begin()
    for epoch, logs in [(1, {"accuracy": 0.8, "val_accuracy": 0.5}), (2, {"accuracy": 0.7, "val_accuracy": 0.6})]:
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, logs)
    progress.on_train_end()
    assert _epoch_lines(err.getvalue())[-1].endswith("val_accuracy: 0.6 (best val_accuracy)")
    assert out.getvalue().splitlines()[:3] == [
        "Best epoch by val_accuracy (max)",
        "epoch  accuracy  val_accuracy",
        "3      0.7       0.6",
    ]


def test_quiet_prints_nothing():
    err, out = io.StringIO(), io.StringIO()
    progress = ConsoleProgress(reporter=Reporter(plain=True, quiet=True, err=err, out=out), every_n_steps=1)
    x, y = tiny_data(8)
    tiny_model().fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[progress])
    assert err.getvalue() == "" and out.getvalue() == ""


def test_rich_mode_draws_bar_and_summary_lines():
    err, out = io.StringIO(), io.StringIO()
    progress = ConsoleProgress(monitor="val_accuracy", reporter=Reporter(plain=False, err=err, out=out))
    x, y = tiny_data(20)
    tiny_model().fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0, callbacks=[progress])
    text = err.getvalue()
    assert "━" in text and "steps/s" in text  # the live bar was drawn
    assert re.search(r"^Epoch 1/2 (- )?\S", text, re.M) and re.search(r"^Epoch 2/2 (- )?\S", text, re.M)
    assert "Best epoch by val_accuracy (max)" in out.getvalue()
    progress.close()  # idempotent after on_train_end


class _CountingProgress(ConsoleProgress):
    draws = 0

    def _status(self, now, width=None):
        type(self).draws += 1
        return super()._status(now, width)


def test_rendering_is_throttled():
    err = io.StringIO()
    progress = _CountingProgress(
        reporter=Reporter(plain=False, err=err, out=io.StringIO()), refresh_per_second=1e-6
    )
    x, y = tiny_data(64)
    tiny_model().fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[progress])
    # 32 batches, but only the first of each epoch may render (and convert metrics).
    assert _CountingProgress.draws == 2
