"""The road grid of the traffic world: intersections, their four approaches, phases, turns and links.

Intersection ``i = r · cols + c`` sits at row ``r`` (row 0 is the northmost) and column ``c``
(column 0 is the westmost), like ``dmarl_des.net.grid``. Each intersection has four *approaches*,
one per side the vehicles come from: approach ``a = 4 · i + d`` with side ``d`` in
``NORTH, EAST, SOUTH, WEST`` (0–3). A vehicle on the approach from side ``d`` heads to the
opposite side; going straight it leaves by that side, turning right (right-hand traffic) by the
side clockwise after it, turning left by the side before it. Leaving by side ``e`` it drives the
link to the neighbour on that side and joins that neighbour's approach from the opposite side —
or leaves the network where there is no neighbour (an *exit*). Approaches without an upstream
intersection are the *entries*, fed by the arrival processes.

Two phases: phase 0 gives green to the north and south approaches, phase 1 to the east and west
ones; every movement of a green approach (straight, left, right) may go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3
SIDES = 4
SIDE_NAMES = ("n", "e", "s", "w")
STRAIGHT, LEFT, RIGHT = 0, 1, 2
TURNS = 3
PHASE_SIDES = ((NORTH, SOUTH), (EAST, WEST))
"""The approaches (by side) each phase gives green to."""
PHASE_NAMES = ("ns", "ew")
N_PHASES = len(PHASE_SIDES)

_STEP = {NORTH: (-1, 0), EAST: (0, 1), SOUTH: (1, 0), WEST: (0, -1)}
"""(row, column) step to the neighbour on each side."""


def opposite(side: np.ndarray | int) -> np.ndarray | int:
    """The side facing ``side``."""
    return (side + 2) % SIDES


_TURN_OFFSET = np.array([0, 3, 1])
"""Sides clockwise from the heading: straight 0, left 3 (one counter-clockwise), right 1."""


def exit_side(side: np.ndarray | int, turn: np.ndarray | int) -> np.ndarray | int:
    """The side a vehicle leaves by, coming from ``side`` and making ``turn``."""
    return (side + 2 + _TURN_OFFSET[turn]) % SIDES


def phase_of_side(side: int) -> int:
    """The phase that gives green to the approach from ``side``."""
    return next(p for p, sides in enumerate(PHASE_SIDES) if side in sides)


def grid_shape(n: int, rows: int | None) -> tuple[int, int]:
    """(rows, cols) of a grid of ``n`` intersections: ``rows`` given (it must divide ``n``), or
    the largest divisor of ``n`` not above √n (the squarest grid)."""
    if rows is None:
        rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    if n % rows:
        raise ValueError(f"{rows} rows do not divide {n} intersections")
    return rows, n // rows


@dataclass(frozen=True, eq=False)
class RoadGrid:
    """Who connects to whom in a ``rows × cols`` grid of signalised intersections (arrays)."""

    rows: int
    cols: int
    neighbour: np.ndarray
    """[N, 4] the intersection on each side (-1: none, the grid's edge)."""
    feeds: np.ndarray
    """[N, 4] the approach that leaving by each side joins (-1: an exit)."""
    entry: np.ndarray
    """[A] True for approaches fed by an arrival process (no upstream intersection)."""
    upstream: np.ndarray
    """[A] the intersection feeding each approach (-1 for entries)."""

    @classmethod
    def build(cls, rows: int, cols: int) -> RoadGrid:
        n = rows * cols
        r, c = np.divmod(np.arange(n), cols)
        neighbour = np.full((n, SIDES), -1, dtype=np.int64)
        for side, (dr, dc) in _STEP.items():
            rr, cc = r + dr, c + dc
            inside = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
            neighbour[inside, side] = rr[inside] * cols + cc[inside]
        sides = np.arange(SIDES)
        feeds = np.where(neighbour >= 0, neighbour * SIDES + opposite(sides)[None, :], -1)
        # the approach from side d of intersection j is fed by j's neighbour on side d
        upstream = neighbour.reshape(-1)
        return cls(rows, cols, neighbour, feeds, upstream < 0, upstream)

    @property
    def n(self) -> int:
        """Number of intersections."""
        return self.rows * self.cols

    @property
    def n_approaches(self) -> int:
        return SIDES * self.n

    def approaches_of(self, idx: np.ndarray) -> np.ndarray:
        """[B, 4] the approaches of intersections ``idx``, by side."""
        return np.asarray(idx, dtype=np.int64)[:, None] * SIDES + np.arange(SIDES)

    def downstream(self) -> np.ndarray:
        """[A, 3] the approach each turn (straight, left, right) of each approach joins (-1:
        the vehicle leaves the network)."""
        a = np.arange(self.n_approaches)
        i, side = np.divmod(a, SIDES)
        out = np.empty((a.size, TURNS), dtype=np.int64)
        for turn in (STRAIGHT, LEFT, RIGHT):
            out[:, turn] = self.feeds[i, exit_side(side, turn)]
        return out

    def side_of(self, receiver: np.ndarray, sender: np.ndarray) -> np.ndarray:
        """The side of ``receiver`` on which ``sender`` lies (-1: not a grid neighbour)."""
        hit = self.neighbour[receiver] == np.asarray(sender)[:, None]
        return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)

    def positions(self, spacing: float) -> np.ndarray:
        """[N, 2] (x east, y north) of the intersections, ``spacing`` apart, row 0 northmost."""
        r, c = np.divmod(np.arange(self.n), self.cols)
        return np.stack([c * spacing, (self.rows - 1 - r) * spacing], axis=1).astype(np.float64)


def turn_matrix(p_left: float, p_right: float) -> np.ndarray:
    """[4, 4] probability that a vehicle on the approach from side ``d`` (row) leaves by side
    ``e`` (column)."""
    m = np.zeros((SIDES, SIDES))
    for d in range(SIDES):
        for turn, p in ((STRAIGHT, 1.0 - p_left - p_right), (LEFT, p_left), (RIGHT, p_right)):
            m[d, exit_side(d, turn)] += p
    return m
