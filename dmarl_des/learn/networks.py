"""Policy and Q networks whose parameters are stacked over parameter sets, run as one kernel.

Every weight has a leading dimension P: P = 1 when all agents share parameters, P = N when each
agent owns its own, P = G for per-group parameters. A batch of rows, each belonging to some set,
is served by one call whatever the mix of sets. Two layouts of that call, chosen per batch by
`plan_sets` from measured costs:

- *gather*: pick each row's weights by index (``index_select``) and run one batched matmul;
  cheapest when the batch holds few rows of many sets (a handful of agents deciding at once);
- *bucket*: place row j of set p at ``[p, rank]`` of a zero-padded ``[P, R, in]`` block, run every
  layer as one ``baddbmm`` against the stacked weights (no weight copies), and read the rows back
  at the end; cheapest when rows cover the sets densely (most agents deciding at one tick, replay
  minibatches, few groups).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn


@dataclass(frozen=True, slots=True)
class SetPlan:
    """How the rows of one batch map to parameter sets (computed once, used by every layer)."""

    sets: torch.Tensor  # [B] int64 parameter set of each row
    rank: torch.Tensor | None  # [B] position of the row among its set's rows (bucket layout)
    depth: int  # R: the largest number of rows of one set (bucket layout)

    def to_block(self, x: torch.Tensor, n_sets: int) -> torch.Tensor:
        """Rows [B, F] -> zero-padded block [P, R, F] (bucket layout)."""
        block = x.new_zeros(n_sets, self.depth, x.shape[-1])
        block[self.sets, self.rank] = x
        return block

    def from_block(self, block: torch.Tensor) -> torch.Tensor:
        """Block [P, R, F] -> rows [B, F] (bucket layout)."""
        return block[self.sets, self.rank]


def plan_sets(sets: torch.Tensor, n_sets: int) -> SetPlan | None:
    """The cheaper layout for rows ``sets`` over ``n_sets`` stacked sets (None when P = 1)."""
    if n_sets == 1:
        return None
    n_rows = int(sets.shape[0])
    if n_rows <= 16 or n_sets > 4 * n_rows:  # few rows or sparse cover: copying is cheap
        return SetPlan(sets, None, 0)
    sorted_sets, order = torch.sort(sets, stable=True)
    counts = torch.bincount(sorted_sets, minlength=n_sets)
    depth = int(counts.max())
    if n_sets * depth > 4 * n_rows:
        return SetPlan(sets, None, 0)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(sets)
    rank[order] = torch.arange(n_rows, device=sets.device) - starts[sorted_sets]
    return SetPlan(sets, rank, depth)


class StackedLinear(nn.Module):
    """One linear layer per parameter set: weight [P, in, out], bias [P, out]."""

    def __init__(
        self, n_sets: int, in_dim: int, out_dim: int, generator: torch.Generator, gain: float = 1.0
    ) -> None:
        super().__init__()
        bound = gain / math.sqrt(in_dim)
        weight = (torch.rand((n_sets, in_dim, out_dim), generator=generator) * 2.0 - 1.0) * bound
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(n_sets, out_dim))

    def forward(self, x: torch.Tensor, plan: SetPlan | None) -> torch.Tensor:
        """Rows [B, in] -> [B, out]; under a bucket plan, a block [P, R, in] -> [P, R, out]."""
        if plan is None:
            return torch.addmm(self.bias[0], x, self.weight[0])
        if plan.rank is None:
            weight = self.weight.index_select(0, plan.sets)
            bias = self.bias.index_select(0, plan.sets).unsqueeze(1)
            return torch.baddbmm(bias, x.unsqueeze(1), weight).squeeze(1)
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)


class StackedGRUCell(nn.Module):
    """A GRU cell per parameter set (gate order r, z, n as in torch.nn.GRUCell)."""

    def __init__(self, n_sets: int, in_dim: int, size: int, generator: torch.Generator) -> None:
        super().__init__()
        self.size = size
        self.input = StackedLinear(n_sets, in_dim, 3 * size, generator)
        self.recurrent = StackedLinear(n_sets, size, 3 * size, generator)

    def forward(self, x: torch.Tensor, h: torch.Tensor, plan: SetPlan | None) -> torch.Tensor:
        xi_r, xi_z, xi_n = self.input(x, plan).chunk(3, dim=-1)
        hh_r, hh_z, hh_n = self.recurrent(h, plan).chunk(3, dim=-1)
        reset = torch.sigmoid(xi_r + hh_r)
        update = torch.sigmoid(xi_z + hh_z)
        candidate = torch.tanh(xi_n + reset * hh_n)
        return (1.0 - update) * candidate + update * h


class AgentNet(nn.Module):
    """obs -> ReLU MLP -> (optional GRU cell) -> linear head, stacked over parameter sets."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int],
        *,
        recurrent: bool,
        n_sets: int,
        generator: torch.Generator,
        head_gain: float = 1.0,
    ) -> None:
        super().__init__()
        sizes = [in_dim, *hidden]
        self.n_sets = n_sets
        self.layers = nn.ModuleList(
            StackedLinear(n_sets, a, b, generator) for a, b in pairwise(sizes)
        )
        self.gru = StackedGRUCell(n_sets, sizes[-1], sizes[-1], generator) if recurrent else None
        self.head = StackedLinear(n_sets, sizes[-1], out_dim, generator, gain=head_gain)

    @property
    def state_size(self) -> int:
        """Size of the recurrent state (0 for a feed-forward net)."""
        return 0 if self.gru is None else self.gru.size

    def forward(
        self, x: torch.Tensor, plan: SetPlan | None, h: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Outputs [B, out] and the next recurrent state [B, H] (None for a feed-forward net)."""
        bucket = plan is not None and plan.rank is not None
        if self.gru is not None and h is None:
            h = x.new_zeros(x.shape[0], self.gru.size)
        if bucket:
            x = plan.to_block(x, self.n_sets)
            h = None if h is None else plan.to_block(h, self.n_sets)
        # sub-layers are called through .forward: no hooks live on them, and skipping
        # Module.__call__ saves a few microseconds per layer on every decision batch
        for layer in self.layers:
            x = torch.relu(layer.forward(x, plan))
        h_next = None
        if self.gru is not None:
            h_next = x = self.gru.forward(x, h, plan)
        out = self.head.forward(x, plan)
        if bucket:
            out = plan.from_block(out)
            h_next = None if h_next is None else plan.from_block(h_next)
        return out, h_next


def hidden_sizes(network: str, hidden: int) -> tuple[int, ...]:
    """Layer widths for a config: two dense layers for 'mlp', one dense layer + GRU for 'gru'."""
    return (hidden,) if network == "gru" else (hidden, hidden)


class HiddenState:
    """Each agent's recurrent state [N, H], carried from one of its decisions to the next."""

    def __init__(self, n_agents: int, size: int, device: torch.device) -> None:
        self.size = size
        self.h = torch.zeros(n_agents, size, device=device)

    def reset(self, agent_idx: torch.Tensor | None = None) -> None:
        """Zero every agent's state (None) or only the given agents'."""
        if agent_idx is None:
            self.h.zero_()
        else:
            self.h[agent_idx] = 0.0

    def get(self, agent_idx: torch.Tensor) -> torch.Tensor | None:
        return None if self.size == 0 else self.h.index_select(0, agent_idx)

    def set(self, agent_idx: torch.Tensor, h: torch.Tensor | None) -> None:
        if h is not None:
            self.h[agent_idx] = h
