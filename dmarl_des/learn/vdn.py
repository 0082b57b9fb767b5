"""VDN over asynchronous macro-actions: a sum of per-agent Qs trained on joint epoch transitions.

For the joint transition e → e+1 (see joint_replay):

    Q_tot(e)  = Σ_{i alive at e} Q_i(o_i, a_i)            (a_i: the agent's current macro-action)
    y         = R + γ^τ · Σ_{i alive at e+1} Q_target,i(o'_i, a'_i)   (y = R at a true terminal)
    a'_i      = a_i's running action if agent i is not deciding at e+1,
                argmax_{m ∈ mask'_i} Q_i(o'_i, m) otherwise (online net chooses)
    loss      = Huber(Q_tot(e) − y)

Execution uses only each agent's own Q (ε-greedy). One update every ``train_every`` new joint
transitions once ``learning_starts`` are stored; the target net is synced every ``target_every``.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from dmarl_des.bounds import Count, Real
from dmarl_des.learn.config import MAX_BUFFER, LearnerConfig
from dmarl_des.learn.joint_q import JointQLearner
from dmarl_des.learn.joint_replay import conditional_next_q
from dmarl_des.learn.q_agents import gradient_step, q_metrics, td_loss


class VDNConfig(LearnerConfig):
    """VDN hyperparameters (buffer and batch counts are joint transitions between epochs)."""

    name: Literal["vdn"] = "vdn"
    buffer_size: int = Field(5_000, gt=1, le=MAX_BUFFER)
    batch_size: Count = Field(32, gt=0)
    learning_starts: Count = Field(64, ge=0)
    train_every: Count = Field(4, gt=0)
    target_every: Count = Field(200, gt=0, description="updates between target syncs")
    polyak: float = Field(1.0, gt=0.0, le=1.0)
    eps_start: float = Field(1.0, ge=0.0, le=1.0)
    eps_end: float = Field(0.05, ge=0.0, le=1.0)
    eps_decay: Count = Field(
        5_000, ge=0, description="exploring decisions per agent (all agents' / N) from start to end"
    )
    loss: Literal["huber", "mse"] = "mse"
    huber_delta: Real = Field(1.0, gt=0.0)


class VDN(JointQLearner):
    """VDN learner (implements the Learner protocol; ``joint = True``)."""

    algorithm = "vdn"

    def update(self) -> dict[str, float]:
        cfg = self.config
        b = self._take_credit()
        batch = cfg.batch_size
        online, target_net = self._gather(batch)
        active = b["alive"] & (b["action"] >= 0)
        q_taken = self._joint_q(online, b["obs"], b.get("h")).gather(
            -1, b["action"].clamp(min=0).unsqueeze(-1)
        )
        q_tot = (q_taken.squeeze(-1) * active).sum(dim=1)
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
            bootstrap = torch.where(b["terminal"], 0.0, (q_next * active_next).sum(dim=1))
            target = b["reward"] + b["discount"] * bootstrap
        loss = td_loss(q_tot, target, cfg.loss, cfg.huber_delta)
        grad_norm = gradient_step(self.optimizer, loss, online, cfg.grad_clip)
        self.updates += 1
        if self.updates % cfg.target_every == 0:
            self.agents.sync_target(cfg.polyak)
        return q_metrics(loss, q_tot, batch, grad_norm, self.epsilon(self.decisions))
