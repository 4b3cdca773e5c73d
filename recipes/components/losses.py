"""The guides' custom losses (guide 001, "Custom losses").

Example:

    >>> model.compile(optimizer="adam", loss=CustomMSE(regularization_factor=0.1))
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="components")
def custom_mean_squared_error(y_true, y_pred):
    """Mean squared error over the whole batch, written as a plain function.

    Example:

        >>> model.compile(optimizer="adam", loss=custom_mean_squared_error)
    """
    return ops.mean(ops.square(y_true - y_pred))


@keras.saving.register_keras_serializable(package="components")
class CustomMSE(keras.losses.Loss):
    """MSE plus a term that pulls predictions towards 0.5, to discourage overconfidence.

    `loss = mean((y_true - y_pred)^2) + regularization_factor * mean((0.5 - y_pred)^2)`,
    both means over the whole batch, as in the guide.

    Example:

        >>> loss = CustomMSE(regularization_factor=0.1)
        >>> float(loss([[0.0, 1.0]], [[0.5, 0.5]]))
        0.25
    """

    def __init__(self, regularization_factor=0.1, name="custom_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred))
        reg = ops.mean(ops.square(0.5 - y_pred))
        return mse + reg * self.regularization_factor

    def get_config(self):
        return {**super().get_config(), "regularization_factor": self.regularization_factor}
