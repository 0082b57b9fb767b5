"""What a warehouse robot knows and observes: the claims it heard by radio, and its observation vector.

**Claims.** A robot that starts a macro-action radios ``plan`` = (its cell, the shelf it goes to
fetch or −1), float32 [2]. Receivers keep the last ``memory`` claims they heard (a ring per robot)
and believe each for ``ttl`` time units; a robot choosing a shelf to fetch leaves out the shelves
it believes claimed. Payloads that are not a cell and a shelf index of this floor are ignored and
counted. A lost message is a claim not heard, so two robots may go for the same shelf.

**Observation** (float32 [13 + 2K], K = ``fetch_choices``), for a robot at (x, y):

========================  ===============================================================
slice                     meaning
========================  ===============================================================
``[0:2]``                 x / (width − 1), y / (height − 1)
``[2:6]``                 heading one-hot (up, right, down, left)
``[6]``                   carries a shelf
``[7]``                   carries a requested shelf
``[8]``                   stands on a highway
``[9]``                   stands on a goal
``[10]``                  its last macro-action was stopped by a blocked move
``[11:11+K]``             fetch candidate k exists (unloaded robots)
``[11+K:11+2K]``          steps to fetch candidate k (pick-up included) / scale
``[11+2K]``               steps to deliver (to the nearest goal) / scale (loaded robots)
``[12+2K]``               steps to put the shelf back (nearest free slot) / scale (loaded robots)
========================  ===============================================================

The fetch candidates are the requested shelves standing on the floor and not believed claimed,
nearest first (ties: queue order). ``scale = width + height``; a step count beyond twice the
scale reads 2.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.worlds.warehouse_routes import Field, Routes
from dmarl_des.worlds.warehouse_rules import Floor

POSITION, HEADING = slice(0, 2), slice(2, 6)
LOADED, REQUESTED, ON_HIGHWAY, AT_GOAL, BLOCKED = 6, 7, 8, 9, 10
FIRST_FETCH = 11


def obs_dim(n_fetch: int) -> int:
    return 13 + 2 * n_fetch


class Claims:
    """The claims each robot heard: a ring of ``memory`` (shelf, time) pairs per robot."""

    def __init__(self, n: int, memory: int, ttl: float) -> None:
        self.memory = memory
        self.ttl = ttl
        self.shelf = np.full((n, memory), -1, dtype=np.int64)
        self.time = np.full((n, memory), -np.inf)
        self.count = np.zeros(n, dtype=np.int64)
        self.heard = 0
        """Claims accepted this episode."""
        self.ignored = 0
        """Payloads refused this episode (not a cell and a shelf of this floor)."""

    def forget(self, idx: int) -> None:
        """Robot ``idx`` forgets every claim it heard."""
        self.shelf[idx] = -1
        self.time[idx] = -np.inf
        self.count[idx] = 0

    def hear(
        self, receiver: np.ndarray, payloads: np.ndarray, now: float, n_cells: int, n_shelves: int
    ) -> None:
        """File the claims of drained messages (aligned ``receiver`` and ``payloads`` [M, 2])."""
        if receiver.size == 0:
            return
        cell, shelf = payloads[:, 0].astype(np.float64), payloads[:, 1].astype(np.float64)
        good = (
            (cell == np.round(cell))
            & (cell >= 0)
            & (cell < n_cells)
            & (shelf == np.round(shelf))
            & (shelf >= -1)
            & (shelf < n_shelves)
        )
        self.ignored += int(np.count_nonzero(~good))
        keep = good & (shelf >= 0)
        receiver, shelf = receiver[keep], shelf[keep].astype(np.int64)
        if receiver.size == 0:
            return
        self.heard += receiver.size
        order = np.argsort(receiver, kind="stable")
        receiver, shelf = receiver[order], shelf[order]
        start = np.flatnonzero(np.r_[True, receiver[1:] != receiver[:-1]])
        size = np.diff(np.r_[start, receiver.size])
        rank = np.arange(receiver.size) - np.repeat(start, size)
        total = np.repeat(size, size)
        last = rank >= total - self.memory  # a ring keeps the last `memory` of them
        receiver, shelf, rank = receiver[last], shelf[last], rank[last]
        slot = (self.count[receiver] + rank) % self.memory
        self.shelf[receiver, slot] = shelf
        self.time[receiver, slot] = now
        self.count += np.bincount(receiver, minlength=self.count.size)

    def believed(self, idx: np.ndarray, now: float) -> np.ndarray:
        """[B, memory] the shelves robots ``idx`` believe claimed now (−1: none)."""
        fresh = self.time[idx] >= now - self.ttl
        return np.where(fresh, self.shelf[idx], -1)


def fetch_candidates(
    floor: Floor, routes: Routes, idx: np.ndarray, claimed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The K nearest requested standing shelves not in ``claimed`` [B, M] for robots ``idx``:
    (shelves [B, K] with −1 for none, steps [B, K] including the pick-up)."""
    requested = floor.requests
    carried = np.zeros(floor.n_shelves, dtype=bool)
    carried[floor.load[floor.load >= 0]] = True
    free = requested[~carried[requested]]
    b = idx.size
    shelves = np.full((b, k), -1, dtype=np.int64)
    steps = np.zeros((b, k))
    if free.size == 0 or b == 0:
        return shelves, steps
    cells = floor.shelf_cell[free]
    q = free.size
    cost = routes.free_cost(floor.pos[idx], floor.heading[idx], cells[None, :]) + 1
    # rank by (steps, queue order): one integer key per candidate, distinct within a row
    key = cost * q + np.arange(q)
    column = np.full(floor.n_shelves + 1, q)  # shelf -> its column (q: not a candidate)
    column[free] = np.arange(q)
    believed = np.zeros((b, q + 1), dtype=bool)
    rows = np.repeat(np.arange(b), claimed.shape[1])
    believed[rows, column[claimed.reshape(-1)]] = True  # claims of −1 land in column q too
    unknown = q * (2 * (cost.max(initial=0) + 1))
    key = np.where(believed[:, :q], unknown, key)
    width = min(k, q)
    top = (
        np.argpartition(key, width - 1, axis=1)[:, :width]
        if width < q
        else np.tile(np.arange(q), (b, 1))
    )
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(key, top, 1), axis=1), 1)
    best = np.take_along_axis(key, top, axis=1)
    found = best < unknown
    shelves[:, :width] = np.where(found, free[top], -1)
    steps[:, :width] = np.where(found, best // q, 0)
    return shelves, steps


def observe(
    floor: Floor,
    routes: Routes,
    slots: Field,
    idx: np.ndarray,
    blocked: np.ndarray,
    candidates: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observations [B, D] of robots ``idx`` (see the module), with the steps of their deliver
    and put-back plans [B] (inf: none)."""
    layout = floor.layout
    shelves, fetch_steps = candidates
    k = shelves.shape[1]
    b = idx.size
    pos, heading, load = floor.pos[idx], floor.heading[idx], floor.load[idx]
    loaded = load >= 0
    scale = float(layout.width + layout.height)
    obs = np.zeros((b, obs_dim(k)), dtype=np.float32)
    obs[:, 0] = (pos % layout.width) / max(layout.width - 1, 1)
    obs[:, 1] = (pos // layout.width) / max(layout.height - 1, 1)
    obs[np.arange(b), 2 + heading] = 1.0
    obs[:, LOADED] = loaded
    obs[:, REQUESTED] = loaded & floor.requested[np.maximum(load, 0)]
    obs[:, ON_HIGHWAY] = floor.highway[pos]
    obs[:, AT_GOAL] = np.isin(pos, layout.goals)
    obs[:, BLOCKED] = blocked[idx]
    found = shelves >= 0
    obs[:, FIRST_FETCH : FIRST_FETCH + k] = found
    obs[:, FIRST_FETCH + k : FIRST_FETCH + 2 * k] = np.minimum(fetch_steps / scale, 2.0)
    state = pos * 4 + heading
    deliver = np.where(loaded, routes.to_goal.dist[state], np.inf)
    slot = np.where(
        floor.highway[pos], slots.dist[state] + 2.0, 1.0
    )  # from a highway: to the door, in, down; off it: down where it stands
    put_back = np.where(loaded, slot, np.inf)
    obs[:, 11 + 2 * k] = np.where(np.isfinite(deliver), np.minimum(deliver / scale, 2.0), 0.0)
    obs[:, 12 + 2 * k] = np.where(np.isfinite(put_back), np.minimum(put_back / scale, 2.0), 0.0)
    return obs, deliver, put_back
