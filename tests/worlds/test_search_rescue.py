"""The search and rescue world against hand computations: finds, confirmations, rewards, messages,
macro-actions, faults, the scenario file and its study."""

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.study.run import frames_digest
from dmarl_des.worlds import world_class
from dmarl_des.worlds.search_rescue import SearchRescueWorld
from dmarl_des.worlds.search_rescue_layout import (
    CONFIRM,
    FRONTIER,
    HAS_REPORT,
    OBS_DIM,
    OWN_FINDS,
    REPORT,
)
from dmarl_des.worlds.search_rescue_memory import ReportBook, SectorCounts

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "search_rescue.py"
N, NE, E, SE, S, SW, W, NW, HOVER = range(9)
GAMMA = 0.99


class Scripted:
    """Per UAV: a list of macro-actions (then hover), or "confirm" (confirm when allowed)."""

    def __init__(self, plans):
        self.plans = {k: v if isinstance(v, str) else list(v) for k, v in plans.items()}

    def act(self, obs, agent_idx, mask, *, explore=True):
        out = []
        for row, i in enumerate(agent_idx.tolist()):
            plan = self.plans.get(i)
            if plan == "confirm":
                out.append(CONFIRM if mask[row, CONFIRM] else HOVER)
            else:
                out.append(plan.pop(0) if plan else HOVER)
        return np.asarray(out, dtype=np.int64)

    def reset(self, agent_idx=None):
        pass


class Placed(SearchRescueWorld):
    """UAVs start at START, targets at TARGETS."""

    START: np.ndarray
    TARGETS: np.ndarray

    def reset_episode(self, episode):
        super().reset_episode(episode)
        self.flights.reset(self.START)
        self.place_targets(self.TARGETS)


def _placed(start, targets, plans, **overrides):
    values = {
        "n_agents": len(start),
        "horizon": 10.0,
        "decision_period": 0.1,
        "net.resolution": 0.0,
        "world.size": 100.0,
        "world.n_targets": len(targets),
        "world.target_speed": 0.0,
        "world.sensor": "definite",
        "world.sensor_range": 5.0,
        "world.speed_jitter": 0.0,
        "record.transitions": True,
        **overrides,
    }
    attrs = {"START": np.asarray(start, float), "TARGETS": np.asarray(targets, float)}
    world = type("P", (Placed,), attrs)(load_scenario(SCENARIO, values))
    world.policy = Scripted(plans)
    return world


# ----------------------------------------------------------------------------- find, confirm
def test_a_find_is_announced_and_confirmed_by_a_second_uav():
    # UAV 0 flies east along y = 50 past a target at (50, 53.5): within 5 once x ≥ 46.43, so at
    # the scan of t = 1.7 (x = 47, d = 4.61). UAV 1 hovers at (50, 90), hears the report, and at
    # its decision of t = 2.0 flies south to it (36.5 units: 3.65, then 0.5 loitering); it is
    # within 5 once y ≤ 58.5, at the scan of t = 5.2 (y = 58, d = 4.5).
    world = _placed([(30, 50), (50, 90)], [(50, 53.5)], {0: [E] * 5, 1: "confirm"})
    world.run_episode(0, "eval")
    det = world.recorder.frame("detections").sort("time")
    assert det["event"].to_list() == ["found", "confirmed"]
    assert det["agent_id"].to_list() == [0, 1]
    assert det["time"].to_list() == pytest.approx([1.7, 5.2])
    assert det["distance"].to_list() == pytest.approx([math.hypot(3, 3.5), 4.5])
    assert world.targets.finder[0] == 0 and world.targets.confirmer[0] == 1
    tr = world.recorder.frame("transitions").sort("agent_id", "t_start")
    confirm = tr.filter((pl.col("agent_id") == 1) & (pl.col("action") == CONFIRM)).row(
        0, named=True
    )
    # the confirmation confirms the last target: the episode ends there (terminal)
    assert confirm["t_start"] == pytest.approx(2.0) and confirm["t_end"] == pytest.approx(5.2)
    assert confirm["done"] and confirm["terminal"]
    # each reward is in the macro-action that earned it, discounted from its scan
    assert confirm["reward"] == pytest.approx(GAMMA ** (5.2 - 2.0))
    leg = tr.filter((pl.col("agent_id") == 0) & (pl.col("t_start") == 1.0)).row(0, named=True)
    assert leg["t_end"] == pytest.approx(2.0) and leg["reward"] == pytest.approx(GAMMA**0.7)
    episode = world.recorder.frame("episodes").row(0, named=True)
    assert episode["team_return"] == 2.0 and episode["success"]
    assert episode["sim_time"] == pytest.approx(5.2)  # all targets confirmed: terminal
    # UAV 1 forgot the report it confirmed; its observation showed it while it held it
    assert (world.book.target[1] < 0).all()
    obs = np.array(confirm["obs"])
    assert obs.shape == (OBS_DIM,) and obs[HAS_REPORT] == 1.0
    assert obs[REPORT] == pytest.approx([0.0, (53.5 - 90) / 100.0], abs=1e-6)  # / 2·radio range


def test_private_rewards_pay_only_the_detecting_uav():
    # the flights of the test above: UAV 0 finds at t = 1.7, UAV 1 confirms at t = 5.2. Team
    # scope: UAV 1's hover running at t = 1.7 earns the find too; private: only the finder does.
    plans = {0: [E] * 5, 1: "confirm"}
    hover_reward, returns = {}, {}
    for scope in ("team", "private"):
        world = _placed([(30, 50), (50, 90)], [(50, 53.5)], plans, **{"world.reward_scope": scope})
        row = world.run_episode(0, "eval")
        tr = world.recorder.frame("transitions").filter(pl.col("agent_id") == 1)
        hover = tr.filter((pl.col("t_start") < 1.7) & (pl.col("t_end") >= 1.7))
        hover_reward[scope] = hover["reward"].sum()
        returns[scope] = row["team_return"]
        if scope == "private":
            agents = world.recorder.frame("agents").sort("agent_id")["return"].to_list()
            assert agents == [1.0, 1.0]
            confirm = tr.filter(pl.col("action") == CONFIRM).row(0, named=True)
            assert confirm["reward"] == pytest.approx(GAMMA ** (5.2 - 2.0))
    assert returns == {"team": 2.0, "private": 2.0}  # the UAVs' own rewards count in it
    assert hover_reward["team"] > 0.0 and hover_reward["private"] == 0.0


def test_without_the_radio_nobody_confirms():
    world = _placed(
        [(30, 50), (50, 90)],
        [(50, 53.5)],
        {0: [E] * 5, 1: "confirm"},
        **{"net.loss.model": "bernoulli", "net.loss.p": 1.0},
    )
    world.run_episode(0, "eval")
    det = world.recorder.frame("detections")
    assert det["event"].to_list() == ["found"]
    assert world.recorder.frame("episodes")["team_return"][0] == 1.0
    assert not world.targets.confirmed[0]
    # the finder still holds its own find (announcing it at every arrival, to no avail)
    assert world.book.own_count(np.array([0]))[0] == 1
    search = world.recorder.frame("search")
    assert search["found"].to_list()[-1] == 1 and search["confirmed"].to_list()[-1] == 0


def test_two_uavs_seeing_a_target_at_once_find_and_confirm_it():
    # both come within range at the scan of t = 0.6 (x = 46: distances 4.72 and 4.77); the
    # nearer one finds it, the other confirms it at the same instant
    world = _placed([(40, 48), (40, 53.1)], [(50, 50.5)], {0: [E], 1: [E]})
    world.run_episode(0, "eval")
    det = world.recorder.frame("detections").sort("event", descending=True)
    assert det["event"].to_list() == ["found", "confirmed"]
    assert det["agent_id"].to_list() == [0, 1]
    assert det["time"].to_list() == pytest.approx([0.6, 0.6])
    assert det["distance"].to_list() == pytest.approx([math.hypot(4, 2.5), math.hypot(4, 2.6)])


def test_an_arrival_credits_its_flight_when_the_scan_shares_its_instant():
    # the target enters the range exactly at the tick the flight ends (t = 3.0, x = 60): the scan
    # runs first at that instant, so the reward belongs to the ending flight [2, 3)
    world = _placed([(30, 50)], [(60, 54.9)], {0: [E, E, E, E]})
    world.run_episode(0, "eval")
    det = world.recorder.frame("detections")
    assert det["time"].to_list() == pytest.approx([3.0])
    tr = world.recorder.frame("transitions").sort("t_start")
    rewards = dict(zip(tr["t_start"].round(6).to_list(), tr["reward"].to_list(), strict=True))
    assert rewards[2.0] == pytest.approx(GAMMA**1.0) and rewards[3.0] == 0.0


# ----------------------------------------------------------------------------- macro-actions
def test_confirm_and_frontier_durations_and_masks():
    # four sectors of 50 × 50; UAV 0 knows its own sector searched (its arrivals), none else
    world = _placed(
        [(20, 20), (80, 80)],
        [(95, 95)],
        {0: [E, FRONTIER], 1: [HOVER]},
        **{"world.sector_size": 50.0, "decision_period": 0.0, "horizon": 6.0},
    )
    world.run_episode(0, "eval")
    tr = world.recorder.frame("transitions").filter(pl.col("agent_id") == 0).sort("t_start")
    assert tr["action"].to_list()[:2] == [E, FRONTIER]
    # from (30, 20) the frontier is the nearest unsearched sector centre: (25, 75) (sectors
    # (0, 1) and (1, 0) tie on counts; (25, 75) is 55.2 away, (75, 25) 45.3: the nearer wins)
    assert tr["tau"][1] == pytest.approx(math.hypot(75 - 30, 25 - 20) / 10.0)
    assert world.pos[0] == pytest.approx([75.0, 25.0])
    # nothing reported yet: confirm masked; several sectors: frontier allowed
    world2 = _placed([(20, 20)], [(95, 95)], {0: [HOVER]}, **{"world.sector_size": 50.0})
    world2.reset_episode(0)
    obs = world2.observe_many(np.array([0]))
    mask = world2.mask_many(np.array([0]))
    assert not mask[0, CONFIRM] and mask[0, FRONTIER] and mask[0, HOVER]
    assert obs[0, HAS_REPORT] == 0 and obs[0, OWN_FINDS] == 0
    one_sector = _placed([(20, 20)], [(95, 95)], {0: [HOVER]}, **{"world.sector_size": 200.0})
    one_sector.reset_episode(0)
    one_sector.observe_many(np.array([0]))
    assert not one_sector.mask_many(np.array([0]))[0, FRONTIER]


def test_report_book_keeps_own_finds_and_evicts_the_oldest_heard():
    book = ReportBook(2, 3)
    book.add(0, 7, 1.0, 1.0, 5.0, mine=True)
    book.hear(
        np.array([0, 0, 0, 1]),
        np.array([3, 4, 5, 3]),
        np.array([[1, 2], [3, 4], [5, 6], [7, 8]], float),
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.array([True, True, True, True]),
    )
    # UAV 0: slots {7 (own), 3, 4} then 5 evicts the oldest heard report (3, t = 1)
    assert sorted(book.target[0].tolist()) == [4, 5, 7]
    assert book.own_count(np.array([0, 1])).tolist() == [1, 0]
    # an older report of a held target does not move it; a newer one does
    book.hear(
        np.array([1, 1]),
        np.array([3, 3]),
        np.array([[0, 0], [9, 9]], float),
        np.array([2.0, 6.0]),
        np.array([True, True]),
    )
    k = int(np.flatnonzero(book.target[1] == 3)[0])
    assert book.pos[1, k].tolist() == [9.0, 9.0] and book.t[1, k] == 6.0
    exists, target, _, when = book.nearest_other(np.array([0, 1]), np.array([[0, 0], [0, 0]]))
    assert exists.tolist() == [True, True] and target.tolist() == [4, 3] and when[0] == 2.0
    # a confirmation removes the report; expiry removes old ones
    book.hear(np.array([0]), np.array([4]), np.zeros((1, 2)), np.zeros(1), np.array([False]))
    assert 4 not in book.target[0]
    book.expire(np.array([0, 1]), 4.0)
    assert book.target[0].tolist().count(-1) == 2 and book.target[1].tolist().count(-1) == 2


def test_sector_counts_and_frontier():
    sectors = SectorCounts(2, 100.0, 2)
    sectors.add(np.array([0, 0, 0, 1]), np.array([[10, 10], [10, 90], [100, 100], [60, 10]]))
    assert sectors.count[0].tolist() == [1, 1, 0, 1] and sectors.count[1].tolist() == [0, 0, 1, 0]
    best, count = sectors.frontier(np.array([0, 1]), np.array([[10.0, 10.0], [60.0, 10.0]]))
    assert best.tolist() == [2, 0] and count.tolist() == [0, 0]  # (75, 25) and (25, 25)


# ----------------------------------------------------------------------------- faults, lies
@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("search_rescue")
    sets = {
        "n_agents": 30,
        "horizon": 60,
        "faults.crash.fraction": 0.3,
        "faults.crash.start": "at",
        "faults.crash.at": 20.0,
        "net.loss.p": 0.5,
        "record.trace_every": 1.0,
    }
    args = ["run", str(SCENARIO), "--quiet", "--out", str(out)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    return out


def _table(out, name):
    return pl.read_parquet(next((out / name).rglob("*.parquet")))


def test_crashed_uavs_stop_looking_and_stay_put(faulty_run):
    crashed = set(_table(faulty_run, "faults").filter(pl.col("kind") == "crash")["agent_id"])
    assert len(crashed) == 9
    det = _table(faulty_run, "detections")
    assert det.height > 0
    late = det.filter((pl.col("time") > 20.0) & pl.col("agent_id").is_in(list(crashed)))
    assert late.height == 0
    trace = _table(faulty_run, "trace").filter(pl.col("agent_id").is_in(list(crashed)))
    after = (
        trace.filter(pl.col("time") >= 21)
        .group_by("agent_id")
        .agg(pl.col("x").n_unique().alias("nx"), pl.col("y").n_unique().alias("ny"))
    )
    assert (after["nx"] == 1).all() and (after["ny"] == 1).all()
    net = _table(faulty_run, "network")
    assert net["dropped_loss"][0] > 0.3 * net["sent"][0]
    search = _table(faulty_run, "search")
    assert search["n_up"].to_list()[-1] == 21
    assert search["found"].to_list() == sorted(search["found"].to_list())


def test_malformed_lies_are_ignored_and_wellformed_ones_believed():
    base = {
        "n_agents": 20,
        "horizon": 30.0,
        "faults.byzantine.count": 4,
        "faults.byzantine.messages": "constant",
    }
    bad = load_scenario(SCENARIO, {**base, "faults.byzantine.value": 7.0})  # code 7: no code
    world = SearchRescueWorld(bad)
    world.policy = build_policy(bad, world)
    world.run_episode(0, "eval")
    assert world.reports_ignored > 0
    honest = load_scenario(SCENARIO, {"n_agents": 20, "horizon": 30.0})
    world = SearchRescueWorld(honest)
    world.policy = build_policy(honest, world)
    world.run_episode(0, "eval")
    assert world.reports_ignored == 0 and world.reports_received > 0
    # (1, 1, 1, 1, 1): a report that target 1 was found at (1, 1) at t = 1 — believed
    lie = load_scenario(SCENARIO, {**base, "faults.byzantine.value": 1.0})
    world = SearchRescueWorld(lie)
    world.policy = build_policy(lie, world)
    world.run_episode(0, "eval")
    held = world.book.target == 1
    assert held.any() and np.allclose(world.book.pos[held], 1.0)


# ----------------------------------------------------------------------------- modes, files
@pytest.mark.parametrize("policy", ["scripted", "random"])
def test_arrays_and_processes_give_identical_tables(policy):
    scenario = load_scenario(
        SCENARIO,
        {"n_agents": 12, "horizon": 40.0, "policy": policy, "faults.crash.fraction": 0.2},
    )
    digests = []
    for processes in (False, True, False):
        world = SearchRescueWorld(scenario, agents_as_processes=processes)
        world.policy = build_policy(scenario, world)
        world.run()
        digests.append(frames_digest(world.recorder.frames()))
    assert digests[0] == digests[1] == digests[2]


def test_scripted_modes_beat_random_search():
    returns = {}
    for policy, mode in (
        ("random", "frontier"),
        ("scripted", "frontier"),
        ("scripted", "lawnmower"),
    ):
        scenario = load_scenario(
            SCENARIO,
            {
                "n_agents": 20,
                "horizon": 120.0,
                "policy": policy,
                "world.scripted": mode,
                "world.start": "lanes" if mode == "lawnmower" else "cluster",
            },
        )
        world = SearchRescueWorld(scenario)
        world.policy = build_policy(scenario, world)
        returns[policy, mode] = world.run()[0]["team_return"]
    assert returns["scripted", "frontier"] > 1.2 * returns["random", "frontier"]
    assert returns["scripted", "lawnmower"] > returns["random", "frontier"]


def test_registry_and_bad_keys():
    assert world_class("search_rescue") is SearchRescueWorld
    with pytest.raises(ConfigError, match="world.step"):
        load_scenario(SCENARIO, {"world.size": 5.0})
    with pytest.raises(ConfigError, match="world.sensor"):
        load_scenario(SCENARIO, {"world.sensor": "sonar"})
    with pytest.raises(ConfigError, match="world.p_detect"):
        load_scenario(SCENARIO, {"world.p_detect": 1.5})


def test_the_study_of_the_scenario_file(tmp_path):
    from dmarl_des.study.loading import load_study

    study = load_study(SCENARIO)
    assert set(study.keys) == {"policy", "net.loss.p", "faults.crash.fraction"}
    out = tmp_path / "study"
    args = ["study", str(SCENARIO), "--workers", "1", "--quiet", "--seeds", "1"]
    sets = ["--set", "n_agents=10", "--set", "horizon=40"]
    assert main([*args, *sets, "--out", str(out)]) == 0
    runs = pl.read_parquet(list((out / "runs").rglob("*.parquet")))
    assert runs.height == len(study.runs()) // 3 and set(runs["status"]) == {"ok"}
    assert (out / "report" / "report.md").is_file()
