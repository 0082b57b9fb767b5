"""Box Pushing (two agents, MacroMARL rewards, 100-tick horizon, γ = 0.98)."""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.box_pushing import BoxPushingParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="box_pushing",
        world=BoxPushingParams(grid_size=8),
        n_agents=2,
        episodes=10,
        horizon=100.0,
        gamma=0.98,
        policy="random",
        seed=0,
    )
    return base.with_overrides(overrides)
