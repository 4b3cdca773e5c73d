"""The guides' subclassed models, ported to Keras 3 on JAX.

- `LayerMetricsModel`: records the metrics that `ReportingLayer`s measure (Keras 2's
  `add_metric`, guide 001).
- `CustomerTicketModel`, `Classifier`, `MyModel`: the subclassing examples of guide 004.
- `CustomModel`, `CustomModelCompiled`: guide 004's custom `train_step`, in the JAX
  stateless form (`stateless_call`, `jax.value_and_grad`, `optimizer.stateless_apply`)
  that keeps `fit()`, its metrics and callbacks working.

Example:

    >>> model = CustomerTicketModel(num_departments=4)
    >>> model = CustomModel(inputs, outputs)   # a functional graph with a custom train_step
"""

from __future__ import annotations

import keras
from keras import layers

from components.layers import ReportingLayer


def _all_layers(layer):
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _all_layers(sub)


@keras.saving.register_keras_serializable(package="components")
class LayerMetricsModel(keras.Model):
    """A model that records what its `ReportingLayer`s measured, once per train/test step.

    Use it as the class of a functional model (`LayerMetricsModel(inputs, outputs)`).
    The updates happen in `compute_loss`: on JAX it is the one place of a step that runs
    after the forward pass and whose metric updates `fit()` and `evaluate()` keep.

    Example:

        >>> x = MetricLoggingLayer()(layers.Dense(64)(inputs))
        >>> model = LayerMetricsModel(inputs, layers.Dense(10)(x))
        >>> model.compile("rmsprop", "mse")   # fit() now logs std_of_activation
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        for layer in _all_layers(self):
            if isinstance(layer, ReportingLayer):
                layer.flush_reports()
        return loss


@keras.saving.register_keras_serializable(package="components")
class CustomerTicketModel(keras.Model):
    """Ticket triage: title, body and tags in; a priority score and a department out (guide 004).

    Takes a dict with keys `title`, `text_body`, `tags`; returns `(priority, department)`.

    Example:

        >>> model = CustomerTicketModel(num_departments=4)
        >>> priority, department = model({"title": t, "text_body": b, "tags": g})
    """

    def __init__(self, num_departments, **kwargs):
        super().__init__(**kwargs)
        self.num_departments = num_departments
        self.concat_layer = layers.Concatenate()
        self.mixing_layer = layers.Dense(64, activation="relu")
        self.priority_scorer = layers.Dense(1, activation="sigmoid")
        self.department_classifier = layers.Dense(num_departments, activation="softmax")

    def call(self, inputs):
        features = self.concat_layer([inputs["title"], inputs["text_body"], inputs["tags"]])
        features = self.mixing_layer(features)
        return self.priority_scorer(features), self.department_classifier(features)

    def get_config(self):
        return {**super().get_config(), "num_departments": self.num_departments}


@keras.saving.register_keras_serializable(package="components")
class Classifier(keras.Model):
    """One Dense layer: sigmoid with 1 unit for 2 classes, else softmax (guide 004).

    Example:

        >>> outputs = Classifier(num_classes=10)(features)
    """

    def __init__(self, num_classes=2, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        if num_classes == 2:
            num_units, activation = 1, "sigmoid"
        else:
            num_units, activation = num_classes, "softmax"
        self.dense = layers.Dense(num_units, activation=activation)

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def make_binary_classifier():
    """Guide 004's functional `binary_classifier`: 64 features in, one sigmoid out.

    Example:

        >>> binary_classifier = make_binary_classifier()
    """
    inputs = keras.Input(shape=(64,))
    outputs = layers.Dense(1, activation="sigmoid")(inputs)
    return keras.Model(inputs=inputs, outputs=outputs)


@keras.saving.register_keras_serializable(package="components")
class MyModel(keras.Model):
    """A subclassed model wrapping a functional one (guide 004): Dense(64, relu), then `binary_classifier`.

    The guide closes over a global `binary_classifier`; here each instance makes its own
    so the model can be rebuilt from its config. `num_classes` is unused, as in the guide.

    Example:

        >>> model = MyModel()
    """

    def __init__(self, num_classes=2, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dense = layers.Dense(64, activation="relu")
        self.classifier = make_binary_classifier()

    def call(self, inputs):
        return self.classifier(self.dense(inputs))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="components")
class CustomModel(keras.Model):
    """Guide 004's first custom `train_step`: its own loss function and loss tracker.

    Compile it with an optimizer only; the loss is sparse categorical cross-entropy and
    the only metric is `loss`, the epoch's running mean (the guide's `loss_tracker`).
    Keras 2's `GradientTape` step becomes the JAX stateless step: `stateless_call`
    under `jax.value_and_grad`, then `optimizer.stateless_apply`.

    Example:

        >>> model = CustomModel(inputs, outputs)
        >>> model.compile(optimizer=keras.optimizers.RMSprop())
        >>> model.fit(train_images, train_labels, epochs=3)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        # Listed so fit() and evaluate() reset it at every epoch start.
        return [self.loss_tracker]

    def _loss_and_updates(self, trainable_variables, non_trainable_variables, x, y, training):
        y_pred, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=training
        )
        return self.loss_fn(y, y_pred), (y_pred, non_trainable_variables)

    def train_step(self, state, data):
        import jax

        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self._loss_and_updates, has_aux=True)
        (loss, (_, non_trainable_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, x, y, True
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        metrics_variables = self.loss_tracker.stateless_update_state(metrics_variables, loss)
        logs = {"loss": self.loss_tracker.stateless_result(metrics_variables)}
        return logs, (trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)

    def test_step(self, state, data):
        trainable_variables, non_trainable_variables, metrics_variables = state
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        loss, (_, non_trainable_variables) = self._loss_and_updates(
            trainable_variables, non_trainable_variables, x, y, False
        )
        metrics_variables = self.loss_tracker.stateless_update_state(metrics_variables, loss)
        logs = {"loss": self.loss_tracker.stateless_result(metrics_variables)}
        return logs, (trainable_variables, non_trainable_variables, metrics_variables)


@keras.saving.register_keras_serializable(package="components")
class CustomModelCompiled(keras.Model):
    """Guide 004's second custom `train_step`: the loss and metrics given to `compile()`.

    Keras 2's `self.compiled_loss` / `self.compiled_metrics` become, on JAX,
    `stateless_compute_loss` and a stateless update of every metric in `self.metrics`
    (`loss` gets the loss value, `compile_metrics` gets `y, y_pred`).

    Example:

        >>> model = CustomModelCompiled(inputs, outputs)
        >>> model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
        ...               metrics=["sparse_categorical_accuracy"])
    """

    def _loss_and_updates(self, trainable_variables, non_trainable_variables, metrics_variables, x, y, sample_weight):
        y_pred, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=True
        )
        loss, (_, non_trainable_variables, metrics_variables) = self.stateless_compute_loss(
            trainable_variables, non_trainable_variables, metrics_variables,
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True,
        )
        return loss, (y_pred, non_trainable_variables, metrics_variables)

    def train_step(self, state, data):
        import jax

        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self._loss_and_updates, has_aux=True)
        (loss, (y_pred, non_trainable_variables, metrics_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, metrics_variables, x, y, sample_weight
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        logs, new_metrics_variables, start = {}, [], 0
        for metric in self.metrics:
            own = metrics_variables[start : start + len(metric.variables)]
            start += len(metric.variables)
            if metric.name == "loss":
                own = metric.stateless_update_state(own, loss)
            elif metric.name == "compile_metrics":
                own = metric.stateless_update_state(own, y, y_pred, sample_weight)
            # Other metrics (per-output loss trackers) were updated by compute_loss.
            result = metric.stateless_result(own)
            logs.update(result if isinstance(result, dict) else {metric.name: result})
            new_metrics_variables += list(own)
        return logs, (trainable_variables, non_trainable_variables, optimizer_variables, new_metrics_variables)
