"""bench/bench.py keeps working: a dry run (tiny sizes, one repeat) of its quick sections.

No timing is asserted; the figures of a real run go to docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, cli_env


def test_bench_dry_run_reports_every_section_it_ran(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench.py"), "--dry-run", "--only", "cli,train",
                           "--json", str(out)], cwd=REPO, env=cli_env(), text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {"machine", "cli", "train"} <= set(results)
    assert results["cli"]["help_ratio"] > 0
    train = results["train"]
    assert {"trainctl_default", "keras_fit_default", "trainctl_fit_settings", "jax_scan"} <= set(train)
    assert train["same_result_as_fit"] is True  # trainctl's defaults train what hand-written fit trains
    assert "Training, MNIST MLP" in proc.stdout
