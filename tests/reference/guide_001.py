"""Guide 001 (keras.io "Training & evaluation with the built-in methods", Korean translation), ported to Keras 3 on JAX.

One builder per example, named like its recipe (docs/catalogue.md). `samples` cuts every
array to its first rows for quick runs; everything else is the guide's configuration.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from components.callbacks import LossHistory
from components.datasets import ArraySequence, cifar10_sequence, logistic_endpoint_data, multi_io_data, multi_io_sequence
from components.layers import ActivityRegularizationLayer, LogisticEndpoint, MetricLoggingLayer
from components.losses import CustomMSE, custom_mean_squared_error
from components.metrics import CategoricalTruePositives
from components.models import LayerMetricsModel

from .common import Reference, get_compiled_model, head, get_uncompiled_model, mnist_guide_001, multi_io_model, seed_everything

CLASS_WEIGHT = {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 2.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0}


def sample_weight_for(y_train):
    """The guides' `sample_weight = np.ones(len(y_train)); sample_weight[y_train == 5] = 2.0`."""
    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0
    return sample_weight


# ------------------------------------------------------------- API overview, compile()


def build_mnist_mlp(seed=0, *, workdir=".", samples=None):
    """#1 "API overview: a first end-to-end example"."""
    seed_everything(seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist_guide_001(samples)
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return Reference(
        model,
        fit=dict(x=x_train, y=y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val)),
        evaluate=dict(x=x_test, y=y_test, batch_size=128),
        predict=dict(x=x_test[:3]),
    )


# ---------------------------------------------------------------------- custom losses


def _one_hot(y):
    return np.eye(10, dtype="float32")[y.astype("int64")]


def build_mnist_custom_loss_fn(seed=0, *, workdir=".", samples=None):
    """#2 "Custom losses": a loss function of `(y_true, y_pred)`."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
    return Reference(model, fit=dict(x=x_train, y=_one_hot(y_train), batch_size=64, epochs=1),
                     notes="tf.one_hot(y_train, depth=10) -> a NumPy one-hot of the float labels.")


def build_mnist_custom_mse(seed=0, *, workdir=".", samples=None):
    """#3 "Custom losses": a `Loss` subclass with a parameter."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
    return Reference(model, fit=dict(x=x_train, y=_one_hot(y_train), batch_size=64, epochs=1))


# --------------------------------------------------------------------- custom metrics


def build_mnist_custom_metric(seed=0, *, workdir=".", samples=None):
    """#4 "Custom metrics": `CategoricalTruePositives`."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[CategoricalTruePositives()],
    )
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=3))


# ------------------------------------------- losses and metrics outside the signature


def _logits_mlp(middle, model_class=keras.Model):
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    for layer in middle:
        x = layer(x)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)
    return model_class(inputs=inputs, outputs=outputs)


def _compile_logits(model):
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def build_mnist_activity_regularization(seed=0, *, workdir=".", samples=None):
    """#5 A layer that calls `add_loss`."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = _compile_logits(_logits_mlp([ActivityRegularizationLayer()]))
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1))


def build_mnist_metric_logging_layer(seed=0, *, workdir=".", samples=None):
    """#6 A layer that logs a metric (Keras 2 `add_metric`)."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = _compile_logits(_logits_mlp([MetricLoggingLayer()], model_class=LayerMetricsModel))
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1),
                     notes="add_metric -> MetricLoggingLayer reporting to a LayerMetricsModel.")


def build_mnist_model_add_loss_metric(seed=0, *, workdir=".", samples=None):
    """#7 `model.add_loss(...)` / `model.add_metric(...)` on a functional model's intermediate tensor."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    # Keras 3 has no add_loss/add_metric on symbolic tensors; pass-through layers on x1
    # (the output of dense_1, which dense_2 consumes) compute the same loss and metric.
    model = _logits_mlp([ActivityRegularizationLayer(rate=0.1), MetricLoggingLayer()], model_class=LayerMetricsModel)
    model = _compile_logits(model)
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1),
                     notes="model.add_loss/add_metric -> pass-through layers on dense_1's output.")


def build_logistic_endpoint(seed=0, *, workdir=".", samples=None):
    """#8 `LogisticEndpoint`: the loss lives in a layer; compiled without a loss."""
    seed_everything(seed)
    data = head(logistic_endpoint_data(samples=3, seed=seed), samples)
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)
    model = LayerMetricsModel(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")
    return Reference(model, fit=dict(x=data),
                     notes="The guide calls the layer as (logits, targets) against call(targets, logits); "
                           "ported as (targets, logits), the intent (and keras.io's later fix).")


def build_logistic_endpoint_literal(seed=0, *, workdir=".", samples=None):
    """#68 `LogisticEndpoint` called as the guide writes it: `(logits, targets)` against `call(targets, logits)`."""
    seed_everything(seed)
    data = head(logistic_endpoint_data(samples=3, seed=seed), samples)
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(logits, targets)
    model = LayerMetricsModel(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")
    return Reference(model, fit=dict(x=data),
                     notes="Literally the guide's call order: the Dense output is the loss's `targets`, the "
                           "targets input its `logits`; Keras 3 trains it (the loss is differentiable in both).")


# -------------------------------------------------------------------- validation_split


def build_mnist_validation_split(seed=0, *, workdir=".", samples=None):
    """#9 "Automatically setting apart a validation holdout set"."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, validation_split=0.2, epochs=1))


# -------------------------------------------------------------- tf.data -> PyDataset


def build_mnist_dataset(seed=0, *, workdir=".", samples=None):
    """#10 "Training & evaluation from tf.data Datasets"."""
    seed_everything(seed)
    (x_train, y_train), _, (x_test, y_test) = mnist_guide_001(samples)
    model = get_compiled_model()
    train_dataset = ArraySequence(x_train, y_train, batch_size=64, buffer_size=1024, seed=seed)
    test_dataset = ArraySequence(x_test, y_test, batch_size=64)
    return Reference(model, fit=dict(x=train_dataset, epochs=3), evaluate=dict(x=test_dataset),
                     notes="tf.data shuffle(1024).batch(64) -> ArraySequence(buffer_size=1024, batch_size=64).")


def build_mnist_dataset_steps_per_epoch(seed=0, *, workdir=".", samples=None):
    """#11 `steps_per_epoch=100` on a dataset that is not reset between epochs."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    # NumPy arrays keep tf.data's semantics here: with steps_per_epoch, Keras continues
    # the same shuffled pass across epochs instead of restarting it.
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, shuffle=True, epochs=3, steps_per_epoch=100),
                     notes="A dataset iterated on across epochs -> NumPy arrays, shuffle=True, steps_per_epoch.")


def _train_val_datasets(seed, samples):
    (x_train, y_train), (x_val, y_val), _ = mnist_guide_001(samples)
    train_dataset = ArraySequence(x_train, y_train, batch_size=64, buffer_size=1024, seed=seed)
    val_dataset = ArraySequence(x_val, y_val, batch_size=64)
    return train_dataset, val_dataset


def build_mnist_dataset_validation(seed=0, *, workdir=".", samples=None):
    """#12 "Using a validation dataset"."""
    seed_everything(seed)
    train_dataset, val_dataset = _train_val_datasets(seed, samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=train_dataset, epochs=1, validation_data=val_dataset))


def build_mnist_dataset_validation_steps(seed=0, *, workdir=".", samples=None):
    """#13 `validation_steps=10`."""
    seed_everything(seed)
    train_dataset, val_dataset = _train_val_datasets(seed, samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=train_dataset, epochs=1, validation_data=val_dataset, validation_steps=10))


# ------------------------------------------------------------------------- Sequence


def build_cifar10_sequence(seed=0, *, workdir=".", samples=None):
    """#14 "Using a keras.utils.Sequence object as input": `fit(CIFAR10Sequence(...), epochs=10)`."""
    seed_everything(seed)
    sequence = cifar10_sequence(samples=1024, batch_size=32, directory=Path(workdir) / "images")
    model = get_compiled_model()
    return Reference(model, fit=dict(x=sequence, epochs=10),
                     notes="The guide names no files, labels or batch size: the first 1,024 MNIST digits as PNG "
                           "files, batches of 32, into get_compiled_model()'s MLP; 28x28 grey, flattened to 784 "
                           "(the guide's 200x200 would not fit the MLP); skimage -> Pillow.")


# ---------------------------------------------------------- class and sample weights


def build_mnist_class_weight(seed=0, *, workdir=".", samples=None):
    """#15 "Class weights"."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=x_train, y=y_train, class_weight=CLASS_WEIGHT, batch_size=64, epochs=1))


def build_mnist_sample_weight(seed=0, *, workdir=".", samples=None):
    """#16 "Sample weights" with NumPy data."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=x_train, y=y_train, sample_weight=sample_weight_for(y_train),
                                     batch_size=64, epochs=1))


def build_mnist_sample_weight_dataset(seed=0, *, workdir=".", samples=None):
    """#17 "Sample weights" from a dataset yielding `(x, y, sample_weight)`."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    train_dataset = ArraySequence(x_train, y_train, sample_weight_for(y_train), batch_size=64, buffer_size=1024, seed=seed)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=train_dataset, epochs=1))


# -------------------------------------------------------- multi-input, multi-output


def _multi_io(seed, samples, class_activation=None):
    data = head(multi_io_data(samples=100, seed=seed), samples)
    return data, multi_io_model(class_activation)


def _lists(data):
    return [data["img_input"], data["ts_input"]], [data["score_output"], data["class_output"]]


def _mse_cce():
    return [keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()]


def _dict_losses():
    return {"score_output": keras.losses.MeanSquaredError(), "class_output": keras.losses.CategoricalCrossentropy()}


def _dict_metrics():
    return {
        "score_output": [keras.metrics.MeanAbsolutePercentageError(), keras.metrics.MeanAbsoluteError()],
        "class_output": [keras.metrics.CategoricalAccuracy()],
    }


def build_multi_io_loss_list(seed=0, *, workdir=".", samples=None, class_activation=None, epochs=1):
    """#18 One loss per output, as a list; fit on lists of arrays."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples, class_activation)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=_mse_cce())
    x, y = _lists(data)
    return Reference(model, fit=dict(x=x, y=y, batch_size=32, epochs=epochs))


def build_multi_io_metrics_list(seed=0, *, workdir=".", samples=None):
    """#19 Per-output metrics as a list of lists."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=_mse_cce(),
        metrics=[
            [keras.metrics.MeanAbsolutePercentageError(), keras.metrics.MeanAbsoluteError()],
            [keras.metrics.CategoricalAccuracy()],
        ],
    )
    x, y = _lists(data)
    return Reference(model, fit=dict(x=x, y=y, batch_size=32, epochs=1))


def build_multi_io_dict(seed=0, *, workdir=".", samples=None):
    """#20 Losses and metrics as dicts keyed by output name."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=_dict_losses(), metrics=_dict_metrics())
    x, y = _lists(data)
    return Reference(model, fit=dict(x=x, y=y, batch_size=32, epochs=1))


def build_multi_io_loss_weights(seed=0, *, workdir=".", samples=None, class_activation=None):
    """#21 `loss_weights={"score_output": 2.0, "class_output": 1.0}`."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples, class_activation)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=_dict_losses(),
        metrics=_dict_metrics(),
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )
    x, y = _lists(data)
    return Reference(model, fit=dict(x=x, y=y, batch_size=32, epochs=1))


def build_multi_io_loss_none_list(seed=0, *, workdir=".", samples=None):
    """#22 No loss for the score output (list form)."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=[None, keras.losses.CategoricalCrossentropy()])
    x, y = _lists(data)
    return Reference(model, fit=dict(x=x, y=y, batch_size=32, epochs=1))


def build_multi_io_loss_none_dict(seed=0, *, workdir=".", samples=None):
    """#23 No loss for the score output (dict form)."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples)
    # Keras 3 wants every output named in a loss dict: the missing key becomes `None`.
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss={"score_output": None, "class_output": keras.losses.CategoricalCrossentropy()})
    x, y = _lists(data)
    return Reference(model, fit=dict(x=x, y=y, batch_size=32, epochs=1),
                     notes="loss={'class_output': ...} -> {'score_output': None, 'class_output': ...}.")


def build_multi_io_fit_dict(seed=0, *, workdir=".", samples=None, class_activation=None, epochs=1):
    """#24 Fit on dicts of arrays keyed by input and output names."""
    seed_everything(seed)
    data, model = _multi_io(seed, samples, class_activation)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=_mse_cce())
    return Reference(model, fit=dict(
        x={"img_input": data["img_input"], "ts_input": data["ts_input"]},
        y={"score_output": data["score_output"], "class_output": data["class_output"]},
        batch_size=32, epochs=epochs,
    ))


def build_multi_io_dataset(seed=0, *, workdir=".", samples=None, class_activation=None, epochs=1):
    """#25 A dataset of `({inputs}, {targets})` dicts."""
    seed_everything(seed)
    model = multi_io_model(class_activation)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=_mse_cce())
    train_dataset = multi_io_sequence(samples=100, seed=seed, batch_size=64, buffer_size=1024)
    return Reference(model, fit=dict(x=train_dataset, epochs=epochs))


# ------------------------------------------------------------------------ callbacks


def build_mnist_early_stopping(seed=0, *, workdir=".", samples=None):
    """#26 "Using callbacks": `EarlyStopping` on `val_loss`."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2, verbose=1)]
    return Reference(model, fit=dict(x=x_train, y=y_train, epochs=20, batch_size=64, callbacks=callbacks,
                                     validation_split=0.2))


def build_mnist_loss_history(seed=0, *, workdir=".", samples=None):
    """#27 "Writing your own callback": `LossHistory`; the guide shows no fit for it."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1, callbacks=[LossHistory()]),
                     notes="No fit in the guide: trained like #9 without validation.")


# ---------------------------------------------------------------------- checkpoints


def build_mnist_checkpoint_best(seed=0, *, workdir=".", samples=None):
    """#28 "Checkpointing models": save when `val_loss` improves."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    callbacks = [keras.callbacks.ModelCheckpoint(
        filepath=str(Path(workdir) / "mymodel_{epoch}.keras"), save_best_only=True, monitor="val_loss", verbose=1,
    )]
    return Reference(model, fit=dict(x=x_train, y=y_train, epochs=2, batch_size=64, callbacks=callbacks,
                                     validation_split=0.2),
                     notes="Keras 3 saves whole models only to '.keras' paths: 'mymodel_{epoch}' -> 'mymodel_{epoch}.keras'.")


def make_or_restore_model(checkpoint_dir):
    """The guide's fault-tolerance helper: the newest checkpoint if there is one, else a new model."""
    checkpoints = [str(Path(checkpoint_dir) / name) for name in Path(checkpoint_dir).iterdir()]
    if checkpoints:
        latest_checkpoint = max(checkpoints, key=lambda p: Path(p).stat().st_ctime)
        return keras.models.load_model(latest_checkpoint)
    return get_compiled_model()


def build_mnist_checkpoint_resume(seed=0, *, workdir=".", samples=None):
    """#29 Fault tolerance: checkpoint every 100 batches, restore the newest on restart."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    checkpoint_dir = Path(workdir) / "ckpt"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    model = make_or_restore_model(checkpoint_dir)
    callbacks = [keras.callbacks.ModelCheckpoint(filepath=str(checkpoint_dir / "ckpt-loss={loss:.2f}.keras"),
                                                 save_freq=100)]
    return Reference(model, fit=dict(x=x_train, y=y_train, epochs=1, callbacks=callbacks),
                     notes="SavedModel directories -> '.keras' files.")


# -------------------------------------------------------------------------- schedule


def build_mnist_lr_schedule(seed=0, *, workdir=".", samples=None):
    """#30 "Passing a schedule to an optimizer"; the guide shows no model or fit for it."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100000, decay_rate=0.96, staircase=True)
    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=lr_schedule),
                  loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1),
                     notes="No model or fit in the guide: get_compiled_model's with this optimizer, like #9.")


def _mnist_with_schedule(seed, samples, make_schedule):
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=make_schedule),
                  loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1),
                     notes="The guides only name this schedule: arguments chosen to act within one epoch; "
                           "the MLP and fit of #30.")


def build_mnist_lr_piecewise(seed=0, *, workdir=".", samples=None):
    """#30b The guides name `PiecewiseConstantDecay` among the built-in schedules, without arguments or a fit."""
    return _mnist_with_schedule(seed, samples, keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[250, 500], values=[0.001, 0.0005, 0.0001]))


def build_mnist_lr_polynomial(seed=0, *, workdir=".", samples=None):
    """#30b The guides name `PolynomialDecay` among the built-in schedules, without arguments or a fit."""
    return _mnist_with_schedule(seed, samples, keras.optimizers.schedules.PolynomialDecay(0.001, decay_steps=700, end_learning_rate=0.0001, power=1.0))


def build_mnist_lr_inverse_time(seed=0, *, workdir=".", samples=None):
    """#30b The guides name `InverseTimeDecay` among the built-in schedules, without arguments or a fit."""
    return _mnist_with_schedule(seed, samples, keras.optimizers.schedules.InverseTimeDecay(0.001, decay_steps=100, decay_rate=0.5))


# ------------------------------------------------------------------------ TensorBoard


def build_mnist_tensorboard(seed=0, *, workdir=".", samples=None):
    """#31 "Using the TensorBoard callback"; the guide shows no fit for it.

    Keras 3's TensorBoard callback needs TensorFlow; the reference trains without it and
    trainctl writes the events itself (`logs.tensorboard`).
    """
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model()
    return Reference(model, fit=dict(x=x_train, y=y_train, batch_size=64, epochs=1),
                     notes="TensorBoard(log_dir, histogram_freq=0, embeddings_freq=0, update_freq='epoch') -> "
                           "trainctl logs.tensorboard; embeddings_freq dropped.")
