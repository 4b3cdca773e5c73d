from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from trainctl.logs.tensorboard import TensorBoardWriter

from .helpers import tiny_data, tiny_model


def _load(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def _scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_events_match_the_history_of_a_real_fit(tmp_path):
    model = tiny_model(lr=0.05)
    x, y = tiny_data(20)  # 4 training steps an epoch after the validation split
    tb = TensorBoardWriter(tmp_path / "events", update_freq=3, histogram_freq=2)
    h = model.fit(x, y, batch_size=4, epochs=3, validation_split=0.2, verbose=0, callbacks=[tb])

    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == ["train", "train_batch", "validation"]
    train = _load(tmp_path / "events" / "train")
    assert sorted(train.Tags()["scalars"]) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    for key in ("loss", "accuracy"):
        steps, values = zip(*_scalars(train, f"epoch_{key}"))
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, h.history[key], rtol=1e-6)  # events store float32
    assert [v for _, v in _scalars(train, "epoch_learning_rate")] == pytest.approx([0.05] * 3)

    val = _load(tmp_path / "events" / "validation")
    assert sorted(val.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]
    steps, values = zip(*_scalars(val, "epoch_loss"))
    assert steps == (0, 1, 2)
    np.testing.assert_allclose(values, h.history["val_loss"], rtol=1e-6)

    batch = _load(tmp_path / "events" / "train_batch")
    assert sorted(batch.Tags()["scalars"]) == ["batch_accuracy", "batch_loss"]
    assert [s for s, _ in _scalars(batch, "batch_loss")] == [3, 6, 9, 12]
    # Global step 12 is the last step of epoch 3: its running loss is the epoch's loss.
    assert _scalars(batch, "batch_loss")[-1][1] == pytest.approx(h.history["loss"][-1], rel=1e-6)

    assert sorted(train.Tags()["histograms"]) == sorted(v.path for v in model.weights)
    kernel = model.weights[0]
    assert [e.step for e in train.Histograms(kernel.path)] == [0, 2]
    assert train.Histograms(kernel.path)[-1].histogram_value.num == np.prod(kernel.shape)

    (summary,) = train.Tensors("model_summary/text_summary")
    text = summary.tensor_proto.string_val[0].decode()
    assert summary.step == 0 and "sequential" in text and "Total params" in text


def test_resume_purges_stale_events_so_each_step_has_one_value(tmp_path):
    x, y = tiny_data(16)  # 4 steps an epoch
    events = tmp_path / "events"
    first = TensorBoardWriter(events, update_freq=1)
    tiny_model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[first])

    # The checkpoint was at the end of epoch 0 (global step 4); epochs 1-2 are redone.
    model = tiny_model(lr=0.2)  # different values, so stale ones would show
    resumed = TensorBoardWriter(events, update_freq=1, initial_epoch=1, initial_global_step=4)
    h = model.fit(x, y, batch_size=4, epochs=3, initial_epoch=1, verbose=0, callbacks=[resumed])

    train = _load(events / "train")
    loss = _scalars(train, "epoch_loss")
    assert [s for s, _ in loss] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in loss[1:]], h.history["loss"], rtol=1e-6)
    assert [s for s, _ in _scalars(_load(events / "train_batch"), "batch_loss")] == list(range(1, 13))
    summaries = train.Tensors("model_summary/text_summary")
    assert [t.step for t in summaries] == [0]  # written when the run began, not again on resume
    assert len(list((events / "train").iterdir())) == 2  # the resumed file did not overwrite


def test_update_freq_is_checked():
    with pytest.raises(ValueError, match="'epoch' or a positive int, got 'batch'"):
        TensorBoardWriter("events", update_freq="batch")


def test_writers_opened_in_the_same_second_keep_separate_files(tmp_path):
    model = tiny_model()
    for initial_epoch in (0, 1):  # a crash and resume well within one second
        tb = TensorBoardWriter(tmp_path, initial_epoch=initial_epoch)
        tb.set_model(model)
        tb.on_train_begin()
        tb.on_epoch_begin(1)
        tb.on_epoch_end(1, {"loss": 0.5 + initial_epoch})
        tb.on_train_end()
    files = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert len(files) == 2
    assert [(e.step, e.value) for e in _load(tmp_path / "train").Scalars("epoch_loss")] == [(1, 1.5)]
