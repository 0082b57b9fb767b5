"""The warehouse's primitive rules against RWARE 2.0 itself: same start, same actions, same steps.

RWARE (the ``rware`` package) is run side by side with the warehouse, from RWARE's own initial
state, for at least 1,000 steps per configuration: the robots' cells, headings and loads, the
request queue and every robot's reward must agree after every step. Two things are copied from
RWARE's state, because RWARE leaves them to chance rather than to a rule: the shelf drawn to
replace a delivered one (its random stream), and which of two equally long chains of robots
enters a contested cell (the iteration order of its graph library's sets) — the warehouse gets
that as its tie priority (robots RWARE moved first), so every other rule of the step is checked.
The draws are taken from RWARE's generator as it makes them (a delivery's new request may be
the very shelf standing on the next goal, delivered in the same step).

The actions mix purposeful plans (fetch a requested shelf, deliver it, put it back: so that
deliveries, requests and the two-stage reward happen) with random actions (collisions, cycles,
swaps, toggles on highways, moves into walls).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

rware = pytest.importorskip("rware")
from rware.warehouse import RewardType, Warehouse  # noqa: E402

from dmarl_des.scenario import Scenario  # noqa: E402
from dmarl_des.worlds.warehouse import WarehouseParams, WarehouseWorld  # noqa: E402
from dmarl_des.worlds.warehouse_layout import (  # noqa: E402
    SIZES,
    Layout,
    parametric_layout,
    parse_layout,
)
from dmarl_des.worlds.warehouse_routes import Routes  # noqa: E402
from dmarl_des.worlds.warehouse_rules import TOGGLE_LOAD, Floor  # noqa: E402

REWARD_TYPES = {
    "individual": RewardType.INDIVIDUAL,
    "global": RewardType.GLOBAL,
    "two_stage": RewardType.TWO_STAGE,
}
HEADING_OF = {0: 0, 1: 2, 2: 3, 3: 1}  # RWARE's UP, DOWN, LEFT, RIGHT -> up, right, down, left

CUSTOM = """
x.xx.g
x.xx..
......
xx.x.g
g....x
"""


class RecordedDraws:
    """RWARE's random generator, recording the shelves it draws as new requests (in order)."""

    def __init__(self, rng) -> None:
        self.rng = rng
        self.shelves: list[int] = []

    def choice(self, *args, **kwargs):
        out = self.rng.choice(*args, **kwargs)
        self.shelves.append(out.id - 1)
        return out

    def take(self, candidates: np.ndarray, slot: int) -> int:
        """The floor's draw: RWARE's next one, which must be among the floor's candidates."""
        shelf = self.shelves.pop(0)
        assert shelf in candidates
        return shelf


def rware_env(size, n, requests, reward, layout=None, seed=0):
    rows, columns = SIZES.get(size, (1, 3))
    env = Warehouse(
        shelf_columns=columns,
        column_height=8,
        shelf_rows=rows,
        n_agents=n,
        msg_bits=0,
        sensor_range=1,
        request_queue_size=requests,
        max_inactivity_steps=None,
        max_steps=None,
        reward_type=REWARD_TYPES[reward],
        layout=layout,
    )
    env.reset(seed=seed)
    env.np_random = RecordedDraws(env.np_random)
    return env


def rware_state(env, width):
    """(cells, headings, loads, request queue) of RWARE's robots and queue, in our terms."""
    cells = np.array([a.y * width + a.x for a in env.agents])
    headings = np.array([HEADING_OF[a.dir.value] for a in env.agents])
    loads = np.array([a.carrying_shelf.id - 1 if a.carrying_shelf else -1 for a in env.agents])
    queue = np.array([s.id - 1 for s in env.request_queue])
    return cells, headings, loads, queue


def same_layout(env, layout: Layout) -> None:
    height, width = env.grid_size
    assert (layout.height, layout.width) == (height, width)
    assert np.array_equal(layout.highway, env.highways.reshape(-1).astype(bool))
    assert [(g % width, g // width) for g in layout.goals.tolist()] == [tuple(g) for g in env.goals]
    assert layout.shelf_homes.size == len(env.shelfs)


class Actions:
    """Primitive actions for a fleet: each robot follows a purposeful plan, with random actions
    (``noise``) mixed in; a robot whose last move was refused acts at random with probability
    1/2 (so that jams dissolve)."""

    def __init__(self, floor: Floor, seed: int, noise: float) -> None:
        self.floor = floor
        self.routes = Routes(floor.layout)
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.plans: list[list[int]] = [[] for _ in range(floor.n)]
        self.last = np.zeros(floor.n, dtype=np.int64)
        self.cells = floor.pos.copy()

    def _plan(self, i: int) -> list[int]:
        f, routes = self.floor, self.routes
        cell, heading, load = int(f.pos[i]), int(f.heading[i]), int(f.load[i])
        if load < 0:
            carried = set(f.load[f.load >= 0].tolist())
            free = [s for s in f.requests.tolist() if s not in carried]
            if not free:
                return [0]
            cells = f.shelf_cell[free]
            cost = routes.free_cost(np.array([cell]), np.array([heading]), cells[None, :])[0]
            to = int(cells[int(np.argmin(cost))])
            return [*routes.free_plan(cell, heading, to), TOGGLE_LOAD]
        if f.requested[load]:
            plan = routes.follow(routes.to_goal, np.array([cell]), np.array([heading]))[0]
            return plan or [0]
        if not f.highway[cell]:
            return [TOGGLE_LOAD]
        field = routes.to_slots(f.shelf_at)
        if not np.isfinite(field.dist[cell * 4 + heading]):
            return [0]
        plan = routes.follow(field, np.array([cell]), np.array([heading]))[0]
        return [*plan, 1, TOGGLE_LOAD]

    def next(self) -> np.ndarray:
        out = np.empty(self.floor.n, dtype=np.int64)
        stuck = (self.last == 1) & (self.floor.pos == self.cells)
        random = self.rng.random(self.floor.n) < np.where(stuck, 0.5, self.noise)
        for i in range(self.floor.n):
            if random[i]:
                out[i] = self.rng.integers(5)
                self.plans[i] = []
                continue
            if not self.plans[i]:
                self.plans[i] = self._plan(i)
            out[i] = self.plans[i].pop(0)
        self.last, self.cells = out, self.floor.pos.copy()
        return out


def replay(env, floor: Floor, actions: np.ndarray, rng) -> tuple[np.ndarray, object]:
    """Step RWARE with ``actions``, then the floor with RWARE's draws; returns RWARE's rewards and
    the floor's outcome, after checking that both states agree — and that a copy of the floor
    stepped with random priorities moves the same robots whenever the floor saw no tie (the
    priority decides ties between equally long chains, and nothing else)."""
    width = floor.layout.width
    before = [(a.x, a.y) for a in env.agents]
    shadow = copy.deepcopy(floor)
    _, rewards, *_ = env.step(actions.tolist())
    cells, headings, loads, queue = rware_state(env, width)
    moved = np.array([(a.x, a.y) != p for a, p in zip(env.agents, before, strict=True)])
    floor.draw_request = env.np_random.take
    out = floor.step(actions, priority=moved.astype(float))
    assert not env.np_random.shelves  # as many draws as RWARE made
    if out.ties == 0:
        shadow.draw_request = lambda candidates, slot: int(candidates[0])
        shadow.step(actions, priority=rng.random(floor.n))
        assert np.array_equal(shadow.pos, cells)
    assert np.array_equal(floor.pos, cells)
    assert np.array_equal(floor.heading, headings)
    assert np.array_equal(floor.load, loads)
    assert np.array_equal(floor.requests, queue)
    assert np.array_equal(out.rewards, np.asarray(rewards, dtype=float))
    return np.asarray(rewards, dtype=float), out


CONFIGS = [
    ("tiny", 4, 4, "individual", 2000, 0.1),
    ("small", 10, 10, "global", 1500, 0.1),
    ("medium", 20, 10, "two_stage", 1000, 0.3),
    ("large", 30, 60, "individual", 1000, 0.3),
    ("custom", 6, 3, "two_stage", 1000, 0.1),
]


@pytest.mark.slow
@pytest.mark.parametrize(("size", "n", "requests", "reward", "steps", "noise"), CONFIGS)
def test_floor_steps_like_rware(size, n, requests, reward, steps, noise):
    custom = CUSTOM if size == "custom" else None
    env = rware_env(size, n, requests, reward, custom, seed=n)
    layout = parse_layout(custom) if custom else parametric_layout(*SIZES[size], 8)
    same_layout(env, layout)
    floor = Floor(layout, n, requests, reward)
    cells, headings, _, queue = rware_state(env, layout.width)
    floor.reset(cells, headings, queue)
    actions = Actions(floor, seed=n, noise=noise)
    totals = np.zeros(n)
    delivered = ties = swaps_or_blocks = 0
    rng = np.random.default_rng(0)
    for _ in range(steps):
        rewards, out = replay(env, floor, actions.next(), rng)
        totals += rewards
        delivered += out.delivered.size
        ties += out.ties
        swaps_or_blocks += int(out.blocked.sum())
    # the run exercised the rules that matter: deliveries, contested cells, refused moves
    assert delivered >= 5 and ties >= 1 and swaps_or_blocks >= 20
    assert totals.sum() > 0


def test_the_tie_rule_is_no_index_order():
    """RWARE's ties follow neither the robots' order nor its reverse (so they are copied)."""
    found = {}
    for name, sign in (("first", -1.0), ("last", 1.0)):
        env = rware_env("medium", 20, 20, "global", seed=3)
        layout = parametric_layout(*SIZES["medium"], 8)
        floor = Floor(layout, 20, 20, "global")
        cells, headings, _, queue = rware_state(env, layout.width)
        floor.reset(cells, headings, queue)
        rng = np.random.default_rng(3)
        for step in range(2000):
            act = rng.choice(5, size=20, p=[0.1, 0.6, 0.1, 0.1, 0.1])
            env.step(act.tolist())
            cells = rware_state(env, layout.width)[0]
            floor.draw_request = env.np_random.take
            floor.step(act, priority=sign * np.arange(20))
            if not np.array_equal(floor.pos, cells):
                found[name] = step
                break
    assert set(found) == {"first", "last"}


class Mirror(WarehouseWorld):
    """The warehouse world started from RWARE's initial state, taking RWARE's draws."""

    original: Warehouse
    """RWARE's environment (``env`` is the world's SimPy environment)."""
    priority: np.ndarray

    def reset_episode(self, episode: int) -> None:
        super().reset_episode(episode)
        cells, headings, _, queue = rware_state(self.original, self.layout.width)
        self.floor.reset(cells, headings, queue)
        self.priority = np.zeros(self.floor.n)

    def tie_priority(self) -> np.ndarray:
        return self.priority


class RwareDriver:
    """A policy for the primitive world: steps RWARE with the same actions as it decides, so the
    world's step that follows must reproduce RWARE's."""

    def __init__(self, world: Mirror, seed: int) -> None:
        self.world = world
        self.actions = Actions(world.floor, seed, noise=0.2)
        self.expected = None
        self.rewards: list[np.ndarray] = []
        self.steps = 0

    def act(self, obs, agent_idx, mask, *, explore=True):
        w = self.world
        assert agent_idx.size == w.floor.n and mask.all()  # every robot decides every step
        assert w.now == self.steps
        if self.expected is not None:  # the world's last step did what RWARE's did
            for got, want in zip(
                (w.floor.pos, w.floor.heading, w.floor.load, w.floor.requests), self.expected
            ):
                assert np.array_equal(got, want)
        actions = self.actions.next()
        before = [(a.x, a.y) for a in w.original.agents]
        _, rewards, *_ = w.original.step(actions.tolist())
        self.rewards.append(np.asarray(rewards, dtype=float))
        self.expected = rware_state(w.original, w.layout.width)
        w.priority = np.array(
            [(a.x, a.y) != p for a, p in zip(w.original.agents, before, strict=True)], dtype=float
        )
        w.floor.draw_request = w.original.np_random.take
        self.steps += 1
        return actions[agent_idx]

    def reset(self, agent_idx=None):
        pass


@pytest.mark.slow
@pytest.mark.parametrize(
    ("size", "n", "reward"), [("small", 8, "global"), ("tiny", 5, "individual")]
)
def test_the_primitive_world_reproduces_rware(size, n, reward):
    """The world itself, macro-actions of one primitive step each, 1,000 steps of simulated time:
    the same outcomes as RWARE, and the returns are RWARE's summed rewards."""
    scenario = Scenario.build(
        name="warehouse_rware",
        world=WarehouseParams(size=size, actions="primitive", reward=reward),
        n_agents=n,
        horizon=1000.0,
        gamma=0.99,
        policy="random",
        seed=0,
    )
    world = Mirror(scenario)
    world.original = rware_env(size, n, n, reward, seed=11)
    driver = RwareDriver(world, seed=11)
    world.policy = driver
    row = world.run_episode(0, "eval")
    final = (world.floor.pos, world.floor.heading, world.floor.load, world.floor.requests)
    assert all(np.array_equal(a, b) for a, b in zip(final, driver.expected, strict=True))
    assert driver.steps == 1000 and row["n_decisions"] == 1000 * n
    totals = np.sum(driver.rewards, axis=0)
    assert world.counts["deliveries"] >= 5
    if reward == "global":  # RWARE gives every robot +1 per delivery; the team gets +1
        assert row["team_return"] == pytest.approx(totals[0]) == world.counts["deliveries"]
    else:
        returns = [world.agent_stats(a)[0] for a in world.sim_agents]
        assert returns == pytest.approx(totals.tolist())
        assert sum(returns) == world.counts["deliveries"]
