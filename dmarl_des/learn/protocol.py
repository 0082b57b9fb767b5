"""The contract between the simulator and decision makers: Policy, Learner, and the records they see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class TransitionBatch:
    """Squeezed macro-transitions of several agents, one row each (numpy arrays, row-aligned).

    ``reward`` is the discounted cumulative reward ``r_c = Σ γ^(t_k − t_start) r_k`` collected while
    the macro-action ran; a bootstrapped target weights the next value by ``gamma ** tau``.
    ``done`` is true when the episode ended (terminal or horizon) at ``t_end``; ``terminal`` is true
    only for a true terminal state (no bootstrap), false on a horizon cut-off.

    ``reward`` is the agent's own: the team's rewards plus its private ones. ``team_reward`` is
    set only for a learner that asks for it (``Learner.team_reward = True``, centralized
    training): the team-average reward squeezed over the same window, Σ γ^(t_k − t_start)
    (team_k + Σ_j own_j,k / N) over the N agent slots.
    """

    agent_idx: np.ndarray  # [B] int64, index of the agent in the world (0..N-1 for the episode)
    obs: np.ndarray  # [B, D] float32, observation when the macro-action was chosen
    action: np.ndarray  # [B] int64, macro-action index
    mask: np.ndarray  # [B, A] bool, initiation set at decision time (True = allowed)
    reward: np.ndarray  # [B] float64, r_c
    obs_next: np.ndarray  # [B, D] float32, observation when the macro-action ended
    mask_next: np.ndarray  # [B, A] bool, initiation set at the end
    tau: np.ndarray  # [B] float64, duration t_end - t_start
    done: np.ndarray  # [B] bool, episode over after this transition
    terminal: np.ndarray  # [B] bool, true terminal (no bootstrap)
    t_start: np.ndarray  # [B] float64
    t_end: np.ndarray  # [B] float64
    episode: int = 0
    team_reward: np.ndarray | None = None  # [B] float64, only when the learner asks

    def __len__(self) -> int:
        return int(self.agent_idx.shape[0])


@dataclass(frozen=True, slots=True)
class DecisionEpoch:
    """The joint view at one decision epoch: an instant at which at least one agent decides.

    Sent to learners that train centrally (``Learner.joint = True``). ``action`` holds every agent's
    current macro-action after the epoch's decisions (agents still running keep theirs).
    ``reward`` is the team reward accrued since the previous epoch, discounted from it; ``tau`` is the
    time since the previous epoch. ``state`` is the world's global state (training only).
    """

    time: float
    tau: float
    reward: float
    state: np.ndarray  # [S] float32
    obs: np.ndarray  # [N, D] float32, each agent's latest decision observation
    mask: np.ndarray  # [N, A] bool
    action: np.ndarray  # [N] int64
    deciding: np.ndarray  # [N] bool, agents that chose a new macro-action at this epoch
    alive: np.ndarray  # [N] bool
    done: bool
    terminal: bool
    episode: int = 0


@runtime_checkable
class Policy(Protocol):
    """Chooses macro-actions for a batch of agents in one call."""

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        """obs [B, D] float32, agent_idx [B] int64, mask [B, A] bool -> actions [B] int64 (allowed)."""
        ...

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Forget per-agent recurrent state: all agents (None, at episode start) or the given ones."""
        ...


@runtime_checkable
class Learner(Policy, Protocol):
    """A policy that also learns from squeezed macro-transitions inside the simulation.

    Optional attributes the simulator reads: ``team_reward`` (True: transitions carry the
    team-average reward, see ``TransitionBatch``) and, for learners whose agents learn with
    their neighbours, the ``Exchanging`` methods of ``dmarl_des.learn.exchange``.
    """

    joint: bool  # True: also wants DecisionEpoch records (centralized training)

    def observe(self, batch: TransitionBatch) -> None: ...

    def observe_epoch(self, epoch: DecisionEpoch) -> None: ...

    def ready(self) -> bool:
        """True when the learner's declared cadence says an update is due."""
        ...

    def update(self) -> dict[str, float]:
        """One update on the learner's device; returns the metrics of one `train` table row."""
        ...

    def end_episode(self, episode: int) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...
