"""Run a Python module (`-m name`) or script, then write this process's peak RSS in KiB to $PEAK_RSS_FILE.

Read from /proc/self/status (VmHWM) at exit: `getrusage` of a child started by a big
process reports the parent's peak instead, since Linux keeps it across fork and exec.

    $ PEAK_RSS_FILE=rss.txt python bench/peak_rss.py -m trainctl run recipes/mnist_mlp.yaml
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys


def _write_peak() -> None:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(peak)


if __name__ == "__main__":
    atexit.register(_write_peak)
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
