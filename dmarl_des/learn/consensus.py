"""The consensus step over the vectors that arrived: θ_i ← c_ii θ_i + Σ_{j arrived} c_ij θ̂_{j→i}.

Every agent ``i`` that combines at a round mixes its own parameters with the latest vectors
``θ̂_{j→i}`` its neighbours sent it that arrived (stale ones as they are, see
``dmarl_des.learn.exchange.Arrived``). The weight of a neighbour whose vector did not arrive stays
on the agent itself (the gossip rule):

    c_ij = w_ij                        for each neighbour j whose vector arrived
    c_ii = 1 − Σ_{j arrived} w_ij

with ``w`` the Metropolis–Hastings weights ``1 / (1 + max(d_i, d_j))`` of the current graph
(``mixing.metropolis_weights``), so with every vector arrived (no loss, no delay) and an
undirected graph the step is ``θ ← C θ`` with C symmetric and doubly stochastic, and it keeps the
agents' average. The sum over arrived vectors is one sparse-dense product per array holding
them (usually one per round: the snapshot of one broadcast), never a gathered copy of every
message.

``rule_step`` is the other combine: a robust rule of ``dmarl_des.robust`` over the agent's own
vector and the arrived ones (``networked_ac`` with ``rule`` other than ``metropolis``; the
resilient actor-critic over values).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from dmarl_des.learn.exchange import Arrived
from dmarl_des.learn.mixing import metropolis_weights
from dmarl_des.robust import AggregationRule


def arrived_weights(arrived: Arrived) -> tuple[np.ndarray, np.ndarray]:
    """(c_ij [M] of each arrived vector, c_ii [A] of each combining agent) with Metropolis
    weights on the round's graph and the missing neighbours' weight on the agent itself."""
    w = metropolis_weights(arrived.indptr, arrived.indices)[arrived.entry]
    n = len(arrived.indptr) - 1
    given = np.bincount(arrived.receiver, weights=w, minlength=n)
    return w, np.clip(1.0 - given[arrived.agents], 0.0, 1.0)


def _as_tensor(array: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    with warnings.catch_warnings():  # read-only snapshots: torch only reads them
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.as_tensor(array).to(device=device, dtype=dtype)


def _sparse(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], device
) -> torch.Tensor:
    """A CSR matrix from (row, col, value) triples with distinct (row, col) pairs."""
    order = np.lexsort((cols, rows))
    crow = np.searchsorted(rows[order], np.arange(shape[0] + 1))
    with warnings.catch_warnings():  # torch flags its sparse CSR support as beta
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support.*")
        return torch.sparse_csr_tensor(
            torch.as_tensor(crow, dtype=torch.int64),
            torch.as_tensor(cols[order], dtype=torch.int64),
            torch.as_tensor(values[order], dtype=torch.float32),
            size=shape,
            device=device,
            check_invariants=False,
        )


def weighted_sum(
    arrived: Arrived, weights: np.ndarray, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Σ_m weights[m] · vector_m into the row of each combining agent: [A, size] float32 (row k
    for ``arrived.agents[k]``), one sparse product per source array."""
    a = arrived.agents.shape[0]
    out: torch.Tensor | None = None
    local = np.searchsorted(arrived.agents, arrived.receiver)
    for k, src in enumerate(arrived.sources):
        at = np.flatnonzero(arrived.source == k)
        if not at.size:
            continue
        used, cols = np.unique(arrived.row[at], return_inverse=True)
        block = _as_tensor(src[used] if used.size < src.shape[0] else src, device, torch.float32)
        if used.size == src.shape[0]:
            cols = arrived.row[at]
        matrix = _sparse(local[at], cols.ravel(), weights[at], (a, block.shape[0]), device)
        product = torch.sparse.mm(matrix, block)
        out = product if out is None else out.add_(product)
    return torch.zeros(a, arrived.size, device=device) if out is None else out


@torch.no_grad()
def consensus_step(theta: torch.Tensor, arrived: Arrived) -> np.ndarray:
    """Replace the rows ``arrived.agents`` of ``theta`` [N, size] (one row per agent) by
    ``c_ii θ_i + Σ_j c_ij θ̂_{j→i}``; the other rows are left alone. Returns c_ii [A]."""
    weights, self_weight = arrived_weights(arrived)
    mixed = weighted_sum(arrived, weights, theta.device).to(theta.dtype)
    own_weight = torch.as_tensor(self_weight, device=theta.device, dtype=theta.dtype)[:, None]
    if arrived.agents.shape[0] == theta.shape[0]:  # every agent combines: in place
        theta.mul_(own_weight).add_(mixed)
        return self_weight
    idx = torch.as_tensor(arrived.agents, device=theta.device)
    theta.index_copy_(0, idx, mixed.add_(own_weight * theta.index_select(0, idx)))
    return self_weight


def rule_step(
    rule: AggregationRule,
    own: torch.Tensor,
    arrived: Arrived,
    messages: torch.Tensor,
    use: np.ndarray | None = None,
) -> torch.Tensor:
    """``rule`` (a robust rule of ``dmarl_des.robust``) for every agent over its row of ``own``
    [N, d] and the rows ``messages`` [M, d] that reached it, coordinate by coordinate where the
    rule is (message m sits at CSR entry ``arrived.entry[m]`` of the round's graph; ``use``: only
    those messages, in order); [N, d]. Missing neighbours are left out of the rule (an agent
    that heard nobody keeps its row); no message is gathered per neighbour beyond ``messages``."""
    nnz = arrived.indices.shape[0]
    received = own.new_zeros(nnz, own.shape[1])
    valid = torch.zeros(nnz, dtype=torch.bool, device=own.device)
    entry = arrived.entry if use is None else arrived.entry[use]
    if len(entry):
        at = torch.as_tensor(entry, device=own.device)
        received[at] = messages
        valid[at] = True
    return rule(own, arrived.indptr, arrived.indices, received=received, valid=valid)
