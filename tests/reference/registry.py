"""`REFERENCES`: recipe name -> reference builder, for every example of docs/catalogue.md that trains.

Example:

    >>> ref = REFERENCES["multi_io_loss_weights"](seed=42, samples=64)
"""

from __future__ import annotations

from . import guide_000, guide_001, guide_003, guide_004

REFERENCES = {
    name.removeprefix("build_"): builder
    for module in (guide_001, guide_000, guide_003, guide_004)
    for name, builder in vars(module).items()
    if name.startswith("build_") and callable(builder)
}
