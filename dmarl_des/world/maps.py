"""A world's map: a raster over a rectangle of its space, drawn under the agents by views and animations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmarl_des.errors import ConfigError


@dataclass(frozen=True)
class WorldMap:
    """What the world looks like under its agents now (coverage: the cells sensed so far).

    ``values`` is uint8 ``[H, W]``: 0 nothing, 255 full (the meaning is the world's, named by
    ``label``); row 0 is the bottom row, ``y`` from ``y0``, column 0 the left one, ``x`` from
    ``x0``; the raster spans ``extent = (x0, y0, x1, y1)`` of the agents' space.
    """

    values: np.ndarray
    extent: tuple[float, float, float, float]
    label: str = ""

    def __post_init__(self) -> None:
        v = self.values
        if not isinstance(v, np.ndarray) or v.dtype != np.uint8 or v.ndim != 2 or 0 in v.shape:
            raise ConfigError("world_map.values", getattr(v, "shape", v), "uint8 [H, W], H, W >= 1")
        x0, y0, x1, y1 = (float(e) for e in self.extent)
        if not all(math.isfinite(e) for e in (x0, y0, x1, y1)) or not (x0 < x1 and y0 < y1):
            raise ConfigError(
                "world_map.extent", self.extent, "finite (x0, y0, x1, y1), x0 < x1, y0 < y1"
            )
