"""How `auto` sizes executions: from checkpoint and logging periods and the callbacks' batch hooks."""

from __future__ import annotations

import pytest

from trainctl.backend import keras
from trainctl.logs.files import MetricsFiles
from trainctl.logs.progress import ConsoleProgress
from trainctl.logs.tensorboard import TensorBoardWriter
from trainctl.runner.execution import AUTO_MAX_STEPS, TARGET_SECONDS, ExecutionPlan, plan_execution
from trainctl.runner.run import NaNGuard


class LossHistory(keras.callbacks.Callback):
    """The guide's per-batch loss recorder."""

    def on_train_batch_end(self, batch, logs=None):
        pass


def _ours(tmp_path, per_batch=False, update_freq="epoch"):
    return [MetricsFiles(tmp_path, per_batch=per_batch), ConsoleProgress(), NaNGuard(),
            TensorBoardWriter(tmp_path / "events", update_freq=update_freq), keras.callbacks.History()]


def test_trainctl_own_callbacks_allow_long_executions(tmp_path):
    plan = plan_execution("auto", _ours(tmp_path))
    assert (plan.max_steps, plan.boundaries, plan.adaptive) == (AUTO_MAX_STEPS, (), True)


def test_periods_become_boundaries(tmp_path):
    plan = plan_execution("auto", _ours(tmp_path, per_batch=6, update_freq=10), every_steps=100)
    assert plan.boundaries == (6, 10, 100)
    plan.seconds_per_step = 1e-6  # fast steps: only the boundaries limit
    assert [plan.size(g, 1000) for g in (0, 6, 10, 12, 96, 98)] == [6, 4, 2, 6, 4, 2]


def test_size_stops_at_the_epoch_end_and_at_max_steps():
    plan = ExecutionPlan(8)
    assert [plan.size(0, 100), plan.size(5, 3), plan.size(7, 1)] == [8, 3, 1]


def test_adaptive_size_follows_the_measured_step_time():
    plan = ExecutionPlan(64, adaptive=True)
    assert plan.size(0, 100) == 1  # not timed yet: the first steps compile
    plan.record(steps=1, seconds=0.01)
    assert plan.size(1, 100) == int(TARGET_SECONDS / 0.01)  # TARGET_SECONDS worth
    plan.record(steps=10, seconds=1e-4)
    assert plan.size(11, 100) == 64


def test_periods_that_allow_it_give_executions_of_one_length(tmp_path):
    assert plan_execution("auto", _ours(tmp_path), every_steps=100).max_steps == 100
    assert plan_execution("auto", _ours(tmp_path), every_steps=1000).max_steps == 250
    assert plan_execution("auto", _ours(tmp_path, update_freq=40), every_steps=1000).max_steps == 40
    assert plan_execution("auto", _ours(tmp_path), every_steps=97).max_steps == 97  # a whole period
    assert plan_execution("auto", _ours(tmp_path), every_steps=997).max_steps == AUTO_MAX_STEPS  # 1 is too short


def test_every_step_logs_mean_one_step(tmp_path):
    assert plan_execution("auto", _ours(tmp_path, per_batch=True)).max_steps == 1
    assert plan_execution("auto", _ours(tmp_path, update_freq=1)).max_steps == 1


@pytest.mark.parametrize("callback, every_batch", [
    (LossHistory(), True),
    (keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None), True),
    (keras.callbacks.TerminateOnNaN(), True),
    (keras.callbacks.ModelCheckpoint("m.keras", save_freq=5), True),
    (keras.callbacks.ModelCheckpoint("m.keras"), False),
    (keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None), False),
    (keras.callbacks.EarlyStopping(), False),
    (keras.callbacks.ReduceLROnPlateau(), False),
], ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v))
def test_recipe_callbacks_with_batch_hooks_get_every_batch(tmp_path, callback, every_batch):
    plan = plan_execution("auto", [*_ours(tmp_path), callback], recipe_callbacks=[callback])
    assert (plan.max_steps == 1) is every_batch
    if every_batch:
        assert f"callbacks[0] ({type(callback).__name__})" in plan.reason


def test_several_processes_step_alike(tmp_path):
    plan = plan_execution("auto", _ours(tmp_path), every_steps=100, processes=2)
    assert (plan.max_steps, plan.adaptive) == (1, False)


def test_an_explicit_value_wins(tmp_path):
    plan = plan_execution(8, [*_ours(tmp_path), LossHistory()], every_steps=10)
    assert (plan.max_steps, plan.boundaries, plan.adaptive) == (8, (10,), False)
