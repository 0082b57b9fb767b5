"""Traffic signals: a 4 × 4 grid of signalised intersections for one hour, max-pressure control.

Vehicles enter at every edge approach (Poisson, 0.13 veh/s each), queue at the stop lines and
cross at 1,800 veh/h during green; signals choose a phase and a green time (10, 20 or 30 s) on a
1 s control tick and report their queues to their neighbours every 5 s. The team is rewarded
with minus its queues' time integral (``reward = queue``, shared), so ``team_return`` is minus
the vehicle-seconds of delay / 100. ``--set n_agents=1000`` runs a 25 × 40 grid; ``--set
world.controller=fixed_time`` the fixed-time plan; ``--policy random`` random phases. See
docs/world_traffic.md (the training command of the Mac-IPPO policy uses each signal's own
sumo-rl reward instead).
"""

import os
from pathlib import Path

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.traffic import TrafficParams

ROOT = Path(__file__).resolve().parents[1]

LEARNED = os.path.relpath(ROOT / "models" / "traffic-ippo")
"""The committed Mac-IPPO policy (trained by the command in docs/world_traffic.md), named relative
to the working directory (``models/traffic-ippo`` from the repository root)."""


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="traffic",
        world=TrafficParams(rate_ns=0.13, rate_ew=0.13, reward="queue", shared_reward=True),
        n_agents=16,
        episodes=1,
        horizon=3600.0,
        decision_period=1.0,
        gamma=0.995,
        policy="scripted",
        net={"resolution": 1.0},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Max-pressure vs random vs the Mac-IPPO checkpoint × lost queue reports × crashed (flashing)
    signals × 3 seeds: 81 runs (about 3 minutes on 2 cores)."""
    from dmarl_des.study import Study

    return Study(
        Path(__file__),
        grid={
            "policy": ["scripted", "random", LEARNED],
            "net.loss.p": [0.0, 0.5, 0.9],
            "faults.crash.fraction": [0.0, 0.25, 0.5],
        },
        seeds=3,
        name="traffic",
    )
