"""Policy and Q networks whose parameters are stacked over parameter sets, run as one kernel.

A parameter set is one network's parameters: one shared by all agents (P = 1), one per agent
(P = N) or one per group (P = G). All the sets of a net are one matrix ``flat`` [P, F], a row per
set (F parameters of one network); each layer's weight [P, in, out] and bias [P, out] are views of
a range of its columns. So the parameters of a whole swarm are one tensor: an optimizer steps the
rows of the agents with data in one fused call (`stacked_adam`), a consensus round mixes rows with
one sparse product (`mixing`), and row i is the parameter vector agent i would send.

A batch of rows, each belonging to some set, is served by one call whatever the mix of sets. Two
layouts of that call, chosen per batch by `plan_sets` from measured costs:

- *gather*: pick each row's weights by index (``index_select``) and run one batched matmul;
  cheapest when the batch holds few rows of many sets (a handful of agents deciding at once);
- *bucket*: place row j of set p at ``[p, rank]`` of a zero-padded ``[P, R, in]`` block, run every
  layer as one ``baddbmm`` against the stacked weights (no weight copies), and read the rows back
  at the end; cheapest when rows cover the sets densely (most agents deciding at one tick, replay
  minibatches, few groups).

Training runs on the sets a minibatch touches only (`AgentNet.gather`): their K rows are copied
into a leaf ``theta`` [K, F], the forward and backward passes run on it, and the gradient is one
[K, F] matrix — the sets without data cost nothing and receive nothing.
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


@dataclass(frozen=True, slots=True)
class SetSelection:
    """The distinct parameter sets [K] (ascending) that a batch's rows use, and the layout of the
    rows over those K sets (None when K = 1)."""

    sets: torch.Tensor
    plan: SetPlan | None


def select_sets(set_of_row: torch.Tensor, n_sets: int) -> SetSelection:
    """The sets touched by rows whose parameter sets are ``set_of_row`` [B], out of ``n_sets``."""
    if n_sets == 1:
        return SetSelection(torch.zeros(1, dtype=torch.int64, device=set_of_row.device), None)
    sets, local = torch.unique(set_of_row, return_inverse=True)
    return SetSelection(sets, plan_sets(local, int(sets.shape[0])))


def stacked_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, plan: SetPlan | None
) -> torch.Tensor:
    """Rows [B, in] -> [B, out] (under a bucket plan, a block [P, R, in] -> [P, R, out]) with
    weight [P, in, out] and bias [P, out]; without a plan every row uses set 0."""
    if plan is None:
        return torch.addmm(bias[0], x, weight[0])
    if plan.rank is None:
        rows_weight = weight.index_select(0, plan.sets)
        rows_bias = bias.index_select(0, plan.sets).unsqueeze(1)
        return torch.baddbmm(rows_bias, x.unsqueeze(1), rows_weight).squeeze(1)
    return torch.baddbmm(bias.unsqueeze(1), x, weight)


class StackedLinear(nn.Module):
    """One linear layer per parameter set as a module of its own: weight [P, in, out], bias [P, out]."""

    def __init__(
        self, n_sets: int, in_dim: int, out_dim: int, generator: torch.Generator, gain: float = 1.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(_uniform_weight(n_sets, in_dim, out_dim, gain, generator))
        self.bias = nn.Parameter(torch.zeros(n_sets, out_dim))

    def forward(self, x: torch.Tensor, plan: SetPlan | None) -> torch.Tensor:
        """Rows [B, in] -> [B, out]; under a bucket plan, a block [P, R, in] -> [P, R, out]."""
        return stacked_linear(x, self.weight, self.bias, plan)


def _uniform_weight(
    n_sets: int, in_dim: int, out_dim: int, gain: float, generator: torch.Generator
) -> torch.Tensor:
    """Weights uniform in ±gain/√in (the initialization of every stacked layer)."""
    bound = gain / math.sqrt(in_dim)
    return (torch.rand((n_sets, in_dim, out_dim), generator=generator) * 2.0 - 1.0) * bound


Layer = tuple[torch.Tensor, torch.Tensor]
"""(weight [S, in, out], bias [S, out]) of one linear map over S parameter rows."""


def gru_cell(
    x: torch.Tensor, h: torch.Tensor, gates_in: Layer, gates_h: Layer, plan: SetPlan | None
) -> torch.Tensor:
    """One GRU step per row (gate order r, z, n as in torch.nn.GRUCell)."""
    xi_r, xi_z, xi_n = stacked_linear(x, *gates_in, plan).chunk(3, dim=-1)
    hh_r, hh_z, hh_n = stacked_linear(h, *gates_h, plan).chunk(3, dim=-1)
    reset = torch.sigmoid(xi_r + hh_r)
    update = torch.sigmoid(xi_z + hh_z)
    candidate = torch.tanh(xi_n + reset * hh_n)
    return (1.0 - update) * candidate + update * h


@dataclass(frozen=True, slots=True)
class LinearMap:
    """One linear map of a net: its name in state dicts and its sizes (weight, then bias, in a row)."""

    name: str
    in_dim: int
    out_dim: int


@dataclass(frozen=True, slots=True)
class LinearView:
    """One stacked linear map of a net: ``weight`` [P, in, out] and ``bias`` [P, out], views of
    the net's parameter matrix."""

    weight: torch.Tensor
    bias: torch.Tensor


@dataclass(frozen=True, slots=True)
class GRUView:
    """A net's GRU cell: its input and recurrent maps (views) and its state size."""

    input: LinearView
    recurrent: LinearView
    size: int


class AgentNet(nn.Module):
    """obs -> ReLU MLP -> (optional GRU cell) -> linear head, stacked over parameter sets.

    The parameters are one matrix ``flat`` [P, F]; state dicts still hold one weight and one bias
    per linear map (``layers.k``, ``gru.input``, ``gru.recurrent``, ``head``), views of it.
    """

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
        self.n_hidden = len(hidden)
        self.state_size = sizes[-1] if recurrent else 0  # recurrent state size (0: feed-forward)
        maps = [(f"layers.{k}", a, b, 1.0) for k, (a, b) in enumerate(pairwise(sizes))]
        if recurrent:
            size = sizes[-1]
            maps += [("gru.input", size, 3 * size, 1.0), ("gru.recurrent", size, 3 * size, 1.0)]
        maps.append(("head", sizes[-1], out_dim, head_gain))
        self.maps = tuple(LinearMap(name, a, b) for name, a, b, _ in maps)
        columns = []
        for _, a, b, gain in maps:  # drawn in layer order: the same draws as separate layers
            columns += [
                _uniform_weight(n_sets, a, b, gain, generator).reshape(n_sets, -1),
                torch.zeros(n_sets, b),
            ]
        self.flat = nn.Parameter(torch.cat(columns, dim=1))
        self._split = [n for m in self.maps for n in (m.in_dim * m.out_dim, m.out_dim)]

    @property
    def n_params(self) -> int:
        """F: the number of parameters of one set (the length of a row of ``flat``)."""
        return int(self.flat.shape[1])

    def linears(self, theta: torch.Tensor | None = None) -> list[Layer]:
        """(weight [S, in, out], bias [S, out]) of every linear map, in order, as views of the
        parameter rows ``theta`` [S, F] (default: ``flat``)."""
        parts = (self.flat if theta is None else theta).split(self._split, dim=1)
        return [
            (parts[2 * k].view(-1, m.in_dim, m.out_dim), parts[2 * k + 1])
            for k, m in enumerate(self.maps)
        ]

    @property
    def layers(self) -> list[LinearView]:
        """The hidden layers (views of ``flat``: writing into them writes the parameters)."""
        return [LinearView(*layer) for layer in self.linears()[: self.n_hidden]]

    @property
    def gru(self) -> GRUView | None:
        """The GRU cell's input and recurrent maps (views of ``flat``), None if feed-forward."""
        if not self.state_size:
            return None
        gates_in, gates_h = self.linears()[-3:-1]
        return GRUView(LinearView(*gates_in), LinearView(*gates_h), self.state_size)

    @property
    def head(self) -> LinearView:
        """The output layer (views of ``flat``: writing into them writes the parameters)."""
        return LinearView(*self.linears()[-1])

    def forward(
        self,
        x: torch.Tensor,
        plan: SetPlan | None,
        h: torch.Tensor | None = None,
        layers: Sequence[Layer] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Outputs [B, out] and the next recurrent state [B, H] (None for a feed-forward net).

        ``layers``, if given, replace the views of ``flat`` (e.g. ``self.linears(theta)`` of
        gathered rows ``theta`` [S, F]; ``plan`` then maps rows to those S sets).
        """
        layers = self.linears() if layers is None else layers
        n_sets = int(layers[0][0].shape[0])
        bucket = plan is not None and plan.rank is not None
        if self.state_size and h is None:
            h = x.new_zeros(x.shape[0], self.state_size)
        if bucket:
            x = plan.to_block(x, n_sets)
            h = None if h is None else plan.to_block(h, n_sets)
        for weight, bias in layers[: self.n_hidden]:
            x = stacked_linear(x, weight, bias, plan).relu_()
        h_next = None
        if self.state_size:
            h_next = x = gru_cell(x, h, layers[-3], layers[-2], plan)
        out = stacked_linear(x, *layers[-1], plan)
        if bucket:
            out = plan.from_block(out)
            h_next = None if h_next is None else plan.from_block(h_next)
        return out, h_next

    def gather(self, selection: SetSelection, *, trainable: bool = True) -> GatheredSets:
        """The rows of the selected sets, for one update (see `GatheredSets`)."""
        if selection.sets.shape[0] == self.n_sets and self.flat.requires_grad == trainable:
            # every set: the matrix itself (ascending sets are all rows in order), no copy
            return GatheredSets(self, selection, self.flat if trainable else self.flat.detach())
        theta = self.flat.detach().index_select(0, selection.sets)
        return GatheredSets(self, selection, theta.requires_grad_(trainable))

    # state dicts keep one entry per weight and bias (the layout every checkpoint has)
    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        flat = self.flat if keep_vars else self.flat.detach()
        for m, (weight, bias) in zip(self.maps, self.linears(flat), strict=True):
            destination[f"{prefix}{m.name}.weight"] = weight
            destination[f"{prefix}{m.name}.bias"] = bias

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        own = {}
        for m, (weight, bias) in zip(self.maps, self.linears(self.flat.detach()), strict=True):
            own[f"{prefix}{m.name}.weight"] = weight
            own[f"{prefix}{m.name}.bias"] = bias
        for key, view in own.items():
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if tuple(value.shape) != tuple(view.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(value.shape)}, "
                    f"the shape in the current model is {tuple(view.shape)}"
                )
                continue
            with torch.no_grad():
                view.copy_(value)
        if strict:
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix) and k not in own)


@dataclass(frozen=True, slots=True)
class GatheredSets:
    """The parameter sets one minibatch touches, gathered from a stacked net for one update.

    ``theta`` [K, F] holds rows ``selection.sets`` of ``net.flat``: a copy of them, or ``flat``
    itself when the minibatch touches every set. When trainable it is a leaf: the loss's gradient
    lands in ``theta.grad`` [K, F], one row per touched set, for an optimizer to apply to those
    rows of ``flat`` (`stacked_adam.step_sets`); the sets the minibatch does not touch are not in
    the forward or backward pass at all.
    """

    net: AgentNet
    selection: SetSelection
    theta: torch.Tensor

    @property
    def sets(self) -> torch.Tensor:
        return self.selection.sets

    def __call__(
        self, x: torch.Tensor, h: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The net's forward pass on rows ``x`` of the selection's batch, with these parameters."""
        return self.net.forward(x, self.selection.plan, h, self.net.linears(self.theta))

    def of(self, net: AgentNet) -> GatheredSets:
        """The same sets of another net of the same shape (a target net), without gradient."""
        return net.gather(self.selection, trainable=False)


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
