"""Warehouse (RWARE): a robot fleet fetches requested shelves to the goals and puts them back.

Eight robots on RWARE's small layout (2 × 3 shelf blocks, 8 rows high), a request queue of eight
shelves, 500 steps (RWARE's episode length), a team reward of +1 per delivery, the greedy fleet
controller; robots radio their plans to those within 6 cells. See docs/world_warehouse.md.

`dmarl study scenarios/warehouse.py` compares the scripted controller, random macro-actions and
the Mac-IPPO checkpoint `models/warehouse-ippo` (trained by the command in the docs page) as
robots crash — a crashed robot stays where it stands, an obstacle — and as radio links fail.
"""

import os
from pathlib import Path

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.warehouse import WarehouseParams

ROOT = Path(__file__).resolve().parents[1]

LEARNED = os.path.relpath(ROOT / "models" / "warehouse-ippo")
"""The committed Mac-IPPO policy (trained by the command in docs/world_warehouse.md), named relative
to the working directory (``models/warehouse-ippo`` from the repository root)."""


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="warehouse",
        world=WarehouseParams(size="small"),
        n_agents=8,
        episodes=1,
        horizon=500.0,
        gamma=0.99,
        policy="scripted",
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Scripted vs random vs the Mac-IPPO checkpoint × crashed robots (0, 2, 4 of 8, from the
    start) × radio loss (none, every plan lost) × 3 seeds: 54 runs."""
    from dmarl_des.study import Study

    return Study(
        Path(__file__),
        grid={
            "policy": ["scripted", "random", LEARNED],
            "faults.crash.fraction": [0.0, 0.25, 0.5],
            "net.loss.p": [0.0, 1.0],
        },
        seeds=3,
        name="warehouse",
    )
