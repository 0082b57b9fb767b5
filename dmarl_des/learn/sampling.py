"""Choosing macro-actions from logits or Q-values: Gumbel-max sampling, greedy, ε-greedy."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dmarl_des.learn.masking import masked_argmax

_TINY = torch.finfo(torch.float32).tiny


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator, device: torch.device):
    """Standard Gumbel draws ``-log(-log(u))``, made on the CPU generator and moved to
    ``device`` (finite values; computed in place, the same values as out of place)."""
    g = torch.rand(shape, generator=generator).clamp_(min=_TINY).log_().neg_().log_().neg_()
    return g if device.type == "cpu" else g.to(device, non_blocking=True)


def sample_masked(
    logits: torch.Tensor, mask: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """One draw per row from softmax(logits) restricted to the mask (Gumbel-max; no Python loop)."""
    noise = gumbel_noise(tuple(logits.shape), generator, logits.device)
    return masked_argmax(logits + noise, mask)


def epsilon_greedy(
    q: torch.Tensor, mask: torch.Tensor, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """Greedy allowed action, replaced with probability ε by a uniform allowed action."""
    return epsilon_mixture(masked_argmax(q, mask), mask, epsilon, generator)


def epsilon_mixture(
    actions: torch.Tensor, mask: torch.Tensor, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """``actions`` drawn from a policy π, each replaced with probability ε by a uniform allowed
    action: draws from the mixture (1 − ε)·π + ε·uniform(mask)."""
    if epsilon <= 0.0:
        return actions
    uniform = sample_masked(torch.zeros(mask.shape, device=mask.device), mask, generator)
    explore = torch.rand(actions.shape[0], generator=generator).to(actions.device) < epsilon
    return torch.where(explore, uniform, actions)


def mixture_log_prob(log_pi: torch.Tensor, mask: torch.Tensor, epsilon: float) -> torch.Tensor:
    """log((1 − ε)·π(a) + ε / |allowed|) of the taken actions, from their ``log_pi`` [B] and the
    masks [B, A] (the log-probability under the ε-mixture behaviour)."""
    n_allowed = mask.sum(dim=1).to(log_pi.dtype)
    return torch.log((1.0 - epsilon) * log_pi.exp() + epsilon / n_allowed)


@dataclass(frozen=True, slots=True)
class LinearSchedule:
    """A value going linearly from ``start`` to ``end`` over ``steps`` steps, then held.

    ``per`` counts a step every ``per`` calls' worth of the counter: learners pass the number of
    agents, so that a schedule over decisions runs over *decisions per agent* (all agents'
    decisions / N) and lasts as many episodes whatever the swarm size.
    """

    start: float
    end: float
    steps: int
    per: int = 1

    def __call__(self, step: int) -> float:
        if self.steps <= 0:
            return self.end
        frac = min(max(step, 0) / self.per / self.steps, 1.0)
        return self.start + frac * (self.end - self.start)
