"""Built-in domains, each a World subclass in its own module, looked up by `world.name`."""

from __future__ import annotations

import importlib
from types import MappingProxyType

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import WorldParams
from dmarl_des.world import World

WORLD_MODULES = MappingProxyType(
    {
        "box_pushing": "dmarl_des.worlds.box_pushing",
    }
)
"""World name -> module defining ``WORLD`` (the World subclass)."""


def world_class(params: WorldParams | str) -> type[World]:
    """The World subclass for a world name (or the name inside ``params``)."""
    name = params if isinstance(params, str) else params.name
    module = WORLD_MODULES.get(name)
    if module is None:
        raise ConfigError("world.name", name, ", ".join(sorted(WORLD_MODULES)))
    return importlib.import_module(module).WORLD
