"""`trainctl export`: ONNX through model.export, names from the recipe, checked against Keras with onnxruntime."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, RECIPES, run_cli

pytest.importorskip("onnxruntime")
pytest.importorskip("jax2onnx")


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("multi") / "run"
    run_cli("run", RECIPES / "multi_io.yaml", "--smoke", "-o", run_dir, check=True)
    return run_dir


def test_multi_io_exports_with_recipe_names_and_dynamic_batch(multi_run, tmp_path):
    import keras
    import onnxruntime as ort

    out = tmp_path / "model.onnx"
    proc = run_cli("export", multi_run, "--format", "onnx", "-o", out, "--json", check=True)
    report = json.loads(proc.stdout)
    assert report["inputs"] == ["img_input", "ts_input"]
    assert sorted(report["outputs"]) == ["class_output", "score_output"]
    assert set(report["max_abs_diff"]) == {"1", "7"} and max(report["max_abs_diff"].values()) <= 1e-5
    assert "max abs diff" in proc.stderr
    # jax2onnx cannot pool over a symbolic time dimension: ts_input's None is fixed to the data's 10 steps.
    assert report["fixed_dimensions"] is True and "fixed to the recipe data's sizes" in proc.stderr

    # A batch size the check did not use: the batch dimension is dynamic.
    rng = np.random.default_rng(0)
    x = {"img_input": rng.random((5, 32, 32, 3)).astype("float32"),
         "ts_input": rng.random((5, 10, 10)).astype("float32")}
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, x)))
    model = keras.saving.load_model(multi_run / "model.keras")
    expected = dict(zip(model.output_names, model.predict(x, verbose=0)))
    for name in expected:
        assert np.abs(got[name] - expected[name]).max() <= 1e-5


def test_refusals(multi_run, tmp_path):
    from trainctl.errors import TrainctlError
    from trainctl.export import ExportMismatch, export

    out = tmp_path / "m.onnx"
    with pytest.raises(ExportMismatch, match="was not written") as exc:
        export(multi_run, "onnx", out, tolerance=-1.0)  # no difference is below 0: the check must fail
    assert exc.value.exit_code == 1 and not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(TrainctlError, match=re.escape("needs TensorFlow (pip install tensorflow)")):
        export(multi_run, "tf_saved_model", out)
    with pytest.raises(TrainctlError, match="did you mean 'onnx'"):
        export(multi_run, "onxx", out)
    out.write_bytes(b"")
    with pytest.raises(TrainctlError, match="exists"):
        export(multi_run, "onnx", out)


@pytest.mark.slow
def test_every_catalogue_recipe_that_keras_can_export(tmp_path):
    """Every shipped recipe: exported and within 1e-5 of Keras (relative above 1), or listed in the docs as not."""
    subprocess.run([sys.executable, str(REPO / "bench" / "export_catalogue.py"), str(tmp_path)], check=True,
                   timeout=5400)
    results = json.loads((tmp_path / "export_catalogue.json").read_text())
    docs = (REPO / "docs" / "predict_export.md").read_text()
    for row in results:
        if row["status"] == "exported":
            assert row["max_abs_diff"] <= 1e-5 * row["output_scale"], row
        else:
            assert re.search(rf"\| {row['recipe']} \| (failed|not trained) \|", docs), row
