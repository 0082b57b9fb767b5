"""Faults are reproducible and draw only from their own stream (common random numbers)."""

import polars as pl
from fault_worlds import ShareParams, run_world, share_scenario

from dmarl_des.study.run import frames_digest, run_scenario

EVERY_FAULT = {
    "crash": {"ids": [1], "start": "at", "at": 0.5},
    "recover": {"enabled": True, "mean": 1.5},
    "omission": {"count": 1, "p": 0.4, "start": "poisson", "rate": 0.5},
    "byzantine": {"count": 1, "messages": ["noise", "stale"], "actions": "random"},
    "partition": {"groups": 2, "at": 3.0, "duration": 2.0},
    "cut_links": [[0, 4]],
    "churn": {"leave_rate": 0.3, "join_rate": 0.3},
}
KINDS = {
    "crash",
    "recover",
    "omission",
    "byzantine",
    "cut",
    "partition_start",
    "partition_end",
    "leave",
    "join",
}


def test_same_seed_gives_identical_tables_and_every_kind_has_rows():
    sc = share_scenario(faults=EVERY_FAULT, horizon=15.0, episodes=2)
    a, b = run_scenario(sc), run_scenario(sc)
    assert a.status == "ok"
    assert frames_digest(a.frames) == frames_digest(b.frames)
    faults = a.frames["faults"]
    for episode in (0, 1):
        assert set(faults.filter(pl.col("episode") == episode)["kind"]) == KINDS
    assert (
        faults.filter(pl.col("episode") == 0)["time"].to_list()
        != faults.filter(pl.col("episode") == 1)["time"].to_list()
    )  # a fresh fault stream per episode
    other = run_scenario(sc.with_overrides({"seed": 4}))
    assert not other.frames["faults"].equals(faults)


def durations(world, agent_id):
    d = world.recorder.frame("durations")
    return d.filter(pl.col("agent_id") == agent_id)["duration"].to_list()


def test_a_crash_leaves_every_other_agents_draws_unchanged():
    plain = run_world(share_scenario())
    crash = run_world(share_scenario(faults={"crash": {"ids": [1], "start": "at", "at": 3.0}}))
    for aid in (0, 2, 3, 4, 5):
        assert durations(crash, aid) == durations(plain, aid)
    before = durations(crash, 1)
    assert 0 < len(before) < len(durations(plain, 1))
    assert before == durations(plain, 1)[: len(before)]  # identical until the crash


def test_faults_draw_nothing_from_the_world_stream():
    # one shared world stream for every duration: any draw taken from it by a fault would shift
    # every later duration; message faults do not change when agents act
    world = ShareParams(shared_stream=True)
    faults = {
        "omission": {"fraction": 0.5, "p": 0.5},
        "byzantine": {"count": 2, "messages": ["noise", "equivocate", "garbage"]},
        "partition": {"groups": 3, "at": 2.0},
        "cut_links": [[0, 1]],
    }
    plain = run_world(share_scenario(world=world))
    faulty = run_world(share_scenario(world=world, faults=faults))
    assert faulty.recorder.frame("network")["omitted"][0] > 0
    d0, d1 = plain.recorder.frame("durations"), faulty.recorder.frame("durations")
    assert d0.equals(d1)
    assert (plain.x0 == faulty.x0).all()


def test_adding_one_fault_does_not_shift_the_draws_of_another():
    crash = {
        "crash": {"fraction": 0.5, "start": "poisson", "rate": 0.3},
        "recover": {"enabled": True, "mean": 2.0},
    }
    more = {**crash, "omission": {"count": 2, "p": 0.2}, "partition": {"groups": 2, "at": 1.0}}
    rows = []
    for faults in (crash, more):
        world = run_world(share_scenario(faults=faults, horizon=30.0))
        f = world.recorder.frame("faults").filter(pl.col("kind").is_in(["crash", "recover"]))
        rows.append(f.select("time", "kind", "agent_id").rows())
    assert len(rows[0]) > 4 and rows[0] == rows[1]
