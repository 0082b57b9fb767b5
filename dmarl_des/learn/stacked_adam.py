"""Adam over the rows of a stacked parameter matrix, one step count per row: only rows with data move.

Each row of ``param`` [P, F] is one parameter set (an agent's network under per-agent parameters).
``step(rows, grad)`` applies Adam to the given rows only, as if each row had its own
``torch.optim.Adam`` stepped only when its set had data in the minibatch:

    t_i ← t_i + 1,  m_i ← β1 m_i + (1 − β1) g_i,  v_i ← β2 v_i + (1 − β2) g_i²
    θ_i ← θ_i − lr · (m_i / (1 − β1^t_i)) / (√(v_i / (1 − β2^t_i)) + ε)          for i in rows

Rows not given keep their parameters, moments and step counts exactly (a plain Adam over the whole
matrix would keep moving them with their old momentum on a zero gradient). The update of all
given rows is one fused call (torch's fused Adam kernel over the rows, each row with its own step
count), on the CPU or CUDA alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.optim.adam import adam

from dmarl_des.learn.networks import GatheredSets
from dmarl_des.learn.params import clip_grad_per_set


class StackedAdam:
    """Adam on the rows of ``param`` [P, F] with per-row step counts (see the module docstring)."""

    def __init__(
        self,
        param: torch.Tensor,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if param.dim() != 2:
            raise ValueError(f"StackedAdam steps a [P, F] matrix; got shape {tuple(param.shape)}")
        self.param = param
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.exp_avg = torch.zeros_like(param, memory_format=torch.contiguous_format)
        self.exp_avg_sq = torch.zeros_like(self.exp_avg)
        self.steps = torch.zeros(param.shape[0], dtype=torch.float32, device=param.device)
        self._rows: tuple[Sequence[torch.Tensor], ...] | None = None

    def _row_views(self) -> tuple[Sequence[torch.Tensor], ...]:
        """Each row of the parameters, moments and step counts as its own view (taken once)."""
        if self._rows is None or self._rows[0][0].data_ptr() != self.param.data_ptr():
            tensors = (self.param.detach(), self.exp_avg, self.exp_avg_sq, self.steps)
            self._rows = tuple(t.unbind(0) for t in tensors)
        return self._rows

    @torch.no_grad()
    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """One Adam step of rows ``rows`` [K] (distinct) with their gradients ``grad`` [K, F]."""
        if grad.shape != (rows.shape[0], self.param.shape[1]):
            raise ValueError(
                f"gradient of shape {tuple(grad.shape)} for {rows.shape[0]} rows of "
                f"{self.param.shape[1]} parameters"
            )
        if rows.shape[0] == 0:
            return
        params, exp_avgs, exp_avg_sqs, steps = self._row_views()
        index = rows.tolist()
        adam(
            [params[i] for i in index],
            list(grad.unbind(0)),
            [exp_avgs[i] for i in index],
            [exp_avg_sqs[i] for i in index],
            [],
            [steps[i] for i in index],
            fused=True,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=self.lr,
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Per-row step counts [P] and moments [P, F] (hyperparameters come from the config)."""
        return {"step": self.steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``, or torch.optim.Adam's state over the per-layer tensors of
        the same parameters in row order (see `torch_adam_parts`)."""
        if "param_groups" in state:
            state = _from_torch_adam(state, self.param.shape)
        with torch.no_grad():
            self.steps.copy_(state["step"])
            self.exp_avg.copy_(state["exp_avg"])
            self.exp_avg_sq.copy_(state["exp_avg_sq"])


def step_sets(optimizer: StackedAdam, sets: GatheredSets, max_norm: float | None) -> float:
    """After ``backward``: clip the gradient of each gathered set to ``max_norm`` (None: no
    clipping), step ``optimizer`` on those rows only, and clear the gradient. Returns the norm of
    the gradient over all gathered sets before clipping."""
    theta = sets.theta
    grad = theta.grad
    if grad is None:  # the loss did not depend on these parameters
        return 0.0
    if max_norm is None:
        norm = float(torch.linalg.vector_norm(grad))
    else:
        norm = clip_grad_per_set([theta], max_norm, int(theta.shape[0]))
    optimizer.step(sets.sets, grad)
    theta.grad = None
    return norm


def load_optimizers(optimizers: dict[str, Any], saved: dict, leading: Sequence[int]) -> None:
    """Load each optimizer's state from ``saved`` (name -> its ``state_dict()``), or from one
    torch.optim.Adam state over all their per-layer tensors in order: the first ``leading[k]``
    tensors belong to the k-th optimizer, the remaining ones to the last."""
    if "param_groups" in saved:
        total = len(saved["param_groups"][0]["params"])
        counts = [*leading, total - sum(leading)][: len(optimizers)]
        saved = dict(zip(optimizers, torch_adam_parts(saved, counts), strict=True))
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(saved[name])


def torch_adam_parts(state: dict, counts: Sequence[int]) -> list[dict]:
    """Split the state of one torch.optim.Adam over consecutive parameter tensors into the states
    of ``counts[0]`` tensors, the next ``counts[1]``, … (each renumbered from 0; a learner whose
    optimizer covered several networks loads each part into its own optimizer)."""
    group = state["param_groups"][0]
    ids = list(group["params"])
    if sum(counts) != len(ids):
        raise ValueError(f"optimizer state over {len(ids)} tensors, expected {sum(counts)}")
    parts, start = [], 0
    for count in counts:
        own = ids[start : start + count]
        part_group = {**group, "params": list(range(count))}
        part_state = {k: state["state"][i] for k, i in enumerate(own) if i in state["state"]}
        parts.append({"state": part_state, "param_groups": [part_group]})
        start += count
    return parts


def _from_torch_adam(state: dict, shape: torch.Size) -> dict[str, torch.Tensor]:
    """torch.optim.Adam's state over per-layer tensors [P, ...] (concatenated in row order) as
    per-row steps and [P, F] moments; a tensor never stepped has zero moments."""
    n_rows, n_params = int(shape[0]), int(shape[1])
    per_tensor = state["state"]
    ids = state["param_groups"][0]["params"]
    if not per_tensor:  # never stepped
        zeros = torch.zeros(n_rows, n_params)
        return {"step": torch.zeros(n_rows), "exp_avg": zeros, "exp_avg_sq": zeros}
    if set(per_tensor) != set(ids):
        raise ValueError(f"optimizer state for tensors {sorted(per_tensor)}, expected {ids}")
    moments = {}
    for key in ("exp_avg", "exp_avg_sq"):
        moments[key] = torch.cat([per_tensor[i][key].reshape(n_rows, -1) for i in ids], dim=1)
    step = float(next(iter(per_tensor.values()))["step"])
    return {"step": torch.full((n_rows,), step), **moments}
