"""Recipe `compile:` → `model.compile(...)` with real Keras objects."""

from __future__ import annotations

from trainctl.compile.objects import Builder
from trainctl.recipe.compiling import is_per_output


def _output_names(model) -> tuple[str, ...] | None:
    try:
        return tuple(model.output_names)
    except (AttributeError, ValueError):  # a subclassed model not yet called
        return None


def _losses(builder: Builder, loss, path, outputs):
    if isinstance(loss, list):
        return [None if item is None else builder.build(item, "loss", path + (i,)) for i, item in enumerate(loss)]
    # Same rule as validation, so `{output: loss}` and `{LossClass: {args}}` are told apart alike.
    if isinstance(loss, dict) and is_per_output(loss, "losses", outputs):
        return {k: None if v is None else builder.build(v, "loss", path + (k,)) for k, v in loss.items()}
    return None if loss is None else builder.build(loss, "loss", path)


def _metrics(builder: Builder, metrics, path):
    if metrics is None:
        return None
    if isinstance(metrics, list):  # one list for all outputs, or one list per output
        return [[builder.build(m, "metric", path + (i, j)) for j, m in enumerate(ms)] if isinstance(ms, list)
                else builder.build(ms, "metric", path + (i,)) for i, ms in enumerate(metrics)]
    out = {}
    for output, ms in metrics.items():
        if isinstance(ms, list):
            out[output] = [builder.build(m, "metric", path + (output, i)) for i, m in enumerate(ms)]
        else:
            out[output] = builder.build(ms, "metric", path + (output,))
    return out


def compile_model(model, loaded, builder: Builder, steps_per_execution: int | None = None) -> None:
    """`model.compile(...)` exactly as the recipe's `compile:` section says.

    `steps_per_execution: auto` compiles as 1, Keras's default, so a saved model's compile
    config is the one `model.fit` would save; the runner picks the value it trains with
    (`trainctl.runner.execution`).
    """
    c = loaded.spec.compile
    if steps_per_execution is None:
        steps_per_execution = 1 if c.steps_per_execution == "auto" else c.steps_per_execution
    path = ("compile",)
    kwargs = dict(
        optimizer=builder.build(c.optimizer, "optimizer", path + ("optimizer",)),
        loss=_losses(builder, c.loss, path + ("loss",), _output_names(model)),
        loss_weights=c.loss_weights,
        metrics=_metrics(builder, c.metrics, path + ("metrics",)),
        weighted_metrics=_metrics(builder, c.weighted_metrics, path + ("weighted_metrics",)),
        steps_per_execution=steps_per_execution,
        jit_compile=c.jit_compile,
        run_eagerly=c.run_eagerly,
    )
    builder.call(model.compile, kwargs, path, "model.compile")
