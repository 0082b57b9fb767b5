"""Search and rescue (UAV swarm): 50 UAVs launched from a cluster look for 50 walking targets.

Scripted frontier policy, decisions on a 0.1 control tick (batched) with message deliveries
bucketed to the same tick, radio by proximity; the area grows with the swarm (80 × 80 per UAV), so
``--set n_agents=1000`` keeps the density. docs/world_search_rescue.md describes the world.
"""

import os
from pathlib import Path

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.search_rescue import SearchRescueParams

ROOT = Path(__file__).resolve().parents[1]

LEARNED = os.path.relpath(ROOT / "models" / "search_rescue_ippo")
"""The committed Mac-IPPO policy (the recipe in
docs/world_search_rescue.md), relative to the working directory: the report labels it so."""


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
    """Scripted frontier (the reference), random and the committed Mac-IPPO policy × radio loss ×
    crashed fraction × 3 seeds (54 runs): how finding and confirming degrade."""
    from dmarl_des.study import Study

    policies = ["scripted", "random"]
    if (ROOT / "models" / "search_rescue_ippo" / "card.json").is_file():
        policies.append(LEARNED)
    return Study(
        Path(__file__),
        grid={
            "policy": policies,
            "net.loss.p": [0.0, 0.5, 0.9],
            "faults.crash.fraction": [0.0, 0.3],
        },
        seeds=3,
    )
