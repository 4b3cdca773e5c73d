"""`trainctl export`: a trained model through Keras's `model.export`, then checked against Keras.

On the JAX backend, Keras exports ONNX with jax2onnx: no TensorFlow. The other formats
`model.export` knows need TensorFlow or another backend; asking for one says which
(exit 2). The artifact is written aside and checked before it is renamed onto PATH:
onnxruntime runs it on rows of the recipe's data at batch size 1 and at a size that is
not a power of two (7), which also proves the batch dimension is dynamic, and the
largest absolute difference from `model.predict` must stay within the tolerance (scaled
by the largest output magnitude when that exceeds 1, as float32 rounding is relative).
Inputs and outputs carry the recipe's names.

Example:

    >>> export("runs/multi_io-20261125", "onnx", "model.onnx")
    {'path': 'model.onnx', 'inputs': ['img_input', 'ts_input'], 'outputs': ['class_output', 'score_output'],
     'max_abs_diff': {'1': 5.9e-08, '7': 8.9e-08}, 'tolerance': 1e-05, 'output_scale': 1.0}
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from trainctl.atomic import atomic_path
from trainctl.errors import EXIT_TRAINING_FAILED, TrainctlError

__all__ = ["export", "FORMATS", "UNAVAILABLE", "BATCH_SIZES"]

# The formats that work on JAX without TensorFlow, and the packages each one needs.
FORMATS: dict[str, tuple[str, ...]] = {"onnx": ("jax2onnx", "onnx", "onnxruntime")}
# What the other `model.export` formats need, on the JAX backend.
UNAVAILABLE: dict[str, str] = {
    "tf_saved_model": "needs TensorFlow (pip install tensorflow), which trainctl does not depend on",
    "openvino": "needs the openvino package and TensorFlow (Keras converts a JAX model through tf.function)",
    "litert": "needs the TensorFlow or PyTorch backend (Keras cannot export LiteRT from JAX)",
    "torch": "needs the PyTorch backend (KERAS_BACKEND=torch)",
}
BATCH_SIZES = (1, 7)  # 7: not a power of two, and not the size the graph was traced with
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
               "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool", "tensor(uint8)": "uint8"}


class ExportMismatch(TrainctlError):
    """The exported artifact's results differ from Keras's beyond the tolerance."""

    exit_code = EXIT_TRAINING_FAILED


def _check_format(fmt: str) -> None:
    if fmt in UNAVAILABLE:
        raise TrainctlError(f"--format {fmt} {UNAVAILABLE[fmt]}; formats that work here: {', '.join(FORMATS)}")
    if fmt not in FORMATS:
        from trainctl.recipe.structure import did_you_mean

        known = [*FORMATS, *UNAVAILABLE]
        raise TrainctlError(f"unknown --format {fmt!r} ({did_you_mean(fmt, known) or 'one of ' + ', '.join(known)})")
    missing = [name for name in FORMATS[fmt] if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainctlError(f"--format {fmt} needs {', '.join(missing)}: pip install 'trainctl[{fmt}]'")


def sample_inputs(loaded, model, rows: int) -> Any:
    """The first `rows` model inputs of the recipe's test split (else validation, else train), as fed to Keras.

    Example:

        >>> sample_inputs(loaded, model, 7).shape
        (7, 784)
    """
    from trainctl.backend import keras
    from trainctl.compile import Builder
    from trainctl.data import load_splits

    splits = load_splits(loaded, model, Builder(loaded).user_object)
    split = next(s for s in (splits.test, splits.validation, splits.train) if s is not None)
    if split.dataset is not None:
        batch = split.dataset[0]
        x = batch[0] if isinstance(batch, tuple) else batch
    else:
        x = split.x
    # A recipe with fewer rows (a tiny PyDataset batch) repeats them: the check needs `rows` inputs.
    return keras.tree.map_structure(lambda a: np.take(np.asarray(a[:rows]), np.arange(rows) % len(a[:rows]), axis=0), x)


def _feeds(session, x) -> tuple[dict[str, np.ndarray], Any]:
    """onnxruntime's inputs (by the artifact's input names) and the same values, cast alike, for Keras.

    Inputs are matched by name when the artifact carries the model's input names, else in
    `keras.tree.flatten` order, the order `model.export` flattens its signature in.
    """
    from trainctl.backend import keras

    inputs = session.get_inputs()
    by_name = isinstance(x, dict) and all(i.name in x for i in inputs)
    arrays = [x[i.name] for i in inputs] if by_name else keras.tree.flatten(x)
    cast = [a.astype(_ORT_DTYPES.get(i.type, a.dtype)) for i, a in zip(inputs, arrays)]
    feed = {i.name: c for i, c in zip(inputs, cast)}
    return feed, (feed if by_name else keras.tree.pack_sequence_as(x, cast))


def _output_names(model, x) -> list[str]:
    """The model's output names in the order `keras.tree.flatten` puts its outputs (the artifact's order)."""
    from trainctl.backend import keras

    from trainctl.predict import output_names

    y = model(x, training=False)  # also marks the model as called, which export requires
    if isinstance(y, dict):
        return keras.tree.flatten({k: k for k in y})
    return output_names(model, len(keras.tree.flatten(y)))


def _fixed_signature(model, x) -> list:
    """An export signature with only the batch dimension dynamic, other dimensions as in the sample `x`."""
    from trainctl.backend import keras

    inputs = list(getattr(model, "inputs", None) or [])
    dtypes = {t.name.split(":")[0]: t.dtype for t in inputs}

    def spec(name, a):
        return keras.InputSpec(shape=(None, *a.shape[1:]), dtype=dtypes.get(name, str(a.dtype)), name=name)

    if isinstance(x, dict):
        return [{k: spec(k, a) for k, a in x.items()}]
    names = [t.name.split(":")[0] for t in inputs]
    if isinstance(x, (list, tuple)):
        return [[spec(names[i] if i < len(names) else f"input_{i}", a) for i, a in enumerate(x)]]
    return [spec(names[0] if names else "input_0", x)]


def _model_export(model, path: Path, fmt: str, x) -> bool:
    """`model.export`; if a dynamic dimension other than the batch defeats the converter, again with it fixed.

    Returns True when the other dimensions had to be fixed to the sample's.
    """
    try:
        model.export(str(path), format=fmt, verbose=False)
        return False
    except Exception:  # noqa: BLE001 - jax2onnx cannot trace every op over symbolic sizes (e.g. pooling over time)
        model.export(str(path), format=fmt, verbose=False, input_signature=_fixed_signature(model, x))
        return True


def _rename_outputs(path: Path, names: list[str]) -> None:
    """Give the ONNX graph's outputs the recipe's output names (jax2onnx names them after the last op)."""
    import onnx

    graph = onnx.load(str(path))
    mapping = {out.name: name for out, name in zip(graph.graph.output, names)}
    for node in graph.graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
    for out in graph.graph.output:
        out.name = mapping[out.name]
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def export(target: str | Path, fmt: str, out: str | Path, *, tolerance: float = 1e-5,
           overrides: list[str] | None = None) -> dict[str, Any]:
    """Export a run's `model.keras` to `out` in `fmt`, checked against Keras; returns what was checked.

    Raises `ExportMismatch` (exit 1) when the artifact's results differ from Keras's by more
    than `tolerance` at any checked batch size (times the largest output magnitude when
    that exceeds 1: float32 rounding is relative); `out` is then not written.
    """
    from trainctl.logs.console import get_reporter
    from trainctl.predict import named_outputs
    from trainctl.runner.evaluate import load_trained

    _check_format(fmt)
    out = Path(out)
    if out.exists():
        raise TrainctlError(f"{out} exists; remove it or choose another -o (export never overwrites a file)")
    loaded, model = load_trained(target, overrides)
    sample = sample_inputs(loaded, model, max(BATCH_SIZES))
    names = _output_names(model, sample)
    import onnxruntime as ort

    diffs: dict[str, float] = {}
    scale = 1.0  # float32 rounding grows with the outputs' magnitude: beyond 1, the tolerance scales with it
    with atomic_path(out) as tmp:
        fixed = _model_export(model, tmp, fmt, sample)
        if fixed:
            get_reporter().warn("the converter could not keep the inputs' non-batch None dimensions dynamic; "
                                "they are fixed to the recipe data's sizes (the batch size stays dynamic)")
        _rename_outputs(tmp, names)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        for size in BATCH_SIZES:
            feed, keras_x = _feeds(session, _slice(sample, size))
            got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
            expected = {k: np.asarray(v) for k, v in
                        named_outputs(model.predict(keras_x, batch_size=size, verbose=0), model).items()}
            diffs[str(size)] = max(float(np.max(np.abs(got[name] - expected[name]), initial=0.0)) for name in names)
            scale = max([scale] + [float(np.max(np.abs(expected[name]), initial=0.0)) for name in names])
        worst = max(diffs.values())
        allowed = tolerance * scale
        report = {"path": str(out), "format": fmt, "inputs": [i.name for i in session.get_inputs()],
                  "outputs": [o.name for o in session.get_outputs()], "max_abs_diff": diffs,
                  "tolerance": tolerance, "output_scale": scale, "fixed_dimensions": fixed}
        within = f"tolerance {tolerance:g}" + (f" x output scale {scale:.3g}" if scale > 1 else "")
        get_reporter().info(f"checked {out.name} with onnxruntime against Keras at batch sizes "
                            f"{', '.join(diffs)}: max abs diff {worst:.3g} ({within})")
        if not worst <= allowed:  # a NaN fails too
            raise ExportMismatch(f"the exported model differs from Keras by {worst:.3g} > {within}; "
                                 f"{out} was not written")
    return report


def _slice(x, rows: int):
    from trainctl.backend import keras

    return keras.tree.map_structure(lambda a: a[:rows], x)
