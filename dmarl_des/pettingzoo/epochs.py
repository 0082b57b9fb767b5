"""Decision epochs as the adapters see them: named agent lives, their spaces, what each epoch brings.

``DecisionEpochs`` turns an ``EpisodeDriver`` into a sequence of *decision epochs*: instants at
which at least one agent decides. Each epoch says

* who decides now (``ready``, in the order their requests were made) and what they observe —
  the observation read at this instant and the initiation set as an int8 ``action_mask``;
* what ended since the previous epoch: for every agent whose macro-action closed, its squeezed
  macro-reward ``r_c = Σ γ^(s − t0) r_s`` (rewards discounted from the macro-action's start ``t0``
  to their stamps ``s``) and the macro-action's duration ``tau`` — the target of a semi-MDP
  learner bootstraps with ``γ^tau``, exactly as the built-in learners do;
* which agents' lives ended: crashed or departed agents (``truncated``: cut by a fault, their last
  macro-action closed at the crash — the simulator's own transitions mark it ``done`` but not
  ``terminal``), and at the episode's end every agent (``terminated`` when the world reached a
  terminal state, else ``truncated`` by the horizon or the decision budget).

Agents are named by life, never reused: ``agent_7`` is agent id 7 as it starts; after a crash and
a recovery the same robot decides again as ``agent_7_r1`` (then ``agent_7_r2`` …); a joining agent
takes a new id (``agent_31``). A name is given when the life first decides and is appended to
``possible`` then (the simulator cannot know in advance how many recoveries and joins the faults
will bring); every name has the same spaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium
import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.pettingzoo.driver import EpisodeDriver
from dmarl_des.scenario import Scenario

MaskPlace = Literal["observation", "info"]
InvalidActions = Literal["replace", "raise"]


def allowed_action(
    action: Any, mask: np.ndarray, invalid: InvalidActions, who: str
) -> tuple[int, bool]:
    """``action`` as a macro-action index allowed by ``mask`` [n_actions], and whether it was
    replaced: an integer in range is required (else ``ValueError``); one outside the initiation
    set becomes the first allowed macro-action (``invalid="replace"``) or is refused."""
    value = np.asarray(action)
    if value.dtype.kind not in "iu" or value.size != 1:
        raise ValueError(f"action of {who} must be one integer, got {action!r}")
    a = int(value.reshape(()))
    if not 0 <= a < mask.size:
        raise ValueError(f"action of {who} must be in [0, {mask.size}), got {a}")
    if mask[a]:
        return a, False
    if invalid == "raise" or not mask.any():
        allowed = np.flatnonzero(mask).tolist()
        raise ValueError(f"action {a} of {who} is outside its initiation set {allowed}")
    return int(np.argmax(mask)), True


class Lives:
    """The name of the agent life in each slot (None: no life that has decided is there)."""

    def __init__(self, n_slots: int) -> None:
        self.name_of: list[str | None] = [None] * n_slots
        self.slot_of: dict[str, int] = {}
        self.possible: list[str] = []
        self._lives: dict[int, int] = {}

    def announce(self, slot: int, agent_id: int) -> str:
        """A new life in ``slot`` (the agent ``agent_id``) decides for the first time."""
        life = self._lives.get(agent_id, 0)
        self._lives[agent_id] = life + 1
        name = f"agent_{agent_id}" if life == 0 else f"agent_{agent_id}_r{life}"
        self.name_of[slot] = name
        self.slot_of[name] = slot
        self.possible.append(name)
        return name

    def retire(self, slot: int) -> str | None:
        """The life in ``slot`` ended; returns its name."""
        name = self.name_of[slot]
        self.name_of[slot] = None
        if name is not None:
            del self.slot_of[name]
        return name

    @property
    def live(self) -> list[str]:
        """Names of the live agents, in the order they were announced."""
        return list(self.slot_of)


@dataclass
class Epoch:
    """One decision epoch (see the module docstring); values are per agent name."""

    time: float
    ready: list[str]
    """Agents deciding now, in request order."""
    observations: dict[str, Any] = field(default_factory=dict)
    """Ready agents: the observation now; ended agents: their last one (at the end)."""
    rewards: dict[str, float] = field(default_factory=dict)
    """Squeezed rewards of the macro-actions closed since the previous epoch."""
    terminated: dict[str, bool] = field(default_factory=dict)
    truncated: dict[str, bool] = field(default_factory=dict)
    """Ended agents only (the ready ones are neither)."""
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    over: bool = False
    """The episode ended (no agent is left)."""

    @property
    def ended(self) -> list[str]:
        return list(self.terminated)


class DecisionEpochs:
    """A world stepped one decision epoch at a time, with named agents and Gymnasium spaces.

    ``action_mask``: where the int8 initiation set goes — ``"observation"`` (the observation is a
    dict ``{"observation": float32 [obs_dim], "action_mask": int8 [n_actions]}``, PettingZoo's
    convention) or ``"info"`` (the observation is the float32 array and ``infos[agent]
    ["action_mask"]`` holds the mask). ``invalid_actions``: an action outside the agent's
    initiation set is replaced by its first allowed macro-action (``"replace"``, counted in
    ``replaced_actions``) or refused with a ``ValueError`` (``"raise"``).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        out: str | Path | None = None,
        action_mask: MaskPlace = "observation",
        invalid_actions: InvalidActions = "replace",
        agents_as_processes: bool | None = None,
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise ConfigError("scenario", type(scenario).__name__, "a dmarl_des Scenario")
        if action_mask not in ("observation", "info"):
            raise ConfigError("action_mask", action_mask, "observation | info")
        if invalid_actions not in ("replace", "raise"):
            raise ConfigError("invalid_actions", invalid_actions, "replace | raise")
        self.scenario = scenario
        self.out = out
        self.mask_place: MaskPlace = action_mask
        self.invalid_actions: InvalidActions = invalid_actions
        self.agents_as_processes = agents_as_processes
        self.driver = EpisodeDriver(scenario, out=out, agents_as_processes=agents_as_processes)
        world = self.driver.world
        self.obs_dim = int(world.obs_dim)
        self.n_actions = int(world.n_actions)
        self.state_dim = int(world.state_dim)
        self.gamma = float(scenario.gamma)
        self.lives = Lives(len(world.sim_agents))
        self.replaced_actions = 0
        """Actions outside the initiation set replaced in this episode."""
        self._observation_spaces: dict[str, gymnasium.spaces.Space] = {}
        self._action_spaces: dict[str, gymnasium.spaces.Discrete] = {}
        self._known: set[str] = set()
        """Every name announced by this environment (its spaces live as long as it does)."""
        self._last: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        """Each live agent's latest observation and mask (its decision's)."""

    # ---------------------------------------------------------------- spaces
    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        """The agent's observation space (one object per agent, the same on every call)."""
        space = self._observation_spaces.get(agent)
        if space is None:
            self._check_known(agent)
            box = gymnasium.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
            if self.mask_place == "observation":
                mask = gymnasium.spaces.Box(0, 1, (self.n_actions,), np.int8)
                space = gymnasium.spaces.Dict({"observation": box, "action_mask": mask})
            else:
                space = box
            self._observation_spaces[agent] = space
        return space

    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        """The agent's macro-actions, ``Discrete(n_actions)`` (the same object on every call)."""
        space = self._action_spaces.get(agent)
        if space is None:
            self._check_known(agent)
            space = self._action_spaces[agent] = gymnasium.spaces.Discrete(self.n_actions)
        return space

    def _check_known(self, agent: str) -> None:
        if agent not in self._known:
            raise KeyError(f"{agent!r} is not an agent of this environment so far")

    @property
    def world(self) -> Any:
        """The simulated world (read it, do not step it)."""
        return self.driver.world

    # ---------------------------------------------------------------- epochs
    def reset(self, seed: int | None = None) -> Epoch:
        """Start an episode: with ``seed``, episode 0 of a fresh world of that seed (the episode
        ``dmarl run --set seed=…`` simulates first); without, the next episode of this world
        (its first on the first call). Returns the first epoch."""
        if seed is not None:
            self._replace_world(int(seed))
        self.lives = Lives(len(self.driver.world.sim_agents))
        self._last.clear()
        self.replaced_actions = 0
        self.driver.begin()
        return self._epoch()

    def step(self, actions: Mapping[str, Any]) -> Epoch:
        """The ready agents' actions (every one of them; actions of live agents whose macro-action
        is still running are ignored); returns the next epoch."""
        batch = self.driver.batch
        if batch is None:
            raise RuntimeError("no decision is due: call reset() (the episode is over)")
        if not isinstance(actions, Mapping):
            raise TypeError(f"actions must be a dict agent -> action, not {type(actions).__name__}")
        live = self.lives.slot_of
        unknown = [a for a in actions if a not in live]
        if unknown:
            raise ValueError(f"actions for agents that are not live: {sorted(map(str, unknown))}")
        names = [self.lives.name_of[s] for s in batch.slots.tolist()]
        missing = [n for n in names if n not in actions]
        if missing:
            raise ValueError(f"no action for {missing}: their decisions are due now")
        chosen = np.array(
            [
                self._check_action(name, actions[name], batch.mask[k])
                for k, name in enumerate(names)
            ],
            dtype=np.int64,
        )
        self.driver.decide(chosen)
        return self._epoch()

    def close(self) -> None:
        """Write the tables (when ``out`` was given); the running episode is cut now."""
        self.driver.write_tables()

    def state(self) -> np.ndarray:
        """The world's global state now (float32 [state_dim], for centralized training)."""
        if self.state_dim < 1:
            raise NotImplementedError(f"world {self.scenario.world.name!r} has no global state")
        return np.asarray(self.driver.world.global_state(), dtype=np.float32).copy()

    # ---------------------------------------------------------------- internals
    def _replace_world(self, seed: int) -> None:
        self.driver.write_tables()
        scenario = self.scenario.with_overrides({"seed": seed})
        self.driver = EpisodeDriver(
            scenario, out=self.out, agents_as_processes=self.agents_as_processes
        )

    def check_action(self, name: str, action: Any) -> int:
        """``action`` of ready agent ``name`` as a macro-action index (validated, or replaced when
        outside its initiation set, per ``invalid_actions``)."""
        batch = self.driver.batch
        slot = self.lives.slot_of.get(name)
        hit = np.flatnonzero(batch.slots == slot) if batch is not None and slot is not None else ()
        if not len(hit):
            raise ValueError(f"{name!r} is not deciding now")
        return self._check_action(name, action, batch.mask[int(hit[0])])

    def _check_action(self, name: str, action: Any, mask: np.ndarray) -> int:
        a, replaced = allowed_action(action, mask, self.invalid_actions, name)
        self.replaced_actions += replaced
        return a

    def _format(self, obs: np.ndarray, mask: np.ndarray) -> Any:
        obs = np.array(obs, dtype=np.float32)
        if self.mask_place == "observation":
            return {"observation": obs, "action_mask": mask.astype(np.int8)}
        return obs

    def _info(self, time: float, tau: float, slot: int, mask: np.ndarray) -> dict[str, Any]:
        world = self.driver.world
        info: dict[str, Any] = {
            "time": time,
            "tau": tau,
            "slot": slot,
            "agent_id": int(world.sim_agents[slot].agent_id),
        }
        if self.mask_place == "info":
            info["action_mask"] = mask.astype(np.int8)
        return info

    def _epoch(self) -> Epoch:
        driver = self.driver
        lives = self.lives
        batch = driver.batch
        now = driver.world.now
        epoch = Epoch(time=now, ready=[])
        taus: dict[str, float] = {}
        for tb in driver.take_closed():
            for k, slot in enumerate(tb.agent_idx.tolist()):
                name = lives.name_of[slot]
                if name is None:  # a life that never decided has no macro-action to close
                    continue
                epoch.rewards[name] = epoch.rewards.get(name, 0.0) + float(tb.reward[k])
                taus[name] = float(tb.tau[k])
                if tb.done[k]:
                    t_end = float(tb.t_end[k])
                    self._end(epoch, name, bool(tb.terminal[k]), tb.obs_next[k], tb.mask_next[k])
                    epoch.infos[name] = self._info(t_end, taus[name], slot, tb.mask_next[k])
                    lives.retire(slot)
        if driver.over:  # lives cut while their decision was due: no macro-action was open
            for name in lives.live:
                slot = lives.slot_of[name]
                obs, mask = self._last[name]
                self._end(epoch, name, driver.terminal, obs, mask)
                epoch.infos[name] = self._info(now, taus.get(name, 0.0), slot, mask)
                lives.retire(slot)
            epoch.over = True
        if batch is not None:
            world = driver.world
            for k, slot in enumerate(batch.slots.tolist()):
                name = lives.name_of[slot]
                if name is None:
                    name = lives.announce(slot, int(world.sim_agents[slot].agent_id))
                    self._known.add(name)
                epoch.ready.append(name)
                epoch.observations[name] = self._format(batch.obs[k], batch.mask[k])
                self._last[name] = (batch.obs[k], batch.mask[k])
                epoch.rewards.setdefault(name, 0.0)
                epoch.infos[name] = self._info(now, taus.get(name, 0.0), slot, batch.mask[k])
        return epoch

    def _end(
        self, epoch: Epoch, name: str, terminal: bool, obs: np.ndarray, mask: np.ndarray
    ) -> None:
        """``name``'s life ended: terminated (a terminal state) or truncated; its last
        observation."""
        epoch.terminated[name] = terminal
        epoch.truncated[name] = not terminal
        epoch.rewards.setdefault(name, 0.0)
        epoch.observations[name] = self._format(obs, mask)
        self._last.pop(name, None)
