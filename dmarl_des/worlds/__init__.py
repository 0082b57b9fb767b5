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
        "consensus": "dmarl_des.worlds.consensus",
        "coverage": "dmarl_des.worlds.coverage",
        "swarm": "dmarl_des.worlds.swarm",
    }
)
"""World name -> module defining ``WORLD`` (the World subclass)."""


def world_class(params: WorldParams | str) -> type[World]:
    """The World subclass for a world name, or for ``params`` whose module defines ``WORLD``.

    A scenario file may define its own world: a ``WorldParams`` subclass and, in the same module,
    ``WORLD = MyWorld``.
    """
    name = params if isinstance(params, str) else params.name
    module = WORLD_MODULES.get(name)
    if module is not None:
        return importlib.import_module(module).WORLD
    own = None if isinstance(params, str) else importlib.import_module(type(params).__module__)
    if own is not None and isinstance(getattr(own, "WORLD", None), type):
        return own.WORLD
    raise ConfigError("world.name", name, ", ".join(sorted(WORLD_MODULES)))
