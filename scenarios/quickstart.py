"""The main job: does a learned coverage policy hold up as well as the scripted one when UAVs crash
during the mission and radio links drop messages?

`dmarl study scenarios/quickstart.py` runs the default study below — the scripted greedy coverage
policy and the committed Mac-IPPO checkpoint ``models/coverage_ippo/best`` (trained by the recipe
in docs/LEARNING.md), each under crash fraction × link loss × 5 seeds of a 400-UAV coverage swarm —
on a local process pool, then prints the comparison and writes plots and a Markdown report under
data/studies/quickstart/report/. Crashes strike during the mission: each crashing UAV goes down at
an exponential time of rate 0.02 (mean 50 time units; 86 % of them before the horizon of 100).
"""

import os
from pathlib import Path

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.coverage import CoverageParams

ROOT = Path(__file__).resolve().parents[1]

LEARNED = os.path.relpath(ROOT / "models" / "coverage_ippo" / "best")
"""The committed learned policy (the recipe's best evaluation round), named relative to the working
directory (``models/coverage_ippo/best`` from the repository root): the report labels it so."""


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
        faults={"crash": {"start": "poisson", "rate": 0.02}},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Scripted vs learned × crash fraction 0–40 % × Bernoulli link loss 0–60 % × 5 seeds (90 runs)."""
    from dmarl_des.study import Study

    return Study(
        Path(__file__),
        grid={
            "policy": ["scripted", LEARNED],
            "faults.crash.fraction": [0.0, 0.2, 0.4],
            "net.loss.p": [0.0, 0.3, 0.6],
        },
        seeds=5,
        name="quickstart",
    )
