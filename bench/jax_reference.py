"""The limit reference: the MNIST MLP recipe as a pure JAX training loop, no Keras in the loop.

Same data order (NumPy permutation per epoch), same initial weights (taken from the
Keras model), same math as Keras's defaults: Dense layers, softmax,
SparseCategoricalCrossentropy on probabilities (normalise, clip to [1e-7, 1 - 1e-7],
log), RMSprop (rho=0.9, epsilon=1e-7, no momentum). The data stays on the device; an
epoch is one `jax.lax.scan` over its full batches, each gathered on the device by the
epoch's permutation, plus one jitted step for a last, partial batch: nothing in Python
per step, so this is what the hardware gives.

Example:

    >>> ref = JaxReference([w.numpy() for w in model.weights], x, y, learning_rate=1e-3)
    >>> logs = ref.epoch(batch_size=64)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

EPSILON = 1e-7  # keras.backend.epsilon(), and RMSprop's default epsilon
RHO = 0.9


def _forward(params, x):
    (k1, b1, k2, b2, k3, b3) = params
    h = jax.nn.relu(x @ k1 + b1)
    h = jax.nn.relu(h @ k2 + b2)
    return jax.nn.softmax(h @ k3 + b3, axis=-1)


def _loss(params, x, y):
    probs = _forward(params, x)
    probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
    probs = jnp.clip(probs, EPSILON, 1.0 - EPSILON)
    nll = -jnp.sum(jax.nn.one_hot(y.astype("int32"), probs.shape[-1]) * jnp.log(probs), axis=-1)
    return jnp.mean(nll), probs


def _step(learning_rate, carry, batch):
    params, velocities = carry
    x, y = batch
    (loss, probs), grads = jax.value_and_grad(_loss, has_aux=True)(params, x, y)
    velocities = [RHO * v + (1 - RHO) * jnp.square(g) for v, g in zip(velocities, grads)]
    params = [p - learning_rate * g / jnp.sqrt(v + EPSILON) for p, g, v in zip(params, grads, velocities)]
    correct = jnp.sum(jnp.argmax(probs, axis=-1) == y.astype("int32"))
    return (params, velocities), (loss, correct)


class JaxReference:
    """A jitted RMSprop MLP trainer whose epoch is a single `lax.scan`."""

    def __init__(self, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, learning_rate: float = 1e-3):
        self.params = [jnp.asarray(w) for w in weights]
        self.velocities = [jnp.zeros_like(p) for p in self.params]
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        lr = np.float32(learning_rate)

        def gathered(carry, index):
            return _step(lr, carry, (self.x[index], self.y[index]))

        self._scan = jax.jit(lambda carry, indices: jax.lax.scan(gathered, carry, indices))
        self._one = jax.jit(gathered)

    def epoch(self, batch_size: int) -> dict:
        """Train one shuffled epoch; returns the mean batch loss and the accuracy."""
        n = len(self.x)
        order = np.random.permutation(n)
        full = n // batch_size
        carry, (losses, correct) = self._scan((self.params, self.velocities),
                                              order[: full * batch_size].reshape(full, batch_size))
        total_correct, steps, loss_sum = correct.sum(), full, losses.sum()
        if full * batch_size < n:
            carry, (loss, c) = self._one(carry, order[full * batch_size:])
            total_correct, steps, loss_sum = total_correct + c, steps + 1, loss_sum + loss
        self.params, self.velocities = carry
        jax.block_until_ready(self.params)
        return {"loss": float(loss_sum) / steps, "accuracy": float(total_correct) / n, "steps": steps}
