"""Search and rescue (UAV swarm): 50 UAVs launched from a cluster look for 50 walking targets.

Scripted frontier policy, decisions on a 0.1 control tick (batched) with message deliveries
bucketed to the same tick, radio by proximity; the area grows with the swarm (80 × 80 per UAV), so
``--set n_agents=1000`` keeps the density. docs/world_search_rescue.md describes the world.
"""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.search_rescue import SearchRescueParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="search_rescue",
        world=SearchRescueParams(),
        n_agents=50,
        episodes=1,
        horizon=200.0,
        decision_period=0.1,
        gamma=0.99,
        policy="scripted",
        net={"resolution": 0.1},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Policies (random, scripted frontier, the committed Mac-IPPO checkpoint) × radio loss ×
    crashed fraction × 3 seeds: how finding and confirming degrade."""
    from pathlib import Path

    from dmarl_des.study import Study

    checkpoint = Path(__file__).resolve().parents[1] / "models" / "search_rescue_ippo"
    policies = ["random", "scripted"]
    if (checkpoint / "card.json").is_file():
        policies.append(str(checkpoint))
    return Study(
        __file__,
        grid={
            "policy": policies,
            "net.loss.p": [0.0, 0.5, 0.9],
            "faults.crash.fraction": [0.0, 0.3],
        },
        seeds=3,
    )
