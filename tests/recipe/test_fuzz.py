"""Mutated recipes never crash `trainctl validate`: it exits 0 or 2 with positioned messages.

Mutations start from valid recipes (the shipped ones and the test fixtures) and break
them the ways people do: a key deleted or misspelt, a value of the wrong type, a
misspelt Keras name, and YAML text with unbalanced brackets, bad indentation, tabs or
a `!!python/object` tag.

Hostile input (`hostile_case`) breaks them the ways an attacker would: recursive and
exponential aliases, deep nesting, non-printable characters, tags, huge numbers,
unicode keys, binary garbage, a directory or an empty file as the recipe. Those run in
a child process under a 1 GiB address-space limit, each case within a time bound. The
default suite runs 200; `pytest -m slow tests/recipe/test_fuzz.py` runs 2,500
and prints the figures (cases, failures, worst time, peak memory).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.recipe.conftest import MNIST, MULTI, REPO
from trainctl.cli import main
from trainctl.recipe.names import keras_names

SEEDS = [p.read_text(encoding="utf-8") for p in sorted((REPO / "recipes").glob("*.yaml"))] + [MNIST, MULTI]
POSITIONED = re.compile(r"^(error: )?\S+:\d+:\d+: ", re.MULTILINE)
KERAS_NAMES = {n for cat in keras_names().values() for n in cat.all_names()}
NEW_VALUES = ["x", 7, -1, 0.5, True, None, [1, "a"], {"a": 1}, "", "Dense"]


def _typo(word: str, rnd: random.Random) -> str:
    word = word or "k"
    i = rnd.randrange(len(word))
    kind = rnd.choice(["drop", "double", "swap", "replace"])
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "swap" and i + 1 < len(word) and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "replace":
        return word[:i] + ("q" if word[i] != "q" else "z") + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _paths(node: Any, path: tuple = ()):
    yield path
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, path + (key,))


def _parent(data: Any, path: tuple) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def _rename(mapping: dict, old: Any, new: Any) -> None:
    """Rename a key in place, keeping the order (so positions in the dumped YAML stay meaningful)."""
    items = [(new if k == old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


def _mutate_data(data: dict, rnd: random.Random) -> None:
    paths = [p for p in _paths(data) if p]
    path = rnd.choice(paths)
    parent, last = _parent(data, path), path[-1]
    kind = rnd.choice(["delete", "typo_key", "retype", "keras_name"])
    if kind == "keras_name":
        named = [p for p in paths if isinstance(p[-1], str) and p[-1] in KERAS_NAMES
                 or isinstance(_parent(data, p)[p[-1]], str) and _parent(data, p)[p[-1]] in KERAS_NAMES]
        if named:
            path = rnd.choice(named)
            parent, last = _parent(data, path), path[-1]
            if isinstance(last, str) and last in KERAS_NAMES and isinstance(parent, dict):
                _rename(parent, last, _typo(last, rnd))
            else:
                parent[last] = _typo(parent[last], rnd)
            return
        kind = "typo_key"
    if kind == "delete":
        del parent[last]
    elif kind == "typo_key" and isinstance(parent, dict):
        new = _typo(str(last), rnd)
        if new not in parent:
            _rename(parent, last, new)
    else:
        parent[last] = copy.deepcopy(rnd.choice(NEW_VALUES))


def _mutate_text(text: str, rnd: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    i = rnd.randrange(len(lines))
    line = lines[i]
    kind = rnd.choice(["bracket", "indent", "tab", "tag", "cut"])
    if kind == "bracket":
        pos = rnd.randint(0, len(text))
        return text[:pos] + rnd.choice("[]{}") + text[pos:]
    if kind == "indent":
        stripped = line.lstrip(" ")
        width = max(0, len(line) - len(stripped) + rnd.choice([-3, -2, -1, 1, 2, 3]))
        lines[i] = " " * width + stripped
    elif kind == "tab":
        stripped = line.lstrip(" ")
        lines[i] = "\t" * max(1, (len(line) - len(stripped)) // 2) + stripped
    elif kind == "tag":
        tag = rnd.choice(["!!python/object:os.system", "!!python/object/apply:os.system", "!!binary", "!custom"])
        key, sep, rest = line.partition(": ")
        lines[i] = f"{key}: {tag} {rest}" if sep else f"evil: {tag} [echo]\n" + line
    else:
        return text[: rnd.randint(0, len(text))]
    return "".join(lines)


@st.composite
def mutated_recipes(draw) -> str:
    # Choices come from a Random that hypothesis seeds: uniform over paths and mutation kinds
    # (hypothesis's own draws favour the first choices), and still reproducible.
    rnd = draw(st.randoms(use_true_random=False))
    text = rnd.choice(SEEDS)
    data = yaml.safe_load(text)
    for _ in range(rnd.randint(1, 3)):
        if data and rnd.random() < 0.8:
            _mutate_data(data, rnd)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None) if data else ""
    if rnd.random() < 0.3:
        text = _mutate_text(text, rnd)
    return text


def _validate_in_process(path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["validate", str(path)])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    return code, err.getvalue()


_WORKDIR = tempfile.TemporaryDirectory(prefix="trainctl-fuzz-")


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_recipes())
def test_mutated_recipes_get_positioned_errors_and_no_traceback(text):
    path = Path(_WORKDIR.name) / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    code, err = _validate_in_process(path)
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert POSITIONED.search(err), err


# A few real processes, the way users run it.
CASES = {
    "misspelt layer": (MNIST.replace("Dense: {units: 8", "Desne: {units: 8"), 2, "did you mean 'Dense'?"),
    "tab indentation": (MNIST.replace("  optimizer: adam", "\toptimizer: adam"), 2, "invalid YAML"),
    "python tag": (MNIST.replace("optimizer: adam", "optimizer: !!python/object/apply:os.system [echo]"), 2,
                   "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"),
    "unbalanced bracket": (MNIST.replace("metrics: [accuracy]", "metrics: [accuracy"), 2, "invalid YAML"),
    "valid": (MNIST, 0, "ok"),
}


def test_real_processes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name, (text, code, expected) in CASES.items():
        path = tmp_path / f"{name.replace(' ', '_')}.yaml"
        path.write_text(text, encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "trainctl", "validate", str(path)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == code, (name, result.stderr)
        assert expected in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr
        if code == 2:
            assert re.search(rf"{re.escape(str(path))}:\d+:\d+: ", result.stderr), result.stderr


# --- Hostile input -----------------------------------------------------------------------------

MEMORY_LIMIT = 1 << 30  # RLIMIT_AS of the child that validates hostile recipes
CASE_SECONDS = 3.0  # the most one hostile case may take
TAGS = ["!!python/object/apply:os.system [echo]", "!!python/name:os.system", "!!binary aGk=", "!!set {a}",
        "!!omap [{a: 1}]", "!!pairs [[a, 1]]", "!custom x", "!!timestamp 2024-13-45", "!!timestamp 2024-02-30",
        "!!int abc", "!!float x", "!!bool maybe", "!!null 3", "!<tag:yaml.org,2002:str> s", "!!str [1]",
        "!!map [1]", "!!seq {a: 1}", "!!timestamp 99999-01-01", "!!merge x", "!!value x"]
HUGE = ["9" * 5000, "-" + "1" * 4400, "1e99999", "-1e-99999", "0x" + "f" * 5000, "0o" + "7" * 6000,
        "1" + "_0" * 3000, "0b" + "1" * 20000, ".inf", "-.nan", "1:" + "59:" * 2000 + "1", "9" * 4300]
NON_PRINTABLE = [chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), 127, 0x80, 0x9F, 0xFFFE, 0xFFFF]]
UNICODE = ["ключ", "键", "🔥", "é", "e\u0301", "\u202eevil", "ｍｏｄｅｌ", "\u00a0", "ß", "🙂" * 50,
           "Ⅷ", "\u2028x"]


def _insert(text: str, rnd: random.Random, snippet: str) -> str:
    """`snippet` as the value of a random key, or as a new top-level key."""
    lines = text.splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_]+:\s", line)]
    if keyed and rnd.random() < 0.6:
        i = rnd.choice(keyed)
        key = lines[i].split(":", 1)[0]
        lines[i] = f"{key}: {snippet}\n"
        return "".join(lines)
    return text + f"\nzz_hostile: {snippet}\n"


def _laughs(rnd: random.Random) -> str:
    levels, fan = rnd.randint(4, 30), rnd.randint(2, 12)
    out = "\n".join([f"l0: &l0 [{', '.join(['lol'] * fan)}]"] + [
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)])
    return out + "\n"


def hostile_case(rnd: random.Random, workdir: Path, n: int) -> Path:
    """Write one hostile recipe (or a directory) under `workdir`; return its path."""
    seed = rnd.choice(SEEDS)
    kind = rnd.choice(["recursive", "laughs", "deep", "non_printable", "tag", "huge", "unicode", "garbage",
                       "structure", "merge", "mixed"])
    path = workdir / f"case{n:05d}.yaml"
    if kind == "structure":
        pick = rnd.randrange(6)
        if pick == 0:
            path.mkdir()
            return path
        data = [b"", b"\n", b"---\n", b"--- 1\n--- 2\n", b"\xef\xbb\xbf", b"~"][pick]
        path.write_bytes(data + (seed.encode() if pick == 3 and rnd.random() < 0.5 else b""))
        return path
    if kind == "garbage":
        size = rnd.choice([1, 16, 256, 4096, 65536])
        data = bytes(rnd.getrandbits(8) for _ in range(size))
        if rnd.random() < 0.5:  # garbage inside a real recipe
            at = rnd.randint(0, len(seed))
            data = seed.encode()[:at] + data[:64] + seed.encode()[at:]
        path.write_bytes(data)
        return path
    if kind == "recursive":
        snippet = rnd.choice(["&a [*a]", "&a {k: *a}", "&a [1, [2, [*a]]]", "&a {x: [*a, 1]}",
                              "&a {<<: *a}", "&a [{k: &b [*b]}]", "&a {a: {b: {c: *a}}}"])
        text = _insert(seed, rnd, snippet)
    elif kind == "laughs":
        text = seed + "\n" + _laughs(rnd) if rnd.random() < 0.5 else _laughs(rnd) + seed
    elif kind == "deep":
        depth = rnd.choice([65, 100, 1000, 10_000, 200_000])
        style = rnd.randrange(4)
        if style == 0:
            snippet = "[" * depth + "]" * depth
        elif style == 1:
            snippet = "{a: " * depth + "1" + "}" * depth
        elif style == 2:
            snippet = "\n" + "".join(" " * (i + 2) + f"k{i}:\n" for i in range(min(depth, 2000)))
        else:
            snippet = "- " * min(depth, 5000) + "x"
        text = _insert(seed, rnd, snippet)
    elif kind == "non_printable":
        at = rnd.randint(0, len(seed))
        text = seed[:at] + rnd.choice(NON_PRINTABLE) + seed[at:]
    elif kind == "tag":
        text = _insert(seed, rnd, rnd.choice(TAGS))
    elif kind == "huge":
        text = _insert(seed, rnd, rnd.choice(HUGE))
    elif kind == "unicode":
        word = rnd.choice(UNICODE)
        lines = seed.splitlines(keepends=True)
        i = rnd.randrange(len(lines))
        text = "".join(lines[:i]) + re.sub(r"^(\s*)[A-Za-z_]+:", rf"\g<1>{word}:", lines[i], count=1) + "".join(
            lines[i + 1:]) if rnd.random() < 0.7 else _insert(seed, rnd, word)
    elif kind == "merge":
        text = _insert(seed, rnd, rnd.choice(["{<<: *undefined}", "&m {<<: [*m]}", "*nope", "&d 1\nd2: &d 2",
                                              "{<<: 1}", "{<<: [1, 2]}"]))
    else:
        text = seed
        for _ in range(rnd.randint(2, 4)):
            text = _insert(text, rnd, rnd.choice([*TAGS, *HUGE[:4], "&a [*a]", *UNICODE]))
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


# Runs in the limited child: validates each path in-process through the CLI's `main`, as
# `trainctl validate` does, and prints one JSON line per case and a summary.
_CHILD = r"""
import contextlib, io, json, sys, time
from trainctl.cli import main
with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    try:  # warm up: the first validate pays for lazy imports, not for the case
        main(["validate", sys.argv[1]])
    except SystemExit:
        pass
for path in sys.argv[2:]:
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["validate", path])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        except BaseException as exc:
            code = f"{type(exc).__name__}: {exc}"[:500]
    print(json.dumps({"path": path, "code": code, "err": err.getvalue()[:2000],
                      "seconds": time.perf_counter() - t0}), flush=True)
# VmHWM, not getrusage: ru_maxrss survives fork and exec, so it would report the (large) test process.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_kib": peak}), flush=True)
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _check_results(lines: list[str], paths: list[Path]) -> tuple[list, dict]:
    results = [json.loads(line) for line in lines if line.startswith("{")]
    summary = results.pop() if results and "peak_rss_kib" in results[-1] else {}
    failures = []
    for r in results:
        problem = None
        if "Traceback" in r["err"]:
            problem = "traceback"
        elif r["code"] not in (0, 2):
            problem = f"exit {r['code']}"
        elif r["code"] == 2 and not POSITIONED.search(r["err"]):
            problem = "no location"
        elif r["seconds"] > CASE_SECONDS:
            problem = f"took {r['seconds']:.1f} s"
        if problem:
            failures.append((problem, r["path"], r["err"][:300]))
    if len(results) != len(paths):
        failures.append(("child died", paths[len(results)] if len(results) < len(paths) else None, ""))
    return results, {**summary, "failures": failures}


def run_hostile(count: int, seed: int, workdir: Path, chunk: int = 500) -> dict:
    """Validate `count` hostile cases in limited children; figures and failures."""
    rnd = random.Random(seed)
    paths = [hostile_case(rnd, workdir, n) for n in range(count)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    figures = {"cases": 0, "failures": [], "worst_seconds": 0.0, "peak_rss_kib": 0}
    for start in range(0, len(paths), chunk):
        part = paths[start:start + chunk]
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(REPO / "recipes" / "mnist_mlp.yaml"), *map(str, part)],
                              env=env, cwd=workdir,
                              capture_output=True, text=True, timeout=600, preexec_fn=_limit_memory)
        results, summary = _check_results(proc.stdout.splitlines(), part)
        figures["cases"] += len(results)
        figures["failures"] += summary["failures"]
        figures["worst_seconds"] = max([figures["worst_seconds"], *(r["seconds"] for r in results)])
        figures["peak_rss_kib"] = max(figures["peak_rss_kib"], summary.get("peak_rss_kib", 0))
        if proc.returncode != 0:
            figures["failures"].append(("child exit", proc.returncode, proc.stderr[-500:]))
    return figures


def test_hostile_recipes_fail_located_fast_and_small(tmp_path):
    figures = run_hostile(200, seed=14, workdir=tmp_path)
    assert figures["cases"] == 200
    assert not figures["failures"], figures["failures"][:5]
    assert figures["peak_rss_kib"] < MEMORY_LIMIT // 1024


@pytest.mark.slow
def test_hostile_recipes_full_scale(tmp_path):
    t0 = time.perf_counter()
    figures = run_hostile(2500, seed=2014, workdir=tmp_path)
    print(f"\nhostile fuzz: {figures['cases']} cases, {len(figures['failures'])} failures, worst validate "
          f"{figures['worst_seconds']:.2f} s, peak RSS {figures['peak_rss_kib'] / 1024:.0f} MiB, "
          f"{time.perf_counter() - t0:.0f} s in all")
    assert figures["cases"] == 2500
    assert not figures["failures"], figures["failures"][:5]


# Through the real command, under `ulimit -v`: the worst of each kind.
HOSTILE_CLI = {
    "recursive alias": ("x: &a [*a]\n", "1:8", "recursive alias"),
    "billion laughs": ("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)), "5:15", "more than 20,000 nodes"),
    "deep nesting": ("x: " + "[" * 100_000 + "]" * 100_000 + "\n", "1:68", "brackets nest more than 64 levels"),
    "NUL": ("name: t\nseed: 1\x00\n", "2:8", "U+0000"),
    "timestamp": ("seed: !!timestamp 2024-13-45\n", "1:7", "month must be in 1..12"),
    "binary": (b"name: \xff\xfe\x00garbage", "1:7", "not UTF-8"),
    "empty file": ("", "1:1", "missing required key"),
    "directory": (None, "1:1", "is a directory"),
}


def test_hostile_through_the_cli(tmp_path):
    """One `trainctl validate` of every case (it reports each file's problems), under `ulimit -v`."""
    paths = {}
    for n, (case, (text, _, _)) in enumerate(HOSTILE_CLI.items()):
        path = paths[case] = tmp_path / f"case{n}.yaml"
        if text is None:
            path.mkdir()
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "trainctl", "validate", *map(str, paths.values())], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory)
    seconds = time.perf_counter() - t0
    assert result.returncode == 2, result.stderr
    for case, (_, where, expected) in HOSTILE_CLI.items():
        line = next((ln for ln in result.stderr.splitlines() if f"{paths[case]}:" in ln), "")
        assert line.partition("error: ")[2].startswith(f"{paths[case]}:{where}: ") or line.startswith(
            f"{paths[case]}:{where}: "), (case, result.stderr)
        assert expected in line, (case, line)
    assert "Traceback" not in result.stderr
    assert seconds < 30  # interpreter start included; each parse is milliseconds
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
