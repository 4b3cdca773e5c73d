"""One override syntax in every command, typos caught by `validate`, and `init` into a directory."""

from __future__ import annotations

import json

from tests.conftest import RECIPES, cli_env, run_cli


def test_validate_takes_positional_overrides():
    recipe = RECIPES / "mnist_mlp.yaml"
    assert run_cli("validate", recipe, "train.epochs=3").returncode == 0
    proc = run_cli("validate", recipe, "train.epochs=abc")
    assert proc.returncode == 2
    assert "not found" not in proc.stderr  # not taken for a file name
    assert "train.epochs" in proc.stderr and "abc" in proc.stderr


def test_smoke_takes_positional_overrides_and_shows_what_runs(tmp_path):
    proc = run_cli("smoke", RECIPES / "mnist_mlp.yaml", "train.batch_size=16", "--keep", tmp_path, "-j", "1",
                   check=True)
    assert "training mnist_mlp" in proc.stderr
    manifest = json.loads((tmp_path / "mnist_mlp" / "manifest.json").read_text())
    assert "train.batch_size=16" in json.dumps(manifest)


def test_misspelt_keras_arguments_fail_validate(tmp_path):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text((RECIPES / "mnist_mlp.yaml").read_text().replace("units: 64, activation: relu}}", "units: 64, activaton: relu}}", 1))
    proc = run_cli("validate", recipe)
    assert proc.returncode == 2
    assert "layer 'Dense' takes no argument 'activaton' (did you mean 'activation'?)" in proc.stderr


def test_validate_says_when_the_name_list_is_from_another_keras(tmp_path):
    # A distribution's metadata earlier on the path is what importlib.metadata reports as installed.
    (tmp_path / "keras-3.0.0.dist-info").mkdir()
    (tmp_path / "keras-3.0.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: keras\nVersion: 3.0.0\n")
    env = cli_env()
    env["PYTHONPATH"] = env["PYTHONPATH"] + str(tmp_path)
    proc = run_cli("validate", RECIPES / "mnist_mlp.yaml", env=env)
    assert proc.returncode == 0
    assert "warning: the Keras names and arguments were checked against Keras" in proc.stderr
    assert "Keras 3.0.0 is installed" in proc.stderr
    assert "warning" not in run_cli("validate", RECIPES / "mnist_mlp.yaml").stderr


def test_init_into_a_directory_copies_the_components(tmp_path):
    dest = tmp_path / "exp"
    dest.mkdir()
    proc = run_cli("init", "mnist_custom_mse", f"{dest}/", check=True)
    copy = dest / "mnist_custom_mse.yaml"
    assert copy.is_file() and (dest / "components" / "losses.py").is_file()
    assert str(copy) in proc.stderr
    # The copy validates where it is (its imports resolve to the copied components).
    run_cli("validate", copy, cwd=tmp_path, check=True)
    # A directory that does not exist yet, named with a trailing slash, is a directory too.
    run_cli("init", "mnist_mlp", f"{tmp_path}/new/", check=True)
    assert (tmp_path / "new" / "mnist_mlp.yaml").is_file()
    # Another recipe next to it shares the identical components; a changed one is not overwritten.
    run_cli("init", "mnist_custom_loss_fn", dest, check=True)
    (dest / "components" / "losses.py").write_text("# mine\n")
    proc = run_cli("init", "mnist_custom_mse", f"{dest}/other.yaml")
    assert proc.returncode == 2 and "losses.py" in proc.stderr and "--force" in proc.stderr
    run_cli("init", "mnist_custom_mse", dest, "--force", check=True)
    assert "CustomMSE" in (dest / "components" / "losses.py").read_text()


def test_help_writes_arguments_and_flags_plainly():
    for command in ("run", "eval", "validate", "resume", ""):
        text = run_cli(*[c for c in (command,) if c], "--help", check=True).stdout
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert "{" not in usage and "<bool>" not in text, text
    assert "Usage: python -m trainctl validate [OPTIONS] RECIPE... [KEY=VALUE...]" in run_cli("validate", "-h").stdout
