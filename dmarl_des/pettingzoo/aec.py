"""The PettingZoo AEC adapter: ``agent_selection`` is the agent whose decision is due next.

The event kernel decides who moves: the simulation runs until decisions are due (a decision
flush) and pauses; the agents deciding at that instant are selected one after the other, in the
order their requests were made. Their actions are collected and applied together once the last of
them has stepped — the decisions of one instant are simultaneous, as in ``dmarl run`` — and the
simulation runs on to the next instant where decisions are due.

Rewards accrue between an agent's turns as squeezed macro-rewards: when an agent's macro-action
closes (at its next turn, at a crash, at the episode's end) its ``r_c = Σ γ^(s − t0) r_s``,
discounted from the macro-action's start, enters ``rewards`` at that step, so ``last()`` returns
exactly the macro-reward since the agent's previous turn; ``infos[agent]["tau"]`` is the
macro-action's duration (bootstrap with ``gamma ** tau``). Agents whose life ended (crash,
departure, the episode's end) are ``terminated`` (a terminal state) or ``truncated`` (cut) and are
selected first, as PettingZoo expects, to be stepped with ``None`` and removed. Recovered and
joining agents appear under new names (``agent_7_r1``, ``agent_31``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import AECEnv

from dmarl_des.pettingzoo.epochs import DecisionEpochs, Epoch, InvalidActions, MaskPlace
from dmarl_des.scenario import Scenario


class DecisionAECEnv(AECEnv):
    """A world as a PettingZoo ``AECEnv`` (module docstring); options as ``DecisionEpochs``."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        out: str | Path | None = None,
        action_mask: MaskPlace = "observation",
        invalid_actions: InvalidActions = "replace",
        agents_as_processes: bool | None = None,
    ) -> None:
        super().__init__()
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
            # agents decide asynchronously: PettingZoo's aec_to_parallel does not apply (use
            # DecisionParallelEnv, whose step is one decision epoch)
            "is_parallelizable": False,
        }
        self._clear_episode()

    def _clear_episode(self) -> None:
        self.agents: list[str] = []
        self.rewards: dict[str, float] = {}
        self._cumulative_rewards: dict[str, float] = {}
        self.terminations: dict[str, bool] = {}
        self.truncations: dict[str, bool] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self._observations: dict[str, Any] = {}
        self._queue: list[str] = []
        self._chosen: dict[str, int] = {}
        self.agent_selection: str | None = None

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

    def observe(self, agent: str) -> Any:
        """The agent's latest observation: read at its current turn, or the one its running
        macro-action was chosen on (frozen until that macro-action ends), or its last one."""
        return self._observations[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start an episode (``seed``: see ``DecisionEpochs.reset``; ``options`` are unused)."""
        self._clear_episode()
        self._absorb(self.epochs.reset(seed))
        self._select()

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if agent is None:
            raise RuntimeError("no agent to step: call reset()")
        if self.terminations[agent] or self.truncations[agent]:
            if action is not None:
                raise ValueError(f"{agent} is done: its only valid action is None")
            self._remove(agent)
            self._clear_rewards()
            self._select()
            return
        if action is None:
            raise ValueError(f"{agent} is deciding: None is only for agents that are done")
        self._chosen[agent] = self.epochs.check_action(agent, action)
        self._cumulative_rewards[agent] = 0.0
        self._queue.remove(agent)
        self._clear_rewards()
        if not self._queue:  # the last decision of this instant: the simulation runs on
            chosen, self._chosen = self._chosen, {}
            self._absorb(self.epochs.step(chosen))
        self._accumulate_rewards()
        self._select()

    def state(self) -> np.ndarray:
        return self.epochs.state()

    def close(self) -> None:
        """Write the tables when ``out`` was given (the running episode is cut now)."""
        self.epochs.close()

    # ---------------------------------------------------------------- bookkeeping
    def _absorb(self, epoch: Epoch) -> None:
        """Take in a decision epoch: new agents, rewards of closed macro-actions, ended lives."""
        for name in epoch.ready:
            if name not in self.terminations:
                self.agents.append(name)
                self.rewards[name] = 0.0
                self._cumulative_rewards[name] = 0.0
                self.terminations[name] = False
                self.truncations[name] = False
        for name, reward in epoch.rewards.items():
            if name in self.rewards:
                self.rewards[name] = reward
        for name, terminal in epoch.terminated.items():
            if name in self.terminations:
                self.terminations[name] = terminal
                self.truncations[name] = epoch.truncated[name]
        self.infos.update({k: v for k, v in epoch.infos.items() if k in self.terminations})
        self._observations.update(epoch.observations)
        self._queue = list(epoch.ready)

    def _remove(self, agent: str) -> None:
        self.agents.remove(agent)
        for table in (
            self.rewards,
            self._cumulative_rewards,
            self.terminations,
            self.truncations,
            self.infos,
        ):
            del table[agent]
        self._observations.pop(agent, None)

    def _select(self) -> None:
        """Agents that are done first (to be removed), then the next agent deciding now."""
        done = [a for a in self.agents if self.terminations[a] or self.truncations[a]]
        if done:
            self.agent_selection = done[0]
        elif self._queue:
            self.agent_selection = self._queue[0]
