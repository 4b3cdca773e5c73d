"""Guide 004 (Korean study notes on "Deep Learning with Python", 2nd ed., chapter 7), ported to Keras 3 on JAX.

The notes use `get_mnist_model()`, `train_images`, `val_images`, ... without defining
them; they come from the book: a 784-512-10 MLP with dropout, and MNIST with the *first*
10,000 training images held out for validation, integer labels.

Several examples only build a model. Their builders also compile (RMSprop, MSE) and fit
one epoch on random data (`components.datasets.random_regression`), so a recipe can
reproduce them; that training is not in the notes.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

from components.callbacks import LossPlotHistory
from components.datasets import customer_tickets, random_regression
from components.metrics import RootMeanSquaredError
from components.models import Classifier, CustomerTicketModel, CustomModel, CustomModelCompiled, MyModel

from .common import Reference, get_mnist_model, head, mnist_graph_004, mnist_guide_004, seed_everything

VOCABULARY_SIZE, NUM_TAGS, NUM_DEPARTMENTS = 10000, 100, 4
BUILD_ONLY = "The notes only build this model; compile(rmsprop, mse) and 1 epoch on random data are added."


def _train_built(model, seed, samples, input_dim=3, output_dim=10):
    data = head(random_regression(samples=64, input_dim=input_dim, output_dim=output_dim, seed=seed), samples)
    model.compile(optimizer="rmsprop", loss="mse")
    return Reference(model, fit=dict(x=data["x"], y=data["y"], epochs=1), notes=BUILD_ONLY)


# ------------------------------------------------------------------- Sequential models


def build_sequential_basic(seed=0, *, workdir=".", samples=None):
    """#45 `Sequential([Dense(64, relu), Dense(10, softmax)])` (or built with `add()`), `build((None, 3))`."""
    seed_everything(seed)
    model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.build(input_shape=(None, 3))
    return _train_built(model, seed, samples)


def build_sequential_named(seed=0, *, workdir=".", samples=None):
    """#46 Every model and layer named: "my_example_model", "my_first_layer", "my_last_layer"."""
    seed_everything(seed)
    model = keras.Sequential(name="my_example_model")
    model.add(layers.Dense(64, activation="relu", name="my_first_layer"))
    model.add(layers.Dense(10, activation="softmax", name="my_last_layer"))
    model.build((None, 3))
    return _train_built(model, seed, samples)


def build_sequential_input(seed=0, *, workdir=".", samples=None):
    """#47 A `Sequential` model built at once by starting with `keras.Input(shape=(3,))`."""
    seed_everything(seed)
    model = keras.Sequential()
    model.add(keras.Input(shape=(3,)))
    model.add(layers.Dense(64, activation="relu"))
    return _train_built(model, seed, samples, output_dim=64)


# ----------------------------------------------------------------------- functional


def build_functional_simple(seed=0, *, workdir=".", samples=None):
    """#48 The simplest functional model: `my_input` -> Dense(64, relu) -> Dense(10, softmax)."""
    seed_everything(seed)
    inputs = keras.Input(shape=(3,), name="my_input")
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(features)
    return _train_built(keras.Model(inputs=inputs, outputs=outputs), seed, samples)


def ticket_graph():
    """The notes' functional ticket classifier: its inputs, the shared features and both outputs."""
    title = keras.Input(shape=(VOCABULARY_SIZE,), name="title")
    text_body = keras.Input(shape=(VOCABULARY_SIZE,), name="text_body")
    tags = keras.Input(shape=(NUM_TAGS,), name="tags")
    features = layers.concatenate([title, text_body, tags])
    features = layers.Dense(64, activation="relu")(features)
    priority = layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = layers.Dense(NUM_DEPARTMENTS, activation="softmax", name="department")(features)
    return [title, text_body, tags], features, [priority, department]


def _tickets(seed, samples, **kwargs):
    return head(customer_tickets(samples=1280, seed=seed, vocabulary_size=VOCABULARY_SIZE,
                                 num_tags=NUM_TAGS, num_departments=NUM_DEPARTMENTS, **kwargs), samples)


def build_ticket_list(seed=0, *, workdir=".", samples=None):
    """#49 Multi-input/multi-output ticket model; losses, metrics and data as lists."""
    seed_everything(seed)
    data = _tickets(seed, samples)
    inputs, _, outputs = ticket_graph()
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop", loss=["mean_squared_error", "categorical_crossentropy"],
                  metrics=[["mean_absolute_error"], ["accuracy"]])
    x = [data["title"], data["text_body"], data["tags"]]
    y = [data["priority"], data["department"]]
    return Reference(model, fit=dict(x=x, y=y, epochs=1), evaluate=dict(x=x, y=y), predict=dict(x=x),
                     notes="predict([[title, text_body, tags]]) (extra brackets) -> predict([title, text_body, tags]).")


def _ticket_dicts(data):
    x = {"title": data["title"], "text_body": data["text_body"], "tags": data["tags"]}
    y = {"priority": data["priority"], "department": data["department"]}
    return x, y


def build_ticket_dict(seed=0, *, workdir=".", samples=None):
    """#50 The same with losses, metrics and data as dicts keyed by input/output names."""
    seed_everything(seed)
    data = _tickets(seed, samples)
    inputs, _, outputs = ticket_graph()
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop",
                  loss={"priority": "mean_squared_error", "department": "categorical_crossentropy"},
                  metrics={"priority": ["mean_absolute_error"], "department": ["accuracy"]})
    x, y = _ticket_dicts(data)
    return Reference(model, fit=dict(x=x, y=y, epochs=1), evaluate=dict(x=x, y=y), predict=dict(x=x))


def build_ticket_difficulty(seed=0, *, workdir=".", samples=None):
    """#51 Feature extraction: a third output, `difficulty`, on the shared features (`model.layers[4].output`)."""
    seed_everything(seed)
    data = _tickets(seed, samples, difficulty_classes=3)
    inputs, features, (priority, department) = ticket_graph()
    difficulty = layers.Dense(3, activation="softmax", name="difficulty")(features)
    new_model = keras.Model(inputs=inputs, outputs=[priority, department, difficulty])
    new_model.compile(optimizer="rmsprop",
                      loss=["mean_squared_error", "categorical_crossentropy", "categorical_crossentropy"])
    x = [data["title"], data["text_body"], data["tags"]]
    y = [data["priority"], data["department"], data["difficulty"]]
    return Reference(new_model, fit=dict(x=x, y=y, epochs=1),
                     notes="The notes only build new_model; compile (MSE, CE, CE) and random difficulty targets added.")


def build_ticket_subclassed(seed=0, *, workdir=".", samples=None):
    """#52 `CustomerTicketModel`, the subclassed version; dict inputs, list targets."""
    seed_everything(seed)
    data = _tickets(seed, samples)
    model = CustomerTicketModel(num_departments=NUM_DEPARTMENTS)
    model.compile(optimizer="rmsprop", loss=["mean_squared_error", "categorical_crossentropy"],
                  metrics=[["mean_absolute_error"], ["accuracy"]])
    x, _ = _ticket_dicts(data)
    y = [data["priority"], data["department"]]
    return Reference(model, fit=dict(x=x, y=y, epochs=1), evaluate=dict(x=x, y=y), predict=dict(x=x))


# --------------------------------------------------------------------- mixed styles


def build_classifier_in_functional(seed=0, *, workdir=".", samples=None):
    """#53 A subclassed `Classifier(num_classes=10)` inside a functional model."""
    seed_everything(seed)
    inputs = keras.Input(shape=(3,))
    features = layers.Dense(64, activation="relu")(inputs)
    outputs = Classifier(num_classes=10)(features)
    return _train_built(keras.Model(inputs=inputs, outputs=outputs), seed, samples)


def build_functional_in_subclass(seed=0, *, workdir=".", samples=None):
    """#54 `MyModel`: a subclassed model calling a functional `binary_classifier`."""
    seed_everything(seed)
    return _train_built(MyModel(), seed, samples, output_dim=1)


# ---------------------------------------------------------- metrics and callbacks on MNIST


def _mnist_fit(samples, epochs, **extra):
    (train_images, train_labels), (val_images, val_labels), _ = mnist_guide_004(samples)
    return dict(x=train_images, y=train_labels, epochs=epochs, validation_data=(val_images, val_labels), **extra)


def build_mnist_rmse_metric(seed=0, *, workdir=".", samples=None):
    """#55 The custom RMSE metric next to accuracy, evaluated on the test set."""
    seed_everything(seed)
    _, _, (test_images, test_labels) = mnist_guide_004(samples)
    model = get_mnist_model()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", RootMeanSquaredError()])
    return Reference(model, fit=_mnist_fit(samples, 3), evaluate=dict(x=test_images, y=test_labels))


def build_mnist_dlwp_callbacks(seed=0, *, workdir=".", samples=None):
    """#56 `EarlyStopping(val_accuracy, patience=2)` and `ModelCheckpoint(save_best_only on val_loss)`, 10 epochs."""
    seed_everything(seed)
    callbacks_list = [
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2),
        keras.callbacks.ModelCheckpoint(filepath=str(Path(workdir) / "checkpoint_path.keras"),
                                        monitor="val_loss", save_best_only=True),
    ]
    model = get_mnist_model()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return Reference(model, fit=_mnist_fit(samples, 10, callbacks=callbacks_list))


def build_mnist_loss_plot(seed=0, *, workdir=".", samples=None):
    """#57 The `LossHistory` callback that plots per-batch losses at every epoch end."""
    seed_everything(seed)
    model = get_mnist_model()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return Reference(model, fit=_mnist_fit(samples, 10, callbacks=[LossPlotHistory(directory=workdir)]),
                     notes="plt.savefig('plot_at_epoch_{epoch}') -> <directory>/plot_at_epoch_{epoch}.png.")


def build_mnist_dlwp_tensorboard(seed=0, *, workdir=".", samples=None):
    """#58 `TensorBoard(log_dir=...)`, 10 epochs; trainctl writes the events (no TensorFlow here)."""
    seed_everything(seed)
    model = get_mnist_model()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return Reference(model, fit=_mnist_fit(samples, 10),
                     notes="keras.callbacks.TensorBoard needs TensorFlow -> trainctl logs.tensorboard.")


# ---------------------------------------------------------------- custom training loops


def metric_api_demo():
    """#59 Low-level metric use (not a training example): returns (accuracy, mean), (1.0, 2.0) in the notes."""
    metric = keras.metrics.SparseCategoricalAccuracy()
    metric.update_state([0, 1, 2], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    mean_tracker = keras.metrics.Mean()
    for value in [0, 1, 2, 3, 4]:
        mean_tracker.update_state(value)
    return float(metric.result()), float(mean_tracker.result())


def build_mnist_custom_loop(seed=0, *, workdir=".", samples=None):
    """#60 The hand-written GradientTape loop: batches of 32 in order, 3 epochs, then a validation pass.

    On JAX such a loop is what `fit()` runs: the same loss, optimizer, metrics, batch
    order (`shuffle=False`, like the unshuffled `tf.data` batches) and per-epoch metric
    resets. The step itself, written out, is `CustomModelCompiled.train_step`.
    """
    seed_everything(seed)
    (train_images, train_labels), (val_images, val_labels), _ = mnist_guide_004(samples)
    model = get_mnist_model()
    model.compile(optimizer=keras.optimizers.RMSprop(), loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return Reference(model, fit=dict(x=train_images, y=train_labels, batch_size=32, epochs=3, shuffle=False),
                     evaluate=dict(x=val_images, y=val_labels, batch_size=32),
                     notes="GradientTape/tf.function loop over tf.data batches -> fit(shuffle=False, batch_size=32).")


def build_mnist_custom_train_step(seed=0, *, workdir=".", samples=None):
    """#61 `train_step` overridden with its own loss function and loss tracker; compiled with an optimizer only."""
    seed_everything(seed)
    (train_images, train_labels), _, _ = mnist_guide_004(samples)
    inputs, outputs = mnist_graph_004()
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop())
    return Reference(model, fit=dict(x=train_images, y=train_labels, epochs=3),
                     notes="GradientTape train_step -> JAX stateless train_step (components.models.CustomModel).")


def build_mnist_custom_train_step_compiled(seed=0, *, workdir=".", samples=None):
    """#62 `train_step` overridden, using the loss and metrics given to `compile()`."""
    seed_everything(seed)
    (train_images, train_labels), _, _ = mnist_guide_004(samples)
    inputs, outputs = mnist_graph_004()
    model = CustomModelCompiled(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(), loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return Reference(model, fit=dict(x=train_images, y=train_labels, epochs=3),
                     notes="compiled_loss/compiled_metrics -> stateless_compute_loss and stateless metric updates.")
