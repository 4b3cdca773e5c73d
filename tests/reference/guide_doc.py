"""docs/guide.md: the five guides' examples, each as hand-written Keras 3 beside its trainctl recipe.

The page is generated so it cannot drift from the code it shows: the Keras 3 code is the
reference builders' source (`tests/reference/guide_*.py`, read as text, so Keras is not
imported), the recipes are the files in `recipes/`, and the Keras 3 notes come from
docs/catalogue.md's idiom table. What is written here by hand is the order of the guides'
sections, their English headings and one or two sentences per example.

Example:

    python -m tests.reference.guide_doc            # print the page
    python -m tests.reference.guide_doc --write    # rewrite docs/guide.md
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RECIPES = REPO / "recipes"
CATALOGUE = REPO / "docs" / "catalogue.md"
DOCS_PATH = REPO / "docs" / "guide.md"
COMMAND = "python -m tests.reference.guide_doc --write"
WIDTH = 110  # the references' own line length


@dataclasses.dataclass(frozen=True)
class Example:
    """One example of a guide: its recipe (and `build_<recipe>` reference), heading and what it shows."""

    recipe: str
    title: str
    about: str


@dataclasses.dataclass(frozen=True)
class Demo:
    """An example that trains nothing, so has no recipe: the reference function shown as is."""

    function: str
    title: str
    about: str


@dataclasses.dataclass(frozen=True)
class SeeAlso:
    """A guide section whose example is another guide's: a pointer, no code."""

    anchor: str
    title: str
    text: str


@dataclasses.dataclass(frozen=True)
class Guide:
    number: str
    title: str
    about: str
    module: str | None
    entries: tuple = ()


GUIDES = (
    Guide("000", 'TF 2.0 "Train and evaluate with Keras", part 1-2',
          "A 2020 Korean blog post working through TensorFlow 2.0's guide (`tf.keras`). It repeats guide 001's "
          "examples with small differences (the MLP's output layer is named `prediction`, the multi-output model "
          "has a softmax on `class_output`, other epoch counts); only the differing ones have recipes of their own.",
          "guide_000", (
              Example("tf2_mnist_dataset", "tf.data Datasets: fit and evaluate",
                      "`fit(train_dataset, epochs=3)` then `evaluate(test_dataset)`: guide 001's "
                      "[Training from tf.data Datasets](#mnist_dataset) on guide 000's MLP, whose output layer is "
                      "named `prediction`."),
              Example("tf2_mnist_dataset_take", "tf.data Datasets: `take(100)` per epoch",
                      "`fit(train_dataset.take(100), epochs=3)`: every epoch trains on the first 100 batches of a "
                      "fresh shuffle."),
              Example("tf2_mnist_dataset_validation_steps", "tf.data Datasets: validation data with `validation_steps`",
                      "A validation dataset of which only the first 10 batches are evaluated after each of 3 epochs."),
              Example("tf2_mnist_class_weight", "Sample and class weights: class weights",
                      "`class_weight` makes class 5 count twice in the loss; 4 epochs."),
              Example("tf2_mnist_sample_weight", "Sample and class weights: sample weights",
                      "The same weighting given per sample, as a NumPy `sample_weight` array; 4 epochs."),
              Example("tf2_mnist_sample_weight_dataset", "Sample and class weights: from a dataset",
                      "A dataset yielding `(x, y, sample_weight)` triples; 3 epochs."),
              Example("tf2_multi_io_loss_weights", "Multiple inputs and outputs: compiling",
                      "Dict losses and metrics with `loss_weights` (the score counts twice) on guide 000's model, "
                      "which has a softmax on `class_output`. The loss list, nested metric lists and `None` losses "
                      "are guide 001's [#18](#multi_io_loss_list) to [#23](#multi_io_loss_none_dict) on that model."),
              Example("tf2_multi_io_fit_list", "Multiple inputs and outputs: fit on lists",
                      "An image and a time-series input, a score and a class output; one loss per output, inputs "
                      "and targets passed as lists in the model's order; 3 epochs."),
              Example("tf2_multi_io_fit_dict", "Multiple inputs and outputs: fit on dicts",
                      "The same model fed dicts keyed by input and output names."),
              Example("tf2_multi_io_dataset", "Multiple inputs and outputs: a dataset of dicts",
                      "A dataset yielding `({inputs}, {targets})` dicts (the guide's `epoch=3` is a typo for "
                      "`epochs=3`)."),
              SeeAlso("g000-callbacks", "Using callbacks",
                      "Its `EarlyStopping` example is guide 001's [Using callbacks](#mnist_early_stopping) and its "
                      "`LossHistory` guide 001's [Writing your own callback](#mnist_loss_history)."),
              Example("tf2_mnist_checkpoint_best", "Checkpointing models",
                      "`ModelCheckpoint(save_best_only=True, monitor=\"val_loss\")` keeps the model of the best "
                      "epoch so far; 3 epochs with a 20% validation split."),
              SeeAlso("g000-schedule", "Learning rate schedules",
                      "`ExponentialDecay` passed to the optimizer: guide 001's "
                      "[A schedule in the optimizer](#mnist_lr_schedule)."),
          )),
    Guide("001", 'keras.io "Training & evaluation with the built-in methods"',
          "The Korean translation (2020-04) of the keras.io guide (`tf.keras`): `compile()`/`fit()`/`evaluate()`, "
          "custom losses and metrics, datasets, weights, multiple inputs and outputs, callbacks, checkpoints, "
          "schedules and TensorBoard.",
          "guide_001", (
              Example("mnist_mlp", "API overview: a first end-to-end example",
                      "A 784-64-64-10 MLP trained on MNIST for 2 epochs with RMSprop, validated on the last 10,000 "
                      "training images, then evaluated on the test set."),
              Example("mnist_custom_loss_fn", "Custom losses: a loss function",
                      "Any function of `(y_true, y_pred)` can be the loss; here a mean squared error on one-hot "
                      "targets."),
              Example("mnist_custom_mse", "Custom losses: a `Loss` subclass",
                      "A `Loss` subclass takes parameters: `CustomMSE` adds a regularization term pulling "
                      "predictions towards 0.5."),
              Example("mnist_custom_metric", "Custom metrics",
                      "A stateful `Metric` subclass, `CategoricalTruePositives`, counting correct predictions "
                      "over the epoch."),
              Example("mnist_activity_regularization", "Losses outside the standard signature: a layer's `add_loss`",
                      "A pass-through layer adds `0.1 * sum(x)` of its input to the loss."),
              Example("mnist_metric_logging_layer", "Metrics outside the standard signature: a layer's metric",
                      "A pass-through layer logs the standard deviation of its input as `std_of_activation`."),
              Example("mnist_model_add_loss_metric", "Losses and metrics on a functional model's tensors",
                      "The guide's `model.add_loss` / `model.add_metric` on the output of `dense_1`."),
              Example("logistic_endpoint", "An endpoint layer that owns its loss",
                      "`LogisticEndpoint` computes the loss and accuracy from targets given as a model input; the "
                      "model compiles without a loss and fits on inputs only."),
              Example("logistic_endpoint_literal", "An endpoint layer that owns its loss: the guide's literal call",
                      "The guide calls the layer as `(logits, targets)` against `call(self, targets, logits)`. "
                      "Keras 3 runs it as written: the `Dense` output becomes the loss's labels and the targets "
                      "its logits, and the model still trains (towards a meaningless goal)."),
              Example("mnist_validation_split", "Setting apart a validation holdout set",
                      "`validation_split=0.2` validates on the last 20% of the training arrays."),
              Example("mnist_dataset", "Training and evaluating from tf.data Datasets",
                      "A shuffled, batched dataset in place of arrays: no `batch_size`, 3 epochs, then `evaluate` "
                      "on the batched test set."),
              Example("mnist_dataset_steps_per_epoch", "tf.data Datasets: `steps_per_epoch`",
                      "`steps_per_epoch=100` over a dataset that is not reset between epochs, so each epoch "
                      "continues where the last one stopped."),
              Example("mnist_dataset_validation", "Using a validation dataset",
                      "`validation_data` given as a batched dataset, evaluated after each epoch."),
              Example("mnist_dataset_validation_steps", "Using a validation dataset: `validation_steps`",
                      "Only the first 10 validation batches are evaluated."),
              Example("cifar10_sequence", "Using a `keras.utils.Sequence` as input",
                      "A `Sequence` reading and resizing image files batch by batch, `fit(sequence, epochs=10)`. The "
                      "guide names no files: the recipe feeds its MNIST digits (the first 1,024, as PNG files) to "
                      "its MLP."),
              Example("mnist_class_weight", "Class weights",
                      "`class_weight` gives class 5 twice the weight of the others in the loss."),
              Example("mnist_sample_weight", "Sample weights",
                      "The same weighting per sample: a `sample_weight` array of 1s with 2s where the label is 5."),
              Example("mnist_sample_weight_dataset", "Sample weights from a dataset",
                      "A dataset yielding `(x, y, sample_weight)` triples."),
              Example("multi_io_loss_list", "Multiple inputs and outputs: a loss per output",
                      "An image and a time-series input, a score and a 5-class output; losses as a list in output "
                      "order, data as lists."),
              Example("multi_io_metrics_list", "Multiple inputs and outputs: metrics per output",
                      "Metrics as a list of lists, one list per output."),
              Example("multi_io_dict", "Multiple inputs and outputs: losses and metrics by name",
                      "Losses and metrics as dicts keyed by output name."),
              Example("multi_io_loss_weights", "Multiple inputs and outputs: `loss_weights`",
                      "The score loss counts twice in the total loss."),
              Example("multi_io_loss_none_list", "Multiple inputs and outputs: no loss for an output (list)",
                      "`None` in the loss list: `score_output` is predicted but not trained on."),
              Example("multi_io_loss_none_dict", "Multiple inputs and outputs: no loss for an output (dict)",
                      "The same with a loss dict."),
              Example("multi_io_fit_dict", "Multiple inputs and outputs: fit on dicts",
                      "Inputs and targets as dicts keyed by input and output names."),
              Example("multi_io_dataset", "Multiple inputs and outputs: a dataset of dicts",
                      "A dataset yielding `({inputs}, {targets})` dicts."),
              Example("mnist_early_stopping", "Using callbacks",
                      "`EarlyStopping` ends training once `val_loss` stops improving by at least 0.01 for 2 "
                      "epochs (of at most 20)."),
              Example("mnist_loss_history", "Writing your own callback",
                      "A `Callback` subclass recording the loss after every batch. The guide shows no `fit` for "
                      "it: the recipe trains one epoch."),
              Example("mnist_checkpoint_best", "Checkpointing models",
                      "`ModelCheckpoint(save_best_only=True, monitor=\"val_loss\")` saves the model whenever "
                      "`val_loss` improves."),
              Example("mnist_checkpoint_resume", "Checkpointing models: fault tolerance",
                      "Save every 100 batches and, on restart, continue from the newest checkpoint. In trainctl "
                      "that is `checkpoint: {every_steps: 100}` and `trainctl resume`, which continues exactly "
                      "where the run stopped."),
              Example("mnist_lr_schedule", "Learning rate schedules: a schedule in the optimizer",
                      "`ExponentialDecay` passed as the optimizer's learning rate. The guide shows no model or fit: "
                      "the recipe trains the MLP one epoch."),
              SeeAlso("g001-dynamic-schedule", "Learning rate schedules: dynamic decay with a callback",
                      "Text only in this guide (`ReduceLROnPlateau`); its code is guide 003's "
                      "[ReduceLROnPlateau](#reduce_lr_on_plateau)."),
              Example("mnist_lr_piecewise", "Learning rate schedules: `PiecewiseConstantDecay`",
                      "One of the built-in schedules the guide names without arguments: 1e-3, then 5e-4 after "
                      "step 250, 1e-4 after step 500; the MLP, one epoch."),
              Example("mnist_lr_polynomial", "Learning rate schedules: `PolynomialDecay`",
                      "Named by the guide without arguments: 1e-3 falling linearly to 1e-4 over 700 steps; the "
                      "MLP, one epoch."),
              Example("mnist_lr_inverse_time", "Learning rate schedules: `InverseTimeDecay`",
                      "Named by the guide without arguments: `1e-3 / (1 + 0.5 * step / 100)`; the MLP, one epoch."),
              Example("mnist_tensorboard", "Visualizing loss and metrics: the TensorBoard callback",
                      "Training curves in TensorBoard, written once per epoch. The guide shows no fit: the recipe "
                      "trains one epoch."),
          )),
    Guide("002", 'A truncated copy of guide 000',
          "Every code block of guide 002 is a copy of guide 000's, up to the introduction of callbacks (setup, "
          "datasets, sample and class weights, multiple inputs and outputs): it has no example of its own. "
          "Read [guide 000](#guide-000).",
          None),
    Guide("003", "Four callbacks: LearningRateScheduler, ReduceLROnPlateau, ModelCheckpoint, EarlyStopping",
          "A Korean blog post on four built-in callbacks, on a toy `Sequential([Dense(10)])` regression with SGD "
          "on `arange(100).reshape(5, 20)` inputs.",
          "guide_003", (
              Example("lr_scheduler", "LearningRateScheduler",
                      "A `scheduler(epoch, lr)` function keeps the learning rate for 10 epochs, then multiplies it "
                      "by `exp(-0.1)` each epoch; 15 epochs. The loss diverges to `inf`, as in the post: "
                      "`train.on_nonfinite: continue` trains on as `fit` does."),
              Example("reduce_lr_on_plateau", "ReduceLROnPlateau",
                      "Divide the learning rate by 5 when `val_loss` has not improved for 5 epochs. The post names "
                      "no data: the recipe trains on 1,000 noisy samples of a linear target (20% validated) for "
                      "100 epochs, long enough for `val_loss` to level off and the rate to be cut twice."),
              Example("checkpoint_best_weights", "ModelCheckpoint",
                      "Keep only the weights of the epoch with the best `val_accuracy`; 10 epochs, validated on "
                      "the data it trains on (the post names no validation data)."),
              Example("early_stopping_loss", "EarlyStopping",
                      "Stop when the training loss has not improved for 3 epochs (SGD on unscaled inputs diverges, "
                      "as in the post; `train.on_nonfinite: continue` lets it train on as `fit` does)."),
          )),
    Guide("004", '"Deep Learning with Python" (2nd ed.), chapter 7 notes',
          "Korean study notes on the book's chapter on working with Keras: three ways to build models, the "
          "built-in loops with custom metrics and callbacks, and custom training loops. The notes use the book's "
          "MNIST setup (the *first* 10,000 training images validate) without showing it.",
          "guide_004", (
              Example("sequential_basic", "The Sequential model",
                      "`Sequential([Dense(64, relu), Dense(10, softmax)])`, built for 3 input features. The notes "
                      "only build it: the recipe trains it one epoch on random data."),
              Example("sequential_named", "The Sequential model: names",
                      "The model and every layer named. Build only in the notes."),
              Example("sequential_input", "The Sequential model: declaring the input first",
                      "Starting with `keras.Input(shape=(3,))` builds the model at once. Build only in the notes."),
              Example("functional_simple", "The functional API",
                      "The same two-layer model as a graph from a named input. Build only in the notes."),
              Example("ticket_list", "The functional API: multiple inputs and outputs",
                      "A support-ticket model: title, body and tags in, priority and department out; losses, "
                      "metrics and data as lists; fit, evaluate and predict."),
              Example("ticket_dict", "The functional API: inputs and outputs by name",
                      "The same with losses, metrics and data as dicts keyed by input and output names."),
              Example("ticket_difficulty", "The functional API: reusing intermediate features",
                      "A third output, `difficulty`, on the shared 64-unit features of the ticket model. The notes "
                      "only build it: the recipe trains it with random difficulty targets."),
              Example("ticket_subclassed", "Subclassing `Model`",
                      "The ticket model as a `Model` subclass, `CustomerTicketModel`, fed dict inputs and list "
                      "targets."),
              Example("classifier_in_functional", "Mixing styles: a subclassed model in a functional one",
                      "A subclassed `Classifier` called on a functional model's features. Build only in the notes."),
              Example("functional_in_subclass", "Mixing styles: a functional model in a subclassed one",
                      "`MyModel` calls a functional `binary_classifier` in its `call()`. Build only in the notes."),
              Example("mnist_rmse_metric", "Writing a custom metric",
                      "A `RootMeanSquaredError` metric (named `rmse`) next to accuracy, 3 epochs, evaluated on the "
                      "test set."),
              Example("mnist_dlwp_callbacks", "Using callbacks",
                      "`EarlyStopping` on `val_accuracy` and `ModelCheckpoint` keeping the best model by "
                      "`val_loss`; at most 10 epochs."),
              Example("mnist_loss_plot", "Writing a custom callback",
                      "A callback that plots each epoch's per-batch losses to a PNG."),
              Example("mnist_dlwp_tensorboard", "Monitoring and visualization with TensorBoard",
                      "TensorBoard logs of a 10-epoch run."),
              Demo("metric_api_demo", "Low-level use of metrics",
                   "`update_state`/`result` on a metric and a `Mean` tracker outside training: an API "
                   "demonstration with no recipe (`tests/reference` checks it gives the notes' 1.00 and 2.00)."),
              Example("mnist_custom_loop", "A complete training and evaluation loop",
                      "A hand-written loop (and its `@tf.function` version): batches of 32 in order, 3 epochs, "
                      "then a pass over the validation set."),
              Example("mnist_custom_train_step", "Customizing what `fit()` does",
                      "A `Model` subclass overriding `train_step` with its own loss function and loss tracker, "
                      "compiled with an optimizer only."),
              Example("mnist_custom_train_step_compiled", "Customizing `fit()` with the compiled loss and metrics",
                      "`train_step` overridden, using the loss and metrics given to `compile()`."),
          )),
)


# ------------------------------------------------------------------ catalogue


def _catalogue():
    """docs/catalogue.md's example numbers by recipe name, and its idiom table rows by example number."""
    text = CATALOGUE.read_text(encoding="utf-8")
    numbers = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\. `recipes/(\w+)\.yaml`", text, re.M)}
    idioms: dict[int, list[str]] = {}
    section = text.split("## Keras 2 / TensorFlow idioms", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[2].startswith("#"):
            continue
        for first, last in re.findall(r"(\d+)(?:\s*[–-]\s*(\d+))?", cells[2]):
            for number in range(int(first), int(last or first) + 1):
                idioms.setdefault(number, []).append(f"{cells[0]} → {cells[1]}")
    return numbers, idioms


# -------------------------------------------------------------- reference source


class _Source:
    """One reference module read as text (`tree` for its imports), with its top-level definitions by name."""

    def __init__(self, name):
        self.name = name
        self.text = (HERE / f"{name}.py").read_text(encoding="utf-8")
        self.lines = self.text.splitlines()
        self.tree = ast.parse(self.text)
        self.defs: dict[str, ast.stmt] = {}
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for leaf in (target.elts if isinstance(target, ast.Tuple) else [target]):
                        if isinstance(leaf, ast.Name):
                            self.defs[leaf.id] = node

    def segment(self, node):
        """`ast.get_source_segment`, without re-splitting the file at every call (AST columns count UTF-8 bytes)."""
        lines = [line.encode() for line in self.lines[node.lineno - 1:node.end_lineno]]
        lines[-1] = lines[-1][:node.end_col_offset]
        lines[0] = lines[0][node.col_offset:]
        return b"\n".join(lines).decode()

    def string_value(self, node):
        """A string literal's value, or that of a module constant it names (`notes=BUILD_ONLY`)."""
        if isinstance(node, ast.Name) and isinstance(self.defs.get(node.id), ast.Assign):
            node = self.defs[node.id].value
        return ast.literal_eval(node)

    def plain(self, name, docstring=False):
        """A definition's source with the `Reference` plumbing written out as the Keras calls it stands for.

        A builder's docstring goes (the page says what the example is), `seed_everything(seed)` becomes
        `keras.utils.set_random_seed(seed)`, and `return Reference(model, fit=..., ...)` becomes
        the `model.fit(...)`/`evaluate`/`predict` calls with the port's notes as a comment.
        """
        node = self.defs[name]
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        edits = {}  # first line -> (last line, replacement lines)
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if not docstring and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                edits[body[0].lineno] = (body[0].end_lineno, [])
            for stmt in ast.walk(node):
                indent = " " * getattr(stmt, "col_offset", 0)
                if isinstance(stmt, ast.Expr) and _calls(stmt.value, "seed_everything"):
                    edits[stmt.lineno] = (stmt.end_lineno, [f"{indent}keras.utils.set_random_seed(seed)"])
                elif isinstance(stmt, ast.Return) and _calls(stmt.value, "Reference"):
                    edits[stmt.lineno] = (stmt.end_lineno, self._reference_calls(stmt.value, indent))
        out, line = [], start
        while line <= node.end_lineno:
            if line in edits:
                last, replacement = edits[line]
                out += replacement
                line = last + 1
            else:
                out.append(self.lines[line - 1])
                line += 1
        return "\n".join(out)

    def _reference_calls(self, call, indent):
        model = self.segment(call.args[0])
        keywords = {k.arg: k.value for k in call.keywords}
        out = []
        if "notes" in keywords:
            out += textwrap.wrap(self.string_value(keywords["notes"]), WIDTH - len(indent),
                                 initial_indent=f"{indent}# Port: ", subsequent_indent=f"{indent}# ",
                                 break_on_hyphens=False)
        for method in ("fit", "evaluate", "predict"):
            if method not in keywords:
                continue
            value = keywords[method]
            if _calls(value, "dict") and not value.args:
                args = [f"{k.arg}={self.segment(k.value)}" if k.arg else f"**{self.segment(k.value)}"
                        for k in value.keywords]
            else:
                args = [f"**{self.segment(value)}"]
            out += _call_lines(f"{indent}{model}.{method}(", args)
        return out + [f"{indent}return {model}"]


def _calls(node, name):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _call_lines(opening, args):
    """`opening` + args + ")", packed into lines of at most WIDTH, continuation lines under the first argument."""
    lines, current = [], opening
    for i, arg in enumerate(args):
        piece = arg + (", " if i < len(args) - 1 else ")")
        if current != opening and len(current) + len(piece.rstrip()) > WIDTH:
            lines.append(current.rstrip())
            current = " " * len(opening)
        current += piece
    lines.append(current.rstrip() if args else current + ")")
    return lines


def _used_names(code):
    """The names a piece of code uses."""
    return {node.id for node in ast.walk(ast.parse(textwrap.dedent(code))) if isinstance(node, ast.Name)}


# The builders' own machinery: written out by `_Source.plain`, or, for the test knobs, said in a sentence.
_PLUMBING = {
    "Reference": None,
    "seed_everything": None,
    "_raw_mnist": "`_raw_mnist()` returns the dict of MNIST's four arrays from trainctl's bundled copy (what "
                  "`keras.datasets.mnist.load_data()` downloads)",
    "head": "`head(arrays, samples)` cuts every array to its first `samples` rows (all of them when `samples` is "
            "None)",
}


class _Setup:
    """What one guide's builders use besides Keras: imports and helper definitions, in file order."""

    def __init__(self, module, sources, shown_before):
        self.module = sources[module]
        self.common = sources["common"]
        self.helpers: list[tuple[_Source, str]] = []
        self.earlier: list[str] = []
        self.knobs: set[str] = set()
        builders = [name for name in self.module.defs if name.startswith("build_")]
        self.used: set[str] = set()
        pending = [(self.module, name) for name in builders]
        codes = {}
        seen = set()
        while pending:
            source, name = pending.pop()
            code = codes[source.name, name] = source.plain(name)
            for used in _used_names(code) - self.used:
                if used in _PLUMBING:
                    continue
                self.used.add(used)
                for owner in (source, self.common):
                    if used in owner.defs and not used.startswith("build_"):
                        if (owner.name, used) not in seen:
                            seen.add((owner.name, used))
                            pending.append((owner, used))
                        break
        for source in (self.common, self.module):
            nodes = set()
            for name, node in source.defs.items():
                if (source.name, name) not in seen or id(node) in nodes:
                    continue
                nodes.add(id(node))
                if (source.name, name) in shown_before:
                    self.earlier.append(name)
                else:
                    self.helpers.append((source, name))
        shown_before.update((s.name, n) for s, n in self.helpers)
        for key in [(self.module.name, name) for name in builders] + [(s.name, n) for s, n in self.helpers]:
            self.knobs.update(n for n in _used_names(codes[key]) if _PLUMBING.get(n))

    def imports(self):
        """The import lines the shown code needs, relative imports of shown helpers dropped."""
        modules: dict[str, list[str]] = {}
        plain: list[str] = []
        for source in (self.common, self.module):
            for node in source.tree.body:
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        line = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                        if bound in self.used and line not in plain:
                            plain.append(line)
                elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                    if node.level and node.module:  # `from .common import ...`: shown as helpers
                        continue
                    package = "tests.reference" if node.level else node.module  # `from . import guide_001`
                    for alias in node.names:
                        bound = alias.asname or alias.name
                        if bound in self.used and alias.name not in modules.setdefault(package, []):
                            modules[package].append(alias.name)
        froms = [_call_lines(f"from {package} import (", names)
                 if len(f"from {package} import {', '.join(names)}") > WIDTH
                 else [f"from {package} import {', '.join(names)}"]
                 for package, names in modules.items() if names]
        return "\n".join(plain + [line for lines in froms for line in lines])


# ------------------------------------------------------------------ rendering


def _anchor(text):
    return f' <a id="{text}"></a>'


def _fence(language, text):
    return [f"```{language}", text.rstrip("\n"), "```"]


def _custom_code(recipe_text):
    refs = dict.fromkeys(re.findall(r"components\.(\w+):(\w+)", recipe_text))
    return ", ".join(f"[`components.{module}:{name}`](../recipes/components/{module}.py)" for module, name in refs)


def _example(example, guide, sources, numbers, idioms):
    recipe_text = (RECIPES / f"{example.recipe}.yaml").read_text(encoding="utf-8")
    number = numbers[example.recipe]
    path = f"tests/reference/{guide.module}.py"
    code = sources[guide.module].plain(f"build_{example.recipe}")
    calls = "".join(f", which calls guide {other}'s [`build_{name}`](#{name})"
                    for other, name in dict.fromkeys(re.findall(r"\bguide_(\d{3})\.build_(\w+)", code)))
    out = [f"### {example.title}{_anchor(example.recipe)}", "",
           f"Catalogue #{number} · recipe [`recipes/{example.recipe}.yaml`](../recipes/{example.recipe}.yaml) · "
           f"reference `build_{example.recipe}` in [`{path}`](../{path}){calls}", "",
           example.about]
    custom = _custom_code(recipe_text)
    if custom:
        out += ["", f"Custom code: {custom}."]
    if idioms.get(number):
        out += [""] + [f"- Keras 3 on JAX: {idiom}" for idiom in idioms[number]]
    out += ["", "Keras 3:", "", *_fence("python", code),
            "", "Recipe:", "", *_fence("yaml", recipe_text), "", "Run it:", "",
            *_fence("sh", _commands(example.recipe, recipe_text))]
    return out


def _commands(recipe, recipe_text):
    lines = [f"trainctl run recipes/{recipe}.yaml"]
    if re.search(r"^\s+test:", recipe_text, re.M):
        lines.append("trainctl eval RUN_DIR          # the test split, on the trained model")
    if re.search(r"^checkpoint:", recipe_text, re.M):
        lines.append("trainctl resume RUN_DIR        # after an interruption: continue from the last checkpoint")
    return "\n".join(lines)


def _demo(demo, guide, sources):
    path = f"tests/reference/{guide.module}.py"
    return [f"### {demo.title}{_anchor(demo.function)}", "",
            f"No recipe · `{demo.function}` in [`{path}`](../{path})", "", demo.about, "",
            *_fence("python", sources[guide.module].plain(demo.function))]


def _setup_section(guide, setup):
    out = [f"### Setup{_anchor(f'guide-{guide.number}-setup')}", "",
           "What the examples below share: imports and helpers, from "
           f"[`tests/reference/{guide.module}.py`](../tests/reference/{guide.module}.py) and "
           "[`tests/reference/common.py`](../tests/reference/common.py)."]
    if setup.earlier:
        names = ", ".join(f"`{name}`" for name in setup.earlier)
        out += ["", f"Also used, as shown in [guide 000's setup](#guide-000-setup): {names}."]
    if setup.knobs:
        out += ["", "; ".join(_PLUMBING[name] for name in sorted(setup.knobs)) + "."]
    code = setup.imports()
    previous = None
    for source, name in setup.helpers:
        node = source.defs[name]
        code += "\n\n" if isinstance(node, ast.Assign) and isinstance(previous, ast.Assign) else "\n\n\n"
        code += source.plain(name, docstring=True)
        previous = node
    return out + ["", *_fence("python", code)]


def _entry_anchor(entry):
    return entry.recipe if isinstance(entry, Example) else entry.function if isinstance(entry, Demo) else entry.anchor


def _contents():
    out = ["## Contents", ""]
    for guide in GUIDES:
        out.append(f"- [Guide {guide.number}: {guide.title}](#guide-{guide.number})")
        out += [f"  - [{entry.title}](#{_entry_anchor(entry)})" for entry in guide.entries]
    return out + ["- [How equality is proven](#equality)"]


INTRO = [
    "# The guides in trainctl",
    "",
    f"<!-- Generated by `{COMMAND}` from tests/reference/, recipes/ and docs/catalogue.md;",
    "     edit those (or the headings in tests/reference/guide_doc.py), not this file. -->",
    "",
    "trainctl's specification is five Keras training guides written for Keras 2 / `tf.keras` "
    "(Korean, listed in [catalogue.md](catalogue.md)). This page walks through them in order, one section per "
    "example, so a Keras user can learn trainctl from code they already know.",
    "",
    "How to read it: each example has its guide section's heading (in English), what it shows, the "
    "hand-written **Keras 3** code (JAX backend) that does what the guide's code does, the **recipe** that "
    "makes trainctl do the same, and the command that runs it. The Keras 3 code is the reference builder from "
    "`tests/reference/`, with its `return Reference(model, fit=..., ...)` written out as the `model.fit(...)`, "
    "`evaluate(...)` and `predict(...)` calls it stands for; `# Port:` comments say where it departs from the "
    "guide. Builders take a `seed`, and `samples` and `workdir` so tests can run them on a few rows in a scratch "
    "directory; the helpers they share are under each guide's *Setup*. Where a guide idiom has no Keras 3 / JAX "
    "form (`tf.data`, `GradientTape`, `add_metric`, TensorBoard's TensorFlow-only parts, ...), a \"Keras 3 on "
    "JAX\" line says what the code and the recipe do instead. Custom classes and functions live in "
    "[`recipes/components/`](../recipes/components/), which recipes reference as `components.MODULE:NAME`. "
    "Run the commands from the repository root; `RUN_DIR` is the run directory `trainctl run` prints. "
    "The recipe keys are described in [recipes.md](recipes.md).",
    "",
]

EQUALITY = [
    f"## How equality is proven{_anchor('equality')}",
    "",
    "Each recipe on this page is tested against the Keras 3 code shown beside it:",
    "",
    "- `tests/catalog/test_equality.py`: `trainctl smoke recipes/` trains every recipe on two batches for one "
    "epoch, checkpoints, resumes in a new process for a second epoch, evaluates and reloads the model; each model "
    "then equals its reference trained on the same two batches for two epochs, weight for weight (to 1e-6). So "
    "the recipe trains what the Keras 3 code does, and the interrupted, resumed run equals an uninterrupted one.",
    "- `tests/reference/test_reference_smoke.py`: every reference builds, takes its data, and the ones with "
    "custom components train a step under `jit` and survive a `.keras` round trip.",
    f"- `tests/reference/test_guide_doc.py`: this page is what `{COMMAND}` renders from the current builders, "
    "recipes and catalogue, and shows every catalogued example's recipe and reference exactly once.",
]


def render() -> str:
    """The text of docs/guide.md."""
    numbers, idioms = _catalogue()
    sources = {name: _Source(name) for name in ("common", "guide_000", "guide_001", "guide_003", "guide_004")}
    shown_before: set[tuple[str, str]] = set()
    out = INTRO + _contents()
    for guide in GUIDES:
        out += ["", f"## Guide {guide.number}: {guide.title}{_anchor(f'guide-{guide.number}')}", "", guide.about]
        if guide.module is None:
            continue
        out += [""] + _setup_section(guide, _Setup(guide.module, sources, shown_before))
        for entry in guide.entries:
            out.append("")
            if isinstance(entry, Example):
                out += _example(entry, guide, sources, numbers, idioms)
            elif isinstance(entry, Demo):
                out += _demo(entry, guide, sources)
            else:
                out += [f"### {entry.title}{_anchor(entry.anchor)}", "", entry.text]
    out += [""] + EQUALITY
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.reference.guide_doc [--write]`: print or rewrite docs/guide.md."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.reference.guide_doc", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOCS_PATH.relative_to(REPO)}")
    text = render()
    if parser.parse_args(argv).write:
        DOCS_PATH.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
