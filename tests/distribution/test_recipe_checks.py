"""The `distribution:` section and the process options are checked before anything trains."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import run_cli
from trainctl.errors import RecipeInvalid, TrainctlError
from trainctl.recipe import load_recipe_text

from .helpers import MLP_DP

BASE = """\
name: t
data: {train: {source: synthetic, samples: 64}}
model:
  inputs: {x: {shape: [8]}}
  layers: [{name: dense_1, Dense: {units: 4}}]
  outputs: [dense_1]
compile: {loss: mse}
"""


def errors_of(section: str) -> list[str]:
    with pytest.raises(RecipeInvalid) as info:
        load_recipe_text(BASE + textwrap.dedent(section), "r.yaml", ".")
    return [str(e) for e in info.value.errors]


def test_a_strategy_must_be_chosen_once():
    assert errors_of("distribution: {}\n") == [
        "r.yaml:8:15: distribution: needs exactly one strategy, got neither (write `data_parallel: {}` or "
        "`model_parallel: {mesh: ..., layout: ...}`)"]
    both = errors_of("distribution: {data_parallel: {}, model_parallel: {mesh: {shape: [1], axis_names: [b]}}}\n")
    assert len(both) == 1 and "got data_parallel and model_parallel" in both[0]


def test_model_parallel_mistakes_are_each_reported_at_their_line():
    errors = errors_of("""\
        distribution:
          model_parallel:
            mesh: {shape: [2, 2], axis_names: [batch]}
            batch_dim: bacth
            layout:
              "dense_.*/kernel": [null, modle]
              "(unclosed": [null]
              "dense_.*/bias": [batch, batch]
        """)
    assert errors == [
        "r.yaml:10:39: the mesh has 2 axes (shape [2, 2]) but 1 axis names ['batch'] (give one name per axis, "
        "e.g. shape: [2, 2] with axis_names: [batch, model])",
        "r.yaml:11:16: batch_dim 'bacth' is not a mesh axis ['batch'] (did you mean 'batch'?)",
        "r.yaml:13:33: layout 'dense_.*/kernel' names axis 'modle', which is not a mesh axis ['batch'] "
        "(use a mesh axis name, or null to not shard)",
        "r.yaml:14:7: layout key '(unclosed' is not a regular expression: missing ), unterminated subpattern "
        "at position 0 (keys are Python regexes that fully match variable paths, e.g. '.*dense.*kernel')",
        "r.yaml:15:24: layout 'dense_.*/bias' shards two dimensions over the same axis: ['batch', 'batch'] "
        "(a mesh axis can split only one dimension of a variable)",
    ]


def test_schema_rejects_unknown_keys_and_empty_meshes():
    errors = errors_of("distribution: {data_parallel: {device: 2}, model_parallel: {mesh: {shape: [], "
                       "axis_names: []}}}\n")
    assert errors == [
        "r.yaml:8:32: unknown key 'device' (did you mean 'devices'?)",
        "r.yaml:8:75: List should have at least 1 item after validation, not 0, got a list",
        "r.yaml:8:91: List should have at least 1 item after validation, not 0, got a list",
    ]


def test_validate_accepts_the_example_recipe():
    proc = run_cli("validate", MLP_DP)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("options, message", [
    (dict(num_processes=2, process_id=0), "also needs --coordinator"),
    (dict(coordinator="10.0.0.1", num_processes=2, process_id=0), "must be HOST:PORT"),
    (dict(coordinator="10.0.0.1:1234", num_processes=2, process_id=2), "must be in 0..1"),
    (dict(coordinator="10.0.0.1:1234", process_id=1), "without --num-processes N > 1"),
])
def test_process_options_say_what_is_missing(options, message):
    from trainctl.distribution import ProcessOptions

    with pytest.raises(TrainctlError, match=message):
        ProcessOptions(**options).check()
    ProcessOptions().check()
    ProcessOptions("10.0.0.1:1234", 2, 1).check()


def test_a_changed_topology_is_refused_unless_allowed():
    from trainctl.distribution import Topology, check_resume

    two = Topology(processes=2, devices=4, mesh_shape=(4,), axis_names=("batch",), platform="cpu")
    one = Topology(processes=1, devices=4, mesh_shape=(4,), axis_names=("batch",), platform="gpu")
    assert Topology.from_dict(two.to_dict()) == two
    assert check_resume(two, Topology.from_dict(two.to_dict()), allow_change=False) is False
    with pytest.raises(TrainctlError, match="written by a run on 2 processes, 4 cpu devices, mesh batch=4, but "
                                            "this resume runs on 1 process, 4 gpu devices"):
        check_resume(two, one, allow_change=False)
    assert check_resume(two, one, allow_change=True) is True
    assert Topology.from_dict(None).same_as(Topology(processes=1, devices=1))  # checkpoints from before
