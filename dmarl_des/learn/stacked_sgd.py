"""Plain SGD on the rows of a stacked parameter matrix, and per-set loss weights."""

from __future__ import annotations

import torch


class StackedSGD:
    """Plain SGD on the rows of ``param`` [P, F]: θ_i ← θ_i − lr · g_i for the rows given."""

    def __init__(self, param: torch.Tensor, lr: float) -> None:
        self.param, self.lr = param, float(lr)

    @torch.no_grad()
    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        self.param.index_add_(0, rows, grad, alpha=-self.lr)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Stateless."""


def per_set_weights(sets: torch.Tensor) -> torch.Tensor:
    """1 / (rows of its set) for every row: a sum over rows is then the sum of each set's mean."""
    counts = torch.bincount(sets)
    return 1.0 / counts[sets].float()
