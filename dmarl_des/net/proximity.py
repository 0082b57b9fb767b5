"""Proximity topology: agents within a radius of each other are neighbours (k-d tree, torus)."""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from dmarl_des.errors import ConfigError
from dmarl_des.net.topology import Topology


class ProximityTopology:
    """Rebuilds the neighbour graph from positions: i and j linked when ``|x_i - x_j| <= radius``.

    With ``torus_size`` set, the plane wraps around in both axes with that period (positions are
    taken modulo the size). Links are symmetric. Absent agents (``present[i]`` false) have no
    neighbours and are nobody's neighbour.
    """

    def __init__(self, radius: float, torus_size: float | None = None) -> None:
        if isinstance(radius, bool) or not isinstance(radius, int | float) or not radius >= 0:
            raise ConfigError("radius", radius, "a finite number >= 0")
        if not math.isfinite(radius):
            raise ConfigError("radius", radius, "a finite number >= 0")
        if torus_size is not None and (
            isinstance(torus_size, bool)
            or not isinstance(torus_size, int | float)
            or not 0 < torus_size < math.inf
        ):
            raise ConfigError("torus_size", torus_size, "None or a finite number > 0")
        self.radius = float(radius)
        self.torus_size = None if torus_size is None else float(torus_size)

    def update(self, positions: np.ndarray, present: np.ndarray | None = None) -> Topology:
        """The topology of agents at ``positions`` ([N, 2]); ``present``: optional [N] mask."""
        pos = np.asarray(positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 2:
            raise ConfigError("positions", pos.shape, "an array of shape [N, 2]")
        n = pos.shape[0]
        if present is None:
            ids = np.arange(n, dtype=np.int64)
        else:
            mask = np.asarray(present, dtype=bool)
            if mask.shape != (n,):
                raise ConfigError("present", mask.shape, f"a boolean array of shape [{n}]")
            ids = np.flatnonzero(mask)
            pos = pos[ids]
        if not np.all(np.isfinite(pos)):
            raise ConfigError("positions", "non-finite values", "finite coordinates")
        if self.torus_size is not None:
            size = self.torus_size
            pos = np.mod(pos, size)
            pos[pos >= size] = 0.0
            tree = cKDTree(pos, boxsize=size)
        else:
            tree = cKDTree(pos)
        pairs = tree.query_pairs(self.radius, output_type="ndarray")
        src = ids[pairs[:, 0]]
        dst = ids[pairs[:, 1]]
        return Topology.from_edges(n, src, dst, undirected=True)
