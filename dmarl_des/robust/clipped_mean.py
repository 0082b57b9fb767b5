"""Clipped mean around the own value: the resilient aggregation of Figura, Lin, Liu and Gupta."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from dmarl_des.robust.magnitude import average_where_overflowed
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.ordering import sort_along
from dmarl_des.robust.rule import AggregationRule, check_count


@dataclass(frozen=True)
class ClippedMean(AggregationRule):
    """The resilient aggregate of Figura et al.'s projection-based consensus, coordinate-wise.

    Per coordinate, with the agent's own value ``v_0`` and the ``m`` neighbour values that
    arrived, sorted ascending ``v_(1) ≤ … ≤ v_(m)``::

        lower = min(v_0, v_(h+1))      upper = max(v_0, v_(m−h))
        new   = (v_0 + Σ_k clip(v_k, lower, upper)) / (1 + m)

    (``v_(h+1)`` is the smallest value left once the ``h`` smallest are set aside, ``v_(m−h)``
    the largest left once the ``h`` largest are). With fewer than ``h + 1`` neighbour values the
    missing order statistic is the own value, so the agent keeps ``v_0``. ``h = 0`` clips
    nothing: the plain average (the ``mean`` rule). Unlike a trimmed mean nothing is dropped:
    an extreme value still counts, pulled in to the bound, and the weights stay ``1 / (1 + m)``.

    Guarantee: with at most ``h`` arbitrary neighbour values, every coordinate of the result lies
    in the range of the honest candidates (the own value and the honest neighbours'): at least
    one of the ``h + 1`` smallest values is honest, so ``v_(h+1)`` is at least the honest
    minimum, and likewise ``v_(m−h)`` is at most the honest maximum.
    """

    h: int
    name: ClassVar[str] = "clipped_mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "h", check_count(self.name, "h", self.h))

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        own = block.values[:, 0]  # [B, d]
        values = block.values[:, 1:]  # [B, W-1, d]
        arrived = block.present[:, 1:].unsqueeze(2)  # [B, W-1, 1]
        m = arrived.sum(dim=1)  # [B, 1]
        if values.shape[1] == 0:
            return own.clone()
        ordered = sort_along(values.masked_fill(~arrived, torch.inf), dim=1)
        d = own.shape[1]
        low_at = torch.full_like(m, self.h).clamp(max=values.shape[1] - 1)
        high_at = (m - 1 - self.h).clamp(min=0)
        low_stat = ordered.gather(1, low_at.unsqueeze(1).expand(-1, 1, d)).squeeze(1)
        high_stat = ordered.gather(1, high_at.unsqueeze(1).expand(-1, 1, d)).squeeze(1)
        enough = m > self.h  # [B, 1]: the order statistics exist
        lower = torch.where(enough, torch.minimum(own, low_stat), own)
        upper = torch.where(enough, torch.maximum(own, high_stat), own)
        clipped = torch.minimum(torch.maximum(values, lower.unsqueeze(1)), upper.unsqueeze(1))
        clipped = torch.where(arrived, clipped, clipped.new_zeros(()))
        total = own + clipped.sum(dim=1)
        new = total / (1 + m).to(own.dtype)
        if bool(torch.isfinite(new).all()):
            return new
        with_own = torch.cat([own.unsqueeze(1), clipped], dim=1)
        kept = torch.cat([torch.ones_like(arrived[:, :1]), arrived], dim=1)
        return average_where_overflowed(new, with_own, kept)
