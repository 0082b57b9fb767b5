"""Ascending sort of many short rows: numpy sorts on CPU (several times faster), torch elsewhere."""

from __future__ import annotations

import numpy as np
import torch


def sort_along(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Return ``values`` sorted ascending along ``dim`` (same dtype and device).

    On CPU, for tensors that need no gradient, numpy sorts short rows several times faster than
    torch does; elsewhere (an accelerator, or autograd) torch sorts.
    """
    if values.device.type == "cpu" and not values.requires_grad:
        return torch.from_numpy(np.sort(values.numpy(), axis=dim))
    return torch.sort(values, dim=dim).values
