"""Decision batches and initiation masks: checks, and keeping masked actions out of every choice."""

from __future__ import annotations

import numpy as np
import torch

from dmarl_des.errors import ConfigError

MASKED_LOGIT = -1e9
"""Finite stand-in for -inf in logits, so softmax, log-probabilities and entropy stay finite."""


def check_mask(mask: np.ndarray, n_rows: int, n_actions: int) -> np.ndarray:
    """The mask as a bool [n_rows, n_actions] array; a ConfigError if a row allows no action."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise ConfigError("mask", f"dtype {mask.dtype}", "a bool array (True = allowed)")
    if mask.shape != (n_rows, n_actions):
        raise ConfigError("mask", f"shape {mask.shape}", f"shape ({n_rows}, {n_actions})")
    empty = ~mask.any(axis=1)
    if empty.any():
        rows = np.flatnonzero(empty)
        raise ConfigError(
            "mask", f"rows {rows[:8].tolist()} allow no action", "at least one allowed action a row"
        )
    return mask


def check_decision_batch(
    obs: np.ndarray,
    agent_idx: np.ndarray,
    mask: np.ndarray,
    obs_dim: int,
    n_actions: int,
    n_agents: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(obs float32 [B, D], agent_idx int64 [B], mask bool [B, A]), or a ConfigError."""
    agent_idx = np.asarray(agent_idx, dtype=np.int64).reshape(-1)
    n_rows = agent_idx.shape[0]
    obs = np.ascontiguousarray(obs, dtype=np.float32)
    if obs.shape != (n_rows, obs_dim):
        raise ConfigError("obs", f"shape {obs.shape}", f"shape ({n_rows}, {obs_dim})")
    if n_rows and (agent_idx.min() < 0 or agent_idx.max() >= n_agents):
        raise ConfigError(
            "agent_idx",
            agent_idx[(agent_idx < 0) | (agent_idx >= n_agents)][:8],
            f"agent indices in 0..{n_agents - 1}",
        )
    return obs, agent_idx, check_mask(mask, n_rows, n_actions)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits with masked actions set to MASKED_LOGIT (probability exactly zero after softmax)."""
    return logits.masked_fill(~mask, MASKED_LOGIT)


def masked_argmax(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Index of the largest allowed value of each row (masked entries are -inf, never chosen)."""
    return values.masked_fill(~mask, float("-inf")).argmax(dim=-1)
