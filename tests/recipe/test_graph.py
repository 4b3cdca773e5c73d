"""The model section: exclusive modes, unique names, `from` wiring, outputs, unused inputs."""

from __future__ import annotations

import pytest

from tests.recipe.conftest import MNIST, MULTI, at


def test_from_a_later_layer_names_its_line(problems):
    text = MNIST.replace("{name: flat, Flatten: {}}", "{name: flat, Flatten: {}, from: hidden}")
    assert problems(text) == [
        f"{at(text, 'hidden}')}: layer 'hidden' is defined later, at line 8 "
        "(a layer can only be called on inputs and earlier layers, so the graph has no cycles)"]


def test_from_itself(problems):
    text = MNIST.replace("{name: flat, Flatten: {}}", "{name: flat, Flatten: {}, from: flat}")
    assert problems(text) == [f"{at(text, 'flat}')}: layer 'flat' is this layer itself "
                              "(a layer can only be called on inputs and earlier layers, so the graph has no cycles)"]


def test_from_unknown_name(problems):
    text = MULTI.replace("from: [a, b]", "from: [a, bb]")
    assert problems(text) == [f"{at(text, 'bb')}: unknown layer or input 'bb' (did you mean 'b'?)"]


def test_output_from_unknown_layer(problems):
    text = MULTI.replace("score: {Dense: {units: 1}, from: ab}", "score: {Dense: {units: 1}, from: abc}")
    assert problems(text) == [f"{at(text, 'abc')}: unknown layer or input 'abc' (did you mean 'ab'?)"]


def test_duplicate_names(problems):
    text = MULTI.replace("{name: b, GlobalMaxPooling1D", "{name: img, GlobalMaxPooling1D").replace(
        "from: [a, b]", "from: [a, img]")
    assert problems(text) == [f"{at(text, 'img, Global')}: name 'img' is already used at line 6 "
                              "(Keras needs unique layer names, inputs and outputs included)"]


def test_output_named_like_a_layer(problems):
    text = MULTI.replace("klass: {Dense", "ab: {Dense").replace("klass", "ab")
    got = problems(text)
    assert f"{at(text, 'ab: {Dense')}: name 'ab' is already used at line 11 " \
           "(Keras needs unique layer names, inputs and outputs included)" in got


def test_first_layer_needs_from_with_several_inputs(problems):
    text = MULTI.replace("{name: a, Flatten: {}, from: img}", "{name: a, Flatten: {}}")
    assert problems(text) == [f"{at(text, '{name: a,')}: this layer needs `from:`: the model has several inputs "
                              "(img, ts) (e.g. from: img)"]


def test_unused_input(problems):
    text = MNIST.replace("inputs: {digits: {shape: [28, 28]}}",
                         "inputs: {digits: {shape: [28, 28]}, extra: {shape: [3]}}").replace(
        "{name: flat, Flatten: {}}", "{name: flat, Flatten: {}, from: digits}")
    assert f"{at(text, 'extra')}: input 'extra' is not used by any output " \
           "(call a layer on it with `from: extra`, or remove it)" in problems(text)


def test_outputs_as_a_list_of_layer_names(problems):
    good = MULTI.replace("""  outputs:
    score: {Dense: {units: 1}, from: ab}
    klass: {Dense: {units: 5, activation: softmax}, from: ab}
""", """    - {name: score, Dense: {units: 1}, from: ab}
    - {name: klass, Dense: {units: 5}, from: ab}
  outputs: [score, klass]
""")
    assert problems(good) == []
    bad = good.replace("outputs: [score, klass]", "outputs: [score, klas]")
    assert f"{at(bad, 'klas]')}: output 'klas' is not a layer or input (did you mean 'klass'?)" in problems(bad)


def test_output_name_is_its_key(problems):
    text = MNIST.replace("probs: {Dense:", "probs: {name: p, Dense:")
    assert problems(text) == [f"{at(text, 'p, Dense')}: an output is named by its key ('probs'), got name 'p' "
                              "(remove `name`)"]


@pytest.mark.parametrize("model, needle, message", [
    ("model:\n  sequential: [{Dense: {units: 2}}]\n  inputs: {a: {shape: [1]}}\n", "inputs",
     "`inputs` cannot be combined with `sequential` "
     "(a model is either a `sequential` stack or a functional graph of `inputs`, `layers` and `outputs`)"),
    ("model:\n  name: empty\n", "model",
     "a model needs `inputs` and `outputs` (a functional graph), `sequential` (a stack of layers) or `class` "
     "(a subclassed model)"),
    ("model:\n  sequential: [{Dense: {units: 2}}]\n  args: {a: 1}\n", "args",
     "`args` are the constructor arguments of a `class:` model (remove `args`, or add `class: 'module:Name'`)"),
    ("model:\n  inputs: {a: {shape: [1]}}\n  layers: [{Dense: {units: 2}}]\n", "inputs",
     "a functional model needs `outputs` "
     "(e.g. inputs: {x: {shape: [784]}} and outputs: {y: {Dense: {units: 10}}})"),
    ("model:\n  inputs: {a: {shape: [1]}}\n  input_shape: [1]\n  outputs: {y: {Dense: {units: 2}}}\n", "input_shape",
     "`input_shape` is for `sequential` and subclassed models "
     "(a functional model declares `inputs: {name: {shape: [...]}}`)"),
    ("model:\n  sequential: [{Flatten: {}, from: x}]\n", "from",
     "`from` has no meaning in `sequential`: each layer takes the previous output "
     "(use `inputs`/`layers`/`outputs` for a graph)"),
    ("model:\n  sequential: []\n", "[]", "`sequential` needs at least one layer"),
    ("model:\n  inputs: {a: {shape: [0], dtype: flaot32}}\n  outputs: {y: {Dense: {units: 2}}}\n", "flaot32",
     "unknown Keras dtype 'flaot32' (did you mean 'float32'?)"),
])
def test_model_modes_and_inputs(problems, model, needle, message):
    text = "name: t\ndata:\n  train: {source: mnist}\n" + model
    got = problems(text)
    assert f"{at(text, needle)}: {message}" in got


def test_input_dimensions_are_positive(problems):
    text = MNIST.replace("shape: [28, 28]", "shape: [28, 0]")
    assert f"{at(text, '0]}}')}: a dimension must be a positive integer or null, got 0" in problems(text)


def test_sequential_and_subclassed_models_are_valid(problems, tmp_path):
    seq = MNIST.replace("""  inputs: {digits: {shape: [28, 28]}}
  layers:
    - {name: flat, Flatten: {}}
    - {name: hidden, Dense: {units: 8, activation: relu}}
  outputs:
    probs: {Dense: {units: 10, activation: softmax}}
""", """  input_shape: [28, 28]
  sequential:
    - {Flatten: {}}
    - {Dense: {units: 10, activation: softmax}}
""")
    assert problems(seq) == []
    (tmp_path / "nets.py").write_text("class Net: ...\n")
    sub = "imports: [nets]\n" + seq.replace("""  input_shape: [28, 28]
  sequential:
    - {Flatten: {}}
    - {Dense: {units: 10, activation: softmax}}
""", "  class: 'nets:Net'\n  args: {units: 3}\n").replace(
        "loss: sparse_categorical_crossentropy", "loss: {a: mse, b: mae}")
    # A subclassed model's outputs are known only once built: per-output keys are not checked.
    assert problems(sub) == []


def test_every_problem_is_reported_at_once(problems):
    text = MULTI.replace("from: [a, b]", "from: [a, bb]").replace("Flatten", "Flaten").replace(
        "score: mse", "scor: mse")
    assert len(problems(text)) == 4  # bb, Flaten, scor, and the score output left without a loss
