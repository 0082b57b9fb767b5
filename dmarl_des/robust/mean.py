"""Plain averaging: every agent takes the mean of its own value and the values that arrived."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from dmarl_des.robust.magnitude import average_where_overflowed
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.rule import AggregationRule


@dataclass(frozen=True)
class Mean(AggregationRule):
    """Uniform average of own + received values (gossip averaging; no robustness at all)."""

    name: ClassVar[str] = "mean"

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        weight = block.present.to(block.values.dtype).unsqueeze(2)
        fast = (block.values * weight).sum(dim=1) / weight.sum(dim=1)
        return average_where_overflowed(fast, block.values, block.present.unsqueeze(2))
