"""The world contract: the few pieces every world must provide, checked before anything runs.

A world provides

1. ``Params`` — a ``WorldParams`` subclass (its ``world.*`` keys, with its own ``name``);
2. observations — ``observe_many(idx)`` or ``observe(agent)``, and ``obs_dim >= 1``;
3. macro-actions — either ``macro_actions`` (SimPy behaviours; the agents run as processes), or
   ``timed = True`` with ``macro_action_names()`` and ``begin_many(idx, actions) -> durations``
   (``end_many(idx)`` is optional; the agents live in arrays).

Everything else is optional, with the defaults documented in ``hooks.py``. Items 1, 2 and the
methods of 3 are checked when the class is defined (``class MyWorld(World): …`` raises
``WorldContractError`` naming what is missing); what ``setup`` may still fill in (``macro_actions``,
``obs_dim``) is checked when the world is first built. A base class meant to be subclassed further
opts out of the class-time check with ``class MyBase(World, abstract=True)``.
"""

from __future__ import annotations

import numbers
from typing import Any

from dmarl_des.scenario import WorldParams
from dmarl_des.world.hooks import WorldHooks


class WorldContractError(TypeError):
    """A world class does not provide a piece the world contract requires (named in the message)."""


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(WorldHooks, name)


def check_class(cls: type) -> None:
    """Check what a world class must define itself (raises ``WorldContractError``)."""
    name = cls.__name__
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, WorldParams)) or params is WorldParams:
        raise WorldContractError(
            f"{name} must set Params = a WorldParams subclass holding its world.* keys "
            "(with a `name` of its own)"
        )
    if not (_overrides(cls, "observe_many") or _overrides(cls, "observe")):
        raise WorldContractError(
            f"{name} must define observe_many(self, idx) -> float32 [B, obs_dim] "
            "(or observe(self, agent) -> float32 [obs_dim]): the observations agents decide on"
        )
    if getattr(cls, "timed", False):
        for hook, what in (
            ("macro_action_names", "macro_action_names(self) -> the macro-actions' names"),
            ("begin_many", "begin_many(self, idx, actions) -> durations [B]"),
        ):
            if not _overrides(cls, hook):
                raise WorldContractError(f"{name} is timed, so it must define {what}")
    else:
        for hook in ("begin_many", "end_many"):
            if _overrides(cls, hook):
                raise WorldContractError(
                    f"{name} defines {hook} but is not timed: set timed = True (macro-actions "
                    "with durations known at their start), or give macro_actions behaviours"
                )


def check_built(world: Any) -> None:
    """Check what ``setup`` may fill in, once the world is built (raises
    ``WorldContractError``)."""
    name = type(world).__name__
    if not world.macro_actions:
        raise WorldContractError(
            f"{name} has no macro-actions: set macro_actions (MacroAction behaviours) on the "
            "class or in setup(), or set timed = True and return names from macro_action_names()"
        )
    obs_dim = world.obs_dim
    if not isinstance(obs_dim, numbers.Integral) or isinstance(obs_dim, bool) or obs_dim < 1:
        raise WorldContractError(
            f"{name}.obs_dim must be the length of an observation (an int >= 1), set on the "
            f"class or in setup(); got {obs_dim!r}"
        )
