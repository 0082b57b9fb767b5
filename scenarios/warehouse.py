"""Warehouse (RWARE): a robot fleet fetches requested shelves to the goals and puts them back.

Eight robots on RWARE's small layout (2 × 3 shelf blocks, 8 rows high), a request queue of eight
shelves, 500 steps (RWARE's episode length), the greedy fleet controller; robots radio their
plans to those within 6 cells. See docs/world_warehouse.md.
"""

from dmarl_des.scenario import Scenario
from dmarl_des.worlds.warehouse import WarehouseParams


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
