"""The traffic world: signal timing, rewards, reports over the network, faults, controllers, the CLI."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario, load_scenario
from dmarl_des.scenario.loading import load_scenario_module
from dmarl_des.study import run_scenario
from dmarl_des.study.policies import build_policy
from dmarl_des.worlds import world_class
from dmarl_des.worlds.traffic import TrafficWorld
from dmarl_des.worlds.traffic_control import AGE, DOWNSTREAM, HALTING, PHASE, MaxPressure
from dmarl_des.worlds.traffic_signals import Signals, Timings

TRAFFIC = Path(__file__).resolve().parents[2] / "scenarios" / "traffic.py"


def _table(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(list((out / name).rglob("*.parquet")))


def _scenario(**overrides) -> Scenario:
    return load_scenario(TRAFFIC).with_overrides(overrides)


class _Hardware:
    def __init__(self):
        self.calls = []

    def switch(self, idx, old, new, green):
        self.calls.append((idx.tolist(), old.tolist(), new.tolist(), green.tolist()))


def test_phases_transitions_and_max_green():
    t = Timings(greens=(10.0, 20.0, 30.0), yellow=3.0, all_red=2.0, max_green=40.0)
    assert t.names() == ("ns_10", "ns_20", "ns_30", "ew_10", "ew_20", "ew_30")
    sig, hw = Signals(2, t), _Hardware()
    # at the start no transition: green at once
    assert sig.begin(np.array([0, 1]), np.array([1, 3]), 0.0, hw).tolist() == [20.0, 10.0]
    assert hw.calls == [([0, 1], [-1, -1], [0, 1], [0.0, 0.0])]
    # signal 0 extends NS (no transition, no switch); signal 1 changes to NS: yellow + all red
    assert sig.begin(np.array([0]), np.array([2]), 20.0, hw).tolist() == [30.0]
    assert sig.begin(np.array([1]), np.array([0]), 10.0, hw).tolist() == [15.0]
    assert hw.calls[-1] == ([1], [1], [0], [15.0])
    # at t = 50 signal 0 has shown NS for 50 s > max green 40: no extension, any change allowed
    assert sig.mask(np.array([0]), 50.0).tolist() == [[False] * 3 + [True] * 3]
    # signal 1's NS green began at 15: at 25 it may extend by 30 (to 40), at 26 only by 10, 20
    assert sig.mask(np.array([1]), 25.0).all()
    assert sig.mask(np.array([1]), 26.0).tolist() == [[True, True, False, True, True, True]]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("world.rows", 3),  # 16 signals
        ("world.greens", [10.0, 90.0]),  # beyond max green
        ("world.fixed_greens", [15.0, 20.0]),  # not among the greens
        ("world.turn_left", 0.7),  # with turn_right 0.4 below: more than 1
    ],
)
def test_bad_settings_are_refused_naming_the_key(key, value):
    overrides = {key: value}
    if key == "world.turn_left":
        overrides["world.turn_right"] = 0.4
    with pytest.raises(ConfigError, match=key.replace("turn_left", "turn_right")):
        _scenario(**overrides)


def test_registered_by_name_and_runs_from_the_cli_under_faults_and_loss(tmp_path):
    assert world_class("traffic") is TrafficWorld
    out = tmp_path / "run"
    sets = {
        "horizon": 600,
        "faults.crash.fraction": 0.25,
        "faults.crash.start": "at",
        "faults.crash.at": 300.0,
        "net.loss.p": 0.5,
        "record.transitions": "true",
        "record.trace_every": 10.0,
    }
    args = ["run", str(TRAFFIC), "--quiet", "--out", str(out)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    traffic = _table(out, "traffic")
    assert traffic.height == 1 and traffic["entered"][0] > 500
    assert traffic["entered"][0] == traffic["exited"][0] + traffic["in_network"][0]
    net = _table(out, "network")
    assert 0.4 < net["dropped_loss"][0] / net["sent"][0] < 0.6
    trace = _table(out, "trace")
    crashed = set(_table(out, "faults").filter(pl.col("kind") == "crash")["agent_id"])
    assert len(crashed) == 4
    late = trace.filter(pl.col("time") > 300)
    # crashed signals flash (phase -2) from the crash on, the others show a phase or a change
    assert set(late.filter(pl.col("agent_id").is_in(crashed))["phase"]) == {-2}
    assert set(late.filter(~pl.col("agent_id").is_in(crashed))["phase"]) <= {0, 1}
    assert trace["x"].max() == 600.0 and trace["y"].max() == 600.0  # 4 × 4, 200 m apart


def _run(scenario, *, passages=False, processes=False):
    world = TrafficWorld(scenario, agents_as_processes=processes)
    world.log_passages = passages
    world.policy = build_policy(scenario, world)
    world.run()
    return world


def _vehicles(world):
    """Every stop-line visit of the episode: crossings, and the vehicles still there at the end
    (crossing = inf)."""
    got, left = world.vehicles.passages(), world.vehicles.on_links()
    return {
        "approach": np.concatenate([got["approach"], left["approach"]]),
        "arrival": np.concatenate([got["arrival"], left["arrival"]]),
        "crossing": np.concatenate([got["crossing"], np.full(left["arrival"].size, np.inf)]),
    }


def _waiting(got, approaches, t):
    """Summed waiting at time t of the vehicles at ``approaches`` (the state at t is the one
    before the crossings of instant t)."""
    here = np.isin(got["approach"], approaches) & (got["arrival"] <= t) & (got["crossing"] >= t)
    return float((t - got["arrival"][here]).sum())


def test_wait_reward_is_the_reduction_of_accumulated_waiting_time():
    """sumo-rl's default: each macro-action earns (W(t0) − W(t1)) / 100, W the waiting the
    vehicles halting at the signal's stop lines have accumulated so far."""
    scenario = _scenario(
        n_agents=1,
        horizon=1500.0,
        gamma=1.0,
        policy="random",
        **{
            "world.arrivals": "deterministic",
            "world.reward": "wait",
            "world.shared_reward": False,
            "record.transitions": True,
        },
    )
    world = _run(scenario, passages=True)
    got = _vehicles(world)
    tr = world.recorder.frames()["transitions"].filter(~pl.col("done"))
    assert tr.height > 30
    approaches = np.arange(4)
    for t0, t1, reward in tr.select("t_start", "t_end", "reward").iter_rows():
        want = (_waiting(got, approaches, t0) - _waiting(got, approaches, t1)) / 100.0
        assert reward == pytest.approx(want, abs=1e-9)
    assert (tr["reward"] > 0).any() and (tr["reward"] < 0).any()


def test_shared_queue_reward_is_minus_the_total_delay():
    """reward = queue, shared: the team return is minus the vehicle-seconds of delay of the
    whole grid up to the last macro-action end, / reward_scale — flashing (crashed)
    intersections included (a horizon off the 5 s grid of the durations: no macro-action ends
    exactly at it)."""
    scenario = _scenario(
        n_agents=4,
        horizon=1202.5,
        gamma=1.0,
        **{
            "world.reward": "queue",
            "world.shared_reward": True,
            "record.transitions": True,
            "faults.crash.count": 1,
        },
    )
    world = _run(scenario, passages=True)
    got = _vehicles(world)
    tr = world.recorder.frames()["transitions"]
    team = world.recorder.frames()["episodes"]["team_return"][0]
    assert world.recorder.frames()["episodes"]["n_crashed"][0] == 1
    t_last = tr.filter(~pl.col("done"))["t_end"].max()
    crossed = got["crossing"] < t_last
    total = float((got["crossing"] - got["arrival"])[crossed].sum())
    total += _waiting(got, np.arange(16), t_last)
    assert team == pytest.approx(-total / 100.0, rel=1e-9)


def test_agents_in_arrays_or_as_processes_give_identical_tables():
    scenario = _scenario(n_agents=6, horizon=900.0, **{"net.loss.p": 0.3})
    frames = [_run(scenario, processes=p).recorder.frames() for p in (False, True)]
    for name in ("episodes", "agents", "traffic", "network"):
        a, b = (f[name].drop("wall_s", strict=False) for f in frames)
        assert a.equals(b), name


class _Recording(MaxPressure):
    def __init__(self, inner):
        super().__init__(inner.timings, inner.turns)
        self.seen = []

    def act(self, obs, agent_idx, mask, *, explore=True):
        self.seen += [(i, o.copy()) for i, o in zip(agent_idx.tolist(), obs)]
        return super().act(obs, agent_idx, mask, explore=explore)


def _observations(loss):
    """(time order) observations of signal 0 of a 2 × 2 grid: neighbours east and south."""
    scenario = _scenario(n_agents=4, horizon=600.0, **{"net.loss.p": loss})
    world = TrafficWorld(scenario)
    world.policy = _Recording(build_policy(scenario, world))
    world.run()
    return np.stack([o for i, o in world.policy.seen if i == 0])


def test_queue_reports_feed_the_downstream_estimates_and_loss_makes_them_stale():
    north, east, south, west = range(4)
    fresh, lost = _observations(0.0), _observations(1.0)
    assert fresh[:, PHASE].sum(axis=1).max() == 1.0 and fresh[:, HALTING].max() > 0
    # exits (north, west) are known empty sinks
    for obs in (fresh, lost):
        assert (obs[:, DOWNSTREAM][:, [north, west]] == 0).all()
        assert (obs[:, AGE][:, [north, west]] == 0).all()
    # a report every 5 s: after the first one, at most 5 s old; some queues reported
    late = fresh[len(fresh) // 4 :]
    assert late[:, AGE][:, [east, south]].max() <= 5.0 / 60 + 1e-6
    assert (late[:, DOWNSTREAM][:, [east, south]] > 0).any()
    # every report lost: the neighbours' queues stay unknown (0) and the ages at their cap
    assert (lost[:, DOWNSTREAM] == 0).all()
    assert (lost[:, AGE][:, [east, south]] == 1.0).all()


def test_max_pressure_beats_fixed_time_and_random_and_crashes_cost_delay():
    def delay(**overrides):
        result = run_scenario(_scenario(horizon=1800.0, **overrides))
        return result.frames["traffic"]["delay_per_vehicle"][0]

    pressure = delay()
    fixed = delay(**{"world.controller": "fixed_time"})
    random = delay(policy="random")
    crashed = delay(**{"faults.crash.fraction": 0.25})
    assert pressure < 0.8 * fixed and pressure < 0.8 * random
    assert crashed > 1.5 * pressure


def test_one_thousand_signals_in_arrays():
    world = _run(_scenario(n_agents=1000, horizon=120.0))
    assert (world.grid.rows, world.grid.cols) == (25, 40)
    row = world.recorder.frames()["episodes"].row(0, named=True)
    assert row["n_decisions"] > 3000 and row["mean_batch"] > 20
    assert world.recorder.frames()["traffic"]["crossings"][0] > 1000


def test_byzantine_signals_starve_their_busy_approaches():
    honest = run_scenario(_scenario(horizon=1800.0)).frames["traffic"]
    liars = run_scenario(
        _scenario(
            horizon=1800.0,
            **{"faults.byzantine.count": 4, "faults.byzantine.actions": "adversarial"},
        )
    ).frames["traffic"]
    assert liars["delay_per_vehicle"][0] > 1.15 * honest["delay_per_vehicle"][0]


def test_the_scenario_files_study_compares_policies_under_loss_and_crashes():
    study = load_scenario_module(TRAFFIC).study()
    assert study.keys == ("policy", "net.loss.p", "faults.crash.fraction")
    assert len(study.runs()) == 81  # the checkpoint's card was read: it fits this world
