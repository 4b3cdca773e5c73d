"""What a resume may change: only what cannot alter the finished part of the run.

`trainctl resume RUN_DIR train.epochs=20` is fine; `compile.optimizer.Adam.learning_rate=0.1`
would make the resumed run a different run, so it is refused with a diff unless
`--allow-drift`, which records the diff in the manifest.
"""

from __future__ import annotations

from typing import Any

from trainctl.errors import TrainctlError
from trainctl.recipe import load_recipe_text

# Keys a resume may change freely (dotted, list indices as *), with everything under them.
SAFE = (
    "train.epochs",
    "callbacks.*.EarlyStopping.patience",
    "logs",
    "checkpoint.keep",
    "checkpoint.every_steps",
    "checkpoint.every_epochs",
    "description",
)


def _safe(dotted: str) -> bool:
    return any(dotted == key or dotted.startswith(key + ".") for key in SAFE)


def diff(old: Any, new: Any, path: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """Differences between two recipe trees as `(path, old, new)`; `<absent>` marks a missing side."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            out += diff(old.get(key, "<absent>"), new.get(key, "<absent>"), path + (key,))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in diff(a, b, path + (i,))]
    return [] if old == new else [(path, old, new)]


def _dotted(path: tuple, stars: bool = False) -> str:
    return ".".join("*" if stars and isinstance(p, int) else str(p) for p in path)


def check_drift(run_dir, overrides: list[str], allow_drift: bool, new_text: str | None = None,
                recorded: dict | None = None):
    """The recipe to resume with: the run's own, plus `overrides` (or `new_text`), if the change is safe.

    `recorded` is the `meta` of the checkpoint resumed from. If RUN_DIR/recipe.yaml no
    longer hashes to the recipe sha256 recorded there (someone edited the file), the
    baseline is the recipe the checkpoint recorded, so the edit is judged like an override.
    """
    manifest = run_dir.read_manifest()
    base_dir = manifest.get("base_dir") or str(run_dir.path)
    file_text = run_dir.recipe.read_text(encoding="utf-8")
    original = load_recipe_text(file_text, str(run_dir.recipe), base_dir)
    edited = bool(recorded and recorded.get("recipe_sha256") not in (None, original.sha256))
    if edited and isinstance(recorded.get("recipe"), str):
        original = load_recipe_text(recorded["recipe"], f"{run_dir.recipe} (as the checkpoint recorded it)", base_dir)
    elif edited and not allow_drift:
        raise TrainctlError(
            f"{run_dir.recipe} was edited after the checkpoint was saved (its sha256 is {original.sha256[:12]}, "
            f"the checkpoint recorded {recorded['recipe_sha256'][:12]}) and the checkpoint does not hold the "
            "recipe to compare with. Undo the edit, or pass --allow-drift to resume with it (recorded).")
    loaded = load_recipe_text(file_text if new_text is None else new_text, str(run_dir.recipe), base_dir, overrides)
    changes = diff(original.document.data, loaded.document.data)
    unsafe = [c for c in changes if not _safe(_dotted(c[0], stars=True))]
    if unsafe and not allow_drift:
        lines = "\n".join(f"  {_dotted(p)}: {old!r} -> {new!r}" for p, old, new in unsafe)
        where = (f"{run_dir.recipe} was edited after the checkpoint was saved; " if edited and new_text is None
                 else "")
        raise TrainctlError(
            f"{where}this change would make the resumed run differ from the part already trained:\n"
            f"{lines}\nOnly {', '.join(SAFE[:-1])} and {SAFE[-1]} may change on resume (logs: any key under it). "
            "Pass --allow-drift to resume anyway (the diff is recorded in the manifest), "
            "or start a new run."
        )
    if changes or edited:
        from trainctl.atomic import write_text
        from trainctl.recipe import dump_recipe

        run_dir.add_event("recipe_changed", drift=bool(unsafe), edited_file=edited,
                          changes=[{"path": _dotted(p), "old": o, "new": n} for p, o, n in changes])
        write_text(run_dir.recipe, dump_recipe(loaded.document.data))
    return loaded
