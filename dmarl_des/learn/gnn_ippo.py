"""Mac-IPPO with graph-attention communication: one shared policy over own observation and neighbours' messages.

Each agent i decides on its observation o_i and the messages it heard — the latest that
arrived through the network from each current neighbour (``dmarl_des.learn.messaging``) — with
the network of ``comm_net`` (attention over whatever arrived; nothing heard: its own
observation only). Having chosen macro-action a_i it says ``say_i = tanh(W [h_i, onehot(a_i)])``,
which the simulator sends to its neighbours under the scenario's sending rule and budget. With
``gate`` the network also outputs a send/no-send gate g_i ~ Bernoulli(σ(w·[h_i, c_i])) — part
of the joint action (its log-probability adds to the macro-action's) — and ``comm_cost`` is
subtracted from the reward per byte the agent put on the air (``comm.send = gate`` makes the
simulator obey the gate).

Training is Mac-IPPO (``dmarl_des.learn.ippo``: SMDP GAE over each agent's macro-transitions,
clipped ratio, value and entropy terms) with one set of parameters for every agent, on whole
episodes (or every ``update_every`` transitions). The value of a transition's next state uses
the messages heard at the agent's next decision (none after the episode's last one). In
training the heard messages are recomputed from their senders' recorded observations and
macro-actions by the current encoder, keeping what the network did to them
(``dmarl_des.learn.heard_log``: m = m_received + msg_θ(o_j, a_j) − said_j) — the differentiable
channel of centralized training: the receiver's loss trains the sender's message. Execution
uses only what arrived.

``eval_sample`` makes evaluation sample from the policy too: symmetric agents that observe the
same need the policy's randomness to split (the greedy policy sends them all one way).
``communicate = false`` is the same learner deaf and mute (it hears nothing and says
nothing): the baseline "without communication".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dmarl_des.bounds import Count, Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.comm_net import CommNet
from dmarl_des.learn.config import LearnerConfig, LearnerSpec
from dmarl_des.learn.conversation import Conversation
from dmarl_des.learn.heard_log import HeardLog
from dmarl_des.learn.ippo import PPOSettings, smdp_gae, trajectory_ends
from dmarl_des.learn.masking import check_decision_batch, mask_logits, masked_argmax
from dmarl_des.learn.messaging import Heard, MessageSpec, Spoken
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.sampling import sample_masked
from dmarl_des.learn.seeding import learner_streams

MESSAGE_KIND = "gnn_message"


class CommConfig(LearnerConfig):
    """Settings every graph-attention communicating learner shares."""

    message_size: int = Field(8, ge=1, le=1024, description="entries of a learned message")
    heads: int = Field(2, ge=1, le=64, description="attention heads")
    max_heard: int = Field(16, ge=1, le=4096, description="messages an agent uses, the freshest")
    offsets: bool = Field(True, description="use senders' offsets in worlds with positions")
    offset_scale: Real = Field(1.0, gt=0.0, description="offsets are divided by it")
    communicate: bool = Field(True, description="false: the same learner, deaf and mute")
    comm_cost: Real = Field(0.0, ge=0.0, description="reward lost per byte put on the air")
    log_size: Count = Field(131_072, ge=1024, le=10**7, description="decision records kept")


def check_comm_config(config: CommConfig) -> None:
    """Graph-attention learners share one set of parameters over an MLP encoder."""
    for key, value, allowed in (
        ("params", config.params, "shared"),
        ("network", config.network, "mlp"),
        ("agent_feature", config.agent_feature, "none"),
    ):
        if value != allowed:
            raise ConfigError(f"learner.{key}", value, f"{allowed!r} for {config.name}")


class GnnIPPOConfig(CommConfig, PPOSettings):
    """Mac-IPPO with graph-attention communication."""

    name: Literal["gnn_ippo"] = "gnn_ippo"
    gate: bool = Field(False, description="learn a send/no-send gate (comm.send = gate obeys it)")
    eval_sample: bool = Field(
        False, description="sample macro-actions in evaluation too (else the most likely one)"
    )


def channel_vectors(net: CommNet, b: dict[str, torch.Tensor]) -> torch.Tensor:
    """Heard vectors with the differentiable channel: m + msg_θ(o_src, a_src) − said_src where
    the source record is held (``dmarl_des.learn.heard_log``)."""
    vec = b["vec"]
    if b["src_at"].numel():
        now = net.speak_from(b["src_obs"], b["src_action"])
        vec = vec.index_add(0, b["src_at"], now - b["src_said"])
    return vec


class GnnIPPO:
    """Mac-IPPO with graph-attention messages (module docstring)."""

    joint = False
    train_metrics = ("gate_rate", "heard_per_decision")

    def __init__(self, config: GnnIPPOConfig, spec: LearnerSpec, device: torch.device) -> None:
        check_comm_config(config)
        self.config = config
        self.spec = spec
        self.device = device
        self.communicates = config.communicate
        self.streams = learner_streams(spec.seed)
        self.rng = self.streams.rng
        a, s = spec.n_actions, config.message_size
        self.net = CommNet(
            spec.obs_dim, a, a + 1, s, config.hidden, config.heads, config.offsets,
            config.offset_scale, config.gate, self.streams.init,
        ).to(device)  # fmt: skip
        with torch.no_grad():  # near-uniform initial policy; a gate open at first (σ(2) ≈ 0.88)
            self.net.head[-1].weight[:a].mul_(0.01)
            if self.net.gate is not None:
                self.net.gate.bias.fill_(2.0)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr, eps=1e-5)
        log = HeardLog(
            config.log_size, spec.n_agents, spec.obs_dim, a, s, config.max_heard,
            config.offsets,
            {"logp": ((), np.float32), "gate": ((), np.bool_), "gate_logp": ((), np.float32)},
        )  # fmt: skip
        self.talk = Conversation(spec.n_agents, log, s, config.comm_cost)
        self.rollout: list[dict[str, np.ndarray]] = []
        self.links: list[tuple[np.ndarray, np.ndarray]] = []
        self.rollout_size = 0
        self.updates = 0
        self._episode_over = False

    # -- messages -----------------------------------------------------------------------------
    def message_spec(self) -> MessageSpec:
        return MessageSpec(MESSAGE_KIND, self.config.message_size, 1.0, self.config.offsets)

    def hear(self, heard: Heard) -> None:
        self.talk.hear(heard)

    def spoken(self, agents: np.ndarray) -> Spoken:
        return self.talk.spoken(agents)

    def transmitted(self, agents: np.ndarray, sent_bytes: np.ndarray) -> None:
        self.talk.transmitted(agents, sent_bytes)

    # -- acting -------------------------------------------------------------------------------
    def _heard_tensors(self, heard: Heard, keep: np.ndarray):
        dev = self.device
        vec = torch.from_numpy(heard.vectors[keep]).to(dev)
        off = None if heard.offset is None else torch.from_numpy(heard.offset[keep]).to(dev)
        return vec, off, torch.from_numpy(heard.row[keep]).to(dev)

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        spec = self.spec
        obs, agent_idx, mask = check_decision_batch(
            obs, agent_idx, mask, spec.obs_dim, spec.n_actions, spec.n_agents
        )
        heard, keep = self.talk.take(agent_idx, self.config.offsets)
        noise = self.streams.noise
        with torch.no_grad():
            mask_t = torch.from_numpy(mask).to(self.device)
            out, gate_logit, h = self.net(
                torch.from_numpy(obs).to(self.device), *self._heard_tensors(heard, keep)
            )
            logits = mask_logits(out[:, : spec.n_actions], mask_t)
            if explore or self.config.eval_sample:
                action = sample_masked(logits, mask_t, noise)
            else:
                action = masked_argmax(logits, mask_t)
            logp_all = torch.log_softmax(logits, dim=1)
            logp = logp_all.gather(1, action.unsqueeze(1)).squeeze(1)
            probs = logp_all.exp()
            top = probs.topk(min(2, spec.n_actions), dim=1).values
            confidence = top[:, 0] - (top[:, 1] if top.shape[1] > 1 else 0.0)
            gate = torch.ones(len(agent_idx), dtype=torch.bool, device=self.device)
            gate_logp = torch.zeros(len(agent_idx), device=self.device)
            if gate_logit is not None:
                p = torch.sigmoid(gate_logit)
                gate = (
                    torch.rand(len(agent_idx), generator=noise).to(self.device) < p
                    if explore
                    else p > 0.5
                )
                gate_logp = torch.where(gate, torch.log(p + 1e-8), torch.log1p(-p + 1e-8))
            said = self.net.message(h, action)
        actions = action.cpu().numpy()
        ids = self.talk.record(
            heard,
            obs=obs,
            action=actions,
            mask=mask,
            said=said.cpu().numpy(),
            logp=logp.cpu().numpy(),
            gate=gate.cpu().numpy(),
            gate_logp=gate_logp.cpu().numpy(),
        )
        self.links.append(self.talk.link(agent_idx, ids))
        self.talk.said(
            agent_idx,
            Spoken(
                said.cpu().numpy(),
                confidence.cpu().numpy(),
                None if gate_logit is None else gate.cpu().numpy(),
            ),
        )
        return actions

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        self.talk.reset(None if agent_idx is None else np.asarray(agent_idx, dtype=np.int64))

    # -- experience ---------------------------------------------------------------------------
    def observe(self, batch: TransitionBatch) -> None:
        agent = np.asarray(batch.agent_idx, dtype=np.int64)
        n = len(batch)
        rows = self.rollout_size + np.arange(n, dtype=np.int64)
        done = np.asarray(batch.done, dtype=bool)
        self.talk.pending[agent[~done]] = rows[~done]
        self.rollout.append(
            {
                "row": rows,
                "rec": self.talk.started_at(agent),
                "episode": np.full(n, batch.episode, dtype=np.int64),
                "agent": agent,
                "t_start": np.asarray(batch.t_start, dtype=np.float64),
                "reward": np.asarray(batch.reward, dtype=np.float64) - self.talk.charge(agent),
                "obs_next": np.asarray(batch.obs_next, dtype=np.float32),
                "discount": self.spec.gamma ** np.asarray(batch.tau, dtype=np.float64),
                "done": done,
                "terminal": np.asarray(batch.terminal, dtype=bool),
            }
        )
        self.rollout_size += n

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        """Independent learner: joint epochs are not used."""

    def end_episode(self, episode: int) -> None:
        self._episode_over = self.rollout_size > 0

    def ready(self) -> bool:
        if self.config.update_every > 0:
            return self.rollout_size >= self.config.update_every
        return self._episode_over and self.rollout_size > 0

    # -- learning -----------------------------------------------------------------------------
    def _take_rollout(self) -> dict[str, np.ndarray]:
        data = {k: np.concatenate([r[k] for r in self.rollout]) for k in self.rollout[0]}
        next_rec = np.full(self.rollout_size, -1, dtype=np.int64)
        for rows, recs in self.links:
            inside = rows < self.rollout_size
            next_rec[rows[inside]] = recs[inside]
        data["next_rec"] = next_rec[data["row"]]
        self.rollout, self.links, self.rollout_size, self._episode_over = [], [], 0, False
        self.talk.pending[:] = -1
        held = self.talk.log.valid(data["rec"])
        return {k: v[held] for k, v in data.items()}

    def _values(self, rec: np.ndarray, obs_next: np.ndarray) -> torch.Tensor:
        """V of records ``rec`` (as heard), or of ``obs_next`` with nothing heard where the
        record is not held."""
        log, dev = self.talk.log, self.device
        values = torch.zeros(rec.size, device=dev)
        held = log.valid(rec)
        with torch.no_grad():
            if held.any():
                b = log.batch(rec[held], dev)
                out, _, _ = self.net(b["obs"], b["vec"], b["off"], b["row"])
                values[torch.from_numpy(np.flatnonzero(held)).to(dev)] = out[:, -1]
            if (~held).any():
                obs = torch.from_numpy(obs_next[~held]).to(dev)
                empty = torch.zeros(0, dtype=torch.int64, device=dev)
                out, _, _ = self.net(obs, obs.new_zeros((0, self.config.message_size)), None, empty)
                values[torch.from_numpy(np.flatnonzero(~held)).to(dev)] = out[:, -1]
        return values

    def update(self) -> dict[str, float]:
        cfg = self.config
        if not self.rollout:
            raise RuntimeError("GnnIPPO.update() called with no transitions; check ready() first")
        data = self._take_rollout()
        n = data["rec"].size
        if n == 0:
            self.updates += 1
            return {"samples": 0.0}
        order = np.lexsort((data["t_start"], data["agent"], data["episode"]))
        data = {k: v[order] for k, v in data.items()}
        last = trajectory_ends(data["episode"], data["agent"], data["done"])
        value = self._values(data["rec"], data["obs_next"])
        next_rec = np.where(data["done"], -1, data["next_rec"])
        value_next = self._values(next_rec, data["obs_next"])
        advantage = smdp_gae(
            data["reward"], value.cpu().numpy(), value_next.cpu().numpy(), data["discount"],
            data["terminal"], last, cfg.gae_lambda,
        )  # fmt: skip
        adv_all = torch.from_numpy(advantage).float().to(self.device)
        returns = adv_all + value
        sums = dict.fromkeys(
            ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "grad_norm"),
            0.0,
        )
        gate_rate = heard = 0.0
        steps = 0
        a = self.spec.n_actions
        for _ in range(cfg.epochs):
            for mb_np in np.array_split(self.rng.permutation(n), min(cfg.minibatches, n)):
                b = self.talk.log.batch(data["rec"][mb_np], self.device)
                mb = torch.from_numpy(mb_np).to(self.device)
                vec = channel_vectors(self.net, b)
                out, gate_logit, _ = self.net(b["obs"], vec, b["off"], b["row"])
                logp_all = torch.log_softmax(mask_logits(out[:, :a], b["mask"]), dim=1)
                logp = logp_all.gather(1, b["action"].unsqueeze(1)).squeeze(1)
                entropy = -(logp_all.exp() * logp_all).sum(dim=1).mean()
                old = b["logp"]
                if gate_logit is not None:
                    p = torch.sigmoid(gate_logit)
                    logp = logp + torch.where(
                        b["gate"], torch.log(p + 1e-8), torch.log1p(-p + 1e-8)
                    )
                    old = old + b["gate_logp"]
                    q = p.clamp(1e-6, 1 - 1e-6)
                    entropy = entropy - (q * q.log() + (1 - q) * (1 - q).log()).mean()
                    gate_rate += float(b["gate"].float().mean())
                adv = adv_all[mb]
                if cfg.normalize_advantage and len(mb_np) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                log_ratio = logp - old
                ratio = log_ratio.exp()
                clipped = ratio.clamp(1.0 - cfg.clip_coef, 1.0 + cfg.clip_coef)
                policy_loss = -torch.minimum(ratio * adv, clipped * adv).mean()
                value_loss = 0.5 * (returns[mb] - out[:, -1]).pow(2).mean()
                loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
                self.optimizer.step()
                with torch.no_grad():
                    sums["loss"] += float(loss)
                    sums["policy_loss"] += float(policy_loss)
                    sums["value_loss"] += float(value_loss)
                    sums["entropy"] += float(entropy)
                    sums["approx_kl"] += float(((ratio - 1.0) - log_ratio).mean())
                    sums["clip_frac"] += float(((ratio - 1.0).abs() > cfg.clip_coef).float().mean())
                    sums["grad_norm"] += float(norm)
                    heard += b["row"].numel() / max(len(mb_np), 1)
                steps += 1
        self.updates += 1
        metrics = {"samples": float(n), **{k: v / steps for k, v in sums.items()}}
        metrics["heard_per_decision"] = heard / steps
        metrics["gate_rate"] = gate_rate / steps if cfg.gate else None
        return metrics

    # -- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "algorithm": "gnn_ippo",
            "nets": {"net": self.net.state_dict()},
            "optimizer": {"net": self.optimizer.state_dict()},
            "counters": {"updates": self.updates},
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["nets"]["net"])
        self.optimizer.load_state_dict(state["optimizer"]["net"])
        self.updates = int(state["counters"]["updates"])
