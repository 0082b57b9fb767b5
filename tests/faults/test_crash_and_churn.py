"""Crash-stop, crash-recover and churn in a running world."""

import itertools

import numpy as np
import polars as pl
import pytest
from fault_worlds import Plan, QuietWorld, run_world, share_scenario

from dmarl_des.errors import ConfigError

CRASH_AT = 3.0


def crash_scenario(**faults):
    base = {"crash": {"ids": [1], "start": "at", "at": CRASH_AT}}
    base.update(faults)
    return share_scenario(faults=base)


def test_a_crashed_agent_stops_everything_at_its_crash_time():
    # agent 1 listens on its store (a pending SimPy get) when it crashes; the others share
    world = run_world(crash_scenario(), Plan({1: 1}))
    agent = world.sim_agents[1]
    assert not agent.alive and agent.role == "crashed" and not world.up[1]
    assert agent.process is not None and not agent.process.is_alive
    assert len(world.stores[1].get_queue) == 0  # no queued store request left behind
    assert 1 not in world.batcher.pending_agents()
    frames = world.recorder.frames()
    tr = frames["transitions"].filter(pl.col("agent_id") == 1)
    assert tr.height > 0 and (tr["t_start"] < CRASH_AT).all()
    assert tr["t_end"].max() == CRASH_AT  # the running macro-action is cut at the crash
    assert max(t for i, t, _ in world.pings if i == 1) < CRASH_AT
    msgs = frames["messages"].filter(pl.col("dst") == 1)
    after = msgs.filter(pl.col("t_sent") >= CRASH_AT)
    assert after.height > 0 and not after["delivered"].any()
    assert set(after["drop_cause"]) == {"crash"}
    assert (msgs.filter(pl.col("delivered"))["t_delivered"] < CRASH_AT).all()
    assert frames["network"]["dropped_crash"][0] == after.height
    crash_rows = frames["faults"].filter(pl.col("kind") == "crash")
    assert crash_rows.select("time", "agent_id").rows() == [(CRASH_AT, 1)]
    ep = frames["episodes"]
    assert ep["n_crashed"][0] == 1 and ep["n_alive_end"][0] == 5
    roles = dict(frames["agents"].select("agent_id", "role").rows())
    assert roles[1] == "crashed" and roles[0] == "honest"


def test_a_crash_at_the_start_means_the_agent_never_acts():
    world = run_world(share_scenario(faults={"crash": {"ids": [2, 4]}}))
    tr = world.recorder.frame("transitions")
    assert set(tr["agent_id"]) == {0, 1, 3, 5}
    rows = world.recorder.frame("faults")
    assert rows.select("time", "kind", "agent_id").rows() == [(0.0, "crash", 2), (0.0, "crash", 4)]


def test_a_recovered_agent_acts_again_after_its_downtime():
    sc = crash_scenario(recover={"enabled": True, "downtime": "constant", "mean": 2.0})
    world = run_world(sc)
    frames = world.recorder.frames()
    tr = frames["transitions"].filter(pl.col("agent_id") == 1)
    starts = tr["t_start"].to_numpy()
    assert (starts < CRASH_AT).any() and (starts >= CRASH_AT + 2.0).any()
    assert not ((starts >= CRASH_AT) & (starts < CRASH_AT + 2.0)).any()
    assert (starts == CRASH_AT + 2.0).any()  # decides again at the instant it recovers
    rows = frames["faults"].select("time", "kind", "agent_id").rows()
    assert rows == [(CRASH_AT, "crash", 1), (CRASH_AT + 2.0, "recover", 1)]
    agents = frames["agents"].filter(pl.col("agent_id") == 1)
    assert agents["downtime"][0] == 2.0
    assert world.sim_agents[1].alive and world.up[1]
    # it receives messages again after recovering
    msgs = frames["messages"].filter((pl.col("dst") == 1) & pl.col("delivered"))
    assert (msgs["t_delivered"] > CRASH_AT + 2.0).any()


def test_poisson_crash_recover_alternates_and_downtimes_are_exponential():
    sc = share_scenario(
        faults={
            "crash": {"fraction": 1.0, "start": "poisson", "rate": 0.5},
            "recover": {"enabled": True, "downtime": "exponential", "mean": 1.0},
        },
        n_agents=8,
        horizon=60.0,
    )
    world = run_world(sc)
    rows = world.recorder.frame("faults").sort("time")
    downs = []
    for aid in range(8):
        mine = rows.filter(pl.col("agent_id") == aid)
        kinds = mine["kind"].to_list()
        assert kinds[0] == "crash"
        assert all(a != b for a, b in itertools.pairwise(kinds))  # alternates
        t = mine["time"].to_numpy()
        downs += [t[k + 1] - t[k] for k in range(0, len(t) - 1, 2)]
    downs = np.array(downs)
    assert downs.size > 50
    assert abs(downs.mean() - 1.0) < 4 / np.sqrt(downs.size)


def test_churn_leavers_stop_and_joiners_get_new_ids():
    sc = share_scenario(faults={"churn": {"leave_rate": 0.8, "join_rate": 0.8}}, horizon=20.0)
    world = run_world(sc)
    frames = world.recorder.frames()
    rows = frames["faults"]
    leaves = rows.filter(pl.col("kind") == "leave")
    joins = rows.filter(pl.col("kind") == "join")
    assert leaves.height > 2 and joins.height > 2
    assert joins["agent_id"].to_list() == list(range(6, 6 + joins.height))  # new, increasing
    agents = frames["agents"]
    assert set(joins["agent_id"]) <= set(agents["agent_id"])
    assert agents.height == 6 + joins.height
    roles = dict(agents.select("agent_id", "role").rows())
    assert all(roles[a] == "left" for a in leaves["agent_id"])
    tr = frames["transitions"]
    for aid, t_join in joins.select("agent_id", "time").rows():
        mine = tr.filter(pl.col("agent_id") == aid)
        assert mine.height > 0 and mine["t_start"].min() == t_join
    for aid, t_leave in leaves.select("agent_id", "time").rows():
        assert (tr.filter(pl.col("agent_id") == aid)["t_start"] < t_leave).all()
    # never more agents than slots
    present = 6
    for kind in rows.sort("time")["kind"]:
        present += {"leave": -1, "join": 1}[kind]
        assert 0 <= present <= 6


def test_recovery_without_keeping_parameters_is_recorded():
    sc = crash_scenario(
        recover={"enabled": True, "downtime": "constant", "mean": 1.0, "keep_params": False}
    )
    rows = run_world(sc).recorder.frame("faults")
    assert rows.select("kind", "detail").rows() == [("crash", ""), ("recover", "params reset")]


def test_a_world_without_messages_takes_agent_faults_but_refuses_message_faults():
    def run(faults):
        world = QuietWorld(share_scenario(faults=faults, record={"transitions": True}))
        world.policy = Plan(default=2)
        world.run()
        return world

    world = run({"crash": {"ids": [0], "start": "at", "at": 2.0}})
    assert world.network is None and world.recorder.frame("faults")["kind"].to_list() == ["crash"]
    for faults, field in [
        ({"omission": {"count": 1}}, "faults.omission"),
        ({"byzantine": {"count": 1, "messages": ["noise"]}}, "faults.byzantine.messages"),
        ({"partition": {"groups": 2}}, "faults.partition.groups"),
        ({"cut_links": [[0, 1]]}, "faults.cut_links"),
    ]:
        with pytest.raises(ConfigError) as err:
            run(faults)
        assert err.value.field == field
