"""The shipped recipes: where they are and what each one is for (no Keras import).

Example:

    >>> [r.name for r in shipped_recipes()][:2]
    ['mnist_mlp', 'multi_io']
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from trainctl.errors import RecipeError, RecipeInvalid
from trainctl.recipe.structure import did_you_mean


@dataclasses.dataclass(frozen=True)
class RecipeInfo:
    name: str
    path: Path
    description: str


def recipes_dir() -> Path:
    """The shipped recipes: `trainctl/recipes` of an installed wheel, else `recipes/` of this checkout.

    The checkout's `recipes/` is the source; a wheel build copies it into the package (setup.py).
    """
    package = Path(__file__).resolve().parents[1]
    shipped = package / "recipes"
    return shipped if shipped.is_dir() else package.parent / "recipes"


def shipped_recipes(directory: Path | None = None) -> list[RecipeInfo]:
    """Every `*.yaml` recipe in `directory` (default `recipes_dir()`), with its `description`."""
    out = []
    for path in sorted((directory or recipes_dir()).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            data = {}
        if isinstance(data, dict):
            out.append(RecipeInfo(str(data.get("name") or path.stem), path, str(data.get("description") or "")))
    return out


def copy_recipe(recipe: RecipeInfo, dest: Path, force: bool = False) -> list[Path]:
    """Copy `recipe` to the file `dest`, and beside it the packages of code it imports from its own
    directory (`components/`), so the copy validates and runs where it is. Returns what was written.

    Without `force`, an existing `dest`, or a component file that exists and differs, is an error.

    Example:

        >>> copy_recipe(shipped_recipes()[0], Path("exp/mnist_mlp.yaml"))
        [PosixPath('exp/mnist_mlp.yaml')]
    """
    import filecmp
    import shutil

    data = yaml.safe_load(recipe.path.read_text(encoding="utf-8")) or {}
    imports = data.get("imports") if isinstance(data, dict) else None
    packages = sorted({str(m).split(".")[0] for m in imports or []})
    pairs = [(recipe.path, dest)]
    for package in packages:
        source = recipe.path.parent / package
        files = sorted(source.rglob("*.py")) if source.is_dir() else [source.with_suffix(".py")]
        pairs += [(f, dest.parent / f.relative_to(recipe.path.parent)) for f in files
                  if f.is_file() and "__pycache__" not in f.parts]
    clashes = [str(to) for src, to in pairs
               if to.exists() and (to == dest or not filecmp.cmp(src, to, shallow=False))]
    if clashes and not force:
        raise FileExistsError(", ".join(clashes))
    written = []
    for src, to in pairs:
        if not (to.exists() and to != dest and filecmp.cmp(src, to, shallow=False)):
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, to)
            written.append(to)
    return written


def locate(path: str | Path) -> Path:
    """`path` when it is a file, else the shipped recipe it names (`mnist_mlp` or `mnist_mlp.yaml`).

    A bare name that is neither is `RecipeInvalid`, with a did-you-mean among the shipped names.

    Example:

        >>> locate("mnist_mlp")  # from a directory without such a file
        PosixPath('.../trainctl/recipes/mnist_mlp.yaml')
    """
    path = Path(path)
    if path.is_file() or len(path.parts) != 1:
        return path
    stem = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    shipped = shipped_recipes()
    for info in shipped:
        if stem in (info.path.stem, info.name):
            return info.path
    if path.exists():
        return path
    hint = did_you_mean(stem, [info.name for info in shipped])
    raise RecipeInvalid([RecipeError(str(path), 1, 1, "file not found, nor a shipped recipe of that name",
                                     hint or "`trainctl recipes` lists them")])
