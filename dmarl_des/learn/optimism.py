"""Optimistic updates for independent learners in coordination games (hysteretic weights, leaky advantages)."""

from __future__ import annotations

import torch


def hysteretic_weights(error: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-row loss weights: 1 where ``error = target − estimate ≥ 0``, ``beta`` where it is < 0.

    Weighting a squared (or Huber) error by these scales the step of a row whose target lies
    below the estimate by ``beta``: estimates rise at the full rate and fall at ``beta`` of it
    (hysteretic Q-learning, Matignon et al. 2007; Omidshafiei et al. 2017).
    """
    return torch.where(error < 0, torch.full_like(error, beta), torch.ones_like(error))


def leaky_advantage(advantage: torch.Tensor, slope: float) -> torch.Tensor:
    """``A`` where ``A ≥ 0``, ``slope · A`` where ``A < 0`` (optimistic policy gradient).

    With ``slope < 1`` an action that sometimes pays off (when the teammate cooperates) and
    usually fails is pushed down less than it is pushed up by its successes.
    """
    return torch.where(advantage < 0, advantage * slope, advantage)
