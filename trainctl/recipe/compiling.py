"""Check `compile:`: its component references, and per-output forms against the model's outputs.

`loss`, `loss_weights`, `metrics` and `weighted_metrics` may be given per output, as a
list (in output order) or a mapping `{output_name: ...}`, exactly as `model.compile`
takes them. Outputs of a subclassed model are known only once it is built, so those
checks are skipped for it.
"""

from __future__ import annotations

from typing import Any

from trainctl.recipe.context import CheckContext
from trainctl.recipe.graph import ModelInfo
from trainctl.recipe.loader import PathT
from trainctl.recipe.names import keras_names
from trainctl.recipe.refs import check_ref, is_custom
from trainctl.recipe.structure import did_you_mean


def is_per_output(value: dict, category: str, outputs: tuple[str, ...] | None) -> bool:
    """Whether a mapping given as `loss` maps outputs to losses, rather than being one loss.

    Keys that are all output names make it per-output; `{class: ...}` and a one-key
    `{KerasName: {arguments}}` are one loss. The builder uses the same rule.

    Example:

        >>> is_per_output({"SparseCategoricalCrossentropy": {"from_logits": True}}, "losses", ("y",))
        False
        >>> is_per_output({"y": "mse"}, "losses", ("y",))
        True
    """
    if outputs is not None and value and set(value) <= set(outputs):
        return True
    if is_custom(value):
        return False
    if len(value) == 1:
        (name, args), = value.items()
        return not (isinstance(name, str) and keras_names()[category].known(name)) and not (
            args is None or isinstance(args, dict))
    return True


def check_compile(ctx: CheckContext, model: ModelInfo) -> None:
    """Check every reference under `compile:` and its agreement with the model's outputs."""
    section = ctx.get(("compile",))
    if not isinstance(section, dict):
        return
    if "optimizer" in section:
        check_ref(ctx, ("compile", "optimizer"), section["optimizer"], "optimizers")
    loss = section.get("loss")
    path = ("compile", "loss")
    if isinstance(loss, dict) and is_per_output(loss, "losses", model.outputs):
        _check_output_keys(ctx, path, loss, model, need_all=True)
        for name, ref in loss.items():
            if ref is not None:
                check_ref(ctx, path + (name,), ref, "losses")
    elif isinstance(loss, list):
        _check_count(ctx, path, loss, model)
        for i, ref in enumerate(loss):
            if ref is not None:
                check_ref(ctx, path + (i,), ref, "losses")
    elif loss is not None:
        check_ref(ctx, path, loss, "losses")
    weights = section.get("loss_weights")
    if isinstance(weights, list):
        _check_count(ctx, ("compile", "loss_weights"), weights, model)
    elif isinstance(weights, dict):
        _check_output_keys(ctx, ("compile", "loss_weights"), weights, model)
    for key in ("metrics", "weighted_metrics"):
        _check_metrics(ctx, key, section.get(key), model)


def _check_metrics(ctx: CheckContext, key: str, value: Any, model: ModelInfo) -> None:
    path = ("compile", key)
    if isinstance(value, list):
        if model.n_outputs and model.n_outputs > 1 and len(value) != model.n_outputs:
            ctx.error(path, f"for a model with {model.n_outputs} outputs{_listed(model)}, a `{key}` list needs one "
                            f"entry per output (Keras's rule); got {len(value)}",
                      f"map outputs to their metrics instead: {{{_first_output(model)}: [...]}}")
        for i, ref in enumerate(value):
            for j, inner in (enumerate(ref) if isinstance(ref, list) else [(None, ref)]):
                check_ref(ctx, path + (i,) + (() if j is None else (j,)), inner, "metrics")
    elif isinstance(value, dict):
        misread = _check_output_keys(ctx, path, value, model)
        for name, refs in value.items():
            if name in misread:
                continue
            for i, ref in (enumerate(refs) if isinstance(refs, list) else [(None, refs)]):
                check_ref(ctx, path + (name,) + (() if i is None else (i,)), ref, "metrics")


def _check_output_keys(ctx: CheckContext, path: PathT, value: dict, model: ModelInfo, need_all: bool = False) -> set:
    """The keys of a per-output mapping name outputs (and, for `loss`, cover them all).

    Returns the keys that are metric names rather than outputs: the user meant a list,
    so what is under them is not a metric reference and is not checked as one.
    """
    what = path[-1]
    misread = set()
    if model.outputs is None:
        return misread
    for name in value:
        if name in model.outputs:
            continue
        if what.endswith("metrics") and isinstance(name, str) and keras_names()["metrics"].known(name):
            hint = f"a mapping here is {{output: metrics}}; to use {name!r} on every output, make `{what}` a list"
            misread.add(name)
        else:
            hint = did_you_mean(str(name), model.outputs)
        ctx.error(path + (name,), f"unknown output {name!r} in `{what}`",
                  hint or f"the model's outputs: {', '.join(model.outputs)}", key=True)
    missing = [o for o in model.outputs if o not in value]
    if need_all and missing:
        ctx.error(path, f"`{what}` gives no loss for output{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)}",
                  f"add `{missing[0]}: null` to train that output without a loss", key=True)
    return misread


def _check_count(ctx: CheckContext, path: PathT, value: list, model: ModelInfo) -> None:
    n = model.n_outputs
    if n is not None and len(value) != n:
        ctx.error(path, f"`{path[-1]}` lists {len(value)} entr{'ies' if len(value) != 1 else 'y'} but the model has "
                        f"{n} output{'s' if n != 1 else ''}{_listed(model)}",
                  "give one per output, in order, or map them: {output_name: ...}")


def _listed(model: ModelInfo) -> str:
    return f" ({', '.join(model.outputs)})" if model.outputs else ""


def _first_output(model: ModelInfo) -> str:
    return model.outputs[0] if model.outputs else "output_name"
