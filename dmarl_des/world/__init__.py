"""The composition root of one run: World(mesa.Model) with its time, agents, network, faults and tables."""

from dmarl_des.world.base import World

__all__ = ["World"]
