"""Traffic demand: when vehicles enter the grid and which way each turns, as counter-based draws.

Entry source ``s`` (one per entry approach with a positive rate, in approach order) emits its
k-th vehicle at ``(k + 1/2) / q`` (deterministic: the fluid arrival curve ``q · t`` rounded to
the nearest vehicle) or after exponential gaps of rate ``q`` (Poisson), the gap keyed by
(episode key, s, k). Vehicle ``(s, k)`` has id ``s · 2³² + k``; at its h-th stop line it turns
left with probability ``p_left``, right with ``p_right``, else goes straight, the draw keyed by
(episode key, id, h). So the demand and every vehicle's route are the same whatever the signals
do — controllers, faults and message loss are compared on common random numbers — and whatever
simulates the vehicles (the queue network or SUMO).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from dmarl_des.net.philox import philox_uniform
from dmarl_des.worlds.traffic_grid import LEFT, RIGHT, STRAIGHT

_GAP, _TURN = 1, 2
"""Fourth Philox counter word: which kind of draw (arrival gap or turn)."""
BLOCK = 64
"""Arrival times drawn at once per entry source."""


def turns(
    key: tuple[int, int], vid: np.ndarray, hop: np.ndarray, p_left: float, p_right: float
) -> np.ndarray:
    """The turn (STRAIGHT, LEFT, RIGHT) of vehicles ``vid`` at their ``hop``-th stop line."""
    u = philox_uniform(key, vid & 0xFFFFFFFF, vid >> 32, hop, _TURN)
    return np.where(u < p_left, LEFT, np.where(u < p_left + p_right, RIGHT, STRAIGHT))


class EntrySources:
    """The arrival processes at the entry approaches, drawn ``BLOCK`` arrivals at a time."""

    def __init__(
        self,
        entry: np.ndarray,
        rates: np.ndarray,
        arrivals: Literal["poisson", "deterministic"],
        key: tuple[int, int],
    ) -> None:
        rates = np.asarray(rates, dtype=np.float64)
        self.approach = np.flatnonzero(entry & (rates > 0))
        """The approach each source feeds."""
        self.rate = rates[self.approach]
        self.poisson = arrivals == "poisson"
        self.key = key
        n = self.approach.size
        self.times = np.zeros((n, BLOCK))  # row s: arrivals k0[s] .. k0[s] + BLOCK - 1
        self.k0 = np.full(n, -BLOCK, dtype=np.int64)
        self.used = np.full(n, BLOCK, dtype=np.int64)
        self.emitted = 0
        self._refill(np.arange(n))

    def _refill(self, src: np.ndarray) -> None:
        """Draw the next BLOCK arrival times of sources ``src`` (whose blocks are used up)."""
        if not src.size:
            return
        last = self.times[src, -1]
        k0 = self.k0[src] + BLOCK
        k = k0[:, None] + np.arange(BLOCK)
        rate = self.rate[src][:, None]
        if self.poisson:
            u = philox_uniform(self.key, src[:, None], k, 0, _GAP)
            times = last[:, None] + np.cumsum(-np.log1p(-u) / rate, axis=1)
        else:
            times = (k + 0.5) / rate
        self.times[src] = times
        self.k0[src] = k0
        self.used[src] = 0

    def before(self, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The vehicles arriving before ``end`` not yet emitted: (approach, time, id), each
        source's in time order."""
        cols = np.arange(BLOCK)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        while self.times.size:
            due = (self.times < end) & (cols >= self.used[:, None])
            src, col = np.nonzero(due)
            if src.size:
                ids = (src << 32) | (self.k0[src] + col)
                parts.append((self.approach[src], self.times[src, col], ids))
                self.used += due.sum(axis=1)
            spent = np.flatnonzero(self.used == BLOCK)
            if not spent.size:
                break
            self._refill(spent)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, np.zeros(0), empty
        out = tuple(np.concatenate(col) for col in zip(*parts))
        self.emitted += int(out[0].size)
        return out  # type: ignore[return-value]
