"""The guides' custom metrics: `CategoricalTruePositives` (guide 001) and the RMSE of guide 004.

Example:

    >>> model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
    ...               metrics=[CategoricalTruePositives()])
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="components")
class CategoricalTruePositives(keras.metrics.Metric):
    """Counts the samples whose arg-max prediction equals their integer label.

    The count is a running sum over the epoch (reset by `reset_state`), weighted by
    `sample_weight` when given.

    Keras 2 handed `y_true` to metrics as `(batch, 1)`; Keras 3 hands it as `(batch,)`,
    so both sides are reshaped to `(batch, 1)` here. Without that the comparison would
    broadcast to a `(batch, batch)` matrix and count nonsense.

    Example:

        >>> m = CategoricalTruePositives()
        >>> m.update_state([0, 1], [[0.9, 0.1], [0.8, 0.2]])
        >>> float(m.result())
        1.0
    """

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        y_true = ops.reshape(y_true, (-1, 1))
        values = ops.cast(ops.cast(y_true, "int32") == ops.cast(y_pred, "int32"), "float32")
        if sample_weight is not None:
            values = values * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return ops.convert_to_tensor(self.true_positives)

    def reset_state(self):
        self.true_positives.assign(0.0)


@keras.saving.register_keras_serializable(package="components")
class RootMeanSquaredError(keras.metrics.Metric):
    """RMSE between one-hot integer labels and predicted class probabilities (guide 004).

    `sqrt(sum((one_hot(y_true) - y_pred)^2) / number_of_samples)`: the squared error is
    summed over classes, so this is not Keras's built-in `RootMeanSquaredError`.
    `sample_weight` is ignored, as in the guide.

    Example:

        >>> m = RootMeanSquaredError()
        >>> m.update_state([1], [[0.0, 1.0]])
        >>> float(m.result())
        0.0
    """

    def __init__(self, name="rmse", **kwargs):
        super().__init__(name=name, **kwargs)
        # "mae_sum" is the guide's (misleading) variable name, kept so weights line up.
        self.mse_sum = self.add_variable(shape=(), name="mae_sum", initializer="zeros")
        self.total_samples = self.add_variable(shape=(), name="total_samples", initializer="zeros", dtype="int32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), ops.shape(y_pred)[1])
        self.mse_sum.assign_add(ops.sum(ops.square(y_true - y_pred)))
        self.total_samples.assign_add(ops.cast(ops.shape(y_pred)[0], "int32"))

    def result(self):
        return ops.sqrt(self.mse_sum / ops.cast(self.total_samples, "float32"))

    def reset_state(self):
        self.mse_sum.assign(0.0)
        self.total_samples.assign(0)
