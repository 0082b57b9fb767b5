"""QMIX over asynchronous macro-actions: per-agent Qs mixed monotonically, conditioned on the state.

Same joint transitions and conditional target as VDN (see vdn.py), with the sum replaced by a
mixing network whose weights come from hypernetworks of the global state s (training only):

    Q_tot(q, s) = w2(s)ᵀ · elu(W1(s)ᵀ q + b1(s)) + b2(s),   W1 = |hyper_1(s)|, w2 = |hyper_2(s)|
    y           = R + γ^τ · Q_tot,target(q'_target, s')      (y = R at a true terminal)

The absolute values keep ∂Q_tot/∂q_i ≥ 0, so each agent's greedy action is the joint greedy one.
Agents not alive (or without an action yet) enter the mixer with q_i = 0.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from dmarl_des.errors import ConfigError
from dmarl_des.learn.config import MAX_WIDTH, LearnerSpec
from dmarl_des.learn.joint_q import JointQLearner
from dmarl_des.learn.joint_replay import conditional_next_q
from dmarl_des.learn.networks import StackedLinear
from dmarl_des.learn.q_agents import gradient_step, q_metrics, td_loss
from dmarl_des.learn.vdn import VDNConfig


class QMIXConfig(VDNConfig):
    """QMIX hyperparameters: VDN's plus the mixer's sizes."""

    name: Literal["qmix"] = "qmix"  # type: ignore[assignment]
    mixer_embed: int = Field(32, gt=0, le=MAX_WIDTH)
    hypernet_hidden: int = Field(64, gt=0, le=MAX_WIDTH)


class Mixer(nn.Module):
    """The monotonic mixing network; its weights are produced from the state by hypernetworks."""

    def __init__(
        self, n_agents: int, state_dim: int, embed: int, hyper: int, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.n_agents, self.embed = n_agents, embed

        def linear(a: int, b: int) -> StackedLinear:
            return StackedLinear(1, a, b, generator)

        self.hyper_w1 = nn.ModuleList([linear(state_dim, hyper), linear(hyper, n_agents * embed)])
        self.hyper_b1 = linear(state_dim, embed)
        self.hyper_w2 = nn.ModuleList([linear(state_dim, hyper), linear(hyper, embed)])
        self.hyper_b2 = nn.ModuleList([linear(state_dim, embed), linear(embed, 1)])

    @staticmethod
    def _two_layer(layers: nn.ModuleList, s: torch.Tensor) -> torch.Tensor:
        return layers[1](torch.relu(layers[0](s, None)), None)

    def forward(self, q: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Q_tot [B] from agent Qs [B, N] and states [B, S]."""
        batch = q.shape[0]
        w1 = self._two_layer(self.hyper_w1, state).abs().view(batch, self.n_agents, self.embed)
        b1 = self.hyper_b1(state, None).view(batch, 1, self.embed)
        hidden = nn.functional.elu(torch.bmm(q.view(batch, 1, self.n_agents), w1) + b1)
        w2 = self._two_layer(self.hyper_w2, state).abs().view(batch, self.embed, 1)
        b2 = self._two_layer(self.hyper_b2, state).view(batch, 1, 1)
        return (torch.bmm(hidden, w2) + b2).view(batch)


class QMIX(JointQLearner):
    """QMIX learner (implements the Learner protocol; ``joint = True``)."""

    algorithm = "qmix"

    def __init__(self, config: QMIXConfig, spec: LearnerSpec, device: torch.device) -> None:
        if spec.state_dim < 1:
            raise ConfigError("state_dim", spec.state_dim, "a positive global state size for QMIX")
        super().__init__(config, spec, device)
        self.mixer = Mixer(
            spec.n_agents,
            spec.state_dim,
            config.mixer_embed,
            config.hypernet_hidden,
            self.streams.init,
        ).to(device)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False)
        self.mixer_optimizer = torch.optim.Adam(self.mixer.parameters(), lr=config.lr)

    def update(self) -> dict[str, float]:
        cfg = self.config
        b = self._take_credit()
        batch = cfg.batch_size
        online, target_net = self._gather(batch)
        active = b["alive"] & (b["action"] >= 0)
        q_taken = self._joint_q(online, b["obs"], b.get("h")).gather(
            -1, b["action"].clamp(min=0).unsqueeze(-1)
        )
        q_tot = self.mixer(q_taken.squeeze(-1) * active, b["state"])
        with torch.no_grad():
            h_next = b.get("h_next")
            q_next = conditional_next_q(
                self._joint_q(online, b["obs_next"], h_next),
                self._joint_q(target_net, b["obs_next"], h_next),
                b["mask_next"],
                b["action_next"],
                b["deciding_next"],
            )
            active_next = b["alive_next"] & (b["action_next"] >= 0)
            next_tot = self.target_mixer(q_next * active_next, b["state_next"])
            target = b["reward"] + b["discount"] * torch.where(b["terminal"], 0.0, next_tot)
        loss = td_loss(q_tot, target, cfg.loss, cfg.huber_delta)
        mixer = (self.mixer, self.mixer_optimizer)
        grad_norm = gradient_step(self.optimizer, loss, online, cfg.grad_clip, mixer)
        self.updates += 1
        if self.updates % cfg.target_every == 0:
            self.agents.sync_target(cfg.polyak)
            with torch.no_grad():
                for tgt, src in zip(
                    self.target_mixer.parameters(), self.mixer.parameters(), strict=True
                ):
                    tgt.lerp_(src, cfg.polyak)
        return q_metrics(loss, q_tot, batch, grad_norm, self.epsilon(self.decisions))

    def _extra_nets(self) -> dict[str, torch.nn.Module]:
        return {"mixer": self.mixer, "target_mixer": self.target_mixer}

    def _optimizers(self) -> dict[str, Any]:
        return {"agents": self.optimizer, "mixer": self.mixer_optimizer}
