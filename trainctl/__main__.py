"""`python -m trainctl` is the `trainctl` command."""

import os
import sys

# `python -m` puts the current directory first on sys.path; the console script does not.
# Drop it, so a module planted where the user stands (often beside the recipe) cannot
# shadow a library trainctl imports later; trainctl itself is already imported.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from trainctl.cli import main  # noqa: E402

main()
