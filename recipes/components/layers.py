"""The guides' custom layers (guide 001, "Handling losses and metrics that don't fit the standard signature").

Keras 3 kept `Layer.add_loss` but dropped `Layer.add_metric`, and on JAX a metric that a
layer updates inside `call()` is lost: `fit()` runs `call()` as a pure function that
returns only the model's variables, not the metrics'. So a layer that measures something
here *reports* it (`ReportingLayer.report`) and the model records the report while it
computes the loss, where metric updates are kept (`components.models.LayerMetricsModel`).

Example:

    >>> x = ActivityRegularizationLayer(rate=0.1)(x)   # adds 0.1 * sum(x) to the loss
    >>> x = MetricLoggingLayer()(x)                     # logs "std_of_activation"
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="components")
class ActivityRegularizationLayer(keras.layers.Layer):
    """Pass-through layer adding `rate * sum(inputs)` to the model's loss.

    Example:

        >>> x = ActivityRegularizationLayer(rate=0.1)(x)
    """

    def __init__(self, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(ops.sum(inputs) * self.rate)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="components")
class ReportingLayer(keras.layers.Layer):
    """A layer that measures metric values in `call()` for the model to record.

    `report(metric, *args)` remembers the arguments of one `metric.update_state(*args)`;
    `flush_reports()` applies them. `LayerMetricsModel.compute_loss` flushes every
    reporting layer after the forward pass of each train and test step. A layer called
    twice in one step reports its last call only.

    Example:

        >>> class Mean(ReportingLayer):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.tracker = keras.metrics.Mean(name="activation_mean")
        ...     def call(self, x):
        ...         self.report(self.tracker, ops.mean(x))
        ...         return x
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Set past Keras's attribute tracking: it would wrap the dict and compare tracers.
        object.__setattr__(self, "_reports", {})

    def report(self, metric, *args):
        """Schedule `metric.update_state(*args)`; a later report for the same metric replaces it."""
        self._reports[id(metric)] = (metric, args)

    def flush_reports(self):
        """Apply and forget the scheduled metric updates."""
        reports = list(self._reports.values())
        self._reports.clear()
        for metric, args in reports:
            metric.update_state(*args)


@keras.saving.register_keras_serializable(package="components")
class MetricLoggingLayer(ReportingLayer):
    """Pass-through layer logging the standard deviation of its input, averaged over the epoch.

    Keras 2 form: `self.add_metric(K.std(inputs), name="std_of_activation", aggregation="mean")`.
    Needs a `LayerMetricsModel` to be recorded.

    Example:

        >>> x = MetricLoggingLayer()(x)
    """

    def __init__(self, metric_name="std_of_activation", **kwargs):
        super().__init__(**kwargs)
        self.metric_name = metric_name
        self.std_tracker = keras.metrics.Mean(name=metric_name)

    def call(self, inputs):
        self.report(self.std_tracker, ops.std(inputs))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "metric_name": self.metric_name}


@keras.saving.register_keras_serializable(package="components")
class LogisticEndpoint(ReportingLayer):
    """Endpoint layer: adds a binary cross-entropy loss on logits and tracks binary accuracy.

    Called as `LogisticEndpoint()(targets, logits)`; returns `softmax(logits)` for
    `predict()`. A model built on it compiles without a `loss` and must be a
    `LayerMetricsModel` for `binary_accuracy` to be recorded.

    Example:

        >>> predictions = LogisticEndpoint(name="predictions")(targets, logits)
    """

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        # Keras 2 logged the result of `self.accuracy_fn(...)` under the metric's own
        # name, "binary_accuracy", despite `add_metric(acc, name="accuracy")`.
        self.accuracy_fn = keras.metrics.BinaryAccuracy()

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(self.loss_fn(targets, logits, sample_weights))
        self.report(self.accuracy_fn, targets, logits, sample_weights)
        return ops.softmax(logits)

    def compute_output_spec(self, targets, logits, sample_weights=None):
        return keras.KerasTensor(logits.shape, dtype=logits.dtype)
