"""docs/guide.md is generated from the references, the recipes and the catalogue, covers every example, and is current."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from . import guide_doc

PAGE = guide_doc.render()


def _section(anchor):
    """The page's text from the heading with this anchor to the next heading of the same level."""
    start = PAGE.index(f'<a id="{anchor}"></a>')
    end = PAGE.find("\n### ", start)
    return PAGE[start:end if end != -1 else None]


def test_docs_are_current():
    shipped = guide_doc.DOCS_PATH.read_text(encoding="utf-8")
    assert shipped == PAGE, f"docs/guide.md is stale; run `{guide_doc.COMMAND}` from the repository root and commit it"


def test_every_recipe_and_reference_is_on_the_page_once():
    examples = [e.recipe for g in guide_doc.GUIDES for e in g.entries if isinstance(e, guide_doc.Example)]
    assert len(examples) == len(set(examples)), sorted({n for n in examples if examples.count(n) > 1})
    builders = {name.removeprefix("build_")
                for module in ("guide_000", "guide_001", "guide_003", "guide_004")
                for name in guide_doc._Source(module).defs if name.startswith("build_")}
    numbers, _ = guide_doc._catalogue()
    assert set(examples) == builders == set(numbers), (
        "GUIDES in tests/reference/guide_doc.py, the build_* references and docs/catalogue.md must name the same "
        f"examples; page only: {sorted(set(examples) - builders)}, builders only: {sorted(builders - set(examples))}, "
        f"catalogue only: {sorted(set(numbers) - set(examples))}")
    missing = [name for name in examples if not (guide_doc.RECIPES / f"{name}.yaml").exists()]
    assert not missing, f"no recipes/NAME.yaml for {missing}"
    for name in examples:
        assert f"trainctl run recipes/{name}.yaml" in _section(name)


def test_the_code_is_valid_python_without_reference_plumbing():
    blocks = re.findall(r"```python\n(.*?)```", PAGE, re.S)
    assert len(blocks) > 60
    for block in blocks:
        ast.parse(block)
        assert "Reference(" not in block and "seed_everything" not in block, block


def test_idioms_without_a_keras3_form_say_what_happens_instead():
    # The brief's list: tf.data, GradientTape, add_metric, TensorBoard's TensorFlow-only callback.
    for anchor, idiom in [("mnist_dataset", "tf.data"), ("mnist_custom_loop", "GradientTape"),
                          ("mnist_custom_train_step", "GradientTape"), ("mnist_metric_logging_layer", "add_metric"),
                          ("mnist_tensorboard", "TensorBoard"), ("mnist_dlwp_tensorboard", "TensorBoard")]:
        lines = [line for line in _section(anchor).splitlines() if line.startswith("- Keras 3 on JAX:")]
        assert any(idiom in line and "→" in line for line in lines), (anchor, lines)


def test_links_point_at_anchors_on_the_page():
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', PAGE))
    targets = set(re.findall(r"\]\(#([^)]+)\)", PAGE))
    assert targets - anchors == set()
    for path in re.findall(r"\]\(\.\./([^)#]+)\)", PAGE):
        assert (guide_doc.REPO / path).exists(), path


def test_rendering_does_not_import_keras():
    code = "import sys; from tests.reference import guide_doc; guide_doc.render(); assert 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=guide_doc.REPO, check=True)
