"""Errors as data, and the exit codes the CLI maps them to.

Validators collect `RecipeError` values and raise them together in one
`RecipeInvalid`; only the CLI prints them. Exit codes (documented in the README):

    0   success
    1   training failed (NaN loss, an exception in user code)
    2   bad recipe, usage or data
    74  could not write the run directory (disk full, read-only, no permission)
    130 interrupted by SIGINT, 143 by SIGTERM (after a clean checkpoint)
"""

from __future__ import annotations

import dataclasses

EXIT_OK = 0
EXIT_TRAINING_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_WRITE_FAILED = 74  # sysexits.h's EX_IOERR
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


@dataclasses.dataclass(frozen=True)
class RecipeError:
    """One problem in a recipe, at a place a user can jump to.

    Example:

        >>> str(RecipeError("r.yaml", 4, 3, "unknown layer 'Desne'", "did you mean 'Dense'?"))
        "r.yaml:4:3: unknown layer 'Desne' (did you mean 'Dense'?)"
    """

    file: str
    line: int
    col: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class TrainctlError(Exception):
    """An error the user can fix; the CLI prints its message and exits with `exit_code`."""

    exit_code = EXIT_BAD_INPUT


class RecipeInvalid(TrainctlError):
    """Every problem found in a recipe, reported at once."""

    def __init__(self, errors: list[RecipeError]):
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.col))
        super().__init__("\n".join(str(e) for e in self.errors))


class DataError(TrainctlError):
    """Data that does not fit the recipe (missing file, wrong shape, unknown key)."""


class TrainingFailed(TrainctlError):
    """Training stopped on an error that is not the recipe's fault (NaN, user code)."""

    exit_code = EXIT_TRAINING_FAILED


class WriteFailed(TrainctlError):
    """A file of the run could not be written (disk full, read-only filesystem); nothing was replaced.

    Example:

        >>> raise WriteFailed("cannot write runs/x/ckpt/000000120: No space left on device")
    """

    exit_code = EXIT_WRITE_FAILED


class Interrupted(TrainctlError):
    """Training was stopped by a signal after a clean checkpoint."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
