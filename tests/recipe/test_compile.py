"""`compile:` per-output forms against the model's outputs, and `train:` arguments Keras refuses."""

from __future__ import annotations

import pytest

from tests.recipe.conftest import MNIST, MULTI, at


def test_loss_dict_with_unknown_output(problems):
    text = MULTI.replace("loss: {score: mse,", "loss: {scor: mse,")
    assert problems(text) == [
        f"{at(text, 'loss:')}: `loss` gives no loss for output 'score' (add `score: null` to train that output "
        "without a loss)",
        f"{at(text, 'scor:')}: unknown output 'scor' in `loss` (did you mean 'score'?)",
    ]


def test_loss_dict_null_leaves_an_output_untrained(problems):
    assert problems(MULTI.replace("loss: {score: mse,", "loss: {score: null,")) == []


def test_compiled_without_loss_is_allowed(problems):
    # e.g. a model whose layers add the loss (the guides' LogisticEndpoint); no targets needed either.
    text = MULTI.replace("  loss: {score: mse, klass: categorical_crossentropy}\n", "").replace(
        "  loss_weights: {score: 2.0, klass: 1.0}\n", "")
    assert problems(text) == []


def test_single_loss_as_a_one_key_reference(problems):
    text = MNIST.replace("loss: sparse_categorical_crossentropy",
                         "loss: {SparseCategoricalCrossentropy: {from_logits: true}}")
    assert problems(text) == []


@pytest.mark.parametrize("line, needle, message", [
    ("loss: [mse]", "[mse]", "`loss` lists 1 entry but the model has 2 outputs (score, klass) "
                             "(give one per output, in order, or map them: {output_name: ...})"),
    ("loss_weights: [1.0, 2.0, 3.0]", "[1.0", "`loss_weights` lists 3 entries but the model has 2 outputs "
                                              "(score, klass) (give one per output, in order, or map them: "
                                              "{output_name: ...})"),
    ("loss_weights: {score: 2.0, klas: 1.0}", "klas:", "unknown output 'klas' in `loss_weights` "
                                                      "(did you mean 'klass'?)"),
    ("metrics: {klass: [CategoricalAccuracy], scores: [mae]}", "scores",
     "unknown output 'scores' in `metrics` (did you mean 'score'?)"),
    ("metrics: [mae]", "[mae]", "for a model with 2 outputs (score, klass), a `metrics` list needs one entry per "
                                "output (Keras's rule); got 1 (map outputs to their metrics instead: {score: [...]})"),
    ("metrics: {F1Score: {average: macro}}", "F1Score",
     "unknown output 'F1Score' in `metrics` (a mapping here is {output: metrics}; to use 'F1Score' on every "
     "output, make `metrics` a list)"),
    ("weighted_metrics: {klass: [CategoricalAcuracy]}", "CategoricalAcuracy",
     "unknown metric 'CategoricalAcuracy' (did you mean 'CategoricalAccuracy'?)"),
])
def test_per_output_forms(problems, line, needle, message):
    key = line.split(":")[0]
    lines = [ln for ln in MULTI.splitlines() if not ln.startswith(f"  {key}:")]
    text = "\n".join(lines) + f"\n  {line}\n"
    assert problems(text) == [f"{at(text, needle)}: {message}"]


def test_metrics_list_matches_outputs(problems):
    assert problems(MULTI.replace("metrics: {klass: [CategoricalAccuracy]}", "metrics: [mae, acc]")) == []


def test_validation_split_with_validation_data(problems):
    text = MNIST.replace("  train: {source: mnist, slice: [0, 100]}\n",
                         "  train: {source: mnist, slice: [0, 100]}\n  validation: {source: mnist, split: test}\n"
                         ) + "train: {validation_split: 0.2}\n"
    assert problems(text) == [f"{at(text, '0.2')}: validation_split and data.validation both define validation "
                              "data (keep one: data.validation, or train.validation_split)"]


def test_class_weight_needs_a_single_output(problems):
    assert problems(MNIST + "train: {class_weight: {0: 1.0, 1: 2.0}}\n") == []
    text = MULTI + "train: {class_weight: {0: 1.0, 1: 2.0}}\n"
    assert problems(text) == [f"{at(text, 'class_weight')}: class_weight works only for single-output models; "
                              "this one has 2 outputs (Keras refuses it) (weight samples with data.sample_weight "
                              "instead)"]
