"""Which World runs a scenario: the ``WORLD`` of the module that defines the scenario's parameters."""

from __future__ import annotations

import importlib

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import WorldParams
from dmarl_des.world.world import World


def world_class(params: WorldParams) -> type[World]:
    """The World subclass for ``params``: ``WORLD`` of the module defining ``type(params)`` (or,
    for a parameters class that subclasses another world's, of the nearest such module).

    Every built-in world and every scenario file that defines its own world follows this rule:
    a ``WorldParams`` subclass and, in the same module, ``WORLD = MyWorld``.
    """
    for klass in type(params).__mro__:
        if klass is WorldParams or not (isinstance(klass, type) and issubclass(klass, WorldParams)):
            continue
        module = importlib.import_module(klass.__module__)
        world = getattr(module, "WORLD", None)
        if isinstance(world, type) and issubclass(world, World):
            return world
    raise ConfigError(
        "world.name",
        params.name,
        f"a world whose module ({type(params).__module__}) defines WORLD = its World class",
    )
