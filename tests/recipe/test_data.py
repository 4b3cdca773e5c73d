"""The data section: files and the arrays they hold, x/y against the model, transforms."""

from __future__ import annotations

import numpy as np
import pytest

from tests.recipe.conftest import MNIST, MULTI, at

TRAIN = "  train: {source: mnist, slice: [0, 100]}\n"


def _with_data(lines: str, base: str = MNIST) -> str:
    return base.replace(TRAIN, lines)


@pytest.fixture
def files(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 28, 28)), labels=np.zeros(4))
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "notzip.npz").write_text("hello")
    return tmp_path


def test_npz_and_csv_sources_that_fit(problems, files):
    text = _with_data("  train: {source: npz, path: d.npz}\n  x: images\n  y: labels\n")
    assert problems(text) == []
    renamed = _with_data("  train: {source: npz, path: d.npz, keys: {x: images, y: labels}}\n")
    assert problems(renamed) == []
    csv = _with_data("  train: {source: csv, path: d.csv, columns: {x: [a, b], y: label}}\n")
    assert problems(csv.replace("shape: [28, 28]", "shape: [2]")) == []


@pytest.mark.parametrize("lines, needle, message", [
    ("  train: {source: npz, path: missing.npz}\n", "missing.npz",
     "data file not found: {tmp}/missing.npz (relative paths start at the recipe's directory)"),
    ("  train: {source: npz, path: notzip.npz}\n", "notzip.npz",
     "cannot read {tmp}/notzip.npz as .npz: not a zip archive of .npy arrays (write it with numpy.savez)"),
    ("  train: {source: npz, path: d.npz, keys: {x: image, y: labels}}\n", "image,",
     "no array 'image' in d.npz (did you mean 'images'?)"),
    ("  train: {source: npz, path: d.npz}\n  x: image\n  y: labels\n", "image\n",
     "no array 'image' in data.train (did you mean 'images'?)"),
    ("  train: {source: npz, path: d.npz}\n  y: labels\n", "data:",
     "data.x is not set, and data.train has no arrays named like the model input (digits) or 'x' "
     "(set data.x; data.train has: images, labels)"),
    ("  train: {source: csv, path: d.csv, columns: {x: [a, c], y: label}}\n", "c]",
     "no column 'c' in d.csv (d.csv has: a, b, label)"),
    ("  train: {source: csv, path: d.csv, columns: {x: [a, b], y: lable}}\n", "lable",
     "no column 'lable' in d.csv (did you mean 'label'?)"),
    ("  train: {source: csv, path: empty.csv}\n", "empty.csv",
     "{tmp}/empty.csv is empty; expected a header row naming the columns"),
    ("  train: {source: csv, path: d.csv, dtype: flaot32, columns: {x: [a, b], y: label}}\n", "flaot32",
     "unknown numpy dtype 'flaot32' (did you mean 'float32'?)"),
    ("  train: {source: mnist, slice: [0, 10, 1, 2]}\n", "[0, 10, 1, 2]",
     "expected [start, stop] (or [start, stop, step]), got 4 numbers"),
    ("  train: {source: mnist, slice: [0, 10, 0]}\n", "0]", "a slice step cannot be 0"),
    ("  train: {source: mnist}\n  sample_weight: w\n", "w\n", "no array 'w' in data.train (data.train has: x, y)"),
    ("  train: {source: mnist}\n  validation: {source: npz, path: d.npz}\n  x: x\n", "x\nmodel",
     "no array 'x' in data.validation (data.validation has: images, labels)"),
])
def test_source_problems(problems, files, lines, needle, message):
    text = _with_data(lines)
    got = problems(text)
    assert f"{at(text, needle)}: {message.format(tmp=files)}" in got, got


def test_x_and_y_against_model_inputs_and_outputs(problems):
    data = "  train: {source: synthetic, samples: 8}\n"
    ok = MULTI.replace(data, data + "  x: {img: img, ts: ts}\n  y: [score, klass]\n")
    assert problems(ok) == []
    text = MULTI.replace(data, data + "  x: {img: img, tss: ts}\n  y: [score]\n")
    assert problems(text) == [
        f"{at(text, '{img: img')}: data.x gives no array for the model input 'ts'",
        f"{at(text, 'tss')}: unknown model input 'tss' (did you mean 'ts'?)",
        f"{at(text, '[score]')}: data.y lists 1 array but the model has 2 outputs (score, klass)",
    ]
    one = MULTI.replace(data, data + "  x: img\n")
    assert problems(one) == [f"{at(one, 'img', 1)}: data.x names one array but the model has 2 inputs (img, ts) "
                             "(give one per input: {img: <array>, ...})"]


def test_synthetic_arrays(problems):
    data = "  train: {source: synthetic, samples: 8}\n"
    text = MULTI.replace(data, "  train: {source: synthetic, samples: 8, arrays: "
                               "{img: {shape: [8, 8, 0]}, ts: {shape: [3, 4], dtype: flot32, integers: 0}}}\n")
    assert problems(text) == [
        f"{at(text, 'data:')}: data.y is not set, and data.train has no arrays named like the model outputs "
        "(score, klass) (set data.y; data.train has: img, ts)",
        f"{at(text, '0]}')}: a dimension must be a positive integer, got 0",
        f"{at(text, 'flot32')}: unknown numpy dtype 'flot32' (did you mean 'float32'?)",
        f"{at(text, '0}}}')}: `integers` draws from [0, integers): expected at least 1, got 0",
    ]


def test_python_source_arrays_are_unknown_until_run(problems, tmp_path):
    (tmp_path / "loaders.py").write_text("def load(): ...\n")
    text = "imports: [loaders]\n" + _with_data("  train: {source: python, function: 'loaders:load'}\n"
                                               "  x: anything\n")
    assert problems(text) == []


@pytest.mark.parametrize("step, needle, message", [
    ("{cats: float32}", "cats", "unknown transform 'cats' (did you mean 'cast'?)"),
    ("{cast: flaot32}", "flaot32", "cast: unknown numpy dtype 'flaot32' (did you mean 'float32'?)"),
    ("{cast: U3}", "U3", "cast: dtype 'U3' is not numeric or bool "
                         "(expected a numeric numpy dtype: float32, int64, uint8, bool, ...)"),
    ("{divide: 0}", "0}]", "divide: cannot divide by 0 (e.g. {divide: 255})"),
    ("{divide: '255'}", "'255'", "divide: expected a number, got '255' (e.g. {divide: 255})"),
    ("{multiply: [2]}", "[2]", "multiply: expected a number, got a list (e.g. {multiply: 0.5})"),
    ("{reshape: 784}", "784}]",
     "reshape: expected a per-sample shape, a list of integers like [28, 28, 1], got 784 (int) "
     "(e.g. {reshape: [784]})"),
    ("{reshape: [-1, -1]}", "[-1, -1]", "reshape: at most one dimension can be -1, got a list (e.g. {reshape: [784]})"),
    ("{flatten: false}", "false", "flatten: expected `flatten: true`, got false (a boolean) (e.g. {flatten: true})"),
    ("{one_hot: 0}", "0}]", "one_hot: expected the number of classes, a positive integer, got 0 (int) "
                                "(e.g. {one_hot: 10})"),
    ("{expand_dims: last}", "last", "expand_dims: expected an axis, an integer like -1, got 'last' "
                                           "(e.g. {expand_dims: -1})"),
    ("{reshape: [784], cast: float32}", "{reshape: [784], cast",
     "a transform step is a one-key mapping like {reshape: [784]}, got a mapping"),
])
def test_transform_steps(problems, step, needle, message):
    text = MNIST.replace(TRAIN, TRAIN + f"  transforms:\n    x: [{{flatten: true}}, {step}]\n")
    assert problems(text) == [f"{at(text, needle)}: {message}"]


def test_transform_keys_name_arrays(problems):
    text = MNIST.replace(TRAIN, TRAIN + "  transforms:\n    xx: [{flatten: true}]\n")
    assert problems(text) == [f"{at(text, 'xx')}: no array 'xx' in data.train (did you mean 'x'?)"]


def test_transform_names_match_the_data_layer():
    # Validation (recipe/transforms.py) and the implementation (data/transforms.py) must
    # accept the same steps, or a validated recipe could fail when its data loads.
    from trainctl.data.transforms import TRANSFORMS as IMPLEMENTED
    from trainctl.recipe.transforms import TRANSFORMS as CHECKED

    assert set(IMPLEMENTED) == set(CHECKED)
