"""A run's scenario from its file and overrides, where ``learner.name`` chooses a learner by name.

A scenario file receives the overrides as keywords (``scenario(**overrides)``) and applies them
with ``Scenario.with_overrides``, which only sets keys of sections that exist: a scenario without
a learner has no ``learner.*`` keys. ``learner.name`` (what ``--learner NAME`` sets) therefore
attaches the named learner first — its defaults, the file's own settings when it configures the
same learner, then the other ``learner.*`` overrides — and ``policy`` is applied after it, so
``policy = learner`` is valid on a file that has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dmarl_des.scenario import Scenario, load_scenario

LEARNER_NAME = "learner.name"
"""The override that chooses a learner by name."""

LEARNER_PREFIX = "learner."


def is_learner_key(key: str) -> bool:
    """True for ``learner.*`` keys (the learner's settings)."""
    return key.startswith(LEARNER_PREFIX)


def with_learner_named(scenario: Scenario, name: str, values: Mapping[str, Any]) -> Scenario:
    """``scenario`` using learner ``name``: the file's settings of the same learner (if any), then
    ``values`` (``learner.*`` keys without the prefix); ConfigError on a bad name, key or value."""
    from dmarl_des.learn.registry import learner_config

    own: dict[str, Any] = {}
    if scenario.learner is not None and getattr(scenario.learner, "name", None) == name:
        own = scenario.learner.model_dump(mode="python")
    return scenario.with_learner(learner_config(name, {**own, **values, "name": name}))


def load_run_scenario(path: str | Path, overrides: Mapping[str, Any]) -> Scenario:
    """The validated scenario of a run: the file called with ``overrides``, a learner named by
    ``learner.name`` attached before ``policy`` and the other ``learner.*`` keys apply."""
    overrides = dict(overrides)
    name = overrides.pop(LEARNER_NAME, None)
    if name is None:
        return load_scenario(path, overrides)
    learner = {
        k[len(LEARNER_PREFIX) :]: overrides.pop(k) for k in list(overrides) if is_learner_key(k)
    }
    policy = overrides.pop("policy", None)
    scenario = with_learner_named(load_scenario(path, overrides), name, learner)
    return scenario if policy is None else scenario.with_overrides({"policy": policy})
