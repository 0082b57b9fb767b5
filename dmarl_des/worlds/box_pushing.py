"""Box Pushing: the two-agent MacDec-POMDP benchmark of Xiao, Hoffman & Amato (CoRL 2019).

The rules follow the macro-action environment of the public MacroMARL code, as facts:

* An N×N grid (N = 4, 6 or even N ≥ 8) with positions at cell centres; y grows upwards and the goal
  is the top row ``y = N − 0.5``. Orientation 0 = north, 1 = east, 2 = south, 3 = west.
* Two small boxes and one big box (two cells wide) in the row ``y = N/2 + 0.5``; the waypoints are
  the cells just below them. Agents start in the second row facing each other.
* Eight macro-actions, always available: go to small box 0/1, go to big-box spot 0/1 (a greedy
  one-step rule with Manhattan distance, turn costs and boxes as obstacles; arrival turns the agent
  north), push (walk forward until a wall or a box: a small box is pushed north when the agent
  faces north; bumping the big box or a small box from the side costs the penalty), turn left,
  turn right, stay (one tick each).
* The big box moves only when both agents choose push in the same tick while standing (by their
  last reached waypoint) at the two big-box spots facing north; it then rides up one row per tick
  with both agents until it reaches the goal row.
* Team reward per tick: the step cost, plus penalties, plus the box rewards of boxes in the goal
  row. The episode is terminal in the tick a box reaches the goal row; the horizon cuts at 100.
* Each agent observes 5 bits about the cell in front of it (small box, big box, empty, wall,
  teammate), refreshed only when its own macro-action ends.

One tick is one unit of simulated time. Tick ``k`` is resolved at time ``k`` after the decisions of
that instant (event priority after the decision flush); its reward is stamped ``k``; macro-actions
that finish in tick ``k`` end at time ``k + 1``, when their agents decide again. Returns therefore
equal the discrete ``Σ_t γ^t r_t`` of the original benchmark.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Literal

import numpy as np
import simpy
from pydantic import Field

from dmarl_des.agent import SimAgent
from dmarl_des.bounds import Real
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, Periodic, trigger_later
from dmarl_des.log import EPISODE_METRICS, Metric, declare_metrics
from dmarl_des.macro import MacroAction
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import check_duration
from dmarl_des.world import World

TICK_PRIORITY = AFTER_DECISIONS
"""Ticks resolve after the decisions of their instant."""

DIRECTIONS = ((0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (-1.0, 0.0))  # N, E, S, W
TURN_COST = np.array(
    [[0.0, 0.1, 0.2, 0.1], [0.1, 0.0, 0.1, 0.2], [0.2, 0.1, 0.0, 0.1], [0.1, 0.2, 0.1, 0.0]]
)
MACRO_NAMES = (
    "go_small_box_0",
    "go_small_box_1",
    "go_big_box_spot_0",
    "go_big_box_spot_1",
    "push",
    "turn_left",
    "turn_right",
    "stay",
)
PUSH, TURN_LEFT, TURN_RIGHT, STAY = 4, 5, 6, 7


class BoxPushingParams(WorldParams):
    """`world.*` keys of Box Pushing; rewards default to MacroMARL's experiments."""

    name: Literal["box_pushing"] = "box_pushing"
    grid_size: int = Field(8, ge=4, le=30, description="N of the N×N grid (4, 6 or even >= 8)")
    big_box_reward: Real = 300.0
    small_box_reward: Real = 20.0
    penalty: Real = -10.0
    step_cost: Real = -0.1
    random_start: bool = False

    def check(self, scenario: Scenario) -> None:
        n = self.grid_size
        if n not in (4, 6) and (n < 8 or n % 2):
            raise ConfigError("world.grid_size", n, "4, 6 or an even number from 8 to 30")
        if scenario.n_agents != 2:
            raise ConfigError("n_agents", scenario.n_agents, "2 (Box Pushing is a two-agent task)")
        check_duration("horizon", scenario.horizon, 1.0, scenario.horizon)  # one tick per unit
        on_messages = scenario.faults.network_fields()
        if on_messages:
            raise ConfigError(on_messages[0], "set", "nothing: this world exchanges no messages")


class BoxPushingWorld(World):
    """Two agents, three boxes, a goal row; decisions only when an agent's macro-action ends."""

    Params = BoxPushingParams
    obs_dim = 5
    state_dim = 18
    metrics = declare_metrics(
        EPISODE_METRICS,
        Metric(
            "episodes.team_return",
            "box rewards at the goal row (big 300, small 20) plus step costs and penalties",
            "reward",
        ),
        Metric(
            "episodes.success",
            "share of episodes in which the big box reached the goal row",
            "share of episodes",
            rate=True,
        ),
    )

    def setup(self) -> None:
        self.macro_actions = [
            MacroAction(name, self._behaviour(i)) for i, name in enumerate(MACRO_NAMES)
        ]
        n = self.params.grid_size
        self.size = float(n)
        if n >= 8:
            box_x, big_x, spots = (1.5, n - 1.5), n / 2, (1.5, n - 1.5, n / 2 - 0.5, n / 2 + 0.5)
            starts = ((1.5, 1.5, 1), (n - 1.5, 1.5, 3))
        elif n == 6:
            box_x, big_x, spots = (0.5, 5.5), 3.0, (0.5, 5.5, 2.5, 3.5)
            starts = ((0.5, 1.5, 1), (5.5, 1.5, 3))
        else:
            box_x, big_x, spots = (0.5, 3.5), 2.0, (0.5, 3.5, 1.5, 2.5)
            starts = ((0.5, 0.5, 1), (3.5, 0.5, 3))
        self.box_row = n / 2 + 0.5
        self.goal_row = n - 0.5
        self.initial_boxes = np.array(
            [[box_x[0], self.box_row], [box_x[1], self.box_row], [big_x, self.box_row]]
        )
        self.waypoints = np.array([[x, n / 2 - 0.5] for x in spots])
        self.starts = starts

    # ------------------------------------------------------------------ episode
    def reset_episode(self, episode: int) -> None:
        n = self.params.grid_size
        self.boxes = self.initial_boxes.copy()
        self.pos = np.array([[x, y] for x, y, _ in self.starts], dtype=np.float64)
        self.ori = np.array([o for _, _, o in self.starts], dtype=np.int64)
        if self.params.random_start:
            rng = self.streams.fresh("world", episode)
            self.ori = rng.integers(0, 4, size=2)
            self.pos[:, 0] = rng.integers(0, n, size=2) + 0.5
            self.pos[:, 1] = rng.integers(0, max(int(n / 2 - 1), 1), size=2) + 0.5
        self.macro = np.full(2, -1, dtype=np.int64)
        self.decided_at = np.full(2, -1, dtype=np.int64)
        self.reached = [None, None]  # last waypoint reached by a go-to macro-action (never cleared)
        self.mac_done = np.zeros(2, dtype=bool)
        self.joint_push = False
        self.tick = 0
        self._tick_finished = self.env.event()
        self._ticks: Periodic | None = None

    def start_processes(self) -> None:
        self._ticks = self.every(1.0, self._resolve_tick, priority=TICK_PRIORITY, first=0)

    # ------------------------------------------------------------------ macro-actions
    def _behaviour(self, index: int):
        def behaviour(agent: SimAgent) -> Generator[simpy.Event, Any, None]:
            i = agent.idx
            self.macro[i] = index
            self.decided_at[i] = self.tick
            self.mac_done[i] = False
            while True:
                yield self._tick_finished
                if self.mac_done[i]:
                    return

        return behaviour

    # ------------------------------------------------------------------ one tick
    def _resolve_tick(self) -> None:
        k = self.tick
        reward = self.params.step_cost
        running = self.macro >= 0
        if (
            not self.joint_push
            and running.all()
            and (self.macro == PUSH).all()
            and (self.decided_at == k).all()
            and (self.ori == 0).all()
            and sorted(r for r in self.reached if r is not None) == [2, 3]
            and len({*self.reached}) == 2
        ):
            self.joint_push = True
        for i in range(2):
            if not running[i]:
                continue
            if self.joint_push:
                self.pos[i, 1] += 1.0
            else:
                reward += self._step_agent(i)
        if self.joint_push:
            self.boxes[2, 1] += 1.0
            if self.boxes[2, 1] == self.goal_row:
                self.mac_done[:] = True
        in_goal = self.boxes[:, 1] == self.goal_row
        reward += self.params.small_box_reward * int(in_goal[:2].sum())
        reward += self.params.big_box_reward * int(in_goal[2])
        self.give_reward(reward, stamp=float(k))
        finished, self._tick_finished = self._tick_finished, self.env.event()
        trigger_later(finished, 1.0, k)  # the agents' macro-actions learn at k + 1 if they ended
        self.tick = k + 1
        if in_goal.any():
            assert self._ticks is not None
            self._ticks.stop()
            self.terminate(delay=1.0)

    def _step_agent(self, i: int) -> float:
        """One primitive tick of agent i's macro-action; returns its penalty (0 or negative)."""
        m = int(self.macro[i])
        if m <= 3:
            self._move_towards(i, m)
            return 0.0
        if m == PUSH:
            return self._push(i)
        if m == TURN_LEFT:
            self.ori[i] = (self.ori[i] - 1) % 4
        elif m == TURN_RIGHT:
            self.ori[i] = (self.ori[i] + 1) % 4
        self.mac_done[i] = True
        return 0.0

    def _is_box_cell(self, x: float, y: float) -> bool:
        b = self.boxes
        return y == b[0, 1] and x in (b[0, 0], b[1, 0], b[2, 0] + 0.5, b[2, 0] - 0.5)

    def _move_towards(self, i: int, wp: int) -> None:
        target = self.waypoints[wp]
        x, y = self.pos[i]
        if abs(x - target[0]) + abs(y - target[1]) < 0.1:
            self.ori[i] = 0
            self.reached[i] = wp
            self.mac_done[i] = True
            return
        scores = []
        for d, (dx, dy) in enumerate(DIRECTIONS):
            nx, ny = x + dx, y + dy
            h = np.inf if self._is_box_cell(nx, ny) else abs(nx - target[0]) + abs(ny - target[1])
            scores.append(h + TURN_COST[self.ori[i], d])
        d = int(np.argmin(scores))
        ori = int(self.ori[i])
        if d == ori:
            self.pos[i] += DIRECTIONS[d]
        elif TURN_COST[ori, d] < 0.15:
            self.ori[i] = d
        else:
            self.ori[i] = (ori + 1) % 4
        if self.pos[i, 0] == target[0] and self.pos[i, 1] == target[1] and self.ori[i] == 0:
            self.reached[i] = wp
            self.mac_done[i] = True

    def _at_edge_facing_out(self, i: int) -> bool:
        x, y = self.pos[i]
        o, top = int(self.ori[i]), self.size - 0.5
        return (
            (o == 0 and y == top)
            or (o == 1 and x == top)
            or (o == 2 and y == 0.5)
            or (o == 3 and x == 0.5)
        )

    def _push(self, i: int) -> float:
        if self._at_edge_facing_out(i):
            self.mac_done[i] = True
            return self.params.penalty
        step = np.array(DIRECTIONS[int(self.ori[i])])
        self.pos[i] += step
        x, y = self.pos[i]
        for b in range(2):
            if self.boxes[b, 0] == x and self.boxes[b, 1] == y:
                if self.ori[i] == 0:
                    self.boxes[b, 1] += 1.0
                    if self.boxes[b, 1] == self.goal_row:
                        self.mac_done[i] = True
                    return 0.0
                self.pos[i] -= step
                self.mac_done[i] = True
                return self.params.penalty
        big = self.boxes[2]
        if y == big[1] and x in (big[0] - 0.5, big[0] + 0.5):
            self.pos[i] -= step
            self.mac_done[i] = True
            return self.params.penalty
        if self._at_edge_facing_out(i):
            self.mac_done[i] = True
        return 0.0

    # ------------------------------------------------------------------ observations
    def observe(self, agent: SimAgent) -> np.ndarray:
        i = agent.idx
        dx, dy = DIRECTIONS[int(self.ori[i])]
        fx, fy = self.pos[i, 0] + dx, self.pos[i, 1] + dy
        small = any(self.boxes[b, 0] == fx and self.boxes[b, 1] == fy for b in range(2))
        big = fy == self.boxes[2, 1] and fx in (self.boxes[2, 0] - 0.5, self.boxes[2, 0] + 0.5)
        wall = fx < 0 or fy < 0 or fx > self.size or fy > self.size
        mate = bool(np.all(self.pos[1 - i] == (fx, fy)))
        bits = [small, big, not (small or big or wall or mate), wall, mate]
        return np.asarray(bits, dtype=np.float32)

    def global_state(self) -> np.ndarray:
        parts = []
        for i in range(2):
            parts += [self.pos[i, 0] / self.size, self.pos[i, 1] / self.size]
            parts += list(np.eye(4)[int(self.ori[i])])
        for b in range(3):
            parts += [self.boxes[b, 0] / self.size, self.boxes[b, 1] / self.size]
        return np.asarray(parts, dtype=np.float32)

    def success(self) -> bool:
        return bool(self.boxes[2, 1] == self.goal_row)

    def scripted_policy(self) -> ScriptedBoxPushing:
        return ScriptedBoxPushing(self)


class ScriptedBoxPushing:
    """The cooperative plan: each agent goes to its big-box spot, then both push together."""

    def __init__(self, world: BoxPushingWorld) -> None:
        self.world = world

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        w = self.world
        out = []
        for i in agent_idx.tolist():
            spot = 2 + i
            at_spot = w.reached[i] == spot and np.all(w.pos[i] == w.waypoints[spot])
            out.append(PUSH if at_spot and w.ori[i] == 0 else spot)
        return np.asarray(out, dtype=np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""


WORLD = BoxPushingWorld
