"""The guide's example world (scenarios/foraging.py) through the CLI: a run under faults, a study."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dmarl_des.cli import main

FORAGING = Path(__file__).resolve().parents[2] / "scenarios" / "foraging.py"
GAMMA = 0.99
DELIVER = 5


def _table(out: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(next((out / name).rglob("*.parquet")))


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("foraging")
    sets = {
        "horizon": 100,
        "faults.crash.fraction": 0.3,
        "faults.crash.start": "at",
        "faults.crash.at": 40.0,
        "net.loss.p": 0.5,
        "record.transitions": "true",
        "record.trace_every": 1.0,
    }
    args = ["run", str(FORAGING), "--quiet", "--out", str(out)]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    return out


def test_crashes_and_loss_act_on_the_run(faulty_run):
    faults = _table(faulty_run, "faults")
    assert faults.filter(pl.col("kind") == "crash").height == 9  # 30 % of 30 robots
    assert set(faults["time"]) == {40.0}
    net = _table(faulty_run, "network")
    assert net["dropped_loss"][0] > 0.3 * net["sent"][0]
    episodes = _table(faulty_run, "episodes")
    assert episodes["n_crashed"][0] == 9 and episodes["team_return"][0] > 0


def test_each_delivery_is_in_the_delivering_macro_actions_transition(faulty_run):
    tr = _table(faulty_run, "transitions")
    done = tr.filter((pl.col("action") == DELIVER) & ~pl.col("done"))
    assert done.height > 10
    # the team reward of its own delivery (1, discounted over the whole move) is in it
    assert (done["reward"] >= GAMMA ** done["tau"] - 1e-12).all()
    # the team's return counts the deliveries: the completed ones, and perhaps one of a robot
    # that arrived at the crash instant itself (its transition is then cut, done, at 40)
    cut_at_crash = tr.filter(
        (pl.col("action") == DELIVER) & pl.col("done") & (pl.col("t_end") == 40)
    )
    team_return = _table(faulty_run, "episodes")["team_return"][0]
    assert done.height <= team_return <= done.height + cut_at_crash.height


def test_the_trace_replays_the_run(faulty_run):
    trace = _table(faulty_run, "trace")
    tr = _table(faulty_run, "transitions")
    assert trace.height == 30 * 100  # every robot at t = 0, 1, …, 99
    assert sorted(set(trace["time"])) == [float(t) for t in range(100)]
    assert trace["carrying"].dtype == pl.Boolean
    assert trace["x"].is_between(0, 100).all() and trace["y"].is_between(0, 100).all()
    late = trace.filter(pl.col("time") >= 40)
    assert late.filter(pl.col("role") == "crashed")["agent_id"].n_unique() == 9
    # a running macro-action in the trace is the one its transition records
    assert (trace.filter(pl.col("role") == "crashed")["action"] == -1).all()
    live = trace.filter(pl.col("action") >= 0)
    joined = live.join(tr, on="agent_id").filter(
        (pl.col("t_start") <= pl.col("time")) & (pl.col("time") < pl.col("t_end"))
    )
    assert joined.height == live.height
    assert (joined["action"] == joined["action_right"]).all()
    # robots move at speed 5 at most (plus standing still while handling)
    xy = trace.sort("agent_id", "time").select(
        "agent_id",
        (pl.col("x").diff() ** 2 + pl.col("y").diff() ** 2).sqrt().over("agent_id").alias("d"),
    )
    assert np.nanmax(xy["d"].to_numpy()) <= 5.0 + 1e-9


def test_a_small_degradation_study_from_the_cli(tmp_path):
    out = tmp_path / "study"
    args = ["study", str(FORAGING), "--workers", "1", "--quiet", "--seeds", "1"]
    assert main([*args, "--set", "horizon=60", "--out", str(out)]) == 0
    runs = pl.read_parquet(list((out / "runs").rglob("*.parquet")))
    assert runs.height == 9 and set(runs["status"]) == {"ok"}
    ep = pl.scan_parquet(f"{out}/episodes/**/*.parquet", hive_partitioning=True).collect()
    ret = {
        (row["faults.crash.fraction"], row["net.loss.p"]): row["team_return"]
        for row in ep.iter_rows(named=True)
    }
    assert ret[0.6, 0.0] < ret[0.0, 0.0] and ret[0.0, 0.9] < ret[0.0, 0.0]
    assert (out / "report" / "report.md").is_file()
