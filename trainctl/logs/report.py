"""Placeholder reporter until the logs package lands."""
from __future__ import annotations
import sys
class Reporter:
    def __init__(self, quiet=False): self.quiet=quiet
    def info(self, msg):
        if not self.quiet: print(msg, file=sys.stderr)
    def warn(self, msg): print(f"warning: {msg}", file=sys.stderr)
    def error(self, msg): print(f"error: {msg}", file=sys.stderr)
_R = Reporter()
def get_reporter(): return _R
def set_reporter(r):
    global _R; _R = r
