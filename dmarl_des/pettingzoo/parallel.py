"""The PettingZoo Parallel adapter: one ``step`` is one decision epoch, with ready-agent semantics.

At a decision epoch every agent whose decision is due at that instant acts; agents whose
macro-action is still running are absent from that step's dicts (the semantics of RLlib's
``MultiAgentEnv`` and of AgileRL's asynchronous agents). So:

* ``reset`` returns the observations and infos of the agents deciding at time 0;
* ``step(actions)`` takes an action for every agent of the last observations that is not done
  (actions of live agents absent from them are ignored) and returns, for the agents deciding now
  *and* the agents whose life ended since (crash, departure, the episode's end): observations,
  the squeezed rewards of their macro-actions closed since their previous turn, terminations,
  truncations and infos (``tau``: the closed macro-action's duration — bootstrap with
  ``gamma ** tau``; ``time``; ``slot``; ``agent_id``);
* ``agents`` lists every live agent, busy or ready; ``terminations`` and ``truncations`` answer
  ``False`` for a live agent absent from them (its macro-action runs: it is neither) — reading
  them for any other name is a ``KeyError``.

What a trainer needs (docs/pettingzoo.md): act for the agents in the returned observations only,
and store each agent's transition from one of its turns to its next — its reward arrives then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from dmarl_des.pettingzoo.epochs import DecisionEpochs, Epoch, InvalidActions, MaskPlace
from dmarl_des.scenario import Scenario


class StillRunning(dict):
    """Terminations or truncations of a step: the agents listed, and ``False`` for every other
    live agent (its macro-action still runs); any other name is a ``KeyError``."""

    def __init__(self, values: dict[str, bool], live: set[str]) -> None:
        super().__init__(values)
        self._live = frozenset(live)

    def __missing__(self, agent: str) -> bool:
        if agent in self._live:
            return False
        raise KeyError(agent)


class DecisionParallelEnv(ParallelEnv):
    """A world as a PettingZoo ``ParallelEnv`` (module docstring); options as ``DecisionEpochs``."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        out: str | Path | None = None,
        action_mask: MaskPlace = "observation",
        invalid_actions: InvalidActions = "replace",
        agents_as_processes: bool | None = None,
    ) -> None:
        self.epochs = DecisionEpochs(
            scenario,
            out=out,
            action_mask=action_mask,
            invalid_actions=invalid_actions,
            agents_as_processes=agents_as_processes,
        )
        self.metadata: dict[str, Any] = {
            "name": f"dmarl_des_{scenario.world.name}",
            "render_modes": [],
        }
        self.agents: list[str] = []

    @property
    def possible_agents(self) -> list[str]:
        """Every agent of the episode so far (recovered and joining agents are appended)."""
        return list(self.epochs.lives.possible)

    @property
    def world(self) -> Any:
        return self.epochs.world

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.epochs.observation_space(agent)

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.epochs.action_space(agent)

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start an episode (``seed``: see ``DecisionEpochs.reset``; ``options`` are unused)."""
        epoch = self.epochs.reset(seed)
        self.agents = self.epochs.lives.live
        return epoch.observations, epoch.infos

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, Any],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        before = set(self.agents)
        pending = self.epochs.driver.batch
        ready = set() if pending is None else {self.epochs.lives.name_of[s] for s in pending.slots}
        wanted = {a: v for a, v in actions.items() if a in ready or a not in before}
        epoch: Epoch = self.epochs.step(wanted)
        self.agents = self.epochs.lives.live
        live = before | set(epoch.ready)
        done = dict.fromkeys(epoch.ready, False)
        terminations = StillRunning({**done, **epoch.terminated}, live)
        truncations = StillRunning({**done, **epoch.truncated}, live)
        return epoch.observations, epoch.rewards, terminations, truncations, epoch.infos

    def state(self) -> np.ndarray:
        return self.epochs.state()

    def close(self) -> None:
        """Write the tables when ``out`` was given (the running episode is cut now)."""
        self.epochs.close()
