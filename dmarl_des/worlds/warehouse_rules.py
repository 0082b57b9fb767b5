"""The primitive rules of the multi-robot warehouse (RWARE 2.0): one synchronous step of the fleet.

Every robot has a cell, a heading and perhaps a shelf on its back. In one step each robot takes a
primitive action — ``noop``, ``forward``, ``turn_left``, ``turn_right``, ``toggle_load`` — and
the step resolves them all at once, in this order:

1. **Targets.** ``forward`` aims at the cell ahead (off the grid: the robot's own cell); every
   other action aims at the robot's own cell. A *loaded* robot aiming at another cell where a
   shelf stands — a shelf not on the back of a loaded robot standing there — does not move.
2. **Collisions.** Each robot points at the robot standing in its target cell (itself when it
   stays), or at an empty cell. In this graph every robot has one successor, so each group of
   robots ends either in a cycle or at one empty cell:

   * a cycle of one (a robot that stays) keeps its robot in place; a cycle of three or more
     rotates (every robot in it moves); a cycle of two (two robots swapping cells) is impossible:
     neither moves; robots queued behind a cycle do not move;
   * at an empty cell, the *longest* chain of robots queued towards it moves up one cell: the
     robot entering the cell is the one with the longest chain behind it, and so on down that
     chain; every other robot of the group stays. Equally long chains are decided by a priority
     (``priority``, larger first): RWARE leaves this tie to the iteration order of its graph
     library's sets, which is no rule — worlds draw the priority afresh every step.
3. **Actions.** Robots that move take their shelf along; turns change the heading; ``toggle_load``
   picks up the shelf in the robot's cell (unloaded robot) or puts the carried shelf down when
   the cell is not a highway (loaded robot; on a highway nothing happens). Under the two-stage
   reward, putting a shelf down after delivering it earns the robot 0.5.
4. **Deliveries.** Goal by goal, in order: a requested shelf on a goal cell is delivered. Its
   place in the request queue goes to a shelf drawn uniformly among those not requested
   (``draw_request``), and the reward is +1 to the robot under it (``individual``), +1 to every
   robot (``global``), or 0.5 to the robot under it (``two_stage``, which also marks it as having
   delivered). The shelf stays on the robot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmarl_des.worlds.warehouse_layout import Layout

NOOP, FORWARD, TURN_LEFT, TURN_RIGHT, TOGGLE_LOAD = 0, 1, 2, 3, 4
PRIMITIVE_NAMES = ("noop", "forward", "turn_left", "turn_right", "toggle_load")
REWARD_KINDS = ("individual", "global", "two_stage")


@dataclass
class StepOutcome:
    """What one step did."""

    moved: np.ndarray
    """[N] bool: the robot moved to another cell."""
    blocked: np.ndarray
    """[N] bool: the robot asked to move to another cell and stayed."""
    rewards: np.ndarray
    """[N] float: each robot's reward of the step (RWARE's rewards: ``global`` gives every robot
    the team's reward)."""
    delivered: np.ndarray
    """[D] the robots that delivered a shelf, in goal order."""
    ties: int
    """Contests between equally long chains decided by the priority."""


def resolve_moves(
    nxt: np.ndarray, target_cell: np.ndarray, priority: np.ndarray
) -> tuple[np.ndarray, int]:
    """Which robots move (bool [N]) by the collision rule of the module's step 2, and how many
    contests between equally long chains the priority decided.

    ``nxt[i]``: the robot standing in robot i's target cell (``i`` when it stays), or -1 when
    that cell is empty; ``target_cell[i]``: that cell; ``priority``: tie-breaks (larger first).
    """
    n = nxt.size
    f = np.append(np.where(nxt < 0, n, nxt), n)  # n stands for every empty cell (a sink)
    g = f
    for _ in range(int(n).bit_length() + 1):
        g = g[g]  # f^(2^k), 2^k > n: each robot lands in its cycle, or on the sink
    on_cycle = np.zeros(n + 1, dtype=bool)
    on_cycle[g[:n]] = True  # f^(2^k) maps a cycle onto itself: its image is the cycles
    idx = np.arange(n)
    succ = f[:n]
    travels = on_cycle[:n] & (succ != idx)
    swap = travels & (f[succ] == idx)
    moves = travels & ~swap
    chained = np.flatnonzero(g[:n] == n)  # robots whose chain ends at an empty cell
    ties = 0
    if chained.size == 0:
        return moves, ties
    ahead = f[chained]
    height = np.ones(n + 1, dtype=np.int64)  # robots in the longest chain ending with the robot
    while True:
        new = np.ones(n + 1, dtype=np.int64)
        np.maximum.at(new, ahead, height[chained] + 1)
        new[n] = 1
        if np.array_equal(new, height):
            break
        height = new
    cand = chained[ahead == n]  # first, the robots entering each empty cell
    key = target_cell[cand]
    is_winner = np.zeros(n + 1, dtype=bool)
    while cand.size:
        order = np.lexsort((priority[cand], height[cand], key))
        cand, key = cand[order], key[order]
        last = np.ones(cand.size, dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        best = np.flatnonzero(last)
        # a tie when the runner-up of a group (just before its best) is as high as the best
        runner = best[best > 0] - 1
        contested = runner[key[runner] == key[runner + 1]]
        ties += int(np.count_nonzero(height[cand[contested]] == height[cand[contested + 1]]))
        winners = cand[best]
        moves[winners] = True
        is_winner[:] = False
        is_winner[winners] = True
        cand = chained[is_winner[ahead]]  # then the robots entering the winners' cells
        key = f[cand]
    return moves, ties


class Floor:
    """The warehouse floor: robots, shelves, the request queue, and the primitive step."""

    def __init__(self, layout: Layout, n_robots: int, n_requests: int, reward: str) -> None:
        if reward not in REWARD_KINDS:
            raise ValueError(f"reward {reward!r} not in {REWARD_KINDS}")
        self.layout = layout
        self.n = n_robots
        self.n_requests = n_requests
        self.reward = reward
        self.ahead = layout.ahead()
        self.highway = layout.highway
        self.homes = layout.shelf_homes
        self.n_shelves = self.homes.size
        self.rng = np.random.default_rng(0)
        self.reset(
            np.arange(n_robots) % layout.n_cells,
            np.zeros(n_robots, dtype=np.int64),
            np.arange(n_requests),
        )

    # ------------------------------------------------------------------ state
    def reset(
        self,
        positions: np.ndarray,
        headings: np.ndarray,
        requests: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> None:
        """Shelves at their homes, nothing carried, robots at ``positions`` (distinct cells) with
        ``headings``, the request queue ``requests`` (distinct shelf indices); ``rng`` draws the
        replacement requests."""
        if rng is not None:
            self.rng = rng
        n_cells = self.layout.n_cells
        self.pos = np.asarray(positions, dtype=np.int64).copy()
        self.heading = np.asarray(headings, dtype=np.int64).copy()
        self.load = np.full(self.n, -1, dtype=np.int64)
        """[N] the shelf on each robot's back (-1: none)."""
        self.has_delivered = np.zeros(self.n, dtype=bool)
        self.shelf_cell = self.homes.copy()
        self.requests = np.asarray(requests, dtype=np.int64).copy()
        """[Q] the request queue (shelf indices); a delivered shelf's place gets the new one."""
        self.requested = np.zeros(self.n_shelves, dtype=bool)
        self.requested[self.requests] = True
        self.robot_at = np.full(n_cells, -1, dtype=np.int64)
        self.shelf_at = np.full(n_cells, -1, dtype=np.int64)
        self._place()

    def _place(self) -> None:
        """Rebuild the cell → robot and cell → shelf maps from the positions."""
        self.robot_at.fill(-1)
        self.robot_at[self.pos] = np.arange(self.n)
        carried = self.load >= 0
        self.shelf_cell[self.load[carried]] = self.pos[carried]
        self.shelf_at.fill(-1)
        self.shelf_at[self.shelf_cell] = np.arange(self.n_shelves)

    @property
    def loaded(self) -> np.ndarray:
        return self.load >= 0

    def standing(self) -> np.ndarray:
        """[C] bool: a shelf stands in the cell (not on a robot's back)."""
        out = self.shelf_at >= 0
        carried = self.load >= 0
        out[self.pos[carried]] = False
        return out

    def draw_request(self, candidates: np.ndarray, slot: int) -> int:
        """The shelf that takes place ``slot`` of the queue: uniform over ``candidates`` (the
        shelves not requested, in index order)."""
        return int(candidates[self.rng.integers(candidates.size)])

    # ------------------------------------------------------------------ the step
    def step(self, actions: np.ndarray, priority: np.ndarray | None = None) -> StepOutcome:
        """One synchronous step of every robot's primitive action (see the module)."""
        n = self.n
        act = np.asarray(actions, dtype=np.int64)
        pos = self.pos
        loaded = self.load >= 0
        target = pos.copy()
        fwd = np.flatnonzero(act == FORWARD)
        target[fwd] = self.ahead[pos[fwd], self.heading[fwd]]
        wants = target != pos
        # 1. a loaded robot does not move under a standing shelf
        there = self.robot_at[target]
        carried_there = (there >= 0) & loaded[np.maximum(there, 0)]
        stopped = wants & loaded & (self.shelf_at[target] >= 0) & ~carried_there
        target[stopped] = pos[stopped]
        # 2. collisions
        nxt = np.where(target != pos, self.robot_at[target], np.arange(n))
        prio = np.zeros(n) if priority is None else np.asarray(priority, dtype=np.float64)
        moves, ties = resolve_moves(nxt, target, prio)
        moved = moves & (target != pos)
        rewards = np.zeros(n)
        # 3. actions
        self.pos = pos = np.where(moved, target, pos)
        turn = (act == TURN_RIGHT).astype(np.int64) - (act == TURN_LEFT)
        self.heading = (self.heading + turn) % 4
        toggles = np.flatnonzero(act == TOGGLE_LOAD)
        if toggles.size:
            pick = toggles[~loaded[toggles]]
            self.load[pick] = self.shelf_at[pos[pick]]
            drop = toggles[loaded[toggles] & ~self.highway[pos[toggles]]]
            if drop.size:
                self.load[drop] = -1
                if self.reward == "two_stage":
                    rewards[drop[self.has_delivered[drop]]] += 0.5
                self.has_delivered[drop] = False
        self._place()
        # 4. deliveries, goal by goal
        delivered = []
        for goal in self.layout.goals.tolist():
            shelf = int(self.shelf_at[goal])
            if shelf < 0 or not self.requested[shelf]:
                continue
            slot = int(np.flatnonzero(self.requests == shelf)[0])
            new = self.draw_request(np.flatnonzero(~self.requested), slot)
            self.requests[slot] = new
            self.requested[shelf] = False
            self.requested[new] = True
            robot = int(self.robot_at[goal])
            delivered.append(robot)
            if self.reward == "global":
                rewards += 1.0
            elif self.reward == "individual":
                rewards[robot] += 1.0
            else:
                self.has_delivered[robot] = True
                rewards[robot] += 0.5
        return StepOutcome(
            moved=moved,
            blocked=wants & ~moved,
            rewards=rewards,
            delivered=np.asarray(delivered, dtype=np.int64),
            ties=ties,
        )
