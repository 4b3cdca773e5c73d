"""The processes of a multi-host run: who they are, and how they keep in step.

A run over several hosts is one `trainctl run` per process, all with the same recipe
and run directory, each told the coordinator's address, the number of processes and
its own index. `initialize` joins them through `keras.distribution.initialize` (on top
of `jax.distributed`); it must run before JAX computes anything.

Process 0 writes the run directory; the others train and take part in every
collective step (checkpoint barriers, the choice of checkpoint on resume, preemption).

Example:

    >>> options = ProcessOptions("10.0.0.1:1234", num_processes=2, process_id=1)
    >>> initialize(options)
    >>> is_main_process()
    False
"""

from __future__ import annotations

import dataclasses

from trainctl.errors import TrainctlError


@dataclasses.dataclass(frozen=True)
class ProcessOptions:
    """`--coordinator HOST:PORT --num-processes N --process-id I` (or TRAINCTL_* variables).

    All unset, or `num_processes` 1, is a single-process run.
    """

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    @property
    def multi_process(self) -> bool:
        return (self.num_processes or 1) > 1

    def check(self) -> None:
        """Raise a `TrainctlError` naming what is missing or out of range."""
        given = {"--coordinator": self.coordinator, "--num-processes": self.num_processes,
                 "--process-id": self.process_id}
        if not self.multi_process:
            if self.num_processes is not None and self.num_processes < 1:
                raise TrainctlError(f"--num-processes must be at least 1, got {self.num_processes}")
            if self.coordinator is not None or self.process_id not in (None, 0):
                raise TrainctlError(
                    f"--coordinator/--process-id given ({self.coordinator!r}, {self.process_id!r}) without "
                    "--num-processes N > 1. A multi-process run needs all three "
                    "(or TRAINCTL_COORDINATOR, TRAINCTL_NUM_PROCESSES, TRAINCTL_PROCESS_ID).")
            return
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise TrainctlError(
                f"a run over {self.num_processes} processes also needs {' and '.join(missing)} "
                "(or TRAINCTL_COORDINATOR / TRAINCTL_PROCESS_ID): every process gets the address of "
                "process 0 and its own index.")
        host, _, port = self.coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise TrainctlError(f"--coordinator must be HOST:PORT (where process 0 listens), got {self.coordinator!r}")
        if not 0 <= self.process_id < self.num_processes:
            raise TrainctlError(
                f"--process-id must be in 0..{self.num_processes - 1} for {self.num_processes} processes, "
                f"got {self.process_id}")


_current = ProcessOptions()


def initialize(options: ProcessOptions | None) -> None:
    """Join the processes of a multi-process run (does nothing for a single process).

    Call it once, before JAX computes anything; a second call with the same options
    is a no-op.
    """
    global _current
    options = options or ProcessOptions()
    options.check()
    if not options.multi_process:
        return
    if _current.multi_process:
        if _current != options:
            raise TrainctlError(f"this process already joined {_current}; it cannot join {options} as well")
        return
    from trainctl.backend import keras

    try:
        keras.distribution.initialize(options.coordinator, options.num_processes, options.process_id)
    except Exception as exc:  # noqa: BLE001 - jax raises several kinds; all mean "could not join"
        raise TrainctlError(
            f"process {options.process_id} of {options.num_processes} could not join the run at "
            f"{options.coordinator}: {type(exc).__name__}: {exc}. Start every process with the same "
            "--coordinator (the host and a free port of process 0) and --num-processes.") from None
    _current = options


def process_index() -> int:
    """This process's index (0 in a single-process run)."""
    return _current.process_id or 0


def process_count() -> int:
    """How many processes the run has (1 unless `initialize` joined several)."""
    return _current.num_processes or 1


def is_main_process() -> bool:
    """True for the process that writes the run directory (process 0)."""
    return process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier `name` (fails if they reach different names)."""
    if process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def broadcast_from_main(value: int) -> int:
    """Process 0's `value`, on every process."""
    if process_count() == 1:
        return value
    import numpy as np
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int64(value)))


def preempted_at(step: int) -> bool:
    """True on every process at the same `step` once any process got SIGTERM.

    JAX's preemption service catches SIGTERM in multi-process runs and picks a step all
    processes still reach; call this at every step, with the same step numbers on every
    process. Always False in a single-process run.
    """
    if process_count() == 1:
        return False
    from jax.experimental import multihost_utils

    return multihost_utils.reached_preemption_sync_point(step)
