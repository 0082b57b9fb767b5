"""MF-AC: mean-field actor-critic over macro-actions, the mean action taken from what neighbours announced.

Mean-field actor-critic (Yang et al., ICML 2018): an actor π_θ(· | o_i, ā_i) and a critic that
sees the mean action ā_i, the mean of the one-hot macro-actions the neighbours announced
through the network (``dmarl_des.learn.mean_field``). The paper's actor sees the global state,
which in its battle game holds the neighbours; here an agent sees only its own observation, so
its actor takes the mean action too (as the Boltzmann policy of MF-Q does). The paper's critic
is Q_φ(s, a, ā); a critic over macro-actions trained on the taken one only leaves the others'
values untrained, and an advantage against them reinforces whatever was taken — so the critic is
the state value V_φ(o_i, ā_i) of the public reference code, and the advantage the SMDP TD error.
One set of parameters for every agent. After each episode (or every ``update_every``
transitions), ``epochs`` passes over the macro-transitions (o, ā, m, r_c, o', ā', τ) in
``minibatches``:

    y   = r_c + γ^τ · V_φ(o', ā')                    (no bootstrap at a terminal; no gradient)
    L_V = ½ (V_φ(o, ā) − y)²
    A   = y − V_φ(o, ā)                               (no gradient)
    L_π = −A · log π_θ(m | o, ā) − c_e · H[π_θ(· | o, ā)]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from dmarl_des.bounds import Count, Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.comm_net import init_from
from dmarl_des.learn.config import LearnerConfig, LearnerSpec
from dmarl_des.learn.masking import check_decision_batch, mask_logits, masked_argmax
from dmarl_des.learn.mean_field import Announcements
from dmarl_des.learn.messaging import Heard, MessageSpec, Spoken
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.sampling import sample_masked
from dmarl_des.learn.seeding import learner_streams


class MFACConfig(LearnerConfig):
    """MF-AC hyperparameters."""

    name: Literal["mfac"] = "mfac"
    lr: Real = Field(1e-3, gt=0.0)
    critic_lr: Real = Field(1e-3, gt=0.0)
    grad_clip: Real = Field(1.0, gt=0.0)
    update_every: Count = Field(0, ge=0, description="0: once per episode; K: every K transitions")
    ent_coef: Real = Field(0.01, ge=0.0)
    epochs: int = Field(4, gt=0, le=10_000)
    minibatches: Count = Field(4, gt=0)


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, n_out),
    )  # fmt: skip


class MFAC:
    """Mean-field actor-critic (module docstring); implements Learner and Messaging."""

    joint = False

    def __init__(self, config: MFACConfig, spec: LearnerSpec, device: torch.device) -> None:
        for key, value, allowed in (
            ("params", config.params, "shared"),
            ("network", config.network, "mlp"),
            ("agent_feature", config.agent_feature, "none"),
        ):
            if value != allowed:
                raise ConfigError(f"learner.{key}", value, f"{allowed!r} for mfac")
        self.config = config
        self.spec = spec
        self.device = device
        self.streams = learner_streams(spec.seed)
        self.rng = self.streams.rng
        d, a = spec.obs_dim + spec.n_actions, spec.n_actions
        self.actor = mlp(d, config.hidden, a).to(device)
        self.critic = mlp(d, config.hidden, 1).to(device)
        init_from(self.actor, self.streams.init)
        init_from(self.critic, self.streams.init)
        with torch.no_grad():
            self.actor[-1].weight.mul_(0.01)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.mean = Announcements(spec.n_agents, spec.n_actions)
        self.rollout: list[dict[str, np.ndarray]] = []
        self.rollout_size = 0
        self.updates = 0
        self._episode_over = False

    # -- messages -----------------------------------------------------------------------------
    def message_spec(self) -> MessageSpec:
        return self.mean.spec()

    def hear(self, heard: Heard) -> None:
        self.mean.hear(heard)

    def spoken(self, agents: np.ndarray) -> Spoken:
        return self.mean.spoken(agents)

    def transmitted(self, agents: np.ndarray, sent_bytes: np.ndarray) -> None:
        """Announcements cost nothing in the reward."""

    # -- acting -------------------------------------------------------------------------------
    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        spec = self.spec
        obs, idx, mask = check_decision_batch(
            obs, agent_idx, mask, spec.obs_dim, spec.n_actions, spec.n_agents
        )
        x = torch.from_numpy(np.concatenate([obs, self.mean.now[idx]], axis=1)).to(self.device)
        with torch.no_grad():
            mask_t = torch.from_numpy(mask).to(self.device)
            logits = mask_logits(self.actor(x), mask_t)
            action = (
                sample_masked(logits, mask_t, self.streams.noise)
                if explore
                else masked_argmax(logits, mask_t)
            )
        actions = action.cpu().numpy()
        self.mean.decide(idx, actions)
        return actions

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        self.mean.reset(None if agent_idx is None else np.asarray(agent_idx, dtype=np.int64))

    # -- experience ---------------------------------------------------------------------------
    def observe(self, batch: TransitionBatch) -> None:
        agent = np.asarray(batch.agent_idx, dtype=np.int64)
        self.rollout.append(
            {
                "x": np.concatenate([batch.obs, self.mean.chosen[agent]], axis=1),
                "action": np.asarray(batch.action, dtype=np.int64),
                "mask": np.asarray(batch.mask, dtype=bool),
                "reward": np.asarray(batch.reward, dtype=np.float32),
                "x_next": np.concatenate([batch.obs_next, self.mean.now[agent]], axis=1),
                "mask_next": np.asarray(batch.mask_next, dtype=bool),
                "discount": (self.spec.gamma ** np.asarray(batch.tau)).astype(np.float32),
                "terminal": np.asarray(batch.terminal, dtype=bool),
            }
        )
        self.rollout_size += len(batch)

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        """Independent learner: joint epochs are not used."""

    def end_episode(self, episode: int) -> None:
        self._episode_over = self.rollout_size > 0

    def ready(self) -> bool:
        if self.config.update_every > 0:
            return self.rollout_size >= self.config.update_every
        return self._episode_over and self.rollout_size > 0

    # -- learning -----------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        cfg = self.config
        if not self.rollout:
            raise RuntimeError("MFAC.update() called with no transitions; check ready() first")
        data = {k: np.concatenate([r[k] for r in self.rollout]) for k in self.rollout[0]}
        self.rollout, self.rollout_size, self._episode_over = [], 0, False
        t = {k: torch.from_numpy(v).to(self.device) for k, v in data.items()}
        n = len(data["action"])
        sums = dict.fromkeys(("loss", "value_loss", "policy_loss", "entropy", "q_mean"), 0.0)
        steps = 0
        for _ in range(cfg.epochs):
            for mb_np in np.array_split(self.rng.permutation(n), min(cfg.minibatches, n)):
                mb = torch.from_numpy(mb_np).to(self.device)
                x, action, mask = t["x"][mb], t["action"][mb], t["mask"][mb]
                with torch.no_grad():
                    v_next = self.critic(t["x_next"][mb]).squeeze(1)
                    bootstrap = ~t["terminal"][mb] & t["mask_next"][mb].any(dim=1)
                    y = t["reward"][mb] + t["discount"][mb] * torch.where(bootstrap, v_next, 0.0)
                v = self.critic(x).squeeze(1)
                q_loss = 0.5 * (v - y).pow(2).mean()
                self.critic_opt.zero_grad(set_to_none=True)
                q_loss.backward()
                nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
                self.critic_opt.step()
                advantage = y - v.detach()
                logp_all = torch.log_softmax(mask_logits(self.actor(x), mask), dim=1)
                pi = logp_all.exp()
                logp = logp_all.gather(1, action.unsqueeze(1)).squeeze(1)
                entropy = -(pi * logp_all).sum(dim=1).mean()
                policy_loss = -(advantage * logp).mean()
                loss = policy_loss - cfg.ent_coef * entropy
                self.actor_opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
                self.actor_opt.step()
                sums["loss"] += float(loss.detach()) + float(q_loss.detach())
                sums["value_loss"] += float(q_loss.detach())
                sums["policy_loss"] += float(policy_loss.detach())
                sums["entropy"] += float(entropy.detach())
                sums["q_mean"] += float(v.detach().mean())
                steps += 1
        self.updates += 1
        return {"samples": float(n), **{k: v / steps for k, v in sums.items()}}

    # -- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "algorithm": "mfac",
            "nets": {"actor": self.actor.state_dict(), "critic": self.critic.state_dict()},
            "optimizer": {
                "actor": self.actor_opt.state_dict(),
                "critic": self.critic_opt.state_dict(),
            },
            "counters": {"updates": self.updates},
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["nets"]["actor"])
        self.critic.load_state_dict(state["nets"]["critic"])
        self.actor_opt.load_state_dict(state["optimizer"]["actor"])
        self.critic_opt.load_state_dict(state["optimizer"]["critic"])
        self.updates = int(state["counters"]["updates"])
