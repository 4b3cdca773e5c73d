"""Guide 000 (a 2020 Korean blog post on TF 2.0's "Train and evaluate with Keras", part 1-2), ported to Keras 3 on JAX.

Only the examples whose configuration differs from guide 001's have builders here; the
others are guide 001's (docs/catalogue.md says which). Guide 000's MLP names its output
layer "prediction", and its multi-output model has a softmax on `class_output`. Guide 002
is a truncated copy of this guide and has no examples of its own.
"""

from __future__ import annotations

from pathlib import Path

import keras

from components.datasets import ArraySequence

from . import guide_001
from .common import Reference, get_compiled_model, mnist_guide_001, seed_everything


def build_tf2_mnist_dataset(seed=0, *, workdir=".", samples=None):
    """#66 `model.fit(train_dataset, epochs=3)`, then `evaluate(test_dataset)`, the output layer named "prediction"."""
    seed_everything(seed)
    (x_train, y_train), _, (x_test, y_test) = mnist_guide_001(samples)
    model = get_compiled_model("prediction")
    train_dataset = ArraySequence(x_train, y_train, batch_size=64, buffer_size=1024, seed=seed)
    test_dataset = ArraySequence(x_test, y_test, batch_size=64)
    return Reference(model, fit=dict(x=train_dataset, epochs=3), evaluate=dict(x=test_dataset),
                     notes="tf.data shuffle(1024).batch(64) -> ArraySequence(buffer_size=1024, batch_size=64).")


def build_tf2_mnist_dataset_take(seed=0, *, workdir=".", samples=None):
    """#32 `model.fit(train_dataset.take(100), epochs=3)`: the first 100 batches of each epoch's shuffle."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model("prediction")
    train_dataset = ArraySequence(x_train, y_train, batch_size=64, buffer_size=1024, take=100, seed=seed)
    return Reference(model, fit=dict(x=train_dataset, epochs=3),
                     notes=".shuffle(1024).batch(64).take(100) -> ArraySequence(buffer_size=1024, take=100).")


def build_tf2_mnist_dataset_validation_steps(seed=0, *, workdir=".", samples=None):
    """#33 `validation_data=val_dataset, validation_steps=10` for 3 epochs."""
    seed_everything(seed)
    (x_train, y_train), (x_val, y_val), _ = mnist_guide_001(samples)
    model = get_compiled_model("prediction")
    train_dataset = ArraySequence(x_train, y_train, batch_size=64, buffer_size=1024, seed=seed)
    val_dataset = ArraySequence(x_val, y_val, batch_size=64)
    return Reference(model, fit=dict(x=train_dataset, epochs=3, validation_data=val_dataset, validation_steps=10))


def build_tf2_mnist_class_weight(seed=0, *, workdir=".", samples=None):
    """#34 Class weights for 4 epochs (the guide keeps training the previous example's model)."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model("prediction")
    return Reference(model, fit=dict(x=x_train, y=y_train, class_weight=guide_001.CLASS_WEIGHT, batch_size=64, epochs=4),
                     notes="Starts from a new model, not from #33's trained one.")


def build_tf2_mnist_sample_weight(seed=0, *, workdir=".", samples=None):
    """#35 Sample weights (NumPy) for 4 epochs."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model("prediction")
    return Reference(model, fit=dict(x=x_train, y=y_train, sample_weight=guide_001.sample_weight_for(y_train),
                                     batch_size=64, epochs=4))


def build_tf2_mnist_sample_weight_dataset(seed=0, *, workdir=".", samples=None):
    """#36 Sample weights from a dataset, 3 epochs."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    sample_weight = guide_001.sample_weight_for(y_train)
    train_dataset = ArraySequence(x_train, y_train, sample_weight, batch_size=64, buffer_size=1024, seed=seed)
    model = get_compiled_model("prediction")
    return Reference(model, fit=dict(x=train_dataset, epochs=3))


def build_tf2_multi_io_fit_list(seed=0, *, workdir=".", samples=None):
    """#37 Multi-output model with softmax `class_output`, loss list, fit on lists, 3 epochs."""
    return guide_001.build_multi_io_loss_list(seed, workdir=workdir, samples=samples, class_activation="softmax", epochs=3)


def build_tf2_multi_io_fit_dict(seed=0, *, workdir=".", samples=None):
    """#38 The same, fit on dicts, 3 epochs."""
    return guide_001.build_multi_io_fit_dict(seed, workdir=workdir, samples=samples, class_activation="softmax", epochs=3)


def build_tf2_multi_io_dataset(seed=0, *, workdir=".", samples=None):
    """#39 The same from a dataset of dicts (`epoch=3` in the guide, a typo for `epochs=3`)."""
    return guide_001.build_multi_io_dataset(seed, workdir=workdir, samples=samples, class_activation="softmax", epochs=3)


def build_tf2_multi_io_loss_weights(seed=0, *, workdir=".", samples=None):
    """#67 Dict losses and metrics with `loss_weights={"score_output": 2., "class_output": 1.}`, softmax `class_output`.

    Compile only in the guide: trained like #37's first epoch.
    """
    return guide_001.build_multi_io_loss_weights(seed, workdir=workdir, samples=samples, class_activation="softmax")


def build_tf2_mnist_checkpoint_best(seed=0, *, workdir=".", samples=None):
    """#40 `ModelCheckpoint(..., save_best_only=True, monitor="val_loss")` to `.h5` files, 3 epochs."""
    seed_everything(seed)
    (x_train, y_train), _, _ = mnist_guide_001(samples)
    model = get_compiled_model("prediction")
    callbacks = [keras.callbacks.ModelCheckpoint(
        filepath=str(Path(workdir) / "mymodel_{epoch}.keras"), save_best_only=True, monitor="val_loss", verbose=1,
    )]
    return Reference(model, fit=dict(x=x_train, y=y_train, epochs=3, batch_size=64, callbacks=callbacks,
                                     validation_split=0.2),
                     notes=r"'C:\tmp\keras_model\mymodel_{epoch}.h5' -> '<workdir>/mymodel_{epoch}.keras'.")
