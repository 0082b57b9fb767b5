"""Landmarks (cooperative navigation, MPE "spread"): N agents cover N landmarks, greedy scripted policy.

Decisions on a 0.25 control tick (batched); the area grows with the swarm, so ``--set
n_agents=1000`` keeps the density (about 7 radio neighbours each). Train a graph-attention
policy small and evaluate it anywhere (docs/declearn_comm.md):

    dmarl train scenarios/landmarks.py --learner gnn_ippo --set n_agents=6 --episodes 300
    dmarl run scenarios/landmarks.py --policy models/landmarks-gnn_ippo --set n_agents=400
"""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.landmarks import LandmarksParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="landmarks",
        world=LandmarksParams(),
        n_agents=50,
        episodes=1,
        horizon=30.0,
        decision_period=0.25,
        gamma=0.95,
        policy="scripted",
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Scripted against random under link loss × 3 seeds (learned policies: add checkpoints)."""
    from dmarl_des.study import Study

    return Study(
        __file__,
        grid={"policy": ["scripted", "random"], "net.loss.p": [0.0, 0.3, 0.6]},
        seeds=3,
    )
