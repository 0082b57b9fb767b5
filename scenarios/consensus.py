"""Average consensus by gossip: 50 agents on a ring (2 neighbours each side), period 1, horizon 100."""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.consensus import ConsensusParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="consensus",
        world=ConsensusParams(period=1.0, weights="metropolis"),
        n_agents=50,
        episodes=1,
        horizon=100.0,
        gamma=0.99,
        policy="random",
        seed=0,
        net={"topology": {"kind": "ring", "k": 2}},
    )
    return base.with_overrides(overrides)
