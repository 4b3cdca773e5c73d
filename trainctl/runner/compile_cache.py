"""JAX's persistent compilation cache, on by default for runs, under the user's cache directory.

Every run compiles the same small programs again: the model's initialisers, the train
and test steps, the step for the last, smaller batch. On CPU that is most of the
time before the first step. With the cache, a second run of a recipe (or a resume)
loads them from disk instead; the compiled code is the same, so results are too.

Where: `$TRAINCTL_COMPILE_CACHE` if set, else `${XDG_CACHE_HOME:-~/.cache}/trainctl/jax`,
in a folder per JAX version (`jax-0.10.2/`). `TRAINCTL_COMPILE_CACHE=off` (what
`--no-compile-cache` sets) turns it off. JAX evicts the least recently used entries
beyond `MAX_BYTES` (with `filelock`, a dependency for this); deleting it is always safe.

One folder per JAX version, all written with eviction on: JAX's eviction reads an
access-time file beside every entry, and an entry written without one (by a process
that did not evict, such as another JAX version's) made every later write to the
folder fail with a warning, so that new programs were compiled again in every run.

Example:

    >>> enable_compile_cache()
    PosixPath('/home/me/.cache/trainctl/jax/jax-0.10.2')
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "TRAINCTL_COMPILE_CACHE"
OFF = ("0", "off", "false", "no", "none")
MAX_BYTES = 2 * 1024**3


def compile_cache_dir() -> Path | None:
    """The cache directory runs use, or None when turned off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainctl" / "jax"


def _versioned(path: Path) -> Path:
    import jax

    return path / f"jax-{jax.__version__}"


def enable_compile_cache() -> Path | None:
    """Point JAX's persistent compilation cache at `compile_cache_dir()` (or turn it off); returns the directory.

    Call before the first compilation of the process. Every compiled program is cached,
    however fast it compiled: on CPU the many small ones are what a run waits for.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    path = compile_cache_dir()
    if path is not None:
        path = _versioned(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from trainctl.logs.console import get_reporter

            get_reporter().warn(f"compilation cache off: cannot create {path} ({exc}); set {ENV} to another directory")
            path = None
    compilation_cache.reset_cache()  # JAX decides once per process whether and where to cache
    jax.config.update("jax_enable_compilation_cache", path is not None)
    if path is None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return path
