"""Queue reports between neighbouring signals: the ``queues`` message kind and what each signal last heard.

Every ``report_period`` (or at each decision) a signal broadcasts the halting vehicles at its four
stop lines (float32 [4], sides n, e, s, w) to its neighbours. A receiver keeps, for each side, the
last report of the neighbour there — only the entry for the stop line the receiver feeds matters
to it (the neighbour's approach facing it) — and when it arrived. A lost report leaves the
previous value in place: a stale estimate, whose age the observation shows.
"""

from __future__ import annotations

import math

import numpy as np

from dmarl_des.net import Drained, MessageKind
from dmarl_des.worlds.traffic_grid import SIDES, RoadGrid, opposite

QUEUE_BOUND = 1e6
"""Receivers reject a report with an entry beyond ±1e6 vehicles (and clip lies below 0)."""

QUEUES = MessageKind("queues", (SIDES,), "float32", max_bytes=16, bound=QUEUE_BOUND)
"""Halting vehicles at the sender's four stop lines."""


class NeighbourReports:
    """What each signal last heard from the neighbour on each side."""

    def __init__(self, grid: RoadGrid) -> None:
        self.grid = grid
        self.value = np.zeros((grid.n, SIDES))
        """[N, 4] halting vehicles the neighbour on each side last reported at the stop line
        this signal feeds (0 before any report)."""
        self.at = np.full((grid.n, SIDES), -math.inf)
        """[N, 4] when that report was delivered (-inf: never)."""

    def read(self, got: Drained) -> None:
        """Take in drained messages: per (receiver, side), the last report of a grid neighbour
        (reports of agents that are not grid neighbours are ignored)."""
        if not got.receiver.size:
            return
        side = self.grid.side_of(got.receiver, got.sender)
        keep = np.flatnonzero(side >= 0)
        if not keep.size:
            return
        payloads = got.payloads
        if payloads.dtype == object:
            payloads = np.stack([np.asarray(x, dtype=np.float64) for x in payloads])
        slot = got.receiver[keep] * SIDES + side[keep]
        last = keep.size - 1 - np.unique(slot[::-1], return_index=True)[1]
        keep, slot = keep[last], slot[last]
        value = payloads[keep, opposite(side[keep])].astype(np.float64)
        self.value.reshape(-1)[slot] = np.clip(value, 0.0, QUEUE_BOUND)
        self.at.reshape(-1)[slot] = got.t_delivered[keep]

    def forget(self, i: int) -> None:
        """Signal ``i`` lost what it heard (a recovery, a new signal)."""
        self.value[i] = 0.0
        self.at[i] = -math.inf
