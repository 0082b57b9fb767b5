"""W-MSR (weighted mean-subsequence-reduced): resilient consensus, coordinate by coordinate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from dmarl_des.robust.magnitude import average_where_overflowed
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.ordering import sort_along
from dmarl_des.robust.rule import AggregationRule, check_count


@dataclass(frozen=True)
class WMSR(AggregationRule):
    """W-MSR of LeBlanc, Zhang, Koutsoukos and Sundaram (IEEE JSAC 2013), uniform weights.

    Per coordinate, among the neighbours' values that arrived: of those strictly larger than the
    agent's own value, the ``f`` largest are removed (all of them if there are fewer than ``f``);
    likewise the ``f`` smallest of those strictly smaller. The new value is the uniform average of
    the own value and the remaining neighbour values (weight ``1 / (1 + kept)`` each).

    Guarantees (F-total or F-local adversaries, at most ``f`` in any honest neighbourhood): every
    kept value lies within the honest values the agent sees, so the honest maximum never rises and
    the honest minimum never falls; on a (2f+1)-robust graph the honest agents reach agreement
    inside the range of their initial values.
    """

    f: int
    name: ClassVar[str] = "wmsr"

    def __post_init__(self) -> None:
        object.__setattr__(self, "f", check_count(self.name, "f", self.f))

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        own = block.values[:, 0]  # [B, d]
        values = block.values[:, 1:]  # [B, W-1, d]
        arrived = block.present[:, 1:].unsqueeze(2)  # [B, W-1, 1]
        n_larger = (arrived & (values > own.unsqueeze(1))).sum(dim=1)  # [B, d]
        n_smaller = (arrived & (values < own.unsqueeze(1))).sum(dim=1)
        n_arrived = arrived.sum(dim=1)  # [B, 1]
        ordered = sort_along(values.masked_fill(~arrived, torch.inf), dim=1)
        # Sorted ascending, the values smaller than own come first and the larger ones last.
        position = torch.arange(values.shape[1], device=values.device).view(1, -1, 1)
        first_kept = n_smaller.clamp(max=self.f).unsqueeze(1)
        end_kept = (n_arrived - n_larger.clamp(max=self.f)).unsqueeze(1)
        keep = (position >= first_kept) & (position < end_kept)
        total = own + torch.where(keep, ordered, ordered.new_zeros(())).sum(dim=1)
        new = total / (1 + keep.sum(dim=1)).to(own.dtype)
        if bool(torch.isfinite(new).all()):
            return new
        with_own = torch.cat([own.unsqueeze(1), ordered], dim=1)
        kept = torch.cat([torch.ones_like(keep[:, :1]), keep.expand_as(ordered)], dim=1)
        return average_where_overflowed(new, with_own, kept)
