"""The composition root of one run: World(mesa.Model), its hooks and contract, and the parts that run it."""

from dmarl_des.world.contract import WorldContractError
from dmarl_des.world.hooks import WorldHooks
from dmarl_des.world.maps import WorldMap
from dmarl_des.world.registry import world_class
from dmarl_des.world.world import World

__all__ = ["World", "WorldContractError", "WorldHooks", "WorldMap", "world_class"]
