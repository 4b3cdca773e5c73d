"""The practical limit: recipes/mnist_mlp.yaml as a pure JAX program, no Keras anywhere.

The recipe's run: a 784-64-64-10 MLP (ReLU, softmax), RMSprop (learning rate 1e-3,
rho 0.9, epsilon 1e-7), SparseCategoricalCrossentropy, batch 64, on the first 50,000
MNIST training images, validated on the last 10,000 after every epoch, then tested on
the 10,000 test images. The data is put on the device once. Each epoch draws a fresh
permutation with NumPy (as Keras does), sends it to the device, and runs one jitted
`lax.scan` over the full batches, each gathered by index inside the scan, plus one
step for the last, smaller batch; validation is a scan over its batches too. Nothing
runs in Python per step. `--model cnn` is the same for a small convolutional net
(bench/speed_limit.py's convolutional recipe).

`--loop calls` runs each batch as its own jitted call instead (still gathered on the
device): on XLA's CPU backend, convolutions inside a scan run about 2.5 times slower than
in separate calls, so for the convnet that is the faster program, and the fairer limit.

    python bench/purejax.py --epochs 40          # prints one JSON line: seconds, accuracy
    python bench/purejax.py --model cnn --loop calls --epochs 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

EPSILON = 1e-7
RHO = 0.9
MNIST = Path(__file__).resolve().parents[1] / "trainctl" / "data" / "mnist.npz"


def _glorot(key, shape):
    fan_in, fan_out = (np.prod(shape[:-1]), shape[-1]) if len(shape) == 2 else \
        (np.prod(shape[:-1]), np.prod(shape[:-2]) * shape[-1])
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def mlp(key):
    shapes = [(784, 64), (64, 64), (64, 10)]
    params = []
    for k, shape in zip(jax.random.split(key, len(shapes)), shapes):
        params += [_glorot(k, shape), jnp.zeros(shape[-1], jnp.float32)]

    def forward(params, x):
        k1, b1, k2, b2, k3, b3 = params
        h = jax.nn.relu(x @ k1 + b1)
        h = jax.nn.relu(h @ k2 + b2)
        return jax.nn.softmax(h @ k3 + b3, axis=-1)

    return params, forward, lambda x: x.reshape(len(x), 784)


def cnn(key):
    """Conv(16, 3x3) ReLU, max-pool 2, Conv(32, 3x3) ReLU, global average pool, Dense 10 softmax."""
    shapes = [(3, 3, 1, 16), (3, 3, 16, 32), (32, 10)]
    params = []
    for k, shape in zip(jax.random.split(key, len(shapes)), shapes):
        params += [_glorot(k, shape), jnp.zeros(shape[-1], jnp.float32)]
    dims = ("NHWC", "HWIO", "NHWC")

    def forward(params, x):
        k1, b1, k2, b2, k3, b3 = params
        h = jax.nn.relu(jax.lax.conv_general_dilated(x, k1, (1, 1), "VALID", dimension_numbers=dims) + b1)
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = jax.nn.relu(jax.lax.conv_general_dilated(h, k2, (1, 1), "VALID", dimension_numbers=dims) + b2)
        return jax.nn.softmax(jnp.mean(h, axis=(1, 2)) @ k3 + b3, axis=-1)

    return params, forward, lambda x: x.reshape(len(x), 28, 28, 1)


def _loss(forward, params, x, y):
    probs = forward(params, x)
    probs = jnp.clip(probs / jnp.sum(probs, axis=-1, keepdims=True), EPSILON, 1.0 - EPSILON)
    nll = -jnp.take_along_axis(jnp.log(probs), y[:, None], axis=-1)[:, 0]
    return jnp.mean(nll), probs


def program(forward, learning_rate=1e-3, loop="scan"):
    """`(epoch, evaluate)`: jitted functions of data already on the device (arguments, not constants).

    `loop="calls"`: an epoch is one jitted call per batch (a Python loop), not one scan.
    """

    def train_step(data, carry, index):
        params, velocities = carry
        x, y = data
        (loss, probs), grads = jax.value_and_grad(_loss, argnums=1, has_aux=True)(forward, params, x[index], y[index])
        velocities = [RHO * v + (1 - RHO) * jnp.square(g) for v, g in zip(velocities, grads)]
        params = [p - learning_rate * g / (jnp.sqrt(v) + EPSILON) for p, g, v in zip(params, grads, velocities)]
        return (params, velocities), (loss, jnp.sum(jnp.argmax(probs, -1) == y[index]))

    @jax.jit
    def epoch(carry, data, full, last):
        carry, (losses, correct) = jax.lax.scan(lambda c, i: train_step(data, c, i), carry, full)
        carry, (loss, c) = train_step(data, carry, last)
        return carry, (jnp.sum(losses) + loss) / (len(full) + 1), (jnp.sum(correct) + c)

    step = jax.jit(train_step, donate_argnums=1)

    def epoch_of_calls(carry, data, full, last):
        losses, correct = [], []
        for index in [*full, last]:
            carry, (loss, c) = step(data, carry, index)
            losses.append(loss)
            correct.append(c)
        return carry, sum(losses) / len(losses), sum(correct)

    def eval_step(params, data, index):
        ex, ey = data
        loss, probs = _loss(forward, params, ex[index], ey[index])
        return loss * len(index), jnp.sum(jnp.argmax(probs, -1) == ey[index])

    @jax.jit
    def evaluate(params, data, full, last):
        def body(_, index):
            return None, eval_step(params, data, index)
        _, (losses, correct) = jax.lax.scan(body, None, full)
        loss, c = eval_step(params, data, last)
        n = full.size + last.size
        return (jnp.sum(losses) + loss) / n, (jnp.sum(correct) + c) / n

    eval_call = jax.jit(eval_step)

    def evaluate_calls(params, data, full, last):
        results = [eval_call(params, data, index) for index in [*full, last]]
        n = full.size + last.size
        return sum(r[0] for r in results) / n, sum(r[1] for r in results) / n

    if loop == "calls":
        return epoch_of_calls, evaluate_calls
    return epoch, evaluate


def _batches(order: np.ndarray, batch_size: int):
    full = len(order) // batch_size
    return (jnp.asarray(order[: full * batch_size].reshape(full, batch_size)),
            jnp.asarray(order[full * batch_size:]))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epoch-times", action="store_true",
                        help="wait for each epoch and report the seconds between epoch ends")
    parser.add_argument("--loop", choices=("scan", "calls"), default="scan",
                        help="an epoch as one lax.scan (default) or one jitted call per batch")
    args = parser.parse_args(argv)

    np.random.seed(args.seed)
    params, forward, shape = (mlp if args.model == "mlp" else cnn)(jax.random.PRNGKey(args.seed))
    with np.load(MNIST) as f:
        x_all, y_all, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    prep = lambda a: jnp.asarray(shape(a.astype("float32") / 255))  # noqa: E731
    x, y = prep(x_all[:-10000]), jnp.asarray(y_all[:-10000].astype("int32"))
    vx, vy = prep(x_all[-10000:]), jnp.asarray(y_all[-10000:].astype("int32"))
    tx, ty = prep(x_test), jnp.asarray(y_test.astype("int32"))
    epoch, evaluate = program(forward, loop=args.loop)
    val_batches = _batches(np.arange(len(vx)), args.batch_size)

    carry = (params, [jnp.zeros_like(p) for p in params])
    history = []
    ends = []  # when each epoch's validation was done (the wait is at most a dispatch's length)
    for _ in range(args.epochs):
        carry, loss, correct = epoch(carry, (x, y), *_batches(np.random.permutation(len(x)), args.batch_size))
        val_loss, val_acc = evaluate(carry[0], (vx, vy), *val_batches)
        history.append([loss, correct, val_loss, val_acc])  # read at the end
        if args.epoch_times:
            jax.block_until_ready(val_acc)
            ends.append(time.perf_counter())
    history = [[float(v) for v in row] for row in jax.device_get(history)]
    _, test_acc = evaluate(carry[0], (tx, ty), *_batches(np.arange(len(tx)), args.batch_size))
    out = {"model": args.model, "loop": args.loop, "epochs": args.epochs, "seconds": time.perf_counter() - T0,
           "loss": history[-1][0], "accuracy": history[-1][1] / len(x), "val_loss": history[-1][2],
           "val_accuracy": history[-1][3], "test_accuracy": float(test_acc),
           "epoch_seconds": list(np.diff(ends))}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    sys.exit(main() and 0)
