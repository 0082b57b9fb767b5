"""A fixed-size memory of points per UAV (coverage, search and rescue): a ring [N, capacity, 2]."""

from __future__ import annotations

import numpy as np

FAR = -1.0e6
"""Coordinate of empty slots: a point so far outside the area that it never looks near."""


class PointMemory:
    """The last ``capacity`` points each of N UAVs wrote; older points are overwritten.

    ``count[i]`` is the number of points UAV i wrote since it was last cleared. Slots not written
    yet hold ``(FAR, FAR)``, so ``points[idx]`` can be used whole, without per-UAV slicing.
    """

    def __init__(self, n: int, capacity: int) -> None:
        self.capacity = int(capacity)
        self.points = np.full((n, self.capacity, 2), FAR, dtype=np.float64)
        self.count = np.zeros(n, dtype=np.int64)

    def clear(self, i: int | None = None) -> None:
        """Forget everything (``i=None``) or UAV i's points."""
        if i is None:
            self.points.fill(FAR)
            self.count[:] = 0
        else:
            self.points[i] = FAR
            self.count[i] = 0

    def add(self, i: int, points: np.ndarray) -> None:
        """Write points [k, 2] for UAV i (of more than ``capacity``, the last ones are kept)."""
        k = points.shape[0]
        if k == 0:
            return
        start = int(self.count[i])
        first = start
        if k > self.capacity:
            first += k - self.capacity
            points = points[k - self.capacity :]
        slots = (first + np.arange(points.shape[0])) % self.capacity
        self.points[i, slots] = points
        self.count[i] = start + k

    def add_many(self, owners: np.ndarray, points: np.ndarray) -> None:
        """Write points [M, 2] for UAVs ``owners`` [M], each UAV's in the order given (of more
        than ``capacity`` for one UAV, its last ones are kept)."""
        m = owners.shape[0]
        if m == 0:
            return
        if owners[0] == owners[-1] and (m < 3 or (owners == owners[0]).all()):
            self.add(int(owners[0]), points)  # one UAV's reports (a decision batch of one)
            return
        order = np.argsort(owners, kind="stable")
        owner = owners[order]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        sizes = np.diff(np.r_[starts, m])
        group = np.repeat(np.arange(starts.size), sizes)
        rank = np.arange(m) - starts[group]
        keep = rank >= (sizes - self.capacity)[group]
        slot = (self.count[owner] + rank) % self.capacity
        self.points[owner[keep], slot[keep]] = points[order[keep]]
        self.count[owner[starts]] += sizes

    def add_one(self, i: int, x: float, y: float) -> None:
        """Write one point for UAV i."""
        row = self.points[i, int(self.count[i]) % self.capacity]
        row[0] = x
        row[1] = y
        self.count[i] += 1

    def known(self, i: int) -> np.ndarray:
        """UAV i's remembered points [min(count, capacity), 2] (ring order, a view)."""
        return self.points[i, : min(int(self.count[i]), self.capacity)]
