"""A callback that times epochs, for the benchmark (wall and CPU seconds of this process).

Only epoch hooks: it leaves `steps_per_execution: auto` and Keras's asynchronous batch
callbacks as they would be without it. A recipe names it as `{class: "bench_clock:EpochClock"}`
with `imports: [bench_clock]` and bench/ on `sys.path`; the last one made is `EpochClock.last`.
"""

from __future__ import annotations

import time

from trainctl.backend import keras


class EpochClock(keras.callbacks.Callback):
    """Wall and process CPU seconds of each epoch, from `on_epoch_begin` to `on_epoch_end`."""

    last: "EpochClock | None" = None

    def __init__(self):
        super().__init__()
        self.wall: list[float] = []
        self.cpu: list[float] = []
        EpochClock.last = self

    def on_epoch_begin(self, epoch, logs=None):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.process_time() - self._cpu)
