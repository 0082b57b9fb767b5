"""Krum: every agent adopts the one candidate that is closest to its nearest fellow candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from dmarl_des.errors import ConfigError
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.ordering import sort_along
from dmarl_des.robust.rule import AggregationRule, check_count


@dataclass(frozen=True)
class Krum(AggregationRule):
    """Krum of Blanchard, El Mhamdi, Guerraoui and Stainer (NeurIPS 2017), per agent.

    Each agent's candidates are its own value and the values that arrived (``n`` of them). A
    candidate's score is the sum of squared Euclidean distances to its ``n − f − 2`` nearest other
    candidates; the agent adopts the candidate with the lowest score (ties: own value first, then
    CSR order). With at most ``f`` arbitrary candidates and ``n > 2f + 2`` the chosen vector stays
    close to the honest ones. The rule refuses (ConfigError) when any agent has ``n ≤ 2f + 2``.
    """

    f: int
    name: ClassVar[str] = "krum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "f", check_count(self.name, "f", self.f))

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        counts = block.counts
        self._refuse_small(block, counts)
        values, present = block.values, block.present
        distance = torch.cdist(values, values, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        width = values.shape[1]
        is_self = torch.eye(width, dtype=torch.bool, device=values.device)
        absent_or_self = ~present.unsqueeze(1) | is_self
        ordered = sort_along(distance.masked_fill(absent_or_self, torch.inf), dim=2)
        n_nearest = (counts - self.f - 2).view(-1, 1, 1)
        position = torch.arange(width, device=values.device).view(1, 1, -1)
        score = torch.where(position < n_nearest, ordered, ordered.new_zeros(())).sum(dim=2)
        score = score.masked_fill(~present, torch.inf)
        chosen = torch.argmin(score, dim=1)
        return values[torch.arange(values.shape[0], device=values.device), chosen]

    def _refuse_small(self, block: NeighbourBlock, counts: torch.Tensor) -> None:
        """Raise ConfigError naming n and f if some agent has n ≤ 2f + 2 candidates."""
        smallest = int(counts.min())
        if smallest <= 2 * self.f + 2:
            agent = int(block.agents[int(torch.argmin(counts))])
            raise ConfigError(
                "krum.f",
                self.f,
                f"n > 2f + 2 = {2 * self.f + 2} candidates for every agent, but agent {agent} "
                f"has n = {smallest} (own value + values that arrived); n must exceed 2f + 2",
            )
