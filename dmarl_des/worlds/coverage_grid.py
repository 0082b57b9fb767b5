"""The coverage map of the area: cells, the sensor footprint stencil, and who has seen what.

The square area ``[0, size]²`` is cut into ``cells × cells`` square cells of side
``w = size / cells``; cell ``(ix, iy)`` spans ``[ix·w, (ix+1)·w) × [iy·w, (iy+1)·w)`` (the far
edge ``size`` belongs to the last cell). A sensing at a point covers the *footprint* of the cell
that contains it: every cell whose centre lies within ``sensor_radius`` of that cell's centre,
i.e. the offsets ``(dx, dy)`` with ``(dx² + dy²)·w² <= sensor_radius²`` (the centre cell always
belongs), clipped to the area. The footprint is a fixed stencil of cell offsets, so a sensing is a
handful of numpy operations on a padded visit-count grid whatever the position.
"""

from __future__ import annotations

import math

import numpy as np

from dmarl_des.errors import ConfigError


def footprint_offsets(cell_width: float, sensor_radius: float) -> np.ndarray:
    """Cell offsets [S, 2] (int64) of the footprint: centres within ``sensor_radius``."""
    reach = math.floor(sensor_radius / cell_width + 1e-9)
    d = np.arange(-reach, reach + 1)
    dx, dy = np.meshgrid(d, d, indexing="ij")
    inside = (dx * dx + dy * dy) * cell_width**2 <= sensor_radius**2 * (1 + 1e-12)
    return np.stack([dx[inside], dy[inside]], axis=1).astype(np.int64)


class CoverageGrid:
    """Visit counts of every cell; ``sense(point)`` marks a footprint and says what was new."""

    def __init__(self, size: float, cells: int, sensor_radius: float) -> None:
        if not (isinstance(cells, int) and cells >= 1):
            raise ConfigError("world.cells", cells, "an integer >= 1")
        if not size > 0 or not sensor_radius > 0:
            raise ConfigError("world.size/sensor_radius", (size, sensor_radius), "numbers > 0")
        self.size = float(size)
        self.cells = cells
        self.cell_width = self.size / cells
        self.cell_area = self.cell_width**2
        self.sensor_radius = float(sensor_radius)
        self.offsets = footprint_offsets(self.cell_width, self.sensor_radius)
        pad = int(np.abs(self.offsets).max())
        self._pad = pad
        self._width = cells + 2 * pad
        self._stencil = self.offsets[:, 0] * self._width + self.offsets[:, 1]
        inside = np.zeros((self._width, self._width), dtype=bool)
        inside[pad : pad + cells, pad : pad + cells] = True
        self._inside = inside.ravel()
        self._visits = np.zeros(self._width * self._width, dtype=np.int32)
        self.covered = 0
        """Number of cells sensed at least once."""

    @property
    def n_cells(self) -> int:
        return self.cells * self.cells

    @property
    def covered_fraction(self) -> float:
        return self.covered / self.n_cells

    def reset(self) -> None:
        """Nothing seen yet."""
        self._visits[:] = 0
        self.covered = 0

    def cell_of(self, points: np.ndarray) -> np.ndarray:
        """Cell indices (ix, iy) of points [..., 2] in the area (int64, same leading shape)."""
        idx = np.floor(np.asarray(points, dtype=np.float64) / self.cell_width).astype(np.int64)
        return np.clip(idx, 0, self.cells - 1)

    def _footprint_index(self, points: np.ndarray) -> np.ndarray:
        """Padded flat indices [..., S] of the footprints of points [..., 2]."""
        c = self.cell_of(points) + self._pad
        base = c[..., 0] * self._width + c[..., 1]
        return base[..., None] + self._stencil

    def sense(self, x: float, y: float) -> tuple[int, int]:
        """Sense the footprint at ``(x, y)``; returns (newly covered cells, cells sensed)."""
        last = self.cells - 1
        ix = min(max(int(x / self.cell_width), 0), last)
        iy = min(max(int(y / self.cell_width), 0), last)
        pad = self._pad
        idx = self._stencil + ((ix + pad) * self._width + iy + pad)
        seen = self._visits[idx]
        if pad <= ix <= last - pad and pad <= iy <= last - pad:  # the whole footprint is inside
            new = int(np.count_nonzero(seen == 0))
            sensed = idx.size
        else:
            inside = self._inside[idx]
            new = int(np.count_nonzero((seen == 0) & inside))
            sensed = int(np.count_nonzero(inside))
        self._visits[idx] = seen + 1
        self.covered += new
        return new, sensed

    def sense_many(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sense`` at points [A, 2] one after the other, as array operations: per point (newly
        covered cells, cells sensed), int64 [A] each. A cell counts as new for the first point
        of the batch whose footprint covers it, when no earlier sensing did."""
        a = points.shape[0]
        if a == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        cell = (np.asarray(points, dtype=np.float64) / self.cell_width).astype(np.int64)
        np.clip(cell, 0, self.cells - 1, out=cell)
        pad = self._pad
        idx = ((cell[:, 0] + pad) * self._width + (cell[:, 1] + pad))[:, None] + self._stencil
        flat = idx.ravel()  # point after point, each footprint's cells distinct
        cells, first, counts = np.unique(flat, return_index=True, return_counts=True)
        fresh = self._inside[cells] & (self._visits[cells] == 0)
        new = np.bincount(first[fresh] // idx.shape[1], minlength=a)
        sensed = self._inside[flat].reshape(a, -1).sum(axis=1)
        self._visits[cells] += counts.astype(self._visits.dtype)
        self.covered += int(new.sum())
        return new, sensed

    def footprint_cells(self, point: np.ndarray) -> set[tuple[int, int]]:
        """The (ix, iy) cells a sensing at ``point`` would cover (for checks and plots)."""
        c = self.cell_of(point)
        cells = c + self.offsets
        ok = ((cells >= 0) & (cells < self.cells)).all(axis=1)
        return {(int(x), int(y)) for x, y in cells[ok]}

    def covered_cells(self) -> np.ndarray:
        """Bool [cells, cells]: cell (ix, iy) sensed at least once."""
        p, n = self._pad, self.cells
        grid = self._visits.reshape(self._width, self._width)
        return grid[p : p + n, p : p + n] > 0

    def visits(self) -> np.ndarray:
        """Int32 [cells, cells]: how many sensings covered each cell."""
        p, n = self._pad, self.cells
        return self._visits.reshape(self._width, self._width)[p : p + n, p : p + n].copy()

    def seen_fraction(self, points: np.ndarray) -> np.ndarray:
        """Share of each footprint [...] (at points [..., 2]) already covered; 1 if none inside."""
        idx = self._footprint_index(points)
        inside = self._inside[idx]
        seen = (self._visits[idx] > 0) & inside
        n_in = inside.sum(axis=-1)
        return np.where(n_in > 0, seen.sum(axis=-1) / np.maximum(n_in, 1), 1.0)

    def coarse(self, blocks: int) -> np.ndarray:
        """Covered fraction per block of a ``blocks × blocks`` partition, float32 [blocks²]."""
        cov = self.covered_cells().astype(np.float64)
        edges = np.linspace(0, self.cells, blocks + 1).round().astype(np.int64)
        starts = edges[:-1]
        sums = np.add.reduceat(np.add.reduceat(cov, starts, axis=0), starts, axis=1)
        sizes = np.diff(edges)
        return (sums / np.outer(sizes, sizes)).astype(np.float32).ravel()
