"""Krum: every agent adopts the one candidate that is closest to its nearest fellow candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from dmarl_des.errors import ConfigError
from dmarl_des.robust.magnitude import shrunk
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.ordering import sort_along
from dmarl_des.robust.rule import AggregationRule, check_count

TOO_FEW = ("refuse", "keep")
"""What Krum does for an agent with ``n ≤ 2f + 2`` candidates."""


@dataclass(frozen=True)
class Krum(AggregationRule):
    """Krum of Blanchard, El Mhamdi, Guerraoui and Stainer (NeurIPS 2017), per agent.

    Each agent's candidates are its own value and the values that arrived (``n`` of them). A
    candidate's score is the sum of squared Euclidean distances to its ``n − f − 2`` nearest other
    candidates; the agent adopts the candidate with the lowest score (ties: own value first, then
    CSR order). With at most ``f`` arbitrary candidates and ``n > 2f + 2`` the chosen vector stays
    close to the honest ones. An agent with ``n ≤ 2f + 2`` (few neighbours, or lost messages):
    ``too_few="refuse"`` (the default) raises ConfigError naming it; ``too_few="keep"`` lets it
    keep its own value for this call, which is what a running simulation wants.
    """

    f: int
    too_few: Literal["refuse", "keep"] = "refuse"
    name: ClassVar[str] = "krum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "f", check_count(self.name, "f", self.f))
        if self.too_few not in TOO_FEW:
            raise ConfigError(f"{self.name}.too_few", self.too_few, " or ".join(TOO_FEW))

    @property
    def min_candidates(self) -> int:
        """``2f + 3``: with fewer candidates an agent keeps its value (or the call refuses)."""
        return 2 * self.f + 3

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        counts = block.counts
        if self.too_few == "refuse":
            self._refuse_small(block, counts)
        chosen = self._choose(block)
        small = shrunk(block)  # agents whose squared distances would overflow: choose on a copy
        if small is not None:
            rows, scaled, _ = small
            chosen[rows] = self._choose(scaled)
        values = block.values
        adopted = values[torch.arange(values.shape[0], device=values.device), chosen]
        if self.too_few == "refuse":
            return adopted
        short = (counts < self.min_candidates).unsqueeze(1)
        return torch.where(short, values[:, 0], adopted)

    def _choose(self, block: NeighbourBlock) -> torch.Tensor:
        """Slot of the candidate each agent adopts, shape [B]."""
        counts = block.counts
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
        return torch.argmin(score, dim=1)

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
