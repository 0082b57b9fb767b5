"""The graph-attention network: own observation, attention over heard messages, heads, and what an agent says.

For agent i with observation o_i, which heard messages m_j (with offsets δ_ij in worlds with
positions) from neighbours j:

    h_i   = MLP(o_i)                                        (own encoding, 2 layers)
    c_i   = GraphAttention(h_i; [m_j, δ_ij / scale] over j) (0 when i heard nothing)
    out_i = MLP([h_i, c_i])                                  (logits and value, or Q-values)
    g_i   = w_g · [h_i, c_i] + b_g                           (send gate logit, optional)
    say_i = tanh(W_s [h_i, onehot(a_i)] + b_s)               (the message i sends after choosing a_i)

One set of parameters for every agent, none sized by the number of agents or of neighbours: a
network trained with few agents runs unchanged with many. Parameters are initialised from the
learner's own generator (no global random state).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dmarl_des.learn.attention import GraphAttention

__all__ = ["CommNet"]


def init_from(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Linear initialisation (uniform ±1/√fan_in) drawn from ``generator``."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)


class CommNet(nn.Module):
    """Own encoding + attention over heard messages → outputs; and what an agent says."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        n_out: int,
        msg_size: int,
        hidden: int,
        heads: int,
        offsets: bool,
        offset_scale: float,
        gate: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.offsets = offsets
        self.offset_scale = float(offset_scale)
        self.encode = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.attention = GraphAttention(
            hidden, msg_size + (2 if offsets else 0), heads, max(1, hidden // heads)
        )
        joint = hidden + self.attention.out_dim
        self.head = nn.Sequential(nn.Linear(joint, hidden), nn.ReLU(), nn.Linear(hidden, n_out))
        self.gate = nn.Linear(joint, 1) if gate else None
        self.say = nn.Linear(hidden + n_actions, msg_size)
        init_from(self, generator)

    def forward(
        self,
        obs: torch.Tensor,
        vec: torch.Tensor,
        off: torch.Tensor | None,
        row: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(outputs [B, n_out], gate logits [B] or None, own encodings [B, hidden]) of receivers
        ``obs`` [B, D] that heard messages ``vec`` [M, S] (offsets ``off`` [M, 2]) by ``row``."""
        h = self.encode(obs)
        msgs = vec
        if self.offsets:
            if off is None:
                off = vec.new_zeros((vec.shape[0], 2))
            msgs = torch.cat([vec, off / self.offset_scale], dim=1)
        z = torch.cat([h, self.attention(h, msgs, row)], dim=1)
        gate = None if self.gate is None else self.gate(z).squeeze(1)
        return self.head(z), gate, h

    def message(self, h: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """What agents with encodings ``h`` [B, hidden] say after choosing ``action`` [B]."""
        onehot = nn.functional.one_hot(action, self.n_actions).to(h.dtype)
        return torch.tanh(self.say(torch.cat([h, onehot], dim=1)))

    def speak_from(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The message computed from an observation and the macro-action chosen on it."""
        return self.message(self.encode(obs), action)
