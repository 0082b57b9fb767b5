"""The warehouse world: layouts, shortest plans, macro-actions, interruptions, radio claims, faults."""

from __future__ import annotations

from collections import deque

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario, load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.study.run import WALL_CLOCK_COLUMNS
from dmarl_des.worlds import world_class
from dmarl_des.worlds.warehouse import WarehouseParams, WarehouseWorld
from dmarl_des.worlds.warehouse_layout import LEFT, RIGHT, UP, parametric_layout, parse_layout
from dmarl_des.worlds.warehouse_observe import Claims
from dmarl_des.worlds.warehouse_routes import Routes
from dmarl_des.worlds.warehouse_rules import FORWARD, TOGGLE_LOAD, Floor

SCENARIO = "scenarios/warehouse.py"
G = 0.99


def _scenario(**overrides) -> Scenario:
    return load_scenario(SCENARIO, overrides)


def _run(**overrides):
    world = WarehouseWorld(_scenario(**overrides))
    world.policy = build_policy(world.scenario, world)
    world.run()
    return world, world.recorder.frames()


# ---------------------------------------------------------------------------- layouts and keys
def test_named_layouts_and_stations():
    sizes = {"tiny": (11, 10), "small": (20, 10), "medium": (20, 16), "large": (29, 16)}
    for size, shape in sizes.items():
        layout = WarehouseParams(size=size).floor_plan()
        assert (layout.height, layout.width) == shape and layout.goals.size == 2
    three = parametric_layout(2, 5, 8, stations=3)
    assert three.goals.tolist() == [19 * 16 + x for x in (1, 2, 7, 8, 12, 13)]
    assert three.highway[three.goals].all()
    assert parse_layout(three.text()).text() == three.text()
    assert world_class("warehouse") is WarehouseWorld


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("world.shelf_columns", 4, "world.shelf_columns"),
        ("n_agents", 111, "n_agents"),
        ("world.requests", 10_000, "world.requests"),
        ("decision_period", 0.5, "decision_period"),
        ("world.layout", "x.g\nx.", "world.layout"),
        ("world.layout", "x.q\nx..", "world.layout"),
        ("world.layout", "x..\nx..", "world.layout"),
        ("world.stations", 20, "world.stations"),
    ],
)
def test_bad_keys_are_configuration_errors(key, value, field):
    overrides = {key: value}
    if key == "n_agents":
        overrides["world.size"] = "tiny"  # 110 cells
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        _scenario(**overrides)


# ---------------------------------------------------------------------------- plans
def _bfs(layout, start_state, goal_cells, passable):
    """Steps from a (cell, heading) state to any goal cell, moves into ``passable`` cells only."""
    ahead = layout.ahead()
    seen = {start_state: 0}
    queue = deque([start_state])
    while queue:
        s = queue.popleft()
        cell, h = divmod(s, 4)
        if cell in goal_cells:
            return seen[s]
        nxt = [cell * 4 + (h + 1) % 4, cell * 4 + (h - 1) % 4]
        step = int(ahead[cell, h])
        if step != cell and passable[step]:
            nxt.append(step * 4 + h)
        for t in nxt:
            if t not in seen:
                seen[t] = seen[s] + 1
                queue.append(t)
    return np.inf


def _lone_floor(layout, cell, heading, load=-1):
    floor = Floor(layout, 1, 1, "global")
    floor.reset([cell], [heading], [0])
    if load >= 0:
        floor.load[0] = load
        floor._place()
    return floor


def test_open_grid_plans_are_shortest_and_arrive():
    layout = parametric_layout(2, 5, 8)
    routes = Routes(layout)
    rng = np.random.default_rng(0)
    everywhere = np.ones(layout.n_cells, dtype=bool)
    for _ in range(60):
        cell, to = rng.integers(layout.n_cells, size=2)
        heading = int(rng.integers(4))
        plan = routes.free_plan(int(cell), heading, int(to))
        cost = routes.free_cost(np.array([cell]), np.array([heading]), np.array([[to]]))[0, 0]
        assert len(plan) == cost == _bfs(layout, int(cell) * 4 + heading, {int(to)}, everywhere)
        floor = _lone_floor(layout, int(cell), heading)
        for action in plan:
            floor.step([action])
        assert floor.pos[0] == to


def test_loaded_plans_keep_to_highways_and_are_shortest():
    layout = parametric_layout(2, 3, 8)
    routes = Routes(layout)
    rng = np.random.default_rng(1)
    goals = set(layout.goals.tolist())
    for _ in range(40):
        cell = int(rng.integers(layout.n_cells))
        heading = int(rng.integers(4))
        shelf = 0 if layout.highway[cell] else int(np.searchsorted(layout.shelf_homes, cell))
        floor = _lone_floor(layout, cell, heading, load=shelf)
        plan = routes.follow(routes.to_goal, np.array([cell]), np.array([heading]))[0]
        dist = routes.to_goal.dist[cell * 4 + heading]
        assert len(plan) == dist == _bfs(layout, cell * 4 + heading, goals, layout.highway)
        for action in plan:
            floor.step([action])
            assert layout.highway[floor.pos[0]] or floor.pos[0] == cell
        assert floor.pos[0] in goals


def test_put_back_ends_in_a_free_slot():
    layout = parametric_layout(1, 3, 8)
    routes = Routes(layout)
    floor = Floor(layout, 1, 1, "global")
    home = int(layout.shelf_homes[0])  # (1, 1), below the top highway
    floor.reset([home], [UP], [5])
    floor.step([TOGGLE_LOAD])  # pick shelf 0 up, leaving its slot free ...
    floor.step([FORWARD])  # ... and step up onto the highway
    cell, heading = int(floor.pos[0]), int(floor.heading[0])
    assert layout.highway[cell]
    field = routes.to_slots(floor.shelf_at)
    plan = [*routes.follow(field, np.array([cell]), np.array([heading]))[0], FORWARD, TOGGLE_LOAD]
    assert len(plan) == field.dist[cell * 4 + heading] + 2
    for action in plan:
        floor.step([action])
    assert floor.load[0] == -1 and floor.shelf_cell[0] == floor.pos[0]
    assert not layout.highway[floor.pos[0]]


# ---------------------------------------------------------------------------- the world
class Placed(WarehouseWorld):
    """The warehouse with robots, headings and requests placed by the test."""

    start: tuple[list[int], list[int], list[int]]

    def reset_episode(self, episode: int) -> None:
        super().reset_episode(episode)
        self.floor.reset(*self.start, self.floor.rng)


class Choose:
    """A policy choosing a fixed macro-action per robot (by name)."""

    def __init__(self, world, names) -> None:
        self.world = world
        self.names = names

    def act(self, obs, agent_idx, mask, *, explore=True):
        index = self.world.macro_action_names()
        return np.array([index.index(self.names[i]) for i in agent_idx.tolist()])

    def reset(self, agent_idx=None):
        pass


def _placed(layout_text, start, names, **keys):
    scenario = Scenario.build(
        name="placed",
        world=WarehouseParams(layout=layout_text, requests=len(start[2]), **keys),
        n_agents=len(start[0]),
        horizon=30.0,
        gamma=G,
        policy="random",
        record={"transitions": True},
        seed=0,
    )
    world = Placed(scenario)
    world.start = start
    world.policy = Choose(world, names)
    world.run()
    return world, world.recorder.frames()["transitions"].sort("agent_id", "t_start")


def test_a_lone_robot_fetches_delivers_and_puts_back():
    world, frames = _run(**{"n_agents": 1, "world.size": "tiny", "record.transitions": True})
    tr = frames["transitions"].sort("t_start")
    names = world.macro_action_names()
    done = tr.filter(~pl.col("done"))
    assert world.counts["interrupts"] == 0  # alone, nothing ever blocks it
    cycle = [names.index(n) for n in ("fetch_0", "deliver", "put_back")]
    assert done["action"].to_list()[:6] == cycle * 2
    deliver = done.filter(pl.col("action") == names.index("deliver"))
    # the delivery happens in the deliver plan's last step, t_end − 1: γ^(τ − 1)
    assert deliver["reward"].to_list() == pytest.approx((G ** (deliver["tau"] - 1)).to_list())
    assert frames["episodes"]["team_return"][0] == world.counts["deliveries"] >= 4
    assert (done["tau"] >= 1).all() and (done["t_end"] == done["t_start"] + done["tau"]).all()


CORRIDOR = """
xx....xx
.......g
"""
"""Shelves 0, 1, 2, 3 at (0,0), (1,0), (6,0), (7,0); requested: 0 and 3."""


def test_robots_meeting_head_on_are_interrupted():
    # robots at (0,1) and (7,1) face each other; each fetches the far requested shelf (its
    # second candidate): both plans run along row 1, so they meet after 3 steps and the 4th
    # (a swap of cells) is refused to both
    start = ([8, 15], [RIGHT, LEFT], [0, 3])
    world, tr = _placed(CORRIDOR, start, ["fetch_1", "fetch_1"])
    first = tr.group_by("agent_id").head(1).sort("agent_id")
    names = world.macro_action_names()
    assert first["action"].to_list() == [names.index("fetch_1")] * 2
    assert first["tau"].to_list() == [4.0, 4.0]  # decided again at the step after the refusal
    assert world.counts["blocked_moves"] >= 2 and world.counts["interrupts"] >= 2


def test_a_fetch_ends_when_another_robot_takes_the_shelf():
    # both go for shelf 0: robot 0 stands below it facing up (forward, pick up: 2 steps), robot
    # 1 at the far end; it learns that the shelf is gone at the step after the pick-up
    start = ([8, 15], [UP, LEFT], [0, 3])
    world, tr = _placed(CORRIDOR, start, ["fetch_0", "fetch_1"])
    first = tr.group_by("agent_id").head(1).sort("agent_id")
    assert first["tau"].to_list() == [2.0, 2.0]
    assert world.counts["fetches_lost"] >= 1


def _tables(processes: bool, **overrides):
    sc = _scenario(**{"horizon": 150, "record.transitions": True, **overrides})
    world = WarehouseWorld(sc, agents_as_processes=processes)
    world.policy = build_policy(sc, world)
    world.run()
    return {
        k: f.drop([c for c in WALL_CLOCK_COLUMNS if c in f.columns])
        for k, f in world.recorder.frames().items()
    }


def test_arrays_and_processes_give_identical_tables():
    faults = {"faults.crash.fraction": 0.25, "faults.crash.start": "at", "faults.crash.at": 60.0}
    arrays = _tables(False, **faults, **{"net.loss.p": 0.3})
    procs = _tables(True, **faults, **{"net.loss.p": 0.3})
    assert arrays["warehouse"]["interrupts"][0] > 20
    assert arrays["transitions"].height > 100
    for name in arrays:
        assert arrays[name].equals(procs[name]), name
    assert arrays["transitions"].equals(
        _tables(False, **faults, **{"net.loss.p": 0.3})["transitions"]
    )


def test_robots_stopped_as_their_macro_action_ends_are_cut_alike_in_processes():
    # crashes at 4 and 5 stop robots at an instant where their macro-actions end: the ended
    # macro-action waits for the decision that would close it, and must be cut there by agents
    # run as processes as by agents kept in arrays (same transitions and returns)
    for at in (4.0, 5.0):
        faults = {"faults.crash.fraction": 0.5, "faults.crash.start": "at", "faults.crash.at": at}
        arrays = _tables(False, horizon=60, **faults)
        procs = _tables(True, horizon=60, **faults)
        assert arrays["transitions"].height > 20
        for name in ("agents", "transitions", "episodes"):
            assert arrays[name].equals(procs[name]), (at, name)


@pytest.mark.slow
def test_lost_messages_cost_claims_and_fetches():
    def counts(p):
        rows = []
        for seed in range(3):
            _, frames = _run(**{"n_agents": 16, "seed": seed, "net.loss.p": p})
            rows.append(frames["warehouse"])
        return pl.concat(rows)

    heard, deaf = counts(0.0), counts(1.0)
    assert heard["claims_heard"].sum() > 100 and deaf["claims_heard"].sum() == 0
    assert deaf["fetches_lost"].sum() > heard["fetches_lost"].sum()


def test_crashed_robots_stay_where_they_stand():
    _, frames = _run(
        **{
            "faults.crash.fraction": 0.5,
            "faults.crash.start": "at",
            "faults.crash.at": 100.0,
            "record.trace_every": 1.0,
        }
    )
    trace = frames["trace"].filter(pl.col("time") >= 100)
    crashed = trace.filter(pl.col("role") == "crashed")
    assert crashed["agent_id"].n_unique() == 4
    still = crashed.group_by("agent_id").agg(pl.col("x").n_unique(), pl.col("y").n_unique())
    assert (still["x"] == 1).all() and (still["y"] == 1).all()
    moving = trace.filter(pl.col("role") == "honest")
    assert moving.group_by("agent_id").agg(pl.col("x").n_unique())["x"].max() > 1


def test_lying_radios_are_refused_and_hoarders_hurt():
    honest = _run()[1]
    lies = _run(
        **{
            "faults.byzantine.count": 3,
            "faults.byzantine.messages": "constant",
            "faults.byzantine.value": 1e6,
        }
    )[1]
    assert honest["warehouse"]["claims_ignored"][0] == 0
    assert lies["warehouse"]["claims_ignored"][0] > 0
    hoard = _run(**{"faults.byzantine.count": 4, "faults.byzantine.actions": "adversarial"})[1]
    assert hoard["warehouse"]["deliveries"][0] < honest["warehouse"]["deliveries"][0]


@pytest.mark.parametrize("reward", ["individual", "two_stage"])
def test_individual_rewards_go_to_the_delivering_robot(reward):
    world, frames = _run(**{"world.reward": reward})
    returns = frames["agents"]["return"]
    deliveries = world.counts["deliveries"]
    assert deliveries > 10 and returns.max() < returns.sum()  # several robots were paid
    assert frames["episodes"]["team_return"][0] == returns.sum()  # their own rewards summed
    if reward == "individual":
        assert returns.sum() == deliveries
    else:  # 0.5 per delivery, and 0.5 per shelf put down after being delivered
        assert deliveries * 0.5 < returns.sum() <= deliveries
        assert (returns * 2 == (returns * 2).round()).all()


def test_a_thousand_robots():
    world, frames = _run(
        **{
            "n_agents": 1000,
            "horizon": 6,
            "world.shelf_rows": 12,
            "world.shelf_columns": 25,
            "world.stations": 8,
            "world.requests": 250,
        }
    )
    floor = world.floor
    assert np.unique(floor.pos).size == 1000  # never two robots in a cell
    assert frames["episodes"]["n_decisions"][0] >= 1000
    assert world.counts["moves"] > 2000


def test_the_floor_keeps_its_invariants_under_random_actions():
    layout = parametric_layout(1, 3, 8)
    floor = Floor(layout, 30, 20, "two_stage")
    rng = np.random.default_rng(5)
    floor.reset(
        rng.choice(layout.n_cells, 30, replace=False),
        rng.integers(4, size=30),
        rng.choice(layout.shelf_homes.size, 20, replace=False),
        rng,
    )
    for _ in range(500):
        floor.step(rng.integers(5, size=30), rng.random(30))
        assert np.unique(floor.pos).size == 30
        assert np.unique(floor.shelf_cell).size == floor.n_shelves
        carried = floor.load >= 0
        assert np.array_equal(floor.shelf_cell[floor.load[carried]], floor.pos[carried])
        assert np.unique(floor.requests).size == 20 and floor.requested.sum() == 20
        standing = np.setdiff1d(np.arange(floor.n_shelves), floor.load[carried])
        assert not layout.highway[floor.shelf_cell[standing]].any()  # never put down there
        assert not np.isin(floor.pos[carried], floor.shelf_cell[standing]).any()
        assert ((floor.heading >= 0) & (floor.heading < 4)).all()


def test_the_study_of_the_scenario_file():
    from dmarl_des.study import load_study

    study = load_study(SCENARIO)
    assert len(study.runs()) >= 6
    scenario = study.runs()[0].load()
    assert scenario.world.name == "warehouse" and scenario.n_agents == 8
    frames = run_scenario(scenario.with_overrides({"horizon": 100.0})).frames
    assert frames["warehouse"]["deliveries"][0] > 0


def test_recovered_robots_resume_from_where_they_stood_and_forget_claims(monkeypatch):
    world = WarehouseWorld(
        _scenario(
            **{
                "faults.crash.fraction": 0.5,
                "faults.crash.start": "at",
                "faults.crash.at": 100.0,
                "faults.recover.enabled": True,
                "faults.recover.mean": 20.0,
                "record.trace_every": 1.0,
            }
        )
    )
    world.policy = build_policy(world.scenario, world)
    forgot: list[tuple[int, int]] = []
    original = Claims.forget

    def spy(self, idx):
        forgot.append((idx, int(np.count_nonzero(self.shelf[idx] >= 0))))
        original(self, idx)
        assert (self.shelf[idx] < 0).all()

    monkeypatch.setattr(Claims, "forget", spy)
    world.run()
    trace = world.recorder.frames()["trace"].sort("agent_id", "time")
    recovered = 0
    for rows in trace.partition_by("agent_id", maintain_order=True):
        roles = rows["role"].to_list()
        if "crashed" not in roles:
            continue
        first_down = roles.index("crashed")
        back = [i for i in range(first_down, len(roles)) if roles[i] == "honest"]
        if not back:
            continue
        recovered += 1
        down = rows[first_down : back[0]]
        # a crashed robot stays where it stands; it resumes from that cell (the first sample
        # after its recovery follows the step at that time: at most one move away)
        assert down["x"].n_unique() == 1 and down["y"].n_unique() == 1
        jump = abs(rows["x"][back[0]] - down["x"][0]) + abs(rows["y"][back[0]] - down["y"][0])
        assert jump <= 1
        assert rows[back[0] :].select(pl.col("x") * 1000 + pl.col("y")).n_unique() > 1
    assert recovered >= 2
    assert len(forgot) >= recovered and any(n > 0 for _, n in forgot)  # it had heard claims
