"""Channels (frequency hopping on a ring): a coordination game where only messages tell which channel is free.

Each radio hops to another of 4 channels after every transmission; a neighbour on the same
channel interferes. Mean-field learners hear the channels their neighbours announced,
graph-attention learners their learned messages — through the simulated network, so loss and
budgets bite (docs/declearn_comm.md):

    dmarl train scenarios/channels.py --learner mfq --episodes 30
    dmarl study scenarios/channels.py            # the study below: policy × link loss
"""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.channels import ChannelsParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="channels",
        world=ChannelsParams(n_channels=4),
        n_agents=8,
        episodes=1,
        horizon=16.0,
        gamma=0.9,
        policy="scripted",
        net={"topology": {"k": 1}},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Scripted and random under link loss 0…0.6 × 3 seeds (learned policies: add checkpoints
    to the policy list, or train inside the study; see docs/declearn_comm.md)."""
    from dmarl_des.study import Study

    return Study(
        __file__,
        grid={"policy": ["scripted", "random"], "net.loss.p": [0.0, 0.2, 0.4, 0.6]},
        seeds=3,
    )
