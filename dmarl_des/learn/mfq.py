"""MF-Q: mean-field Q-learning over macro-actions, the mean action taken from what neighbours announced.

Mean-field Q-learning (Yang et al., ICML 2018) approximates agent i's Q over the joint action by
Q(o_i, a_i, ā_i), ā_i the mean of its neighbours' actions. Here ā_i is the mean of the one-hot
macro-actions the neighbours *announced through the network* and that arrived
(``dmarl_des.learn.mean_field``). The learner is Mac-IQL (``dmarl_des.learn.iql``: replay,
ε-greedy over Q, per-agent or shared parameters, SMDP discount γ^τ) on the input [o_i, ā_i]:
a macro-transition (o, ā, m, r_c, o', ā', τ) — ā the mean action m was chosen with, ā' the one
heard at the agent's next decision (the latest heard when the episode ends first) — trains

    double_q (default):  y = r_c + γ^τ · Q_target(o', ā', argmax_{m' ∈ mask'} Q(o', ā', m'))
    boltzmann:           y = r_c + γ^τ · Σ_{m' ∈ mask'} π(m' | o', ā') Q_target(o', ā', m'),
                         π ∝ exp(Q(o', ā', m') / temperature)

(no bootstrap at a true terminal). ``boltzmann`` is the paper's mean-field value v^MF (its
Boltzmann policy's expectation); ``double_q`` is what the public reference code computes (the
online net's argmax valued by the target net) and the default, so that MF-Q differs from the
project's Mac-IQL by the mean action alone. docs/declearn_comm.md discusses the choice.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dmarl_des.bounds import Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.config import LearnerSpec
from dmarl_des.learn.iql import IQL, IQLConfig
from dmarl_des.learn.mean_field import Announcements
from dmarl_des.learn.messaging import Heard, MessageSpec, Spoken
from dmarl_des.learn.networks import GatheredSets
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch


class MFQConfig(IQLConfig):
    """MF-Q: Mac-IQL's hyperparameters, the target and the Boltzmann temperature."""

    name: Literal["mfq"] = "mfq"  # type: ignore[assignment]
    target: Literal["double_q", "boltzmann"] = Field(
        "double_q", description="double_q (the reference code) or boltzmann (the paper's v^MF)"
    )
    temperature: Real = Field(0.1, gt=0.0, description="Boltzmann temperature of the target")


def boltzmann_value(
    q_online: torch.Tensor, q_target: torch.Tensor, mask: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Σ_{m ∈ mask} π(m) q_target(m), π ∝ exp(q_online / temperature) over the allowed m."""
    logits = (q_online / temperature).masked_fill(~mask, float("-inf"))
    pi = torch.softmax(logits, dim=1).nan_to_num(0.0)
    return (pi * q_target.masked_fill(~mask, 0.0)).sum(dim=1)


class _MeanFieldIQL(IQL):
    """Mac-IQL on [o, ā] inputs whose target is the Boltzmann expectation when asked."""

    def _step_targets(self) -> tuple[torch.Tensor, torch.Tensor, GatheredSets]:
        cfg = self.config
        if cfg.target == "double_q":
            return super()._step_targets()
        b = self._batch(self.replay.sample(cfg.batch_size, self.rng))
        agents = self.agents
        online, target_net = agents.gather(b["agent"])
        q_all, _ = agents.q_values(online, b["obs"], b["agent"], None)
        q_taken = q_all.gather(1, b["action"].unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            q_next_online, _ = agents.q_values(online, b["obs_next"], b["agent"], None)
            q_next_target, _ = agents.q_values(target_net, b["obs_next"], b["agent"], None)
            value = boltzmann_value(q_next_online, q_next_target, b["mask_next"], cfg.temperature)
            bootstrap = ~b["terminal"] & b["mask_next"].any(dim=1)
            target = b["reward"] + b["discount"] * torch.where(bootstrap, value, 0.0)
        return q_taken, target, online


class MFQ:
    """Mean-field Q-learning (module docstring); implements Learner and Messaging."""

    joint = False

    def __init__(self, config: MFQConfig, spec: LearnerSpec, device: torch.device) -> None:
        if config.network != "mlp" or config.trace_len:
            raise ConfigError("learner.network", config.network, "'mlp' for mfq")
        self.config = config
        self.spec = spec
        self.device = device
        inner = LearnerSpec(
            obs_dim=spec.obs_dim + spec.n_actions,
            n_actions=spec.n_actions,
            n_agents=spec.n_agents,
            gamma=spec.gamma,
            seed=spec.seed,
            state_dim=spec.state_dim,
            groups=spec.groups,
        )
        self.q = _MeanFieldIQL(config, inner, device)
        self.mean = Announcements(spec.n_agents, spec.n_actions)

    # -- messages -----------------------------------------------------------------------------
    def message_spec(self) -> MessageSpec:
        return self.mean.spec()

    def hear(self, heard: Heard) -> None:
        self.mean.hear(heard)

    def spoken(self, agents: np.ndarray) -> Spoken:
        return self.mean.spoken(agents)

    def transmitted(self, agents: np.ndarray, sent_bytes: np.ndarray) -> None:
        """Announcements cost nothing in the reward."""

    # -- Learner ------------------------------------------------------------------------------
    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        idx = np.asarray(agent_idx, dtype=np.int64).reshape(-1)
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != (idx.size, self.spec.obs_dim):
            raise ConfigError(
                "obs", f"shape {obs.shape}", f"shape ({idx.size}, {self.spec.obs_dim})"
            )
        augmented = np.concatenate([obs, self.mean.now[idx]], axis=1)
        actions = self.q.act(augmented, idx, mask, explore=explore)
        self.mean.decide(idx, actions)
        return actions

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        self.mean.reset(None if agent_idx is None else np.asarray(agent_idx, dtype=np.int64))
        self.q.reset(agent_idx)

    def observe(self, batch: TransitionBatch) -> None:
        agent = np.asarray(batch.agent_idx, dtype=np.int64)
        self.q.observe(
            TransitionBatch(
                agent_idx=agent,
                obs=np.concatenate([batch.obs, self.mean.chosen[agent]], axis=1),
                action=batch.action,
                mask=batch.mask,
                reward=batch.reward,
                obs_next=np.concatenate([batch.obs_next, self.mean.now[agent]], axis=1),
                mask_next=batch.mask_next,
                tau=batch.tau,
                done=batch.done,
                terminal=batch.terminal,
                t_start=batch.t_start,
                t_end=batch.t_end,
                episode=batch.episode,
            )
        )

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        """Independent learner: joint epochs are not used."""

    def end_episode(self, episode: int) -> None:
        self.q.end_episode(episode)

    def ready(self) -> bool:
        return self.q.ready()

    def update(self) -> dict[str, float]:
        return self.q.update()

    def state_dict(self) -> dict:
        return {**self.q.state_dict(), "algorithm": "mfq"}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state)
