"""`python -m trainctl` is the `trainctl` command."""

import os
import sys

# `python -m` puts the current directory first on sys.path (and an empty PYTHONPATH entry
# does too); the console script does not. Drop it before anything else is imported, so
# a module planted where the user stands (often beside the recipe) cannot shadow a
# library trainctl loads; trainctl itself is already imported.
_cwd = os.getcwd()
sys.path[:] = [p for p in sys.path if p not in ("", ".", _cwd)]

from trainctl.cli import main  # noqa: E402

main()
