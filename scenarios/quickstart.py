"""The main job: how a 400-UAV coverage swarm degrades as UAVs crash and radio links drop messages.

`dmarl study scenarios/quickstart.py` runs the default study below — crash fraction × link loss ×
5 seeds of the coverage world — on a local process pool, then prints the degradation table and
writes plots and a Markdown summary under data/studies/quickstart/report/.
"""

from pathlib import Path

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.coverage import CoverageParams


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="quickstart",
        world=CoverageParams(),
        n_agents=400,
        episodes=1,
        horizon=100.0,
        decision_period=0.1,
        gamma=0.99,
        policy="scripted",
        net={"resolution": 0.1, "loss": {"model": "bernoulli"}},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Crash fraction 0–40 % × Bernoulli link loss 0–60 % × 5 seeds (60 runs)."""
    from dmarl_des.study import Study

    return Study(
        Path(__file__),
        grid={"faults.crash.fraction": [0.0, 0.1, 0.2, 0.4], "net.loss.p": [0.0, 0.3, 0.6]},
        seeds=5,
        name="quickstart",
    )
