"""Coordinate-wise order statistics: the median and the trimmed mean of own + received values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from dmarl_des.robust.magnitude import average_where_overflowed
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.ordering import sort_along
from dmarl_des.robust.rule import AggregationRule, check_count


def sorted_candidates(block: NeighbourBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each coordinate of each agent's candidates ascending, padding last.

    Returns ``(sorted [B, W, d], counts [B])``: positions ``0 .. counts - 1`` of every coordinate
    hold the candidates, the rest hold ``+inf``.
    """
    padded = block.values.masked_fill(~block.present.unsqueeze(2), torch.inf)
    return sort_along(padded, dim=1), block.counts


def median_of_sorted(ordered: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Median of the first ``counts`` sorted entries per agent and coordinate, shape ``[B, d]``.

    With an even count it is the mean of the two middle entries (halved before adding where
    their sum would overflow).
    """
    d = ordered.shape[2]
    low = ordered.gather(1, ((counts - 1) // 2).view(-1, 1, 1).expand(-1, 1, d)).squeeze(1)
    high = ordered.gather(1, (counts // 2).view(-1, 1, 1).expand(-1, 1, d)).squeeze(1)
    middle = 0.5 * (low + high)
    if bool(torch.isfinite(middle).all()):
        return middle
    return torch.where(torch.isfinite(middle), middle, 0.5 * low + 0.5 * high)


@dataclass(frozen=True)
class Median(AggregationRule):
    """Coordinate-wise median of own + received values.

    With ``n`` candidates of which fewer than ``n / 2`` are arbitrary, every coordinate of the
    result lies between the smallest and the largest honest value of that coordinate.
    """

    name: ClassVar[str] = "median"

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        return median_of_sorted(*sorted_candidates(block))


@dataclass(frozen=True)
class TrimmedMean(AggregationRule):
    """Coordinate-wise trimmed mean: drop the ``b`` largest and ``b`` smallest, average the rest.

    With ``n ≥ 2b + 1`` candidates of which at most ``b`` are arbitrary, every coordinate of the
    result lies in the range of the honest values of that coordinate. An agent with fewer than
    ``2b + 1`` candidates (few neighbours, or lost messages) falls back to their coordinate-wise
    median, which keeps that guarantee whenever fewer than half of them are arbitrary.
    """

    b: int
    name: ClassVar[str] = "trimmed_mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "b", check_count(self.name, "b", self.b))

    @property
    def min_candidates(self) -> int:
        """``2b + 1``: with fewer candidates an agent takes their median."""
        return 2 * self.b + 1

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        ordered, counts = sorted_candidates(block)
        width = ordered.shape[1]
        position = torch.arange(width, device=ordered.device).view(1, -1, 1)
        kept_end = (counts - self.b).view(-1, 1, 1)
        keep = (position >= self.b) & (position < kept_end)
        n_kept = (counts - 2 * self.b).clamp(min=1).to(ordered.dtype).unsqueeze(1)
        trimmed = torch.where(keep, ordered, ordered.new_zeros(())).sum(dim=1) / n_kept
        trimmed = average_where_overflowed(trimmed, ordered, keep)
        too_few = (counts < 2 * self.b + 1).unsqueeze(1)
        return torch.where(too_few, median_of_sorted(ordered, counts), trimmed)
