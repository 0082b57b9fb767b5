"""The Gymnasium adapter: one agent of a world as a single-agent ``gymnasium.Env``.

The agent in slot ``slot`` is yours; every other agent acts by the scenario's own policy
(``policy = random | scripted | a checkpoint``), decided at the same instants as in ``dmarl run``.
A ``step`` runs the simulation to your agent's next decision: the reward is the squeezed reward of
the macro-action you chose (discounted from its start, ``r_c = Σ γ^(s − t0) r_s``),
``info["tau"]`` its duration (bootstrap with ``gamma ** tau``) and ``info["action_mask"]`` the
int8 initiation set of the next decision (an action outside it is replaced by the first allowed
one, or refused with ``invalid_actions="raise"``, as in the PettingZoo adapters). The episode
ends for you when the world's does (``terminated`` in a terminal state, else ``truncated``) or
when your agent crashes or leaves (``truncated``; the world then runs to its end without you, so
its tables hold whole episodes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.learn.protocol import Policy
from dmarl_des.pettingzoo.driver import EpisodeDriver
from dmarl_des.pettingzoo.epochs import InvalidActions, allowed_action
from dmarl_des.scenario import Scenario
from dmarl_des.study.policies import build_policy


class SingleAgentEnv(gymnasium.Env):
    """Slot ``slot``'s agent as a Gymnasium environment (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(
        self,
        scenario: Scenario,
        *,
        slot: int = 0,
        out: str | Path | None = None,
        invalid_actions: InvalidActions = "replace",
    ) -> None:
        if invalid_actions not in ("replace", "raise"):
            raise ConfigError("invalid_actions", invalid_actions, "replace | raise")
        if not 0 <= slot < scenario.n_agents:
            raise ConfigError("slot", slot, f"an agent slot in [0, {scenario.n_agents})")
        self.scenario = scenario
        self.slot = slot
        self.out = out
        self.invalid_actions: InvalidActions = invalid_actions
        self.replaced_actions = 0
        """Actions outside the initiation set replaced (``invalid_actions="replace"``)."""
        self.driver = EpisodeDriver(scenario, out=out)
        world = self.driver.world
        self.observation_space = gymnasium.spaces.Box(
            -np.inf, np.inf, (int(world.obs_dim),), np.float32
        )
        self.action_space = gymnasium.spaces.Discrete(int(world.n_actions))
        self.gamma = float(scenario.gamma)
        self._others: Policy | None = None
        self._reward = 0.0
        self._tau = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: with ``seed``, episode 0 of a fresh world of that seed; without,
        the world's next episode (``options`` are unused)."""
        super().reset(seed=seed)
        if seed is not None:
            self.driver.write_tables()
            scenario = self.scenario.with_overrides({"seed": int(seed)})
            self.driver = EpisodeDriver(scenario, out=self.out)
            self._others = None
        if self._others is None:
            self._others = build_policy(self.driver.scenario, self.driver.world)
        self.driver.begin()
        obs, _, _, _, info = self._run_to_my_turn()
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        batch = self.driver.batch
        if batch is None or self.slot not in batch.slots:
            raise RuntimeError("the episode is over: call reset()")
        mask = batch.mask[int(np.flatnonzero(batch.slots == self.slot)[0])]
        a, replaced = allowed_action(action, mask, self.invalid_actions, f"slot {self.slot}")
        self.replaced_actions += replaced
        self.driver.decide(self._actions(batch, mine=a))
        return self._run_to_my_turn()

    def close(self) -> None:
        """Write the tables (when ``out`` was given); the running episode is cut now."""
        self.driver.write_tables()

    # ---------------------------------------------------------------- internals
    def _actions(self, batch: Any, mine: int | None) -> np.ndarray:
        """Actions of a batch: the scenario's policy for every other agent, ``mine`` for mine."""
        assert self._others is not None
        actions = np.zeros(batch.slots.size, dtype=np.int64)
        others = batch.slots != self.slot
        if others.any():
            actions[others] = self._others.act(
                batch.obs[others], batch.slots[others], batch.mask[others], explore=False
            )
        if mine is not None:
            actions[~others] = mine
        return actions

    def _run_to_my_turn(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Run until my agent decides or its episode ends; (obs, reward, terminated, truncated,
        info) with ``info["time"]`` the instant of that decision or end."""
        driver = self.driver
        reward, tau, ended, terminal, last, when = 0.0, 0.0, False, False, None, driver.world.now
        while True:
            for tb in driver.take_closed():
                for k in np.flatnonzero(tb.agent_idx == self.slot).tolist():
                    reward += float(tb.reward[k])
                    tau = float(tb.tau[k])
                    last, when = (tb.obs_next[k], tb.mask_next[k]), float(tb.t_end[k])
                    if tb.done[k]:
                        ended, terminal = True, bool(tb.terminal[k])
            batch = driver.batch
            if ended or batch is None:
                break
            hit = np.flatnonzero(batch.slots == self.slot)
            if len(hit):
                last, when = (batch.obs[hit[0]], batch.mask[hit[0]]), batch.time
                break
            driver.decide(self._actions(batch, mine=None))
        if not ended and driver.batch is None:  # the episode ended while my decision was due
            ended, terminal, when = True, driver.terminal, driver.world.now
        while ended and driver.batch is not None:  # my agent is gone: the world runs to its end
            driver.decide(self._actions(driver.batch, mine=None))
        obs, mask = last if last is not None else (np.zeros(self.observation_space.shape), None)
        info: dict[str, Any] = {"tau": tau, "time": when}
        if mask is not None:
            info["action_mask"] = np.asarray(mask).astype(np.int8)
        obs = np.array(obs, dtype=np.float32)
        return obs, reward, ended and terminal, ended and not terminal, info
