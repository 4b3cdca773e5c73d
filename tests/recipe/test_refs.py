"""Component references: Keras names per position, their shapes and required arguments."""

from __future__ import annotations

import pytest

from tests.recipe.conftest import MNIST, MULTI, at


def test_valid_recipes_have_no_problems(problems):
    assert problems(MNIST) == []
    assert problems(MULTI) == []


def test_misspelt_layer_says_did_you_mean(problems):
    text = MNIST.replace("Dense: {units: 8", "Desne: {units: 8")
    assert problems(text) == [f"{at(text, 'Desne')}: unknown layer 'Desne' (did you mean 'Dense'?)"]


def test_layer_missing_required_argument(problems):
    text = MNIST.replace("Dense: {units: 8, activation: relu}", "Dense: {activation: relu}")
    assert problems(text) == [f"{at(text, 'Dense')}: layer 'Dense' needs the argument 'units' "
                              "(e.g. {Dense: {units: ...}})"]


@pytest.mark.parametrize("ref, typo, hint", [
    ("Dense: {units: 8, activaton: relu}", "activaton", "layer 'Dense' takes no argument 'activaton' "
                                                         "(did you mean 'activation'?)"),
    ("Conv2D: {filtres: 16, kernel_size: 3}", "filtres", "layer 'Conv2D' takes no argument 'filtres' "
                                                            "(did you mean 'filters'?)"),
    ("Dense: {units: 8, colour: red}", "colour", "layer 'Dense' takes no argument 'colour' (it takes: "),
])
def test_misspelt_layer_argument_says_did_you_mean(problems, ref, typo, hint):
    text = MNIST.replace("Dense: {units: 8, activation: relu}", ref)
    found = problems(text)
    # A misspelt required argument is reported once, at the misspelling, not also as missing.
    assert len(found) == 1 and found[0].startswith(f"{at(text, typo)}: {hint}"), found


def test_base_class_keywords_are_accepted(problems):
    text = MNIST.replace("Dense: {units: 8, activation: relu}",
                         "Dense: {units: 8, dtype: float32, trainable: true, input_shape: [784]}")
    assert problems(text) == []


def test_misspelt_callback_and_optimizer_arguments(problems):
    text = MNIST + "callbacks:\n  - {EarlyStopping: {patiance: 2}}\n"
    text = text.replace("optimizer: adam", "optimizer: {RMSprop: {learnig_rate: 0.01}}")
    assert problems(text) == [
        f"{at(text, 'learnig_rate')}: optimizer 'RMSprop' takes no argument 'learnig_rate' "
        "(did you mean 'learning_rate'?)",
        f"{at(text, 'patiance')}: callback 'EarlyStopping' takes no argument 'patiance' (did you mean 'patience'?)",
    ]


def test_suggestions_keep_the_recipe_casing(problems):
    text = MNIST.replace("optimizer: adam", "optimizer: {RMSProp: {learning_rate: 0.01}}")
    assert problems(text) == [f"{at(text, 'RMSProp')}: unknown optimizer 'RMSProp' (did you mean 'RMSprop'?)"]
    text = MNIST.replace("optimizer: adam", "optimizer: rmsprp")
    assert problems(text) == [f"{at(text, 'rmsprp')}: unknown optimizer 'rmsprp' (did you mean 'rmsprop'?)"]


def test_layer_arguments_must_be_a_mapping(problems):
    text = MNIST.replace("Dense: {units: 8, activation: relu}", "Dense: 8")
    assert problems(text) == [f"{at(text, '8}')}: the arguments of 'Dense' must be a mapping (or null), "
                              "got 8 (int) (e.g. {Dense: {units: ...}})"]


def test_misspelt_activation_inside_layer_arguments(problems):
    text = MNIST.replace("activation: relu", "activation: rleu")
    assert problems(text) == [f"{at(text, 'rleu')}: unknown activation 'rleu' (did you mean 'relu'?)"]


@pytest.mark.parametrize("entry, needle, message", [
    ("{name: hidden, Dense: {units: 8}, Dropout: {rate: 0.1}}", "Dropout",
     "one layer per entry; this one has 'Dense' and 'Dropout' (put each layer in its own list item)"),
    ("{name: hidden, Dense: {units: 8}, form: flat}", "form", "unknown key 'form' (did you mean 'from'?)"),
    ("{name: hidden, Dense: {units: 8}, args: {units: 8}}", "args",
     "`args` go with `class:`; a Keras layer takes its arguments under its name (e.g. {Dense: {units: 64}})"),
    ("{name: hidden}", "{name: hidden}",
     "a layer entry needs a Keras layer, e.g. {Dense: {units: 64}}, or `class: 'module:Name'`"),
])
def test_layer_entry_shape(problems, entry, needle, message):
    text = MNIST.replace("{name: hidden, Dense: {units: 8, activation: relu}}", entry)
    assert problems(text) == [f"{at(text, needle)}: {message}"]


def test_layer_with_keras_key_and_class(problems):
    entry = "{name: hidden, Dense: {units: 8}, class: 'components:L'}"
    text = "imports: [components]\n" + MNIST.replace("{name: hidden, Dense: {units: 8, activation: relu}}", entry)
    got = problems(text)
    assert f"{at(text, 'Dense: {units: 8}')}: a layer is a Keras layer or a `class:`, not both; got 'Dense' and " \
           "`class`" in got


@pytest.mark.parametrize("optimizer", ["adam", "Adam", "rmsprop", "sgd", "{adam: {learning_rate: 0.1}}",
                                       "{Lamb: {}}", "{SGD: null}"])
def test_optimizer_forms_keras_accepts(problems, optimizer):
    assert problems(MNIST.replace("optimizer: adam", f"optimizer: {optimizer}")) == []


@pytest.mark.parametrize("optimizer, needle, message", [
    ("adamm", "adamm", "unknown optimizer 'adamm' (did you mean 'adam'?)"),
    ("Lamb", "Lamb", "Keras does not accept 'Lamb' as a string here (write {Lamb: {}})"),
    ("{Adam: {learning_rate: 0.1}, SGD: {}}", "{Adam",
     "an optimizer reference has one key, the Keras name; got 'Adam', 'SGD' "
     "(put the arguments inside it: {Name: {argument: value}})"),
    ("components.opt:MyOpt", "components.opt:MyOpt",
     "a custom optimizer is written as a mapping, not a string (write {class: 'components.opt:MyOpt'})"),
    ("{Adam: {learning_rate: {ExponentialDecy: {initial_learning_rate: 0.1}}}}", "ExponentialDecy",
     "unknown learning rate schedule 'ExponentialDecy' (did you mean 'ExponentialDecay'?)"),
    ("{Adam: {learning_rate: {CosineDecay: {initial_learning_rate: 0.1}}}}", "CosineDecay",
     "learning rate schedule 'CosineDecay' needs the argument 'decay_steps' "
     "(e.g. {CosineDecay: {decay_steps: ...}})"),
])
def test_optimizer_problems(problems, optimizer, needle, message):
    text = MNIST.replace("optimizer: adam", f"optimizer: {optimizer}")
    assert problems(text) == [f"{at(text, needle)}: {message}"]


def test_learning_rate_schedule_reference(problems):
    schedule = "{ExponentialDecay: {initial_learning_rate: 0.1, decay_steps: 100, decay_rate: 0.9}}"
    assert problems(MNIST.replace("optimizer: adam", f"optimizer: {{Adam: {{learning_rate: {schedule}}}}}")) == []


@pytest.mark.parametrize("loss", ["mse", "MSE", "ce", "crossentropy", "SparseCategoricalCrossentropy",
                                  "{SparseCategoricalCrossentropy: {from_logits: true}}", "{mse: null}"])
def test_loss_forms_keras_accepts(problems, loss):
    assert problems(MNIST.replace("loss: sparse_categorical_crossentropy", f"loss: {loss}")) == []


@pytest.mark.parametrize("loss, needle, message", [
    ("SparseCategoricalCrossentopy", "Sparse",
     "unknown loss 'SparseCategoricalCrossentopy' (did you mean 'SparseCategoricalCrossentropy'?)"),
    ("{mse: {reduction: sum}}", "mse",
     "loss 'mse' is a function and takes no arguments (use the class to pass arguments: {MeanSquaredError: {...}})"),
    ("{SparseCategoricalCrossentopy: {from_logits: true}}", "Sparse",
     "unknown loss 'SparseCategoricalCrossentopy' (did you mean 'SparseCategoricalCrossentropy'?)"),
])
def test_loss_problems(problems, loss, needle, message):
    text = MNIST.replace("loss: sparse_categorical_crossentropy", f"loss: {loss}")
    assert problems(text) == [f"{at(text, needle)}: {message}"]


@pytest.mark.parametrize("metrics", ["[acc]", "[Accuracy, mae, auc]", "[{MeanIoU: {num_classes: 10}}]",
                                     "[{F1Score: {average: macro}}]"])
def test_metric_forms_keras_accepts(problems, metrics):
    assert problems(MNIST.replace("metrics: [accuracy]", f"metrics: {metrics}")) == []


@pytest.mark.parametrize("metrics, needle, message", [
    ("[accurcy]", "accurcy", "unknown metric 'accurcy' (did you mean 'accuracy'?)"),
    # "crossentropy" is a compile shortcut for losses only.
    ("[ce]", "ce]", "unknown metric 'ce' ('ce' is a Keras loss, not a metric)"),
    ("[{acc: {dtype: float32}}]", "acc", "metric 'acc' is picked by compile from the output shapes and takes no "
                                        "arguments (name the class to pass arguments, e.g. "
                                        "{SparseCategoricalAccuracy: {name: acc}})"),
    ("[MeanIoU]", "MeanIoU", "metric 'MeanIoU' needs the argument 'num_classes' (write {MeanIoU: {num_classes: ...}})"),
])
def test_metric_problems(problems, metrics, needle, message):
    text = MNIST.replace("metrics: [accuracy]", f"metrics: {metrics}")
    assert problems(text) == [f"{at(text, needle)}: {message}"]


def test_callbacks(problems):
    text = MNIST + "callbacks:\n  - EarlyStoping\n  - {ModelCheckpoint: {}}\n  - {EarlyStopping: {patience: 2}}\n"
    assert problems(text) == [
        f"{at(text, 'EarlyStoping')}: unknown callback 'EarlyStoping' (did you mean 'EarlyStopping'?)",
        f"{at(text, 'ModelCheckpoint')}: callback 'ModelCheckpoint' needs the argument 'filepath' "
        "(e.g. {ModelCheckpoint: {filepath: ...}})",
    ]


def test_custom_reference_keys(problems, tmp_path):
    (tmp_path / "cb.py").write_text("class Hist:\n    pass\n")
    text = "imports: [cb]\n" + MNIST + "callbacks:\n  - {class: 'cb:Hist', argz: {}}\n  - {class: 'cb:Hist', args: 3}\n"
    assert problems(text) == [
        f"{at(text, 'argz')}: unknown key 'argz' in a custom class reference (did you mean 'args'?)",
        f"{at(text, '3}')}: `args` must be a mapping of keyword arguments, got 3 (int)",
    ]
