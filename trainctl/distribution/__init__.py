"""Scale-out: the same recipe on all local devices and across hosts, with `keras.distribution`.

trainctl adds no distribution of its own. The recipe's `distribution:` section becomes
Keras's `DataParallel` or `ModelParallel` (`DeviceMesh` + `LayoutMap`), set globally
before the model is built; Keras's JAX trainer then shards variables and batches.
Several processes (one per host, or per GPU) join through `keras.distribution.initialize`.

What trainctl adds is what a run needs around it: checks that name the recipe line,
the global-batch semantics across processes, one writer of the run directory, and the
topology recorded with every checkpoint. See docs/distributed.md.

Example:

    >>> initialize(ProcessOptions("10.0.0.1:1234", 2, 0))   # first, before any JAX work
    >>> topology = setup(loaded)                            # before the model is built
    >>> model, builder = build_compiled_model(loaded)
    >>> check_model(loaded, model)
"""

from trainctl.distribution.batches import check_batches, process_local_batches
from trainctl.distribution.processes import (
    ProcessOptions,
    barrier,
    broadcast_from_main,
    initialize,
    is_main_process,
    preempted_at,
    process_count,
    process_index,
)
from trainctl.distribution.strategy import check_model, outside_distribution, setup
from trainctl.distribution.topology import Topology, check_resume

__all__ = [
    "ProcessOptions",
    "Topology",
    "barrier",
    "broadcast_from_main",
    "check_batches",
    "check_model",
    "check_resume",
    "initialize",
    "is_main_process",
    "outside_distribution",
    "preempted_at",
    "process_count",
    "process_index",
    "process_local_batches",
    "setup",
]
