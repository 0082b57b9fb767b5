"""Federated rounds with the built-in learners: which blocks they average, through a real world."""

from __future__ import annotations

import polars as pl
import pytest
import torch

from dmarl_des.comm.federated import FederatedRounds
from dmarl_des.learn import learner_config, make_learner
from dmarl_des.learn.federated import federated_blocks
from dmarl_des.scenario import Scenario
from dmarl_des.worlds.mutual_aid import MutualAidParams, MutualAidWorld

N = 4


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


CASES = [
    ("ippo", {"update_every": 8}, ("policy",)),
    ("iql", {"batch_size": 8, "learning_starts": 8}, ("q",)),
    ("independent_ac", {"algorithm": "state_value"}, ("critic", "reward_model")),
    (
        "networked_ac",
        {"algorithm": "state_value", "consensus_period": 2.0},
        ("critic", "reward_model"),
    ),
    ("resilient_ac", {"consensus_period": 2.0}, ("critic", "reward_model")),
]


@pytest.mark.parametrize(("name", "values", "blocks"), CASES)
def test_a_lossless_round_leaves_every_agent_with_the_average_of_each_block(
    name, values, blocks, monkeypatch
):
    config = learner_config(
        name, {**values, "params": "per_agent", "hidden": 8, "federated": {"period": 3.0}}
    )
    scenario = Scenario.build(
        name="fed",
        world=MutualAidParams(),
        n_agents=N,
        episodes=1,
        horizon=3.5,
        seed=0,
        policy="learner",
        learner=config,
        net={"topology": {"kind": "complete"}},
    )
    world = MutualAidWorld(scenario)
    learner = make_learner(
        config, obs_dim=3, n_actions=2, n_agents=N, state_dim=N, gamma=0.9, seed=0
    )
    nets = federated_blocks(learner, ())
    assert tuple(nets) == blocks
    before, after = {}, {}
    start, finish = FederatedRounds._start, FederatedRounds._finish

    def spy_start(self):  # every block's rows as the round starts, and as it ends
        before.update({b: net.flat.detach().clone() for b, net in nets.items()})
        start(self)

    def spy_finish(self, rnd):
        after.update({b: net.flat.detach().clone() for b, net in nets.items()})
        finish(self, rnd)

    monkeypatch.setattr(FederatedRounds, "_start", spy_start)
    monkeypatch.setattr(FederatedRounds, "_finish", spy_finish)
    world.policy = learner
    world.run_episode(0, "train")
    frames = world.recorder.frames()
    rounds = frames["rounds"].filter(pl.col("exchange").str.starts_with("federated:"))
    assert sorted(rounds["exchange"]) == sorted(f"federated:{b}" for b in blocks)
    assert rounds["used"].to_list() == [N - 1] * len(blocks)
    for b in blocks:
        mean = before[b].mean(0, keepdim=True)
        torch.testing.assert_close(after[b], mean.expand_as(after[b]))
