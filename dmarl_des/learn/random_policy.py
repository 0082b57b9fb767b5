"""A policy that picks uniformly among each agent's allowed macro-actions."""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.masking import check_mask


class RandomPolicy:
    """Uniform over allowed macro-actions, for a whole batch at once (Gumbel-max over zeros)."""

    def __init__(self, n_actions: int, rng: np.random.Generator) -> None:
        self.n_actions = int(n_actions)
        self.rng = rng

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        """One uniform allowed action a row; ``explore`` is ignored (random either way)."""
        mask = check_mask(mask, len(agent_idx), self.n_actions)
        scores = self.rng.gumbel(size=mask.shape)
        scores[~mask] = -np.inf
        return scores.argmax(axis=1).astype(np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Nothing to forget."""
