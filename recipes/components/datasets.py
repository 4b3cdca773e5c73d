"""Data of the guides' examples whose data is made in Python, and the `PyDataset`s that replace `tf.data`.

Array functions return a dict of NumPy arrays keyed by model input/output names, drawn
from their own `numpy.random.RandomState(seed)` (the legacy generator behind the guides'
`np.random.*` calls) so they never consume Keras's global seed.

`ArraySequence` is the Keras 3 form of `tf.data.Dataset.from_tensor_slices(...)
.shuffle(buffer_size).batch(n)[.take(k)]`; `CIFAR10Sequence` is guide 001's
`keras.utils.Sequence` example.

Example:

    >>> data = customer_tickets(samples=8, seed=0)
    >>> sorted(data)
    ['department', 'priority', 'tags', 'text_body', 'title']
    >>> train = mnist_sequence("train", stop=-10000, batch_size=64, buffer_size=1024, seed=0)
"""

from __future__ import annotations

import importlib.resources
import math
import tempfile
from pathlib import Path

import keras
import numpy as np


def customer_tickets(samples=1280, seed=0, vocabulary_size=10000, num_tags=100, num_departments=4,
                     difficulty_classes=None):
    """Guide 004's random support tickets: binary bag-of-words inputs, a priority and a department target.

    Drawn in the guide's order: title, text_body, tags, priority, department. With
    `difficulty_classes`, a `difficulty` target like `department` is drawn last, for the
    feature-extraction model (the guide gives it no data).

    Example:

        >>> data = customer_tickets(samples=4, seed=0, vocabulary_size=10)
        >>> data["title"].shape, data["department"].shape
        ((4, 10), (4, 4))
    """
    rng = np.random.RandomState(seed)
    data = {
        "title": rng.randint(0, 2, size=(samples, vocabulary_size)),
        "text_body": rng.randint(0, 2, size=(samples, vocabulary_size)),
        "tags": rng.randint(0, 2, size=(samples, num_tags)),
        "priority": rng.random_sample(size=(samples, 1)),
        "department": rng.randint(0, 2, size=(samples, num_departments)),
    }
    if difficulty_classes is not None:
        data["difficulty"] = rng.randint(0, 2, size=(samples, difficulty_classes))
    return data


def multi_io_data(samples=100, seed=0, timesteps=20):
    """Guides 000/001's dummy data for the image + time-series model, keyed by input/output names.

    Example:

        >>> data = multi_io_data(samples=2)
        >>> data["img_input"].shape, data["ts_input"].shape, data["class_output"].shape
        ((2, 32, 32, 3), (2, 20, 10), (2, 5))
    """
    rng = np.random.RandomState(seed)
    return {
        "img_input": rng.random_sample(size=(samples, 32, 32, 3)),
        "ts_input": rng.random_sample(size=(samples, timesteps, 10)),
        "score_output": rng.random_sample(size=(samples, 1)),
        "class_output": rng.random_sample(size=(samples, 5)),
    }


def logistic_endpoint_data(samples=3, seed=0):
    """Guide 001's data for the `LogisticEndpoint` model: `inputs` (N, 3) and `targets` (N, 10).

    Example:

        >>> sorted(logistic_endpoint_data())
        ['inputs', 'targets']
    """
    rng = np.random.RandomState(seed)
    return {"inputs": rng.random_sample((samples, 3)), "targets": rng.random_sample((samples, 10))}


def arange_data():
    """Guide 003's toy data: `x = arange(100).reshape(5, 20)`, `y = zeros(5)` shaped `(5, 1)`.

    Keras 2 turned `y` of shape `(5,)` into `(5, 1)` and broadcast it against the
    `Dense(10)` output; Keras 3's MSE refuses `(5,)` against `(5, 10)`, so the column
    is made here. Loss and "accuracy" (sparse categorical) come out as in Keras 2.

    Example:

        >>> arange_data()["x"].shape
        (5, 20)
    """
    return {"x": np.arange(100).reshape(5, 20), "y": np.zeros((5, 1))}


def random_regression(samples=64, input_dim=3, output_dim=10, seed=0):
    """Uniform `x` (N, input_dim) and `y` (N, output_dim), for guide 004's models that the guide only builds.

    Example:

        >>> data = random_regression(samples=4)
        >>> data["x"].shape, data["y"].shape
        ((4, 3), (4, 10))
    """
    rng = np.random.RandomState(seed)
    return {"x": rng.random_sample((samples, input_dim)), "y": rng.random_sample((samples, output_dim))}


def _mnist_file():
    return importlib.resources.files("trainctl") / "data" / "mnist.npz"


def mnist(split="train", class_weights=None):
    """Raw MNIST (`x` uint8 (N, 28, 28), `y` uint8 (N,)), optionally with per-sample weights.

    `class_weights` (`{label: weight}`, other labels weigh 1) adds `sample_weight`, the
    guides' `sample_weight = np.ones(len(y)); sample_weight[y == 5] = 2.0`.

    Example:

        >>> data = mnist("test", class_weights={5: 2.0})
        >>> float(data["sample_weight"][data["y"] == 5][0])
        2.0
    """
    with importlib.resources.as_file(_mnist_file()) as path, np.load(path) as npz:
        data = {"x": npz[f"x_{split}"], "y": npz[f"y_{split}"]}
    if class_weights is not None:
        data["sample_weight"] = class_sample_weights(data["y"], class_weights)
    return data


def class_sample_weights(y, class_weights):
    """Per-sample weights from `{label: weight}`; labels not listed weigh 1.

    Example:

        >>> class_sample_weights(np.array([5, 1]), {5: 2.0}).tolist()
        [2.0, 1.0]
    """
    weights = np.ones(shape=(len(y),))
    for label, weight in class_weights.items():
        weights[np.asarray(y) == int(label)] = weight
    return weights


def buffer_shuffle_order(n, buffer_size, rng):
    """The order in which `tf.data`'s `shuffle(buffer_size)` emits `n` elements.

    A buffer holds the next `buffer_size` elements; each output is a uniformly chosen
    buffer slot, refilled from the input. A buffer at least `n` long is a full shuffle.

    Example:

        >>> sorted(buffer_shuffle_order(5, 2, np.random.default_rng(0)).tolist())
        [0, 1, 2, 3, 4]
    """
    if buffer_size >= n:
        return rng.permutation(n)
    buffer = list(range(buffer_size))
    order = np.empty(n, dtype=np.int64)
    upcoming = buffer_size
    for i in range(n):
        slot = int(rng.integers(len(buffer)))
        order[i] = buffer[slot]
        if upcoming < n:
            buffer[slot] = upcoming
            upcoming += 1
        else:
            buffer[slot] = buffer[-1]
            buffer.pop()
    return order


class ArraySequence(keras.utils.PyDataset):
    """Batches of in-memory arrays: Keras 3's stand-in for `tf.data.Dataset.from_tensor_slices`.

    `x` and `y` may be arrays, lists or dicts of arrays (the model's inputs/outputs);
    batches are `(x, y)` or `(x, y, sample_weight)`. `buffer_size` shuffles as
    `.shuffle(buffer_size)` would, anew every epoch from `seed` and the epoch number;
    `None` keeps the order. `take` limits an epoch to that many batches (`.take(k)`).

    Example:

        >>> seq = ArraySequence(np.zeros((100, 4)), np.zeros(100), batch_size=64)
        >>> len(seq), seq[1][0].shape
        (2, (36, 4))
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=64, buffer_size=None, take=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size, self.buffer_size, self.take, self.seed = batch_size, buffer_size, take, seed
        self.num_samples = len(keras.tree.flatten(x)[0])
        self.epoch = 0
        self._order = self._make_order()

    def _make_order(self):
        if self.buffer_size is None:
            return np.arange(self.num_samples)
        rng = np.random.default_rng([self.seed, self.epoch])
        return buffer_shuffle_order(self.num_samples, self.buffer_size, rng)

    def __len__(self):
        batches = math.ceil(self.num_samples / self.batch_size)
        return batches if self.take is None else min(batches, self.take)

    def __getitem__(self, index):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = [keras.tree.map_structure(lambda a: np.asarray(a)[rows], self.x)]
        if self.y is not None:
            batch.append(keras.tree.map_structure(lambda a: np.asarray(a)[rows], self.y))
        if self.sample_weight is not None:
            batch.append(np.asarray(self.sample_weight)[rows])
        return tuple(batch)

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._make_order()

    # trainctl saves and restores this state in its checkpoints, so a resumed run reads
    # the batches in the same order as one that was never interrupted.
    def get_state(self):
        return {"epoch": self.epoch}

    def set_state(self, state):
        self.epoch = state["epoch"]
        self._order = self._make_order()


def preprocess_mnist(x, y):
    """The guides' MNIST preprocessing: flatten to 784 floats in [0, 1], labels as float32.

    Example:

        >>> x, y = preprocess_mnist(np.zeros((2, 28, 28), "uint8"), np.zeros(2, "uint8"))
        >>> x.shape, x.dtype, y.dtype
        ((2, 784), dtype('float32'), dtype('float32'))
    """
    return x.reshape(len(x), 784).astype("float32") / 255, y.astype("float32")


def mnist_sequence(split="train", start=None, stop=None, batch_size=64, buffer_size=None, take=None,
                   class_weights=None, seed=0):
    """Preprocessed MNIST rows `[start:stop]` as an `ArraySequence` (the guides' `tf.data` pipelines).

    Example (guide 001, "Training & evaluation from tf.data Datasets"):

        >>> train = mnist_sequence("train", stop=-10000, batch_size=64, buffer_size=1024)
        >>> test = mnist_sequence("test", batch_size=64)
    """
    data = mnist(split, class_weights=class_weights)
    x, y = preprocess_mnist(data["x"][start:stop], data["y"][start:stop])
    sample_weight = data["sample_weight"][start:stop] if class_weights is not None else None
    return ArraySequence(x, y, sample_weight, batch_size=batch_size, buffer_size=buffer_size, take=take, seed=seed)


def multi_io_sequence(samples=100, seed=0, batch_size=64, buffer_size=1024):
    """Guides 000/001's multi-input/output `Dataset` of `({inputs}, {targets})` dicts, as an `ArraySequence`.

    Example:

        >>> x, y = multi_io_sequence(samples=4)[0]
        >>> sorted(x), sorted(y)
        (['img_input', 'ts_input'], ['class_output', 'score_output'])
    """
    data = multi_io_data(samples=samples, seed=seed)
    x = {"img_input": data["img_input"], "ts_input": data["ts_input"]}
    y = {"score_output": data["score_output"], "class_output": data["class_output"]}
    return ArraySequence(x, y, batch_size=batch_size, buffer_size=buffer_size, seed=seed)


class CIFAR10Sequence(keras.utils.PyDataset):
    """Guide 001's `Sequence` example: batches of image files, resized, with their labels.

    Images are read and resized with Pillow (bilinear) instead of scikit-image, and
    scaled to [0, 1] as `skimage.transform.resize` does. The guide resizes to 200x200;
    fed to its MLP, the images are MNIST digits kept at 28x28, grey (`mode="L"`) and
    flattened to the MLP's 784 inputs.

    Example:

        >>> sequence = CIFAR10Sequence(filenames, labels, batch_size=32, image_size=(28, 28), mode="L", flatten=True)
        >>> model.fit(sequence, epochs=10)
    """

    def __init__(self, filenames, labels, batch_size, image_size=(200, 200), mode="RGB", flatten=False, **kwargs):
        super().__init__(**kwargs)
        self.filenames, self.labels = list(filenames), np.asarray(labels)
        self.batch_size, self.image_size = batch_size, tuple(image_size)
        self.mode, self.flatten = mode, flatten

    def __len__(self):
        return int(np.ceil(len(self.filenames) / float(self.batch_size)))

    def __getitem__(self, idx):
        from PIL import Image

        batch_x = self.filenames[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.labels[idx * self.batch_size : (idx + 1) * self.batch_size]
        images = []
        for filename in batch_x:
            with Image.open(filename) as image:
                resized = image.convert(self.mode).resize(self.image_size, Image.BILINEAR)
            images.append(np.asarray(resized, dtype="float32") / 255)
        images = np.array(images)
        return (images.reshape(len(images), -1) if self.flatten else images), np.array(batch_y)


def write_mnist_images(directory, samples=1024):
    """Write the first `samples` MNIST training digits as PNG files into `directory`; return `(filenames, labels)`.

    The image files the `Sequence` example reads. Each file is written aside and renamed,
    so processes sharing the directory never read half a file.

    Example:

        >>> filenames, labels = write_mnist_images(tmp_path, samples=4)
        >>> len(filenames), labels.shape
        (4, (4,))
    """
    import os

    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = mnist("train")
    x, labels = data["x"][:samples], data["y"][:samples].astype("float32")
    filenames = []
    for i, pixels in enumerate(x):
        filename = directory / f"digit_{i:05d}.png"
        if not filename.exists():
            aside = directory / f".digit_{i:05d}.{os.getpid()}.png"
            Image.fromarray(pixels).save(aside)
            os.replace(aside, filename)
        filenames.append(str(filename))
    return filenames, labels


def cifar10_sequence(samples=1024, batch_size=32, directory=None):
    """Guide 001's `CIFAR10Sequence` over the first `samples` MNIST digits as PNG files, for the guide's MLP.

    `directory` defaults to a folder under the system temp dir named by `samples` (made once).

    Example:

        >>> sequence = cifar10_sequence(samples=1024, batch_size=32)
        >>> sequence[0][0].shape
        (32, 784)
    """
    if directory is None:
        directory = Path(tempfile.gettempdir()) / f"components_mnist_png_{samples}"
    filenames, labels = write_mnist_images(directory, samples=samples)
    return CIFAR10Sequence(filenames, labels, batch_size, image_size=(28, 28), mode="L", flatten=True)


def noisy_regression(samples=1000, seed=0, features=20):
    """1,000 noisy samples of a linear target, for guide 003's ReduceLROnPlateau (the post names no data).

    `y = x @ w + noise`, noise five times the signal, so `val_loss` soon stops improving and the
    callback cuts the rate; `y` is one column, broadcast against `Dense(10)` as in the post.

    Example:

        >>> noisy_regression()["x"].shape
        (1000, 20)
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    w = rng.normal(scale=0.1, size=(features, 1)).astype("float32")
    y = (x @ w + rng.normal(size=(samples, 1))).astype("float32")
    return {"x": x, "y": y}
