"""Neighbourhoods in CSR form: checked once, then laid out as dense padded blocks of candidates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dmarl_des.errors import ConfigError

Array = np.ndarray | torch.Tensor
"""Values: a numpy array or a torch tensor; rules return the same kind on the same device."""


@dataclass(frozen=True, slots=True)
class NeighbourBlock:
    """Agents of similar degree, each with its candidate values padded to one common width.

    Slot 0 of ``values`` is the agent's own value; slots ``1..deg`` hold what it received from its
    neighbours in CSR order; the rest is padding. ``present`` is True where a slot holds a value
    that arrived this round (slot 0 always). Slots that are not present hold zeros, so masked sums
    never meet a NaN or an infinity.

    ``scale`` (None: 1) is a power of two per agent by which ``values`` were multiplied because
    the candidates were too large to combine directly (see ``robust.magnitude``); a rule with a
    parameter in value units multiplies it by ``scale`` as well.
    """

    agents: torch.Tensor  # [B] int64, agent ids, on the values' device
    values: torch.Tensor  # [B, W, d] float
    present: torch.Tensor  # [B, W] bool
    scale: torch.Tensor | None = None  # [B] float, same dtype as values

    @property
    def counts(self) -> torch.Tensor:
        """Number of candidates of each agent (own value + values that arrived), shape [B]."""
        return self.present.sum(dim=1)


@dataclass(frozen=True, slots=True)
class Neighbourhoods:
    """Checked inputs of one aggregation round: own values, received values and what arrived.

    A received row with any non-finite coordinate counts as not arrived, exactly like
    ``valid=False``: a NaN or an infinity carries no information a rule could use safely.
    """

    x: torch.Tensor  # [N, d]
    indptr: np.ndarray  # [N+1] int64
    received: torch.Tensor  # [nnz, d], same dtype and device as x
    arrived: torch.Tensor  # [nnz] bool, on x's device
    restore: Callable[[torch.Tensor], Array]

    @classmethod
    def check(
        cls,
        x: Array,
        indptr: Any,
        indices: Any,
        *,
        received: Array | None = None,
        valid: Any = None,
    ) -> Neighbourhoods:
        """Validate the arrays of one round and bring them to torch on ``x``'s device."""
        x_t, restore = _values_as_tensor(x)
        n_agents = x_t.shape[0]
        indptr_np = _index_array(indptr, "indptr")
        indices_np = _index_array(indices, "indices")
        _check_csr(indptr_np, indices_np, n_agents)
        nnz = indices_np.shape[0]
        device = x_t.device
        if received is None:
            received_t = x_t[_from_numpy(indices_np).to(device)]
        else:
            received_t = _received_as_tensor(received, x_t, nnz)
        arrived = torch.isfinite(received_t).all(dim=1)
        if valid is not None:
            arrived &= _valid_as_tensor(valid, nnz, device)
        return cls(x_t, indptr_np, received_t, arrived, restore)

    def blocks(self) -> Iterator[NeighbourBlock]:
        """Yield the agents grouped by degree class, each group padded to its largest degree.

        Degree classes are powers of two (width ``1 + deg`` rounded up), so padding at most doubles
        the memory of a block whatever the degree distribution; a regular graph is one block.
        """
        degree = np.diff(self.indptr)
        degree_class = np.frexp(degree.astype(np.float64))[1]  # 0 for deg 0, else bit length
        rows = np.repeat(np.arange(degree.shape[0], dtype=np.int64), degree)
        slot = 1 + np.arange(rows.shape[0], dtype=np.int64) - self.indptr[rows]
        device = self.x.device
        for cls_id in np.unique(degree_class):
            in_class = degree_class == cls_id
            agents = np.flatnonzero(in_class)
            width = 1 + int(degree[agents].max())
            local = np.cumsum(in_class) - 1  # position of each agent inside its block
            edges = np.flatnonzero(in_class[rows])
            edges_t = torch.from_numpy(edges).to(device)
            at_row = torch.from_numpy(local[rows[edges]]).to(device)
            at_slot = torch.from_numpy(slot[edges]).to(device)
            agents_t = torch.from_numpy(agents).to(device)
            dim = self.x.shape[1]
            values = self.x.new_zeros((agents.shape[0], width, dim))
            values[:, 0] = self.x[agents_t]
            arrived = self.arrived[edges_t]
            values[at_row, at_slot] = torch.where(
                arrived.unsqueeze(1), self.received[edges_t], values.new_zeros(())
            )
            present = torch.zeros((agents.shape[0], width), dtype=torch.bool, device=device)
            present[:, 0] = True
            present[at_row, at_slot] = arrived
            yield NeighbourBlock(agents_t, values, present)


def _values_as_tensor(x: Array) -> tuple[torch.Tensor, Callable[[torch.Tensor], Array]]:
    """Return ``x`` as a 2-D floating tensor, and a function giving results back in x's kind."""
    if isinstance(x, torch.Tensor):
        x_t = x if x.is_floating_point() else x.to(torch.float64)
        as_numpy = False
    else:
        x_np = np.asarray(x)
        if x_np.dtype.kind not in "biuf":
            raise ConfigError("x", f"array of dtype {x_np.dtype}", "a real-valued [N, d] array")
        if x_np.dtype.kind != "f":
            x_np = x_np.astype(np.float64)
        x_t = _from_numpy(x_np)
        as_numpy = True
    if x_t.ndim not in (1, 2):
        raise ConfigError("x", f"array of shape {tuple(x_t.shape)}", "shape [N, d] or [N]")
    flat = x_t.ndim == 1
    if flat:
        x_t = x_t.unsqueeze(1)

    def restore(out: torch.Tensor) -> Array:
        if flat:
            out = out.squeeze(1)
        return out.numpy() if as_numpy else out

    return x_t, restore


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    """Share a numpy array's memory with torch (copying only read-only or strided arrays)."""
    if not a.flags.writeable or not a.flags.c_contiguous:
        a = np.array(a, order="C")
    return torch.from_numpy(a)


def _index_array(a: Any, field: str) -> np.ndarray:
    """Return a 1-D int64 numpy copy of an index array (numpy, list or torch)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        got = f"array of shape {a.shape} and dtype {a.dtype}"
        raise ConfigError(field, got, "a 1-D integer array")
    return a.astype(np.int64, copy=False)


def _check_csr(indptr: np.ndarray, indices: np.ndarray, n_agents: int) -> None:
    """Raise ConfigError unless (indptr, indices) describe neighbourhoods of ``n_agents`` agents."""
    if indptr.shape[0] != n_agents + 1:
        raise ConfigError(
            "indptr", f"length {indptr.shape[0]}", f"length N + 1 = {n_agents + 1} (x has N rows)"
        )
    if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
        raise ConfigError(
            "indptr",
            f"[{indptr[0]}, …, {indptr[-1]}]",
            f"non-decreasing offsets from 0 to len(indices) = {indices.shape[0]}",
        )
    if indices.size and (indices.min() < 0 or indices.max() >= n_agents):
        bad = indices[(indices < 0) | (indices >= n_agents)][0]
        raise ConfigError("indices", int(bad), f"agent ids in [0, {n_agents})")
    rows = np.repeat(np.arange(n_agents, dtype=np.int64), np.diff(indptr))
    if np.any(rows == indices):
        agent = int(rows[rows == indices][0])
        raise ConfigError("indices", f"agent {agent} listed as its own neighbour", "no self-loops")


def _received_as_tensor(received: Array, x: torch.Tensor, nnz: int) -> torch.Tensor:
    """Return ``received`` as a [nnz, d] tensor with x's dtype and device."""
    r = received if isinstance(received, torch.Tensor) else _from_numpy(np.asarray(received))
    if r.ndim == 1 and x.shape[1] == 1:
        r = r.unsqueeze(1)
    if tuple(r.shape) != (nnz, x.shape[1]):
        raise ConfigError(
            "received", f"shape {tuple(r.shape)}", f"shape [nnz, d] = [{nnz}, {x.shape[1]}]"
        )
    return r.to(device=x.device, dtype=x.dtype)


def _valid_as_tensor(valid: Any, nnz: int, device: torch.device) -> torch.Tensor:
    """Return ``valid`` as a [nnz] bool tensor on ``device``."""
    v = valid if isinstance(valid, torch.Tensor) else _from_numpy(np.asarray(valid))
    if tuple(v.shape) != (nnz,) or v.dtype != torch.bool:
        raise ConfigError(
            "valid", f"shape {tuple(v.shape)} and dtype {v.dtype}", f"a bool array of shape [{nnz}]"
        )
    return v.to(device)
