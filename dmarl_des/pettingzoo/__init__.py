"""Adapters for other trainers: any world as a PettingZoo AEC or Parallel environment, or one of
its agents as a Gymnasium environment.

``parallel_env(scenario)``, ``aec_env(scenario)`` and ``gym_env(scenario, slot=0)`` take a
``Scenario`` or the path of a scenario file (with dotted-key ``overrides``, as ``--set``). The
simulation pauses whenever decisions are due; faults, the network and the tables stay as in
``dmarl run``, and with the same actions an episode is the one ``dmarl run`` simulates with that
scenario and seed.
See docs/pettingzoo.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dmarl_des.pettingzoo.aec import DecisionAECEnv
from dmarl_des.pettingzoo.driver import EpisodeDriver
from dmarl_des.pettingzoo.epochs import DecisionEpochs, Epoch
from dmarl_des.pettingzoo.gym import SingleAgentEnv
from dmarl_des.pettingzoo.parallel import DecisionParallelEnv
from dmarl_des.scenario import Scenario, load_scenario

__all__ = [
    "DecisionAECEnv",
    "DecisionEpochs",
    "DecisionParallelEnv",
    "EpisodeDriver",
    "Epoch",
    "SingleAgentEnv",
    "aec_env",
    "gym_env",
    "parallel_env",
]


def _scenario(scenario: Scenario | str | Path, overrides: Mapping[str, Any] | None) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(dict(overrides)) if overrides else scenario
    return load_scenario(scenario, overrides)


def parallel_env(
    scenario: Scenario | str | Path,
    overrides: Mapping[str, Any] | None = None,
    **options: Any,
) -> DecisionParallelEnv:
    """The scenario's world as a PettingZoo ``ParallelEnv`` (options: see ``DecisionEpochs``)."""
    return DecisionParallelEnv(_scenario(scenario, overrides), **options)


def aec_env(
    scenario: Scenario | str | Path,
    overrides: Mapping[str, Any] | None = None,
    **options: Any,
) -> DecisionAECEnv:
    """The scenario's world as a PettingZoo ``AECEnv`` (options: see ``DecisionEpochs``)."""
    return DecisionAECEnv(_scenario(scenario, overrides), **options)


def gym_env(
    scenario: Scenario | str | Path,
    overrides: Mapping[str, Any] | None = None,
    **options: Any,
) -> SingleAgentEnv:
    """One agent of the scenario's world as a ``gymnasium.Env`` (options: ``slot``, ``out``);
    the others act by the scenario's policy."""
    return SingleAgentEnv(_scenario(scenario, overrides), **options)
