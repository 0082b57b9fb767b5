"""Built-in domains, each a World subclass in its own module, looked up by `world.name`."""

from __future__ import annotations

import importlib
from types import MappingProxyType

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import WorldParams
from dmarl_des.world import World
from dmarl_des.world.registry import world_class as _world_of_params

WORLD_MODULES = MappingProxyType(
    {
        "box_pushing": "dmarl_des.worlds.box_pushing",
        "channels": "dmarl_des.worlds.channels",
        "consensus": "dmarl_des.worlds.consensus",
        "coverage": "dmarl_des.worlds.coverage",
        "landmarks": "dmarl_des.worlds.landmarks",
        "mutual_aid": "dmarl_des.worlds.mutual_aid",
        "search_rescue": "dmarl_des.worlds.search_rescue",
        "swarm": "dmarl_des.worlds.swarm",
        "traffic": "dmarl_des.worlds.traffic",
        "warehouse": "dmarl_des.worlds.warehouse",
    }
)
"""World name -> module defining ``WORLD`` (the World subclass)."""


def world_class(params: WorldParams | str) -> type[World]:
    """The World subclass for a built-in world's name, or for ``params`` (see
    ``dmarl_des.world.registry.world_class``: the ``WORLD`` of the module defining them).
    """
    if not isinstance(params, str):
        return _world_of_params(params)
    module = WORLD_MODULES.get(params)
    if module is None:
        raise ConfigError("world.name", params, ", ".join(sorted(WORLD_MODULES)))
    return importlib.import_module(module).WORLD
