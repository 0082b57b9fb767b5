"""Mac-IQL with graph-attention communication: shared Q(o_i, heard messages, ·) learned by double DQN from replay.

Acting, messages and the differentiable channel are those of ``gnn_ippo`` (the network of
``comm_net`` with a Q head; an agent says ``tanh(W [h_i, onehot(a_i)])`` after choosing a_i
ε-greedily). A replayed macro-transition (o, m, r_c, o', τ) is tied to two decision records —
the one m was chosen at and the agent's next one (what it heard then) — and trains

    y = r_c + γ^τ · Q_target(o', heard', argmax_{m' ∈ mask'} Q(o', heard', m'))   (y = r_c at a terminal)
    loss = Huber(Q(o, heard, m) − y)

with the heard messages of the online term recomputed by the current encoder
(``heard_log``: the differentiable channel) and those of the target as received. A transition
becomes trainable when its next record exists (its agent decided again) or the episode ended
(then o' is used with nothing heard). Records are kept in a ring of ``log_size``; a transition
whose records were overwritten is not sampled. No send gate (a gate is learned by ``gnn_ippo``).
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dmarl_des.bounds import Count, Real
from dmarl_des.learn.comm_net import CommNet
from dmarl_des.learn.config import MAX_BUFFER, LearnerSpec
from dmarl_des.learn.conversation import Conversation
from dmarl_des.learn.gnn_ippo import MESSAGE_KIND, CommConfig, channel_vectors, check_comm_config
from dmarl_des.learn.heard_log import HeardLog
from dmarl_des.learn.iql import double_q_target
from dmarl_des.learn.masking import check_decision_batch
from dmarl_des.learn.messaging import Heard, MessageSpec, Spoken
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.q_agents import q_metrics, td_loss
from dmarl_des.learn.replay import ReplayBuffer
from dmarl_des.learn.sampling import LinearSchedule, epsilon_greedy
from dmarl_des.learn.seeding import learner_streams


class GnnIQLConfig(CommConfig):
    """Mac-IQL with graph-attention communication (counts are transitions)."""

    name: Literal["gnn_iql"] = "gnn_iql"
    buffer_size: int = Field(20_000, gt=0, le=MAX_BUFFER)
    batch_size: Count = Field(64, gt=0)
    learning_starts: Count = Field(500, ge=0)
    train_every: Count = Field(4, gt=0)
    target_every: Count = Field(200, gt=0, description="updates between target syncs")
    eps_start: float = Field(1.0, ge=0.0, le=1.0)
    eps_end: float = Field(0.05, ge=0.0, le=1.0)
    eps_decay: Count = Field(5_000, ge=0, description="exploring decisions per agent")
    huber_delta: Real = Field(1.0, gt=0.0)


class GnnIQL:
    """Mac-IQL with graph-attention messages (module docstring)."""

    joint = False
    train_metrics = ("heard_per_decision",)

    def __init__(self, config: GnnIQLConfig, spec: LearnerSpec, device: torch.device) -> None:
        check_comm_config(config)
        self.config = config
        self.spec = spec
        self.device = device
        self.communicates = config.communicate
        self.streams = learner_streams(spec.seed)
        self.rng = self.streams.rng
        a, s = spec.n_actions, config.message_size
        self.online = CommNet(
            spec.obs_dim, a, a, s, config.hidden, config.heads, config.offsets,
            config.offset_scale, False, self.streams.init,
        ).to(device)  # fmt: skip
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.lr)
        log_size = max(config.log_size, 2 * config.buffer_size)
        log = HeardLog(
            log_size, spec.n_agents, spec.obs_dim, a, s, config.max_heard, config.offsets
        )
        self.talk = Conversation(spec.n_agents, log, s, config.comm_cost)
        self.replay = ReplayBuffer(
            config.buffer_size,
            {
                "rec": ((), np.int64),
                "next_rec": ((), np.int64),
                "reward": ((), np.float32),
                "obs_next": ((spec.obs_dim,), np.float32),
                "mask_next": ((a,), np.bool_),
                "discount": ((), np.float32),
                "terminal": ((), np.bool_),
                "ready": ((), np.bool_),
            },
        )
        self.epsilon = LinearSchedule(
            config.eps_start, config.eps_end, config.eps_decay, spec.n_agents
        )
        self.decisions = 0
        self.updates = 0
        self._credit = 0
        self._rows_written = 0

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
    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        spec = self.spec
        obs, agent_idx, mask = check_decision_batch(
            obs, agent_idx, mask, spec.obs_dim, spec.n_actions, spec.n_agents
        )
        heard, keep = self.talk.take(agent_idx, self.config.offsets)
        epsilon = self.epsilon(self.decisions) if explore else 0.0
        dev = self.device
        with torch.no_grad():
            off = None if heard.offset is None else torch.from_numpy(heard.offset[keep]).to(dev)
            q, _, h = self.online(
                torch.from_numpy(obs).to(dev),
                torch.from_numpy(heard.vectors[keep]).to(dev),
                off,
                torch.from_numpy(heard.row[keep]).to(dev),
            )
            mask_t = torch.from_numpy(mask).to(dev)
            action = epsilon_greedy(q, mask_t, epsilon, self.streams.noise)
            said = self.online.message(h, action)
            top = q.masked_fill(~mask_t, -torch.inf).topk(min(2, spec.n_actions), dim=1).values
            confidence = (top[:, 0] - top[:, -1]).nan_to_num(posinf=0.0, neginf=0.0)
        if explore:
            self.decisions += len(agent_idx)
        actions = action.cpu().numpy()
        said_np = said.cpu().numpy()
        ids = self.talk.record(heard, obs=obs, action=actions, mask=mask, said=said_np)
        rows, recs = self.talk.link(agent_idx, ids)
        if rows.size:  # transitions waiting for these records become trainable
            at = rows % self.config.buffer_size
            fresh = self._rows_written - rows <= self.config.buffer_size
            self.replay.columns["next_rec"][at[fresh]] = recs[fresh]
            self.replay.columns["ready"][at[fresh]] = True
            self._count(int(np.count_nonzero(fresh)))
        self.talk.said(agent_idx, Spoken(said_np, confidence.cpu().numpy()))
        return actions

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        self.talk.reset(None if agent_idx is None else np.asarray(agent_idx, dtype=np.int64))

    # -- experience ---------------------------------------------------------------------------
    def _count(self, n: int) -> None:
        if len(self.replay) >= self.config.learning_starts:
            self._credit += n

    def observe(self, batch: TransitionBatch) -> None:
        agent = np.asarray(batch.agent_idx, dtype=np.int64)
        n = len(batch)
        done = np.asarray(batch.done, dtype=bool)
        rows = self._rows_written + np.arange(n, dtype=np.int64)
        self.replay.add(
            rec=self.talk.started_at(agent),
            next_rec=np.full(n, -1, dtype=np.int64),
            reward=np.asarray(batch.reward, dtype=np.float64) - self.talk.charge(agent),
            obs_next=batch.obs_next,
            mask_next=batch.mask_next,
            discount=self.spec.gamma ** np.asarray(batch.tau, dtype=np.float64),
            terminal=batch.terminal,
            ready=done,
        )
        self._rows_written += n
        self.talk.pending[agent[~done]] = rows[~done]
        self._count(int(np.count_nonzero(done)))

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        """Independent learner: joint epochs are not used."""

    def end_episode(self, episode: int) -> None:
        """Nothing to do: updates follow the transition count."""

    def ready(self) -> bool:
        cfg = self.config
        enough = len(self.replay) >= max(cfg.learning_starts, cfg.batch_size)
        return enough and self._credit >= cfg.train_every

    # -- learning -----------------------------------------------------------------------------
    def _sample(self) -> dict[str, np.ndarray]:
        """A minibatch of trainable transitions whose records are held."""
        d, size = self.replay.columns, len(self.replay)
        ok = d["ready"][:size] & self.talk.log.valid(d["rec"][:size])
        nxt = d["next_rec"][:size]
        ok &= (nxt < 0) | self.talk.log.valid(nxt)
        pool = np.flatnonzero(ok)
        pick = pool[self.rng.integers(0, pool.size, size=self.config.batch_size)]
        return {k: v[pick] for k, v in d.items()}

    def _q(self, net: CommNet, rec: np.ndarray, obs: np.ndarray, channel: bool) -> torch.Tensor:
        """Q-values of records ``rec`` (heard as recorded; with the channel when asked), or of
        ``obs`` with nothing heard where ``rec`` < 0."""
        dev, log = self.device, self.talk.log
        out = torch.zeros((rec.size, self.spec.n_actions), device=dev)
        has = rec >= 0
        if has.any():
            b = log.batch(rec[has], dev)
            vec = channel_vectors(net, b) if channel else b["vec"]
            q, _, _ = net(b["obs"], vec, b["off"], b["row"])
            out = out.index_put((torch.from_numpy(np.flatnonzero(has)).to(dev),), q)
        if (~has).any():
            o = torch.from_numpy(obs[~has]).to(dev)
            empty = torch.zeros(0, dtype=torch.int64, device=dev)
            q, _, _ = net(o, o.new_zeros((0, self.config.message_size)), None, empty)
            out = out.index_put((torch.from_numpy(np.flatnonzero(~has)).to(dev),), q)
        return out

    def update(self) -> dict[str, float]:
        cfg = self.config
        self._credit = max(0, self._credit - cfg.train_every)
        s = self._sample()
        dev = self.device
        b = self.talk.log.batch(s["rec"], dev)
        vec = channel_vectors(self.online, b)
        q_all, _, _ = self.online(b["obs"], vec, b["off"], b["row"])
        q_taken = q_all.gather(1, b["action"].unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            q_next_online = self._q(self.online, s["next_rec"], s["obs_next"], False)
            q_next_target = self._q(self.target, s["next_rec"], s["obs_next"], False)
            target = double_q_target(
                torch.from_numpy(s["reward"]).to(dev),
                torch.from_numpy(s["discount"]).to(dev),
                torch.from_numpy(s["terminal"]).to(dev),
                q_next_online,
                q_next_target,
                torch.from_numpy(s["mask_next"]).to(dev),
            )
        loss = td_loss(q_taken, target, "huber", cfg.huber_delta)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(self.online.parameters(), cfg.grad_clip))
        self.optimizer.step()
        self.updates += 1
        if self.updates % cfg.target_every == 0:
            self.target.load_state_dict(self.online.state_dict())
        metrics = q_metrics(loss, q_taken, q_taken.shape[0], norm, self.epsilon(self.decisions))
        metrics["heard_per_decision"] = b["row"].numel() / max(len(s["rec"]), 1)
        return metrics

    # -- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "algorithm": "gnn_iql",
            "nets": {"online": self.online.state_dict(), "target": self.target.state_dict()},
            "optimizer": self.optimizer.state_dict(),
            "counters": {"decisions": self.decisions, "updates": self.updates},
        }

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["nets"]["online"])
        self.target.load_state_dict(state["nets"]["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.decisions = int(state["counters"]["decisions"])
        self.updates = int(state["counters"]["updates"])
