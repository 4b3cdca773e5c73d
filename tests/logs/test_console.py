from __future__ import annotations

import io
import json
import subprocess
import sys

from trainctl.logs.console import Reporter, format_value, get_reporter, set_reporter


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_messages_go_to_stderr_with_prefixes():
    err, out = io.StringIO(), io.StringIO()
    r = Reporter(plain=True, err=err, out=out)
    r.info("shape [784] :smile:")  # neither markup nor emoji codes are interpreted
    r.warn("no validation data")
    r.error("bad recipe")
    assert err.getvalue() == "shape [784] :smile:\nwarning: no validation data\nerror: bad recipe\n"
    assert out.getvalue() == ""


def test_quiet_silences_info_only():
    err = io.StringIO()
    r = Reporter(plain=True, quiet=True, err=err, out=io.StringIO())
    r.info("hidden")
    r.warn("w")
    r.error("e")
    assert err.getvalue() == "warning: w\nerror: e\n"


def test_plain_table_and_json_go_to_stdout():
    err, out = io.StringIO(), io.StringIO()
    r = Reporter(plain=True, err=err, out=out, quiet=True)
    r.table("Runs", ["name", "best"], [["a", 0.123456], ["longer", None]])
    r.json({"runs": [{"name": "a", "best": 0.5}]})
    text = out.getvalue()
    table, _, js = text.partition("{")
    assert table.splitlines() == ["Runs", "name    best", "a       0.1235", "longer  -"]
    assert json.loads("{" + js) == {"runs": [{"name": "a", "best": 0.5}]}
    assert err.getvalue() == ""


def test_rich_mode_draws_a_table_and_keeps_json_plain():
    err, out = io.StringIO(), io.StringIO()
    r = Reporter(plain=False, err=err, out=out)
    r.table("Runs", ["name"], [["mnist"]])
    r.warn("careful")
    assert "┏" in out.getvalue() and "│ mnist │" in out.getvalue()
    assert "\x1b[" in err.getvalue() and "careful" in err.getvalue()
    out.seek(0), out.truncate()
    r.json([1, {"a": "b"}])
    assert json.loads(out.getvalue()) == [1, {"a": "b"}]


def test_mode_is_rich_only_on_a_terminal_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert Reporter(err=_Tty()).plain is False
    assert Reporter(err=io.StringIO()).plain is True
    monkeypatch.setenv("CI", "true")
    assert Reporter(err=_Tty()).plain is True


def test_get_and_set_reporter():
    mine = Reporter(plain=True, err=io.StringIO())
    previous = set_reporter(mine)
    try:
        assert get_reporter() is mine
    finally:
        set_reporter(previous)
    assert get_reporter() is not mine


def test_format_value():
    assert format_value(0.000123456) == "0.0001235"
    assert format_value(12345.678) == "1.235e+04"
    assert format_value(3) == "3" and format_value(None) == "-" and format_value("x") == "x"


def test_reporting_imports_neither_keras_nor_matplotlib():
    code = (
        "import sys, trainctl.logs as L\n"
        "L.get_reporter(); L.list_runs; L.plot_run; L.load_history\n"
        "bad = [m for m in ('keras', 'jax', 'matplotlib', 'tensorboardX') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")
