"""The topology a run trains on, recorded in its manifest and checkpoints.

A checkpoint restores exactly only onto the topology that wrote it: the same number
of processes, the same devices and the same mesh. Resuming elsewhere is refused
unless asked for (`--allow-drift`): the batches stay the same (`train.batch_size` is
global), but the sums inside each step are split differently, so the numbers differ
in their last bits from a run that never stopped.

Example:

    >>> Topology(processes=2, devices=4, mesh_shape=(4,), axis_names=("batch",), platform="cpu").describe()
    '2 processes, 4 cpu devices, mesh batch=4'
"""

from __future__ import annotations

import dataclasses

from trainctl.errors import TrainctlError


@dataclasses.dataclass(frozen=True)
class Topology:
    """Processes, devices and mesh of a run; `mesh_shape` is None on one device without a distribution."""

    processes: int
    devices: int
    mesh_shape: tuple[int, ...] | None = None
    axis_names: tuple[str, ...] | None = None
    platform: str = "cpu"

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["mesh_shape"] = list(self.mesh_shape) if self.mesh_shape else None
        data["axis_names"] = list(self.axis_names) if self.axis_names else None
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> "Topology":
        """The topology recorded in a checkpoint; checkpoints from before distribution support ran on one device."""
        if not data:
            return cls(processes=1, devices=1, platform="unknown")
        return cls(
            processes=int(data["processes"]),
            devices=int(data["devices"]),
            mesh_shape=tuple(data["mesh_shape"]) if data.get("mesh_shape") else None,
            axis_names=tuple(data["axis_names"]) if data.get("axis_names") else None,
            platform=data.get("platform", "unknown"),
        )

    def describe(self) -> str:
        text = f"{self.processes} process{'es' if self.processes != 1 else ''}, {self.devices} {self.platform} " \
               f"device{'s' if self.devices != 1 else ''}"
        if self.mesh_shape:
            text += ", mesh " + " x ".join(f"{n}={s}" for n, s in zip(self.axis_names, self.mesh_shape))
        return text

    def same_as(self, other: "Topology") -> bool:
        """Same processes, device count and mesh (the platform name is not compared)."""
        key = lambda t: (t.processes, t.devices, t.mesh_shape, t.axis_names)  # noqa: E731
        return key(self) == key(other)


def check_resume(saved: Topology, current: Topology, allow_change: bool) -> bool:
    """Refuse to resume a checkpoint written on `saved` onto another `current` topology.

    Returns True when the topology changed and `allow_change` let it pass (the caller
    records that), False when it is the same.
    """
    if saved.same_as(current):
        return False
    if allow_change:
        return True
    raise TrainctlError(
        f"the checkpoint was written by a run on {saved.describe()}, but this resume runs on "
        f"{current.describe()}. Resume with the same processes (--num-processes), devices and "
        "`distribution:` as the run that wrote it, or pass --allow-drift to continue on this topology "
        "(same batches, but the numbers will differ slightly from an uninterrupted run)."
    )
