"""What a scenario costs before it runs: events per episode against its horizon, memory against the machine.

Both checks run when a ``Scenario`` is validated, so a study refuses a run it could not finish
before any simulation starts.

**Events.** A field declared ``Period`` or ``Rate`` (``dmarl_des.bounds``) in any section may make
at most ``MAX_STEPS`` periods (or expected events) per episode: ``horizon / period <= MAX_STEPS``
and ``horizon · rate <= MAX_STEPS``. Worlds check their derived durations (a flight time, a tick)
with ``check_duration``.

**Memory.** ``estimated_bytes`` is a deliberately simple, measured upper estimate of what a run
holds at its peak:

``n_agents · (AGENT_BYTES + episodes · AGENT_EPISODE_BYTES + world.bytes_per_agent)
+ links · LINK_BYTES``

where ``episodes`` counts training and evaluation episodes (their rows stay in memory until the
run is written) and ``links`` is the number of directed links of the topology: from
``net.topology`` for the static graphs, from ``world.links_per_agent`` for the graphs a world builds
itself (kind ``world`` or ``proximity``). A scenario whose estimate exceeds the machine's memory
(``machine_memory``: physical memory, or the control group's limit when lower) is refused.
"""

from __future__ import annotations

import math
import os
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dmarl_des.bounds import MAX_STEPS, StepBound, steps_per_episode
from dmarl_des.errors import ConfigError

ScenarioLike = Any
"""A validated ``Scenario`` (not imported: ``scenario/model.py`` imports this module)."""

AGENT_BYTES = 1024
"""Framework state per agent (Mesa agent, decision arrays, inbox ring), measured ~0.5–1 KiB."""

AGENT_EPISODE_BYTES = 1024
"""Rows per agent and episode kept until the run is written (`agents` table); measured 0.3–1 KiB."""

LINK_BYTES = 320
"""Per directed link: topology arrays, link state, messages in flight; measured 260–350 B."""

_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


# ---------------------------------------------------------------------------------------- events
@cache
def _field_bounds(model_type: type[BaseModel]) -> tuple[tuple[str, StepBound | None], ...]:
    """Each field of a model class with its ``Period``/``Rate`` mark (None when unmarked)."""
    return tuple(
        (name, next((m for m in info.metadata if isinstance(m, StepBound)), None))
        for name, info in model_type.model_fields.items()
    )


def _step_fields(model: BaseModel, prefix: str) -> list[tuple[str, float, StepBound]]:
    """Every ``Period``/``Rate`` field of ``model`` and its sections, as (dotted key, value, bound)."""
    found = []
    for name, bound in _field_bounds(type(model)):
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += _step_fields(value, f"{prefix}{name}.")
        elif bound is not None and isinstance(value, int | float):
            found.append((f"{prefix}{name}", float(value), bound))
    return found


def check_steps(scenario: ScenarioLike) -> None:
    """Raise ConfigError naming the first ``Period``/``Rate`` field that makes more than
    ``MAX_STEPS`` periods or expected events in an episode of ``scenario.horizon``."""
    horizon = scenario.horizon
    for key, value, bound in _step_fields(scenario, ""):
        if steps_per_episode(bound, value, horizon) <= MAX_STEPS:
            continue
        if bound.kind == "period":
            allowed = (
                f"0 or a period >= horizon / {MAX_STEPS:.0e} = {horizon / MAX_STEPS:g} "
                f"(at most {MAX_STEPS:.0e} per episode; or a shorter horizon)"
            )
        else:
            allowed = (
                f"a rate <= {MAX_STEPS:.0e} / horizon = {MAX_STEPS / horizon:g} "
                f"(at most {MAX_STEPS:.0e} expected events per episode)"
            )
        raise ConfigError(key, value, allowed)


def check_duration(field: str, value: Any, duration: float, horizon: float) -> None:
    """Raise ConfigError on ``field`` when a macro-action or tick of ``duration`` (derived from
    ``value``) could repeat more than ``MAX_STEPS`` times in an episode of ``horizon``."""
    if not duration * MAX_STEPS >= horizon:
        raise ConfigError(
            field,
            value,
            f"a value whose duration ({duration:g}) is >= horizon / {MAX_STEPS:.0e} = "
            f"{horizon / MAX_STEPS:g} (at most {MAX_STEPS:.0e} per episode)",
        )


# ---------------------------------------------------------------------------------------- memory
@lru_cache(maxsize=1)
def machine_memory() -> int | None:
    """Bytes of memory of this machine (the control group's limit when lower); None if unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    for path in _CGROUP_LIMITS:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total if total > 0 else None


def static_links(kind: str, n: int, k: int, m: int, radius: float) -> float | None:
    """Directed links of the static graph ``kind`` over ``n`` agents (an upper estimate, counting
    what building it allocates); None for graphs a world builds (``world``, ``proximity``)."""
    if kind == "complete":
        return float(n) * (n - 1)
    if kind in ("ring", "small_world"):
        return 2.0 * n * k
    if kind == "grid":
        return 4.0 * n
    if kind == "scale_free":
        return 2.0 * n * m
    if kind == "random_geometric":  # points in the unit square: mean degree about n·π·r²
        return float(n) * min(n - 1.0, n * math.pi * radius * radius)
    return None


def links_per_agent(scenario: ScenarioLike) -> float:
    """Mean directed links per agent of the scenario's topology (an upper estimate)."""
    n = scenario.n_agents
    topo = scenario.net.topology
    links = static_links(topo.kind, n, topo.k, topo.m, topo.radius)
    if links is None:
        return max(0.0, float(scenario.world.links_per_agent(scenario)))
    return links / n


def estimated_bytes(scenario: ScenarioLike) -> dict[str, float]:
    """Bytes the run holds at its peak, estimated, by what they grow with: ``agents`` (state per
    agent), ``episodes`` (rows per agent and episode) and ``links`` (the topology)."""
    n = scenario.n_agents
    links = n * links_per_agent(scenario)
    world = max(0.0, float(scenario.world.bytes_per_agent(scenario)))
    episodes = scenario.episodes + scenario.eval_episodes
    return {
        "agents": n * (AGENT_BYTES + world),
        "episodes": float(n) * episodes * AGENT_EPISODE_BYTES,
        "links": links * LINK_BYTES,
    }


_LINK_FIELDS = {
    "complete": "net.topology.kind",
    "ring": "net.topology.k",
    "small_world": "net.topology.k",
    "scale_free": "net.topology.m",
    "random_geometric": "net.topology.radius",
}


def check_memory(scenario: ScenarioLike) -> None:
    """Raise ConfigError when the run would need more memory than this machine has; it names
    the field behind the largest part of the estimate."""
    have = machine_memory()
    if have is None:
        return
    parts = estimated_bytes(scenario)
    need = sum(parts.values())
    if need <= have:
        return
    gib = 2.0**30
    topo = scenario.net.topology
    what = (
        f"a smaller run: it would hold about {need / gib:,.1f} GiB ("
        f"{parts['agents'] / gib:,.1f} for {scenario.n_agents:,} agents, "
        f"{parts['episodes'] / gib:,.1f} for their rows of "
        f"{scenario.episodes + scenario.eval_episodes:,} episode(s), "
        f"{parts['links'] / gib:,.1f} for the links of net.topology.kind={topo.kind}); "
        f"this machine has {have / gib:,.1f} GiB"
    )
    largest = max(parts, key=parts.__getitem__)
    if parts["links"] > need / 2 and topo.kind in _LINK_FIELDS:
        field = _LINK_FIELDS[topo.kind]
        value = topo.kind if field.endswith("kind") else getattr(topo, field.rsplit(".", 1)[1])
        raise ConfigError(field, value, what)
    if largest == "episodes" and scenario.n_agents < scenario.episodes + scenario.eval_episodes:
        field = "episodes" if scenario.episodes >= scenario.eval_episodes else "eval_episodes"
        raise ConfigError(field, getattr(scenario, field), what)
    raise ConfigError("n_agents", scenario.n_agents, what)
