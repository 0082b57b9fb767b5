"""ClippedGossip: gossip averaging in which each neighbour's pull is clipped to a radius."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from dmarl_des.errors import ConfigError
from dmarl_des.robust.magnitude import combine_in_range
from dmarl_des.robust.neighbourhood import NeighbourBlock
from dmarl_des.robust.ordering import sort_along
from dmarl_des.robust.rule import AggregationRule


@dataclass(frozen=True)
class ClippedGossip(AggregationRule):
    """ClippedGossip of He, Karimireddy and Jaggi (2023), uniform weights.

    ``x_i ← x_i + Σ_j w_i · clip(x_j − x_i, τ_i)`` with ``clip(z, τ) = z · min(1, τ / ‖z‖)``, the
    sum over the ``m_i`` values that arrived and ``w_i = 1 / (1 + m_i)`` (``1 / (deg_i + 1)`` when
    all arrive). One neighbour moves agent ``i`` by at most ``w_i · τ_i`` whatever it sends; with
    ``τ = inf`` the step is plain gossip averaging (the ``mean`` rule).

    ``tau="auto"`` picks, per agent and round, the radius that leaves the ``m_i − ⌈δ·m_i⌉``
    closest neighbours unclipped: ``τ_i`` is the distance to the ``(m_i − ⌈δ·m_i⌉)``-th closest
    arrived neighbour (``0`` when that number is 0, i.e. the agent keeps its value). So the
    ``⌈δ·m_i⌉`` farthest neighbours, the likely attackers when at most a fraction ``δ`` of them
    are Byzantine, are pulled in to the radius of the honest-looking ones.
    """

    tau: float | Literal["auto"]
    delta: float = 0.25
    name: ClassVar[str] = "clipped_gossip"

    def __post_init__(self) -> None:
        tau = self.tau
        if tau != "auto":
            if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not tau > 0:
                allowed = 'a positive number (inf allowed) or "auto"'
                raise ConfigError(f"{self.name}.tau", tau, allowed)
            object.__setattr__(self, "tau", float(tau))
        delta = self.delta
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not 0 <= delta < 1:
            raise ConfigError(f"{self.name}.delta", delta, "a number in [0, 1)")
        object.__setattr__(self, "delta", float(delta))

    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        return combine_in_range(self._step, block)

    def _step(self, block: NeighbourBlock) -> torch.Tensor:
        """The update of every agent of ``block`` (whose values may be scaled: ``block.scale``)."""
        own = block.values[:, 0]  # [B, d]
        arrived = block.present[:, 1:]  # [B, W-1]
        pull = block.values[:, 1:] - own.unsqueeze(1)  # [B, W-1, d]
        length = torch.linalg.vector_norm(pull, dim=2)  # [B, W-1]
        n_arrived = arrived.sum(dim=1)  # [B]
        radius = self._radius(length, arrived, n_arrived, block.scale)  # [B, 1]
        scale = torch.where(length > radius, radius / length, length.new_ones(()))
        scale = torch.where(arrived, scale, length.new_zeros(()))
        step = (scale.unsqueeze(2) * pull).sum(dim=1)
        return own + step / (1 + n_arrived).to(own.dtype).unsqueeze(1)

    def _radius(
        self,
        length: torch.Tensor,
        arrived: torch.Tensor,
        n_arrived: torch.Tensor,
        scale: torch.Tensor | None,
    ) -> torch.Tensor:
        """Clipping radius of each agent, shape [B, 1] (``tau`` times the block's scale)."""
        if self.tau != "auto":
            radius = length.new_full((length.shape[0], 1), self.tau)
            return radius if scale is None else radius * scale.view(-1, 1)
        n_unclipped = n_arrived - torch.ceil(self.delta * n_arrived.double() - 1e-9).long()
        if length.shape[1] == 0:
            return length.new_zeros((length.shape[0], 1))
        ordered = sort_along(length.masked_fill(~arrived, torch.inf), dim=1)
        at = (n_unclipped - 1).clamp(min=0).unsqueeze(1)
        radius = ordered.gather(1, at)
        return torch.where(n_unclipped.unsqueeze(1) > 0, radius, radius.new_zeros(()))
