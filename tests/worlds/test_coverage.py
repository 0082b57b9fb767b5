"""The coverage world against hand computations: geometry, rewards, asynchrony, communication."""

import math

import numpy as np
import polars as pl
import pytest

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.study.run import frames_digest
from dmarl_des.worlds.coverage import CoverageWorld
from dmarl_des.worlds.coverage_grid import CoverageGrid
from dmarl_des.worlds.coverage_policy import greedy_choice, tie_noise
from dmarl_des.worlds.point_memory import FAR, PointMemory
from dmarl_des.worlds.uav_waypoints import (
    FOOTPRINT_SAMPLES,
    HOVER,
    KNOWN,
    NEAREST,
    OBS_DIM,
    candidates,
    known_coverage,
)

SCENARIO = "scenarios/coverage.py"
N, NE, E, SE, S, SW, W, NW = range(8)
CUT = {"net.loss.model": "bernoulli", "net.loss.p": 1.0}


def _scenario(**overrides):
    return load_scenario(SCENARIO, overrides)


class Plan:
    """Plays a fixed list of macro-actions per UAV, then hovers."""

    def __init__(self, plans):
        self.plans = {k: list(v) for k, v in plans.items()}

    def act(self, obs, agent_idx, mask, *, explore=True):
        out = [self.plans[i].pop(0) if self.plans.get(i) else HOVER for i in agent_idx.tolist()]
        return np.asarray(out, dtype=np.int64)

    def reset(self, agent_idx=None):
        pass


class PlacedWorld(CoverageWorld):
    """Starts the UAVs at ``START`` and runs ``SCRIPT`` (time, fn(world)) callbacks."""

    START: np.ndarray
    SCRIPT: tuple = ()

    def reset_episode(self, episode):
        super().reset_episode(episode)
        self.place(self.START)

    def start_processes(self):
        super().start_processes()
        for t, fn in self.SCRIPT:
            self.env.timeout(t).callbacks.append(lambda _ev, fn=fn: fn(self))


def _placed(start, plans, script=(), **overrides):
    """A world of len(start) UAVs on a 100 × 100 map of unit cells, unit sensor radius."""
    values = {
        "n_agents": len(start),
        "decision_period": 0.0,
        "net.resolution": 0.0,
        "world.size": 100.0,
        "world.cells": 100,
        "world.sensor_radius": 1.0,
        "world.step": 10.0,
        "world.speed": 10.0,
        "world.speed_jitter": 0.0,
        "world.reward": "cells",
        "record.transitions": True,
        "horizon": 10.0,
        **overrides,
    }
    cls = type("W", (PlacedWorld,), {"START": np.asarray(start, float), "SCRIPT": script})
    world = cls(_scenario(**values))
    world.policy = Plan(plans)
    return world


def _hand_footprint(x, y, cells=100, width=1.0, radius=1.0):
    """Cells whose centres lie within ``radius`` of the centre of the cell holding (x, y)."""
    cx, cy = min(int(x // width), cells - 1), min(int(y // width), cells - 1)
    out = set()
    for i in range(cells):
        for j in range(cells):
            if (i - cx) ** 2 * width**2 + (j - cy) ** 2 * width**2 <= radius**2 + 1e-12:
                out.add((i, j))
    return out


# ----------------------------------------------------------------------------- geometry
def test_footprint_stencil_and_sensing_by_hand():
    grid = CoverageGrid(10.0, 10, 1.0)  # unit cells: the centre cell and its 4 edge neighbours
    assert sorted(map(tuple, grid.offsets.tolist())) == [(-1, 0), (0, -1), (0, 0), (0, 1), (1, 0)]
    assert grid.sense(5.5, 5.2) == (5, 5)
    assert grid.sense(5.9, 5.9) == (0, 5)  # same cell: nothing new
    assert grid.sense(6.5, 5.5) == (3, 5)  # (6,5) (5,5) seen; (7,5) (6,4) (6,6) new
    assert grid.sense(0.0, 0.0) == (3, 3)  # a corner: only 3 cells inside the area
    assert grid.sense(10.0, 10.0) == (3, 3)  # the far edge belongs to the last cell
    assert grid.covered == 14
    expected = {(5, 5), (4, 5), (6, 5), (5, 4), (5, 6), (7, 5), (6, 4), (6, 6)}
    expected |= {(0, 0), (1, 0), (0, 1), (9, 9), (8, 9), (9, 8)}
    assert {tuple(c) for c in np.argwhere(grid.covered_cells()).tolist()} == expected
    assert grid.visits()[5, 5] == 3 and grid.visits()[6, 5] == 3 and grid.visits()[7, 5] == 1
    assert CoverageGrid(10.0, 10, 1.5).offsets.shape == (9, 2)  # diagonals at √2 <= 1.5
    assert CoverageGrid(10.0, 10, 2.0).offsets.shape == (13, 2)
    cov = CoverageGrid(10.0, 10, 1.0)
    cov.sense(2.5, 2.5)
    assert cov.coarse(2).tolist() == pytest.approx([5 / 25, 0.0, 0.0, 0.0])


def test_flight_durations_follow_distance_over_speed_with_border_clipping():
    # at (95, 50): east is clipped to 5 units; then north-east from the wall is 7.07 north
    world = _placed([(95.0, 50.0)], {0: [E, NE, N]}, horizon=2.0)
    world.run_episode(0, "eval")
    tr = world.recorder.frame("transitions").sort("t_start")
    assert tr["action"].to_list()[:3] == [E, NE, N]
    assert tr["tau"].to_list()[:2] == pytest.approx([0.5, math.sqrt(0.5)])
    assert tr["t_start"].to_list()[:3] == pytest.approx([0.0, 0.5, 0.5 + math.sqrt(0.5)])
    y = 50.0 + 10 * math.sqrt(0.5)
    assert world.pos[0] == pytest.approx([100.0, y])
    assert world.sim_agents[0].pos == tuple(world.pos[0])  # Mesa's space follows the waypoints
    assert world.space.get_neighbors((100.0, y), 0.1) == [world.sim_agents[0]]
    # mid-flight north: 2.0 - 1.2071 = 0.7929 into a 1.0 flight
    assert world.agent_positions()[0] == pytest.approx([100.0, y + 10 * (2.0 - 0.5 - 0.7071068)])


def test_speed_factor_scales_durations():
    world = _placed([(50.0, 50.0)] * 3, {0: [W], 1: [W], 2: [W]}, **{"world.speed_jitter": 0.5})
    world.run_episode(0, "eval")
    f = world.speed_factor
    assert np.all((f >= 0.5) & (f <= 1.5)) and np.unique(f).size == 3
    tr = world.recorder.frame("transitions").filter(pl.col("action") == W).sort("agent_id")
    assert tr["tau"].to_list() == pytest.approx((1.0 / f).tolist())


def test_mask_excludes_degenerate_waypoints():
    world = _placed([(100.0, 100.0), (0.0, 37.0), (40.0, 40.0)], {})
    world.run_episode(0, "eval")  # hovers only: nobody moves
    mask = world.mask_many(np.arange(3))
    #                       N      NE     E      SE    S     SW    W     NW    hover
    assert mask[0].tolist() == [False, False, False, True, True, True, True, True, True]
    assert mask[1].tolist() == [True, True, True, True, True, True, False, True, True]
    assert mask[2].all()
    targets, lengths = candidates(world.pos[:1], 10.0, 100.0)
    assert targets[0, SE] == pytest.approx([100.0, 100.0 - 10 * math.sqrt(0.5)])
    assert lengths[0, [N, SE, S]] == pytest.approx([0.0, 10 * math.sqrt(0.5), 10.0])


def test_covered_set_and_return_equal_a_hand_computation():
    # one UAV, a known plan with revisits: the reward counts each cell once
    plan = [E, E, W, W, N, S, SW]
    world = _placed([(50.5, 50.5)], {0: plan}, **{"world.sensor_radius": 1.5})
    row = world.run_episode(0, "eval")
    x, y, expected = 50.5, 50.5, set()
    moves = {E: (10, 0), W: (-10, 0), N: (0, 10), S: (0, -10), SW: (-7.0710678, -7.0710678)}
    for a in plan:
        x, y = x + moves[a][0], y + moves[a][1]
        expected |= _hand_footprint(x, y, radius=1.5)
    covered = {tuple(c) for c in np.argwhere(world.grid.covered_cells()).tolist()}
    assert covered == expected
    assert row["team_return"] == len(expected) == world.grid.covered
    assert world.arrivals == len(plan) and world.wasted_arrivals == 2  # back W, back S
    assert world.sensings - world.grid.covered == 9 * world.wasted_arrivals


def test_an_arrival_pays_the_flight_that_reached_it():
    # 5 new cells per arrival (unit cells, radius 1), at t = 1 and t = 2; then hovering
    world = _placed([(50.5, 50.5)], {0: [E, E]}, horizon=2.5, gamma=0.9)
    world.run_episode(0, "eval")
    tr = world.recorder.frame("transitions").sort("t_start")
    assert tr["action"].to_list() == [E, E, HOVER]
    assert tr["reward"].to_list() == pytest.approx([5 * 0.9, 5 * 0.9, 0.0])


def test_private_rewards_pay_only_the_uav_that_discovers():
    """Two UAVs fly east in parallel, 10 apart (disjoint footprints); UAV 1 only hovers. Team
    scope: every running macro-action earns the team's reward; private: only the discoverer."""
    plans = {0: [E, E], 1: []}
    start = [(50.5, 50.5), (50.5, 20.5)]
    rows = {}
    for scope in ("team", "private"):
        world = _placed(start, plans, horizon=2.5, gamma=0.9, **{"world.reward_scope": scope})
        row = world.run_episode(0, "eval")
        tr = world.recorder.frame("transitions").sort("agent_id", "t_start")
        rows[scope] = (row["team_return"], tr.filter(pl.col("agent_id") == 1)["reward"].sum())
        agents = world.recorder.frame("agents").sort("agent_id")["return"].to_list()
        if scope == "private":
            assert agents == [10.0, 0.0]  # 5 new cells per arrival of UAV 0, none for UAV 1
    assert rows["team"][0] == rows["private"][0] == 10.0
    assert rows["team"][1] > 0.0 and rows["private"][1] == 0.0


def test_reward_fraction_sums_to_the_final_coverage():
    res = run_scenario(_scenario(n_agents=40, horizon=15.0, seed=3), keep_world=True)
    ep = res.frames["episodes"].row(0, named=True)
    world = res.world
    assert ep["team_return"] == pytest.approx(world.grid.covered / world.grid.n_cells, rel=1e-9)
    cov = res.frames["coverage"]
    assert cov["covered_fraction"].to_list()[-1] == pytest.approx(ep["team_return"])
    assert cov["time"].to_list() == [10.0, 15.0]  # every 10 time units, and at the end
    assert cov["covered_fraction"].is_sorted()


# ----------------------------------------------------------------------------- asynchrony
def test_decisions_are_asynchronous_and_batched_on_a_tick():
    exact = run_scenario(
        _scenario(n_agents=30, horizon=10.0, decision_period=0.0, **{"record.transitions": True})
    )
    t = exact.frames["transitions"]["t_start"].filter(exact.frames["transitions"]["t_start"] > 0)
    assert t.n_unique() > 0.95 * t.len()  # after t = 0: continuous, unsynchronised instants
    ticked = run_scenario(_scenario(n_agents=60, horizon=10.0, **{"record.transitions": True}))
    ep = ticked.frames["episodes"].row(0, named=True)
    t = ticked.frames["transitions"]["t_start"]
    assert ep["mean_batch"] > 3 and t.n_unique() > 30  # many ticks, several UAVs per tick
    assert np.allclose(np.round(t.to_numpy() / 0.1) * 0.1, t.to_numpy())
    assert 0.8 < ep["n_decisions"] / (60 * 10.0) < 1.5  # about one decision per time unit


@pytest.mark.parametrize("extra", [{}, {"decision_period": 0.0, "net.loss.p": 0.3}])
def test_arrays_and_processes_give_identical_tables(extra):
    extra = {"net.loss.model": "bernoulli", **extra}
    sc = _scenario(n_agents=25, horizon=8.0, seed=2, **{"record.transitions": True, **extra})
    digests = []
    for processes in (False, True):
        world = CoverageWorld(sc, agents_as_processes=processes)
        world.policy = world.scripted_policy()
        world.run()
        frames = {k: f for k, f in world.recorder.frames().items() if k != "runs"}
        frames["episodes"] = frames["episodes"].drop("wall_s")
        digests.append(frames_digest(frames))
    assert digests[0] == digests[1]


# ----------------------------------------------------------------------------- communication
def test_communication_helps_with_common_random_numbers():
    runs = {}
    for name, extra in (
        ("comm", {}),
        ("half", {"net.loss.model": "bernoulli", "net.loss.p": 0.5}),
        ("cut", CUT),
    ):
        runs[name] = run_scenario(_scenario(n_agents=100, horizon=40.0, **extra), keep_world=True)
    worlds = {k: r.world for k, r in runs.items()}
    # the world stream does not see the network: same starts and speeds
    assert np.array_equal(worlds["comm"].speed_factor, worlds["cut"].speed_factor)
    ret = {k: r.frames["episodes"]["team_return"][0] for k, r in runs.items()}
    assert ret["comm"] > ret["half"] > ret["cut"] and ret["comm"] - ret["cut"] > 0.08
    waste = {k: w.wasted_arrivals / w.arrivals for k, w in worlds.items()}
    assert waste["cut"] > waste["comm"] + 0.05  # duplicated work without the reports
    assert worlds["cut"].reports_received == 0 < worlds["comm"].reports_received
    net = runs["cut"].frames["network"].row(0, named=True)
    assert net["sent"] == net["dropped_loss"] > 0


def test_reports_reach_memory_and_observations():
    # UAV 0 flies east to (60, 50) and reports it on arrival (t = 1); UAV 1 at (70, 50) hovers
    # and decides at t = 0, 0.5, 1.0, 1.5: the report arrives before its decision at t = 1.
    world = _placed([(50.0, 50.0), (70.0, 50.0)], {0: [E]}, horizon=1.6)
    world.run_episode(0, "eval")
    assert world.reports.known(1).tolist() == [[60.0, 50.0]]
    assert world.trail.known(0).tolist() == [[60.0, 50.0]] and world.trail.count[1] == 0
    tr = world.recorder.frame("transitions").filter(pl.col("agent_id") == 1).sort("t_start")
    obs = np.array(tr["obs"].to_list())
    assert tr["t_start"].to_list() == [0.0, 0.5, 1.0, 1.5]
    assert obs[:, KNOWN.start + W].tolist() == [0.0, 0.0, 1.0, 1.0]  # the report came at 1.0
    last = obs[-1]
    assert last[NEAREST.start + W] == 0.0  # the west waypoint is the reported point
    assert last[KNOWN.start + E] == 0.0 and last[NEAREST.start + E] == 1.0
    assert last[KNOWN.start + HOVER] == 0.0  # 10 away from a footprint of radius 1
    assert np.array_equal(world.observe_many(np.array([1]))[0], last)
    assert world.reports_received == 1


def test_reports_from_the_border_survive_float32_rounding():
    # 100.3 is not a float32: the report of a UAV on the east border rounds to just outside
    world = _placed([(95.3, 50.0), (90.0, 50.0)], {0: [E]}, horizon=1.6, **{"world.size": 100.3})
    world.run_episode(0, "eval")
    assert float(np.float32(100.3)) > 100.3 and world.pos[0].tolist() == [100.3, 50.0]
    assert world.reports_ignored == 0 and world.reports.known(1).tolist() == [[100.3, 50.0]]


def _hostile(world):
    net = world.network
    for payload in (
        np.array([np.nan, 1.0], np.float32),
        np.array([np.inf, 1.0], np.float32),
        np.array([1.0, 2.0, 3.0], np.float32),
        np.array([1.0, 2.0], np.float64),
        np.array([[1.0, 2.0]], np.float32),
    ):
        net.send(0, 1, "covered", payload)
    net.send(0, 1, "covered", np.array([-5.0, 3.0], np.float32))  # valid format, outside area


def test_hostile_payloads_are_rejected_and_never_reach_memory():
    world = _placed([(50.0, 50.0), (70.0, 50.0)], {0: [E]}, script=[(0.25, _hostile)], horizon=1.6)
    world.run_episode(0, "eval")
    net = world.recorder.frame("network").row(0, named=True)
    assert net["rejected_invalid"] == 5 and net["delivered"] == 2
    reasons = world.network.rejections()
    assert sum(reasons.values()) == 5 and reasons["not_finite"] == 2
    assert world.reports.known(1).tolist() == [[60.0, 50.0]]  # the outside point is ignored
    assert world.reports_ignored == 1 and np.isfinite(world.reports.points).all()
    drops = sum(v for k, v in net.items() if k.startswith("dropped_"))
    assert net["sent"] == net["delivered"] + drops + net["rejected_invalid"] + net["in_flight"]


def test_memory_is_a_ring_of_the_last_points():
    mem = PointMemory(3, 4)
    owners = np.array([2, 0, 2, 2, 2, 2, 2])
    pts = np.arange(14, dtype=float).reshape(7, 2)
    mem.add_many(owners, pts)
    assert mem.count.tolist() == [1, 0, 6]
    assert sorted(mem.known(2)[:, 0].tolist()) == [6.0, 8.0, 10.0, 12.0]  # UAV 2's last 4
    assert mem.known(0).tolist() == [[2.0, 3.0]] and (mem.points[1] == FAR).all()
    ring = PointMemory(3, 4)
    for o, p in zip(owners, pts, strict=True):
        ring.add_one(int(o), *p)
    assert np.array_equal(ring.points, mem.points) and np.array_equal(ring.count, mem.count)
    mem.clear(2)
    assert mem.known(2).shape == (0, 2) and (mem.points[2] == FAR).all()
    one = PointMemory(3, 4)
    one.add_many(np.full(6, 1), pts[:6])  # a single owner takes the short path
    assert sorted(one.known(1)[:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0] and one.count[1] == 6


def test_known_coverage_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    size, r, step = 60.0, 3.0, 6.0
    pos = rng.uniform(0.0, size, (40, 2))
    known = pos[:, None, :] + rng.normal(0.0, 8.0, (40, 12, 2))
    known[:, 9:] = FAR
    targets, _ = candidates(pos, step, size)
    share, nearest = known_coverage(pos, targets, known, r, step, size)
    samples = targets[:, :, None, :] + r * FOOTPRINT_SAMPLES
    d = np.linalg.norm(samples[:, :, :, None, :] - known[:, None, None, :, :], axis=-1).min(-1)
    outside = ((samples < 0) | (samples > size)).any(-1)
    assert np.array_equal(share, ((d <= r) | outside).mean(-1))
    near = d[:, :, 0] <= 2 * r
    assert nearest[near] == pytest.approx(d[:, :, 0][near], abs=1e-4)
    assert (nearest[~near] > 2 * r - 1e-4).all()


# ----------------------------------------------------------------------------- policies
def test_greedy_prefers_unknown_footprints_and_hovers_last():
    obs = np.zeros((3, OBS_DIM), np.float32)
    obs[:, KNOWN] = 0.5
    obs[0, KNOWN.start + SE] = 0.0  # the least known
    obs[1, [KNOWN.start + N, KNOWN.start + S]] = (
        0.0  # a tie on the share: the one farther from known points
    )
    obs[1, NEAREST.start + N] = 0.3
    obs[1, NEAREST.start + S] = 0.9
    mask = np.ones((3, 9), bool)
    mask[0, SE] = False  # not allowed: the next least known is a 0.5 tie, broken by the noise
    mask[2, :8] = False
    noise = tie_noise(0, 0, np.arange(3), np.zeros(3, np.int64))
    choice = greedy_choice(obs, mask, noise)
    assert choice[0] == int(np.argmin(np.where(mask[0, :8], noise[0, :8], 2)))
    assert choice[1] == S and choice[2] == HOVER
    mask[0, SE] = True
    assert greedy_choice(obs, mask, noise)[0] == SE


def test_tie_noise_depends_on_the_uav_not_the_batch():
    alone = tie_noise(7, 2, np.array([3]), np.array([5]))
    batch = tie_noise(7, 2, np.array([1, 3, 4]), np.array([0, 5, 9]))
    assert np.array_equal(alone[0], batch[1]) and ((batch >= 0) & (batch < 1)).all()
    assert not np.array_equal(batch[0], batch[2])
    assert not np.array_equal(alone, tie_noise(7, 3, np.array([3]), np.array([5])))


def test_adversarial_actions_head_for_covered_ground():
    world = _placed([(50.0, 50.0), (50.0, 50.0)], {})
    world.run_episode(0, "eval")
    world.grid.sense(60.0, 50.0)
    mask = np.ones((2, 9), bool)
    mask[1, E] = False
    chosen = world.adversarial_actions(np.array([0, 1]), mask)
    assert chosen[0] == E and chosen[1] != E and mask[1, chosen[1]] and chosen[1] != HOVER


# ----------------------------------------------------------------------------- faults
def test_crashed_uav_stops_mid_flight_leaves_the_graph_and_forgets_on_recovery():
    # UAV 0 reaches (60, 50) at t = 1, crashes at 1.5 half way to (70, 50), recovers at 2.5;
    # UAV 1 hovers at (80, 50), within radio range 30; the graph is refreshed at t = 1, 2, 3.
    seen = []

    def spy(w):
        seen.append((w.up[0], w.agent_positions()[0].tolist(), w.network.topology.neighbors(0)))

    script = [
        (1.5, lambda w: w.crash_agent(0)),
        (2.1, spy),
        (2.5, lambda w: w.recover_agent(0)),
        (2.6, lambda w: seen.append(int(w.trail.count[0]))),
        (3.1, spy),
    ]
    world = _placed(
        [(50.0, 50.0), (80.0, 50.0)],
        {0: [E, E]},
        script=script,
        horizon=3.2,
        **{"world.radio_range": 30.0},
    )
    world.run_episode(0, "eval")
    (up, where, neighbours), trail_after_recovery, (up2, where2, neighbours2) = seen
    assert not up and where == pytest.approx([65.0, 50.0]) and neighbours.tolist() == []
    assert trail_after_recovery == 0
    assert up2 and where2 == pytest.approx([65.0, 50.0]) and neighbours2.tolist() == [1]
    assert world.arrivals == 1  # the cut flight never arrived


# ----------------------------------------------------------------------------- tables, CLI
def test_same_seed_identical_tables_and_the_network_table_adds_up():
    over = {
        "n_agents": 60,
        "horizon": 12.0,
        "seed": 5,
        "net.loss.model": "bernoulli",
        "net.loss.p": 0.3,
    }
    a = run_scenario(_scenario(**over))
    b = run_scenario(_scenario(**over))
    assert frames_digest(a.frames) == frames_digest(b.frames)
    net = a.frames["network"].row(0, named=True)
    drops = sum(v for k, v in net.items() if k.startswith("dropped_"))
    assert net["dropped_loss"] > 0 and net["delivered"] > 0
    assert net["sent"] == net["delivered"] + drops + net["rejected_invalid"] + net["in_flight"]
    c = run_scenario(_scenario(**{**over, "seed": 6}))
    assert frames_digest(a.frames) != frames_digest(c.frames)


def test_static_topology_kinds_are_used_as_given():
    res = run_scenario(
        _scenario(n_agents=20, horizon=5.0, **{"net.topology.kind": "ring"}), keep_world=True
    )
    topo = res.world.network.topology
    assert topo.neighbors(0).tolist() == [1, 2, 18, 19]


def test_global_state_and_success():
    res = run_scenario(
        _scenario(n_agents=40, horizon=6.0, **{"world.target": 0.01}), keep_world=True
    )
    world = res.world
    state = world.global_state()
    assert state.shape == (world.state_dim,) == (18,) and state.dtype == np.float32
    assert state[0] == pytest.approx(world.grid.covered_fraction) and state[1] == 1.0
    assert res.frames["episodes"]["success"][0]
    early = run_scenario(
        _scenario(n_agents=40, horizon=50.0, **{"world.target": 0.05, "world.stop_at_target": True})
    )
    ep = early.frames["episodes"].row(0, named=True)
    assert ep["success"] and ep["sim_time"] < 50.0 and ep["team_return"] >= 0.05


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("world.step", 1000.0, "world.step"),
        ("world.state_grid", 20, "world.state_grid"),
        ("world.start", "ring", "world.start"),
        ("world.sensor_radius", 1000.0, "world.sensor_radius"),
        ("world.memory", 0, "world.memory"),
    ],
)
def test_invalid_coverage_settings(key, value, field):
    extra = {"world.size": 100.0, "world.cells": 10}
    with pytest.raises(ConfigError, match=field):
        _scenario(**{key: value, **extra})


def test_cli_run_writes_the_tables(tmp_path):
    rc = main(["run", SCENARIO, "--set", "n_agents=200", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    for table in ("runs", "episodes", "agents", "network", "coverage"):
        assert list((tmp_path / table).rglob("*.parquet")), table
