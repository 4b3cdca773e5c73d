"""Every `trainctl ...` command line shown in README.md and docs/ parses with today's command line.

Command lines are parsed by click exactly as `trainctl` would parse them, without running
them. Synopses count too: `[--split test]` is read as `--split test`, `RECIPE...` as `RECIPE`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import importlib

import pytest
import typer

from trainctl.cli import app

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```(\w*)\s*$")
_INLINE = re.compile(r"`(trainctl [^`]+)`")
_IN_LINE = re.compile(r"(?:^|[\s;&|(\"'$]|exec )(trainctl\s.*)")


def _commands(path: Path) -> list[tuple[str, str]]:
    """(`file:line`, command) for each trainctl command line in a Markdown file."""
    out, fenced, pending = [], None, ""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line.strip())
        if fence:
            fenced = None if fenced is not None else fence.group(1)
            continue
        where = f"{path.relative_to(REPO)}:{number}"
        if fenced is not None and fenced not in ("yaml", "python", "json", "text"):
            if line.lstrip().startswith("#"):
                continue
            text = pending + line.strip()
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            found = _IN_LINE.search(text)
            if found:
                out.append((where, found.group(1)))
        else:
            # Inline spans; one broken over two lines is joined.
            joined = line + (" " + lines[number] if number < len(lines) and line.count("`") % 2 else "")
            out += [(where, m) for m in _INLINE.findall(joined)]
    return out


def _args(command: str) -> list[str]:
    command = re.split(r"\s#\s|\s[|>]\s?|\"$", command)[0]  # comments, pipes, redirections, a closing quote
    command = command.replace("[", " ").replace("]", " ").replace("…", " ")
    args = [a.removesuffix("...") for a in shlex.split(command)[1:]]
    return [a for a in args if a and a not in ("or", "/")]


def _parse(args: list[str]) -> None:
    root = _ROOT
    ctx = root.make_context("trainctl", list(args))
    protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
    rest = [*protected, *ctx.args]
    if rest:
        name, command, sub_args = root.resolve_command(ctx, rest)
        if len(args) > 1:  # prose names a bare command (`trainctl resume`): that it exists is enough
            command.make_context(name, sub_args, parent=ctx)


COMMANDS = [c for doc in DOCS for c in _commands(doc)]
# click's exceptions, from wherever this typer takes click (recent typers carry their own copy).
_ROOT = typer.main.get_command(app)
_CORE = next(c for c in type(_ROOT).__mro__ if c.__module__.endswith("click.core"))
errors = importlib.import_module(_CORE.__module__.rsplit(".", 1)[0] + ".exceptions")


def test_the_docs_show_commands():
    # Catches a broken extractor: README alone shows every command.
    shown = {_args(command)[0] for _, command in COMMANDS if _args(command)}
    assert {"run", "resume", "eval", "validate", "smoke", "summary", "init", "plot", "runs", "schema"} <= shown


@pytest.mark.parametrize("where, command", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_command_line_parses(where, command):
    try:
        _parse(_args(command))
    except (typer.Exit, getattr(errors, "Exit", typer.Exit)):  # --help, --version
        pass
    except errors.ClickException as exc:
        pytest.fail(f"{where}: `{command}` does not parse: {exc.format_message()}")
