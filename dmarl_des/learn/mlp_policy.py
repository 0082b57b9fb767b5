"""A feed-forward policy for inference only (no learning): masked softmax over MLP logits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from dmarl_des.learn.config import resolve_device
from dmarl_des.learn.masking import check_decision_batch, mask_logits, masked_argmax
from dmarl_des.learn.networks import AgentNet, Layer
from dmarl_des.learn.params import build_layout
from dmarl_des.learn.sampling import gumbel_noise, sample_masked
from dmarl_des.learn.seeding import learner_streams


class MLPPolicy:
    """Random-initialized (or loaded) MLP policy under a parameter mode; one kernel per batch.

    ``act(explore=True)`` samples from the masked softmax (Gumbel-max); ``explore=False`` is greedy.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: Sequence[int] = (64, 64),
        *,
        params_mode: str = "shared",
        n_agents: int = 1,
        groups: Sequence[int] | np.ndarray | None = None,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.obs_dim, self.n_actions, self.n_agents = int(obs_dim), int(n_actions), int(n_agents)
        self.device = resolve_device(device)
        self._cpu = self.device.type == "cpu"
        self.streams = learner_streams(seed)
        self.layout = build_layout(params_mode, "none", self.n_agents, groups, self.device)
        self.net = AgentNet(
            self.obs_dim,
            self.n_actions,
            tuple(hidden),
            recurrent=False,
            n_sets=self.layout.n_sets,
            generator=self.streams.init,
        ).to(self.device)
        self.net.requires_grad_(False)
        self._dense = _dense_layers(self.net, self.layout.n_sets, self.device)
        self._stacked = _stacked_layers(self.net)

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        if self._dense is not None and _plain_batch(obs, agent_idx, mask, self):
            return self._act_dense(obs, mask, explore)
        obs, agent_idx, mask = check_decision_batch(
            obs, agent_idx, mask, self.obs_dim, self.n_actions, self.n_agents
        )
        cpu = self._cpu
        with torch.inference_mode():
            plan = None
            if self.layout.n_sets > 1:
                plan = self.layout.plan(torch.from_numpy(agent_idx).to(self.device))
            x = torch.from_numpy(obs)
            if self._dense is not None:
                logits = _dense_forward(self._dense, x)
            else:
                # called through .forward: no hooks live on the net, and skipping
                # Module.__call__ saves a few microseconds on every decision batch
                logits, _ = self.net.forward(
                    x if cpu else x.to(self.device), plan, None, self._stacked
                )
            if mask.all():  # every action allowed: nothing to mask (same draws, fewer ops)
                if explore:
                    noise = gumbel_noise(tuple(logits.shape), self.streams.noise, logits.device)
                    logits = logits + noise
                actions = logits.argmax(dim=-1)
            else:
                mask_t = torch.from_numpy(mask).to(self.device)
                if explore:
                    actions = sample_masked(mask_logits(logits, mask_t), mask_t, self.streams.noise)
                else:
                    actions = masked_argmax(logits, mask_t)
        return actions.numpy() if cpu else actions.cpu().numpy()

    def _act_dense(self, obs: np.ndarray, mask: np.ndarray, explore: bool) -> np.ndarray:
        """``act`` for a checked batch of a feed-forward net with one parameter set on the CPU:
        the same operations and draws as the general path, without its fixed costs (no
        inference-mode context: no parameter of the net requires a gradient; noise added in
        place). What a batch of one or a few decisions (continuous time) pays."""
        logits = _dense_forward(self._dense, torch.from_numpy(obs))  # type: ignore[arg-type]
        if mask.all():
            if explore:
                noise = gumbel_noise(tuple(logits.shape), self.streams.noise, self.device)
                logits = noise.add_(logits)
            return logits.argmax(dim=-1).numpy()
        mask_t = torch.from_numpy(mask)
        if explore:
            return sample_masked(mask_logits(logits, mask_t), mask_t, self.streams.noise).numpy()
        return masked_argmax(logits, mask_t).numpy()

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Feed-forward: nothing to forget."""

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self._dense = _dense_layers(self.net, self.layout.n_sets, self.device)
        self._stacked = _stacked_layers(self.net)


Dense = list[tuple[torch.Tensor, torch.Tensor]]
"""(bias [out], weight [in, out]) of each layer of a net, the output head last."""


def _dense_layers(net: AgentNet, n_sets: int, device: torch.device) -> Dense | None:
    """The layers of a net with one parameter set on the CPU as views of its parameters, for
    the plain forward pass of ``_dense_forward``; None for any other net."""
    if n_sets != 1 or device.type != "cpu" or net.state_size:
        return None
    if any(p.requires_grad for p in net.parameters()):
        return None  # a forward pass outside inference mode would record a graph
    return [(bias[0], weight[0]) for weight, bias in net.linears()]


def _plain_batch(obs: object, agent_idx: object, mask: object, policy: MLPPolicy) -> bool:
    """True for a batch that ``check_decision_batch`` would pass unchanged: float32 C-ordered
    obs [B, obs_dim], int64 agent_idx [B] within range, bool mask [B, n_actions] with an allowed
    action in every row (checked in a few cheap steps; anything else takes the general path)."""
    if not (
        type(obs) is np.ndarray
        and type(agent_idx) is np.ndarray
        and type(mask) is np.ndarray
        and obs.dtype == np.float32
        and agent_idx.dtype == np.int64
        and mask.dtype == np.bool_
        and obs.flags.c_contiguous
        and agent_idx.ndim == 1
    ):
        return False
    b = agent_idx.shape[0]
    if obs.shape != (b, policy.obs_dim) or mask.shape != (b, policy.n_actions) or not b:
        return False
    if b == 1:
        i = int(agent_idx[0])
        inside = 0 <= i < policy.n_agents
    else:
        inside = int(agent_idx.min()) >= 0 and int(agent_idx.max()) < policy.n_agents
    return inside and (mask.all() or bool(mask.any(axis=1).all()))


def _stacked_layers(net: AgentNet) -> list[Layer] | None:
    """Contiguous copies of each layer's stacked weight and bias (taken at construction and at
    ``load_state_dict``: the policy does not learn). Batched products over several sets run
    faster on contiguous weights than on the strided views of the parameter matrix."""
    if net.n_sets == 1:
        return None
    return [(weight.contiguous(), bias.contiguous()) for weight, bias in net.linears()]


def _dense_forward(layers: Dense, x: torch.Tensor) -> torch.Tensor:
    """``AgentNet.forward`` of a feed-forward net with one parameter set (the same operations):
    the parameter views are taken once, not on every decision batch."""
    *hidden, (bias, weight) = layers
    for b, w in hidden:
        x = torch.addmm(b, x, w).relu_()
    return torch.addmm(bias, x, weight)
