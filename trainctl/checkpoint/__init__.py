"""Atomic, verified checkpoints that resume a run exactly.

`capture`/`restore` turn a model, its optimizer, metrics, random generators and
callbacks into a `TrainingState` and back; `CheckpointStore` writes states under
RUN_DIR/ckpt/<step>/ and finds the newest sound one.

Example:

    >>> from trainctl.checkpoint import CheckpointStore, capture, restore
    >>> store = CheckpointStore(run_dir / "ckpt", keep=3)
    >>> store.save(capture(model, callbacks, position={"epoch": 0}), step=100, meta={})
"""

from trainctl.checkpoint.codec import Unsupported
from trainctl.checkpoint.state import (
    CheckpointMismatch,
    TrainingState,
    capture,
    restore,
    restore_callbacks,
)
from trainctl.checkpoint.store import (
    CheckpointError,
    CheckpointProblem,
    CheckpointStore,
    resolve_checkpoint,
)

__all__ = [
    "CheckpointError",
    "CheckpointMismatch",
    "CheckpointProblem",
    "CheckpointStore",
    "TrainingState",
    "Unsupported",
    "capture",
    "resolve_checkpoint",
    "restore",
    "restore_callbacks",
]
