"""Extreme but valid lies: honest consensus values stay finite under every rule and attack."""

import numpy as np
import polars as pl
import pytest

from dmarl_des.faults.message_attacks import MESSAGE_ATTACKS
from dmarl_des.scenario import load_scenario
from dmarl_des.worlds.consensus import AGGREGATORS, VALUE_BOUND, ConsensusWorld

SCENARIO = "scenarios/consensus.py"

ATTACKS = {
    "bias+1e308": {"messages": ["bias"], "value": 1e308},
    "bias-1e308": {"messages": ["bias"], "value": -1e308},
    "noise-1e300": {"messages": ["noise"], "scale": 1e300},
    "constant+1e308": {"messages": ["constant"], "value": 1e308},
    "constant-1e308": {"messages": ["constant"], "value": -1e308},
    "constant+bound": {"messages": ["constant"], "value": VALUE_BOUND},  # accepted: at the bound
    "constant-bound": {"messages": ["constant"], "value": -VALUE_BOUND},
    "noise-near-bound": {"messages": ["noise"], "scale": 0.5 * VALUE_BOUND},  # some get through
    "equivocate-1e308": {"messages": ["equivocate"], "scale": 1e308},
    "equivocate-bound": {"messages": ["equivocate"], "scale": VALUE_BOUND},
    "sign_flip+bias": {"messages": ["sign_flip", "bias"], "value": 1e308},
    "stale+constant": {"messages": ["stale", "constant"], "value": -VALUE_BOUND, "lag": 2},
    "garbage": {"messages": ["garbage"]},
}

STATISTICS = ["disagreement", "honest_min", "honest_max", "honest_mean", "mean_all"]


def test_the_matrix_covers_every_message_attack():
    used = {m for attack in ATTACKS.values() for m in attack["messages"]}
    assert used == set(MESSAGE_ATTACKS)


def run(rule: str, attack: dict) -> ConsensusWorld:
    """10 agents, complete graph with 10% loss, 12 rounds, values recorded; 3 Byzantine liars,
    one more than the rules are set to tolerate (f = b = 2), so their lies reach honest agents."""
    overrides = {
        "n_agents": 10,
        "horizon": 12.0,
        "net.topology.kind": "complete",
        "net.loss.model": "bernoulli",
        "net.loss.p": 0.1,
        "world.aggregator": rule,
        "world.aggregator_f": 2,
        "world.aggregator_b": 2,
        "faults": {"byzantine": {"count": 3, **attack}},
        "record": {"messages": True},
    }
    world = ConsensusWorld(load_scenario(SCENARIO, overrides))
    world.record_values = True
    world.policy = world.scripted_policy()
    world.run_episode(0, "eval")
    return world


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("rule", AGGREGATORS)
def test_honest_values_stay_finite_and_bounded_whatever_the_liars_send(rule, attack):
    world = run(rule, ATTACKS[attack])
    honest = world.honest()
    assert (~honest).sum() == 3
    history = np.stack(world.value_history)  # [rounds, agents, dim]
    assert history.shape[0] == 12
    assert np.isfinite(history).all() and np.abs(history).max() <= VALUE_BOUND
    assert np.isfinite(world.observe_many(np.arange(10))).all()  # float32 observations too
    assert np.isfinite(world.global_state()).all()
    table = world.recorder.frame("consensus")
    for column in STATISTICS:
        assert table[column].is_finite().all(), column
    episode = world.recorder.frame("episodes")
    assert episode["team_return"].is_finite().all()
    assert episode["discounted_return"].is_finite().all()
    # only the liars' messages are ever rejected: honest agents never send an invalid value
    messages = world.recorder.frame("messages")
    liars = set(np.flatnonzero(~honest).tolist())
    rejected = messages.filter(pl.col("drop_cause") == "invalid")
    assert set(rejected["src"].to_list()) <= liars
    if "1e308" in attack or attack == "garbage":
        assert rejected.height > 0  # those lies never reach an agent
