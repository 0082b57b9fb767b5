"""The warehouse's macro-actions as plans: what each one does, and every robot's plan in arrays.

A macro-action becomes, when it starts, the list of primitive actions that carries it out from
the robot's cell and heading (``warehouse_routes``):

=================  ======================================================================
``fetch_k``        open-grid way to the k-th fetch candidate's cell, then ``toggle_load``
``deliver``        highway way to the nearest goal (the delivery happens on arrival)
``put_back``       off a highway: ``toggle_load`` where it stands; on one: highway way to
                   the door of the nearest free slot, ``forward`` into it, ``toggle_load``
``wait``           ``noop``
``step_aside``     turn towards the first free neighbouring cell in a random order of the
                   four headings (one a loaded robot may enter: no standing shelf) and
                   move into it; ``noop`` when none is free
=================  ======================================================================

*Backing off*: a robot whose last move was refused starts its next macro-action, with the
world's ``backoff`` probability, by a step aside; the macro-action's own plan then starts from
where that step ends. Two robots facing each other in a corridor cannot swap cells, and the same
plans would stop them again and again: the random step aside of one of them lets both pass.

A plan is never empty (``noop`` when there is nothing to do), so every macro-action lasts at
least one step. ``Plans`` keeps all robots' plans in one ``[N, L]`` array with a cursor per
robot: the primitive action each robot takes in a step is one gather.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dmarl_des.worlds.warehouse_routes import Field, Routes
from dmarl_des.worlds.warehouse_rules import FORWARD, NOOP, TOGGLE_LOAD, Floor


@dataclass(frozen=True)
class MacroIndex:
    """Indices of the macro-actions: ``fetch`` of them first, then deliver, put back, wait,
    step aside."""

    fetch: int

    @property
    def deliver(self) -> int:
        return self.fetch

    @property
    def put_back(self) -> int:
        return self.fetch + 1

    @property
    def wait(self) -> int:
        return self.fetch + 2

    @property
    def aside(self) -> int:
        return self.fetch + 3

    @property
    def names(self) -> tuple[str, ...]:
        fetch = tuple(f"fetch_{k}" for k in range(self.fetch))
        return (*fetch, "deliver", "put_back", "wait", "step_aside")


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def robot_draws(key: int, robots: np.ndarray, decisions: np.ndarray, count: int) -> np.ndarray:
    """Uniform [0, 1) draws [B, count] keyed by (``key``, robot, its decision count): the same
    for a robot whatever else decides with it (agents in arrays or as processes, other robots
    crashed), with no generator state."""
    with np.errstate(over="ignore"):
        row = _mix(np.uint64(key & 0xFFFFFFFFFFFFFFFF) ^ (robots.astype(np.uint64) * _GOLDEN))
        row = _mix(row + decisions.astype(np.uint64))
        h = _mix(row[:, None] + np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


class Plans:
    """Every robot's plan of primitive actions ([N, L], padded) and its cursor."""

    def __init__(self, n: int) -> None:
        self.actions = np.zeros((n, 16), dtype=np.int8)
        self.length = np.zeros(n, dtype=np.int64)
        self.cursor = np.zeros(n, dtype=np.int64)

    def assign(self, idx: np.ndarray, plans: list[list[int]]) -> np.ndarray:
        """Robots ``idx`` start ``plans`` (non-empty); returns their lengths [B]."""
        lengths = np.array([len(plan) for plan in plans], dtype=np.int64)
        width = int(lengths.max(initial=1))
        have = self.actions.shape[1]
        if width > have:
            grown = np.zeros((self.actions.shape[0], max(width, 2 * have)), dtype=np.int8)
            grown[:, :have] = self.actions
            self.actions = grown
        for i, plan in zip(idx.tolist(), plans, strict=True):
            self.actions[i, : len(plan)] = plan
        self.length[idx] = lengths
        self.cursor[idx] = 0
        return lengths

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """(robots with steps left [B], their next primitive actions [B]); cursors advance."""
        busy = np.flatnonzero(self.cursor < self.length)
        actions = self.actions[busy, self.cursor[busy]].astype(np.int64)
        self.cursor[busy] += 1
        return busy, actions

    def unfinished(self, idx: np.ndarray) -> np.ndarray:
        """Those of ``idx`` with steps left."""
        return idx[self.cursor[idx] < self.length[idx]]

    def stop(self, idx: np.ndarray | int) -> None:
        """Nothing more of these robots' plans runs."""
        self.length[idx] = self.cursor[idx]


def macro_plans(
    floor: Floor,
    routes: Routes,
    slots: Callable[[], Field],
    index: MacroIndex,
    idx: np.ndarray,
    actions: np.ndarray,
    candidates: np.ndarray,
    backoff: np.ndarray,
    order: np.ndarray,
) -> tuple[list[list[int]], np.ndarray]:
    """The plans of macro-actions ``actions`` started by robots ``idx`` (see the module), and the
    shelf each goes to fetch (−1: none). ``candidates`` [B, K]: the robots' fetch candidates;
    ``slots()``: the field towards free slots; ``backoff`` [B]: robots that step aside first
    (the macro-action's own plan then starts where the step aside ends); ``order`` [B, 4]: the
    order in which each robot tries the four headings to step aside."""
    pos, heading = floor.pos[idx].copy(), floor.heading[idx].copy()
    first: list[list[int]] = [[] for _ in range(idx.size)]
    dodge = np.flatnonzero(backoff | (actions == index.aside))
    if dodge.size:
        vacant = floor.robot_at < 0
        no_shelf = vacant & ~floor.standing()
        for j in dodge.tolist():
            enter = no_shelf if floor.load[idx[j]] >= 0 else vacant
            first[j], pos[j], heading[j] = routes.aside(
                int(pos[j]), int(heading[j]), order[j], enter
            )
    then: list[list[int]] = [[] for _ in range(idx.size)]
    targets = np.full(idx.size, -1, dtype=np.int64)
    carry = np.flatnonzero(actions == index.deliver)
    if carry.size:
        found = routes.follow(routes.to_goal, pos[carry], heading[carry])
        for j, plan in zip(carry.tolist(), found, strict=True):
            then[j] = plan
    back = np.flatnonzero(actions == index.put_back)
    for j in back.tolist():
        then[j] = [TOGGLE_LOAD]
    on_road = back[floor.highway[pos[back]]]
    if on_road.size:
        found = routes.follow(slots(), pos[on_road], heading[on_road])
        for j, plan in zip(on_road.tolist(), found, strict=True):
            then[j] = [*plan, FORWARD, TOGGLE_LOAD]
    fetch = np.flatnonzero(actions < index.fetch)
    for j in fetch.tolist():
        shelf = int(candidates[j, actions[j]])
        targets[j] = shelf
        to = int(floor.shelf_cell[shelf])
        then[j] = [*routes.free_plan(int(pos[j]), int(heading[j]), to), TOGGLE_LOAD]
    plans = [a + b or [NOOP] for a, b in zip(first, then, strict=True)]
    return plans, targets
