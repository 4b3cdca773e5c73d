"""`imports:` and `module:Name` paths are checked on disk, and no user code runs."""

from __future__ import annotations


from tests.recipe.conftest import MNIST, at

CUSTOM = "{name: hidden, class: 'components.layers:Scale', args: {factor: 2}}"
BASE = "imports: [components.layers]\n" + MNIST.replace("{name: hidden, Dense: {units: 8, activation: relu}}", CUSTOM)


def _components(tmp_path, marker):
    pkg = tmp_path / "components"
    pkg.mkdir()
    # Importing either file would leave a marker: validation must only find them.
    for name in ("__init__.py", "layers.py"):
        (pkg / name).write_text(f"open({str(marker)!r}, 'a').write({name!r})\nraise RuntimeError('imported')\n"
                                "class Scale:\n    pass\n")


def test_custom_class_is_found_without_importing_it(problems, tmp_path):
    marker = tmp_path / "imported.txt"
    _components(tmp_path, marker)
    assert problems(BASE) == []
    assert not marker.exists()  # the module writes the marker when imported


def test_module_must_be_listed_under_imports(problems, tmp_path):
    _components(tmp_path, tmp_path / "m")
    text = BASE.replace("imports: [components.layers]", "imports: []")
    pos = at(text, "'components.layers:Scale")
    assert problems(text) == [
        f"{pos}: module 'components.layers' is not listed under `imports:` "
        "(which lists nothing) (add it: imports: [components.layers])"]


def test_submodule_of_a_listed_package_is_allowed(problems, tmp_path):
    _components(tmp_path, tmp_path / "m")
    assert problems(BASE.replace("imports: [components.layers]", "imports: [components]")) == []


def test_missing_module_suggests_a_sibling(problems, tmp_path):
    _components(tmp_path, tmp_path / "m")
    text = BASE.replace("components.layers:Scale", "components.layrs:Scale").replace(
        "imports: [components.layers]", "imports: [components]")
    pos = at(text, "'components.layrs")
    assert problems(text) == [
        f"{pos}: module 'components.layrs' not found in {tmp_path} or on sys.path "
        "(did you mean 'components.layers'?)"]


def test_misspelt_class_name_suggests_the_defined_one(problems, tmp_path):
    marker = tmp_path / "imported.txt"
    _components(tmp_path, marker)
    text = BASE.replace("components.layers:Scale", "components.layers:Scal")
    pos = at(text, "'components.layers:Scal")
    assert problems(text) == [
        f"{pos}: module 'components.layers' defines no 'Scal' "
        "(did you mean 'Scale'?)"]
    assert not marker.exists()  # read with ast, not imported


def test_names_bound_in_any_branch_count(problems, tmp_path):
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "layers.py").write_text(
        "try:\n    from somewhere import Scale\nexcept ImportError:\n    class Scale:\n        pass\n"
        "if __name__ == '__main__':\n    pass\n")
    assert problems(BASE) == []


def test_malformed_class_path(problems, tmp_path):
    _components(tmp_path, tmp_path / "m")
    text = BASE.replace("components.layers:Scale", "components.layers.Scale")
    pos = at(text, "'components.layers.Scale")
    assert problems(text) == [
        f"{pos}: expected 'class: module:Name', got 'components.layers.Scale' "
        "(e.g. 'components.layers:MyLayer')"]


def test_imports_entries(problems, tmp_path):
    _components(tmp_path, tmp_path / "m")
    text = BASE.replace("imports: [components.layers]",
                        "imports: [components.layers, components/layers.py, components.layer, components.layers]")
    assert problems(text) == [
        f"{at(text, 'components/layers.py')}: expected a dotted module name like 'components.layers', got "
        "'components/layers.py' (list modules, not files: no '.py', '/' or ':')",
        f"{at(text, 'components.layer,')}: module 'components.layer' not found in {tmp_path} or on sys.path "
        "(did you mean 'components.layers'?)",
        f"{at(text, 'components.layers', 2)}: module 'components.layers' is listed twice (first at line 1)",
    ]


def test_python_data_source_function(problems, tmp_path):
    (tmp_path / "loaders.py").write_text("raise RuntimeError('imported')\ndef load(): ...\n")
    good = MNIST.replace("{source: mnist, slice: [0, 100]}", "{source: python, function: 'loaders:load'}")
    pos = at(good, "'loaders:load")
    assert problems("imports: [loaders]\n" + good) == []
    assert problems(good) == [f"{pos}: module 'loaders' is not listed under `imports:` "
                              "(which lists nothing) (add it: imports: [loaders])"]
