"""What each UAV knows in search and rescue: reports of found targets, and which sectors were searched.

``ReportBook`` — up to ``slots`` reports per UAV: (target, position, time heard, own find). A
report of a target already in the book replaces its position and time (an own find stays own); a
new one takes a free slot, else the slot of the oldest report that is not an own find, else the
oldest. ``drop`` forgets a target (the UAV looked and did not find it: a later report may bring it
back); a confirmation forgets it for good (the last ``slots`` confirmed targets a UAV heard of
are remembered, and reports of them are ignored).

``SectorCounts`` — the square ``[0, size]²`` cut into ``k × k`` equal sectors; per UAV, how many
searched points (its own arrivals and the ones it heard of) it knows in each sector. The
*frontier* of a UAV is the sector it knows least searched (ties: the nearest centre, then the
lowest index), its own sector excluded.
"""

from __future__ import annotations

import numpy as np


class ReportBook:
    """Reports of found targets that each of N UAVs knows (arrays [N, slots])."""

    def __init__(self, n: int, slots: int) -> None:
        self.slots = int(slots)
        self.target = np.full((n, self.slots), -1, dtype=np.int64)
        """Target of each report (-1: empty slot)."""
        self.pos = np.zeros((n, self.slots, 2))
        self.t = np.zeros((n, self.slots))
        self.mine = np.zeros((n, self.slots), dtype=bool)
        """True for the UAV's own finds (it announces them; it cannot confirm them)."""
        self.closed = np.full((n, self.slots), -1, dtype=np.int64)
        """Ring of the last targets each UAV heard were confirmed."""
        self.n_closed = np.zeros(n, dtype=np.int64)

    def clear(self, i: int | None = None) -> None:
        """Forget every report (``i=None``) or UAV i's."""
        rows = slice(None) if i is None else i
        self.target[rows] = -1
        self.mine[rows] = False
        self.closed[rows] = -1
        self.n_closed[rows] = 0

    def add(self, i: int, target: int, x: float, y: float, t: float, mine: bool) -> None:
        """UAV i learns (or hears again) that ``target`` was found at ``(x, y)`` at time ``t``
        (a report older than the one held only marks it as an own find when ``mine``)."""
        self.hear(
            np.array([i]),
            np.array([target]),
            np.array([[x, y]]),
            np.array([t]),
            np.ones(1, bool),
            mine=mine,
        )

    def drop(self, i: int, target: int) -> None:
        """UAV i forgets ``target``."""
        hit = self.target[i] == target
        self.target[i, hit] = -1
        self.mine[i, hit] = False

    def hear(
        self,
        owners: np.ndarray,
        targets: np.ndarray,
        points: np.ndarray,
        times: np.ndarray,
        found: np.ndarray,
        mine: bool = False,
    ) -> None:
        """Messages [M] in order: UAV ``owners[r]`` learns that ``targets[r]`` was found at
        ``points[r]`` at ``times[r]`` (``found[r]``, as ``add``; ignored for a target it knows
        confirmed) or that it was confirmed (not ``found[r]``: forgotten for good). Each UAV's
        messages take effect in the order given."""
        if len(owners) == 0:
            return
        order = np.argsort(owners, kind="stable")
        owner = owners[order]
        first = np.r_[True, owner[1:] != owner[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0))
        rank = np.empty(len(owner), dtype=np.int64)
        rank[order] = np.arange(len(owner)) - start
        for r in range(int(rank.max()) + 1):  # one message per UAV at a time
            sel = np.flatnonzero(rank == r)
            add = found[sel]
            if add.any():
                a = sel[add]
                a = a[~(self.closed[owners[a]] == targets[a, None]).any(axis=1)]
                self._add_distinct(owners[a], targets[a], points[a], times[a], mine)
            if not add.all():
                d = sel[~add]
                o, j = owners[d], targets[d]
                b, k = np.nonzero(self.target[o] == j[:, None])
                self.target[o[b], k] = -1
                self.mine[o[b], k] = False
                self.closed[o, self.n_closed[o] % self.slots] = j
                self.n_closed[o] += 1

    def _add_distinct(
        self, i: np.ndarray, target: np.ndarray, points: np.ndarray, t: np.ndarray, mine: bool
    ) -> None:
        """``add`` for distinct UAVs ``i`` at once."""
        held = self.target[i]
        hit = held == target[:, None]
        known = hit.any(axis=1)
        free = held < 0
        own = self.mine[i]
        oldest = np.argmin(np.where(own, np.inf, self.t[i]), axis=1)
        oldest = np.where(own.all(axis=1), np.argmin(self.t[i], axis=1), oldest)
        k = np.where(known, hit.argmax(axis=1), free.argmax(axis=1))
        k = np.where(known | free.any(axis=1), k, oldest)
        self.mine[i[known], k[known]] |= mine
        self.mine[i[~known], k[~known]] = mine
        newer = ~known | (t >= self.t[i, k])  # an older report leaves the held one
        i, k = i[newer], k[newer]
        self.target[i, k] = target[newer]
        self.pos[i, k] = points[newer]
        self.t[i, k] = t[newer]

    def expire(self, idx: np.ndarray, before: float) -> None:
        """UAVs ``idx`` forget reports of finds made before time ``before``."""
        old = (self.t[idx] < before) & (self.target[idx] >= 0)
        if old.any():
            b, k = np.nonzero(old)
            self.target[idx[b], k] = -1
            self.mine[idx[b], k] = False

    def knows(self, idx: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """[B] bool: UAV ``idx[b]`` holds a report of ``targets[b]``."""
        return (self.target[idx] == targets[:, None]).any(axis=1)

    def nearest_other(
        self, idx: np.ndarray, here: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For UAVs ``idx`` at ``here`` [B, 2]: the nearest report that is not an own find —
        (exists [B] bool, its target [B] (-1 if none), its position [B, 2] (here if none), the
        time of the find [B] (NaN if none))."""
        usable = (self.target[idx] >= 0) & ~self.mine[idx]
        pos = self.pos[idx]
        d2 = ((pos - here[:, None, :]) ** 2).sum(axis=2)
        d2 = np.where(usable, d2, np.inf)
        k = np.argmin(d2, axis=1)
        rows = np.arange(len(idx))
        exists = usable[rows, k]
        target = np.where(exists, self.target[idx][rows, k], -1)
        where = np.where(exists[:, None], pos[rows, k], here)
        when = np.where(exists, self.t[idx][rows, k], np.nan)
        return exists, target, where, when

    def own_count(self, idx: np.ndarray) -> np.ndarray:
        """[B] number of own finds UAVs ``idx`` still hold."""
        return ((self.target[idx] >= 0) & self.mine[idx]).sum(axis=1)

    def own_finds(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Own finds of UAVs ``idx``: (owner [K], target [K], position [K, 2], time [K]), UAV by
        UAV, slot by slot."""
        held = (self.target[idx] >= 0) & self.mine[idx]
        b, k = np.nonzero(held)
        rows = idx[b]
        return rows, self.target[rows, k], self.pos[rows, k], self.t[rows, k]


class SectorCounts:
    """Searched points each of N UAVs knows per sector of a ``k × k`` partition of the area."""

    def __init__(self, n: int, size: float, k: int) -> None:
        self.size = float(size)
        self.k = int(k)
        self.width = self.size / self.k
        self.count = np.zeros((n, self.k * self.k), dtype=np.int32)
        c = (np.arange(self.k) + 0.5) * self.width
        cx, cy = np.meshgrid(c, c, indexing="ij")
        self.centres = np.stack([cx.ravel(), cy.ravel()], axis=1)
        """Centre of each sector [k², 2]; sector ``ix·k + iy`` spans column ix, row iy."""

    def clear(self, i: int | None = None) -> None:
        if i is None:
            self.count[:] = 0
        else:
            self.count[i] = 0

    def sector_of(self, points: np.ndarray) -> np.ndarray:
        """Sector index of points [..., 2] (the far edge belongs to the last sector)."""
        cell = np.clip(np.floor(points / self.width).astype(np.int64), 0, self.k - 1)
        return cell[..., 0] * self.k + cell[..., 1]

    def add(self, owners: np.ndarray, points: np.ndarray) -> None:
        """UAVs ``owners`` [M] learn of searched points [M, 2] (repeats add up)."""
        if len(owners) == 0:
            return
        flat = owners * (self.k * self.k) + self.sector_of(points)
        np.add.at(self.count.reshape(-1), flat, 1)

    def frontier(self, idx: np.ndarray, here: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For UAVs ``idx`` at ``here`` [B, 2]: the frontier sector [B] (-1 with a single sector)
        and its known count [B]."""
        if self.k == 1:
            return np.full(len(idx), -1, dtype=np.int64), np.zeros(len(idx), dtype=np.int64)
        counts = self.count[idx]
        dx = self.centres[:, 0] - here[:, :1]
        dy = self.centres[:, 1] - here[:, 1:]
        score = (dx * dx + dy * dy) * (1.0 / (4.0 * self.size * self.size))  # < 1: counts first
        score += counts
        rows = np.arange(len(idx))
        score[rows, self.sector_of(here)] = np.inf
        best = np.argmin(score, axis=1)
        return best, counts[rows, best].astype(np.int64)
