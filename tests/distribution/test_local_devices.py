"""One process, four simulated CPU devices: data- and model-parallel runs equal the single-device run."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli
from trainctl.errors import RecipeInvalid
from trainctl.recipe import load_recipe

from .helpers import MLP, MLP_DP, MODEL_PARALLEL_2x2, SMALL, device_env, max_difference


def topology(run_dir) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["topology"]


def test_data_parallel_on_4_devices_equals_one_device(single_device_run, jax_cache, tmp_path):
    run_dir = tmp_path / "run"
    run_cli("run", MLP_DP, "-o", run_dir, *SMALL, env=device_env(4, jax_cache), check=True)
    assert topology(run_dir) == {"processes": 1, "devices": 4, "mesh_shape": [4], "axis_names": ["batch"],
                                 "platform": "cpu"}
    assert topology(single_device_run)["devices"] == 1
    assert max_difference(single_device_run, run_dir) <= 1e-6


def test_model_parallel_2x2_equals_one_device(single_device_run, jax_cache, tmp_path):
    run_dir = tmp_path / "run"
    run_cli("run", MLP, "-o", run_dir, *SMALL, MODEL_PARALLEL_2x2, env=device_env(4, jax_cache), check=True)
    assert topology(run_dir)["mesh_shape"] == [2, 2]
    assert max_difference(single_device_run, run_dir) <= 1e-6


def test_a_mesh_larger_than_the_devices_is_refused():
    # In this process: one CPU device, and `setup` refuses before it sets any distribution.
    from trainctl.distribution import setup

    loaded = load_recipe(MLP, [*SMALL, MODEL_PARALLEL_2x2])
    with pytest.raises(RecipeInvalid) as info:
        setup(loaded)
    [error] = info.value.errors
    assert error.file.startswith("<override 6: distribution=")
    assert error.message == "the mesh [2, 2] needs 4 devices but the run has 1 device (cpu:0) in 1 process"
    assert "xla_force_host_platform_device_count" in error.hint


def test_layouts_that_cannot_apply_or_match_nothing_are_reported_together(jax_cache, tmp_path):
    layout = ("distribution={model_parallel: {mesh: {shape: [1, 4], axis_names: [batch, model]}, layout: "
              "{'dense_.*/kernel': [null, model], 'dense_.*/bias': [model, null], 'predictions/kernel': "
              "[null, model], 'conv.*': [model]}}}")
    proc = run_cli("run", MLP, "-o", tmp_path / "run", *SMALL, layout, env=device_env(4, jax_cache))
    assert proc.returncode == 2, proc.stderr
    at = r"^(error: )?<override 6: distribution=.*>:1:\d+: "
    problems = [re.sub(at, "", line) for line in proc.stderr.splitlines() if re.match(at, line)]
    assert problems == [
        "layout key 'conv.*' matches no variable of the model (keys fully match variable paths such as "
        "['dense_1/kernel', 'dense_1/bias', 'dense_2/kernel', 'dense_2/bias'])",
        "layout 'dense_.*/bias' [model, null] cannot apply to variable 'dense_1/bias' of shape [64]: it names "
        "2 dimensions, the variable has 1 (and 1 more variable(s) it matches)",
        "layout 'predictions/kernel' [null, model] cannot apply to variable 'predictions/kernel' of shape "
        "[64, 10]: dimension 1 (10) does not split evenly over mesh axis 'model' (4 devices)",
    ]
    assert not (tmp_path / "run" / "ckpt").exists()


def test_batches_that_do_not_split_over_the_devices_are_refused(jax_cache, tmp_path):
    proc = run_cli("run", MLP_DP, "-o", tmp_path / "run", *SMALL, "data.train.slice=[0,510]",
                   "train.validation_batch_size=30", env=device_env(4, jax_cache))
    assert proc.returncode == 2, proc.stderr
    assert "the 510 training samples end in a last batch of 62, which does not split evenly over the 4 " \
           "replicas (use a number of samples whose remainder by 64 is a multiple of 4, e.g. slice the data " \
           "to 448 samples)" in proc.stderr
    assert "validation batches of 30 do not split evenly over the 4 replicas of the distribution (use a " \
           "multiple of 4)" in proc.stderr
