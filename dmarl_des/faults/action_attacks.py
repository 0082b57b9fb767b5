"""Byzantine action attacks: the decisions of Byzantine agents are replaced before they act."""

from __future__ import annotations

from typing import Literal

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.faults.target import FaultTarget, FaultyAgent


class ActionAttack:
    """An action override (``fn(agent_idx, actions, mask) -> actions``) for Byzantine agents.

    Only the rows of agents marked with :meth:`corrupt` (and still Byzantine, in the same slot)
    change; the others are returned as the policy chose them.

    * ``random``: a uniformly random allowed action per row (one uniform draw per action and row
      of the Byzantine rows, from the action-attack rng; rows with no allowed action are kept);
    * ``adversarial``: the world's ``adversarial_actions(agent_idx, mask)`` for those rows; when the
      world returns None it falls back to ``random``.
    """

    def __init__(
        self,
        mode: Literal["random", "adversarial"],
        target: FaultTarget,
        rng: np.random.Generator,
    ) -> None:
        if mode not in ("random", "adversarial"):
            raise ConfigError("faults.byzantine.actions", mode, "none, random or adversarial")
        n = len(target.sim_agents)
        self.mode = mode
        self.target = target
        self.rng = rng
        self.marked = np.zeros(n, dtype=bool)
        self._agent: list[FaultyAgent | None] = [None] * n

    def corrupt(self, idx: int) -> None:
        """From now on, the agent in slot ``idx`` acts as a Byzantine agent."""
        self.marked[idx] = True
        self._agent[idx] = self.target.sim_agents[idx]

    def __call__(self, agent_idx: np.ndarray, actions: np.ndarray, mask: np.ndarray) -> np.ndarray:
        agent_idx = np.asarray(agent_idx, dtype=np.int64)
        rows = np.flatnonzero(self.marked[agent_idx])
        if rows.size == 0:
            return actions
        agents = self.target.sim_agents
        rows = np.array(
            [
                r
                for r in rows.tolist()
                if agents[agent_idx[r]] is self._agent[agent_idx[r]]
                and agents[agent_idx[r]].role == "byzantine"
            ],
            dtype=np.int64,
        )
        if rows.size == 0:
            return actions
        mask = np.asarray(mask, dtype=bool)
        out = np.array(actions, dtype=np.int64, copy=True)
        chosen = None
        if self.mode == "adversarial":
            chosen = self.target.adversarial_actions(agent_idx[rows], mask[rows])
            if chosen is not None:
                chosen = np.asarray(chosen)
                n_actions = mask.shape[1]
                if chosen.shape != (rows.size,) or chosen.dtype.kind not in "iu":
                    raise ConfigError(
                        "adversarial_actions", chosen, f"an integer array of shape [{rows.size}]"
                    )
                if chosen.size and (chosen.min() < 0 or chosen.max() >= n_actions):
                    raise ConfigError(
                        "adversarial_actions", chosen.tolist(), f"actions in [0, {n_actions})"
                    )
        if chosen is None:
            chosen = _random_allowed(mask[rows], out[rows], self.rng)
        out[rows] = chosen
        return out


def _random_allowed(mask: np.ndarray, fallback: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random allowed action per row (the fallback where nothing is allowed)."""
    scores = rng.random(mask.shape)
    scores[~mask] = -1.0
    picked = scores.argmax(axis=1).astype(np.int64)
    return np.where(mask.any(axis=1), picked, fallback)
