"""Byzantine agents and omission faults inside a running world."""

import numpy as np
import polars as pl
from fault_worlds import Plan, ShareParams, run_world, share_scenario


def test_garbage_is_rejected_at_receivers_and_never_reaches_honest_state():
    sc = share_scenario(
        faults={"byzantine": {"ids": [0, 3], "messages": ["garbage"]}}, horizon=30.0
    )
    world = run_world(sc)
    net = world.recorder.frame("network")
    msgs = world.recorder.frame("messages")
    from_byz = msgs.filter(pl.col("src").is_in([0, 3]))
    assert from_byz.height > 20
    assert set(from_byz["drop_cause"]) <= {"invalid", "pending"}  # never delivered
    invalid = msgs.filter(pl.col("drop_cause") == "invalid")
    assert set(invalid["src"]) == {0, 3}  # only the garbage is rejected
    assert net["rejected_invalid"][0] == invalid.height > 20
    reasons = world.network.rejections()
    assert reasons.get("not_finite", 0) > 0 and reasons.get("oversize", 0) > 0
    assert np.isfinite(world.value).all()
    for _i, got in world.heard:
        assert got.shape[1:] == (2,) and np.isfinite(got).all()
    ep = world.recorder.frame("episodes")
    assert ep["n_byzantine"][0] == 2
    roles = dict(world.recorder.frame("agents").select("agent_id", "role").rows())
    assert [a for a, r in roles.items() if r == "byzantine"] == [0, 3]


def test_constant_attack_reaches_receivers_as_sent():
    sc = share_scenario(faults={"byzantine": {"ids": [2], "messages": ["constant"], "value": 9.0}})
    world = run_world(sc)
    from_byz = [got for i, got in world.heard if i != 2]
    assert any((g == 9.0).all(axis=1).any() for g in from_byz)


def actions_of(world, ids):
    tr = world.recorder.frame("transitions")
    return tr.filter(pl.col("agent_id").is_in(ids))["action"].to_numpy()


def test_random_action_attack_is_uniform_over_allowed_actions():
    sc = share_scenario(faults={"byzantine": {"ids": [1, 4], "actions": "random"}}, horizon=100.0)
    world = run_world(sc, Plan())  # the policy always says "share"
    honest = actions_of(world, [0, 2, 3, 5])
    assert (honest == 0).all()
    byz = actions_of(world, [1, 4])
    counts = np.bincount(byz, minlength=3)
    n = byz.size
    assert n > 150
    sd = np.sqrt(n / 3 * 2 / 3)
    assert np.all(np.abs(counts - n / 3) < 4.5 * sd)


def test_adversarial_action_attack_uses_the_world_hook_or_falls_back_to_random():
    faults = {"byzantine": {"ids": [1], "actions": "adversarial", "start": "at", "at": 5.0}}
    world = run_world(share_scenario(faults=faults, horizon=40.0))
    tr = world.recorder.frame("transitions").filter(pl.col("agent_id") == 1)
    before = tr.filter(pl.col("t_start") < 5.0)["action"]
    after = tr.filter(pl.col("t_start") >= 5.0)["action"]
    assert (before == 0).all() and after.len() > 3 and (after == 2).all()
    fallback = share_scenario(faults=faults, horizon=40.0, world=ShareParams(adversarial=False))
    tr = run_world(fallback).recorder.frame("transitions").filter(pl.col("agent_id") == 1)
    after = tr.filter(pl.col("t_start") >= 5.0)["action"].to_numpy()
    assert set(after.tolist()) == {0, 1, 2}


def test_omission_drops_about_p_of_the_agents_messages():
    p = 0.3
    sc = share_scenario(faults={"omission": {"fraction": 0.5, "p": p}}, n_agents=10, horizon=30.0)
    world = run_world(sc)
    omitters = world.injectors[0].targets["omission"]
    assert omitters.size == 5
    net = world.recorder.frame("network")
    msgs = world.recorder.frame("messages")
    omitted = net["omitted"][0]
    sent_by_omitters = msgs.filter(pl.col("src").is_in(omitters.tolist())).height
    offered = omitted + sent_by_omitters
    assert offered > 1000
    sd = np.sqrt(offered * p * (1 - p))
    assert abs(omitted - p * offered) < 4 * sd
    rows = world.recorder.frame("faults")
    assert sorted(rows.filter(pl.col("kind") == "omission")["agent_id"]) == sorted(omitters)
    assert set(rows["detail"]) == {"p=0.3"}
