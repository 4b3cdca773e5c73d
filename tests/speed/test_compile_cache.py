"""JAX's persistent compilation cache: on by default for runs, filled by the first run, used by the next."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES, cli_env, run_cli
from trainctl.runner.compile_cache import compile_cache_dir

TINY = (FIXTURES / "resume_mix.yaml", "train.epochs=1", "data.train.slice=[0, 256]", "logs.plot=false")


def _entries(cache: Path) -> set[str]:
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()} if cache.exists() else set()


def test_default_directory_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("TRAINCTL_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir() == tmp_path / "trainctl" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compile_cache_dir() == Path.home() / ".cache" / "trainctl" / "jax"
    monkeypatch.setenv("TRAINCTL_COMPILE_CACHE", "Off")
    assert compile_cache_dir() is None


def test_second_run_finds_everything_in_the_cache(tmp_path):
    cache = tmp_path / "cache"
    env = cli_env(TRAINCTL_COMPILE_CACHE=str(cache))
    run_cli("run", *TINY, "-o", tmp_path / "first", env=env, check=True)
    first = _entries(cache)
    import jax

    folder = f"jax-{jax.__version__}"
    assert any(name.startswith(f"{folder}/jit_train_step") for name in first), first
    # Every entry has its access time beside it: JAX's eviction fails on one without,
    # and then no later program is written to the folder.
    entries = {name[:-len("-cache")] for name in first if name.endswith("-cache")}
    assert entries and all(f"{entry}-atime" in first for entry in entries)
    run_cli("run", *TINY, "-o", tmp_path / "second", env=env, check=True)
    assert _entries(cache) == first  # nothing compiled that was not there already


def test_no_compile_cache_flag_turns_it_off(monkeypatch, tmp_path):
    import jax

    from trainctl.cli import main
    from trainctl.runner.compile_cache import enable_compile_cache

    monkeypatch.setenv("TRAINCTL_COMPILE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit):  # the flag takes effect before the (missing) recipe is read
        main(["run", str(tmp_path / "missing.yaml"), "--no-compile-cache"])
    assert compile_cache_dir() is None
    try:
        assert enable_compile_cache() is None
        assert not jax.config.jax_enable_compilation_cache
        assert not (tmp_path / "cache").exists()
    finally:
        monkeypatch.undo()
        enable_compile_cache()  # back to the session's cache for the tests after this one
