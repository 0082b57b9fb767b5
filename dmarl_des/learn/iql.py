"""Mac-IQL: independent double DQN over squeezed macro-transitions with SMDP discounting.

Each agent's macro-transition (o, m, r_c, o', τ) trains its own Q (own parameters or shared):

    y = r_c + γ^τ · Q_target(o', argmax_{m' ∈ mask'} Q(o', m'))      (y = r_c at a true terminal)
    loss = Huber(Q(o, m) − y)

A horizon cut (done, not terminal) bootstraps. Replay (``replay = pooled``) is one numpy ring
buffer of all agents' transitions: minibatches of ``batch_size`` drawn uniformly, one update every
``train_every`` stored transitions once ``learning_starts`` are stored. With ``replay = per_agent``
each agent keeps its own ring buffer and an update trains every agent with data on ``batch_size``
of its own transitions, one update per ``train_every`` stored transitions of each such agent.
An update trains only the parameter sets its minibatch touches (`StackedAdam`: the others'
parameters and optimizer state do not move). Exploration is ε-greedy with ε linear in the
number of exploring decisions; the target net is synced every ``target_every`` updates (Polyak
rate ``polyak``; 1 = copy). Optional hysteretic updates (off by default) weight rows with a
negative TD error y − Q by β, β linear over exploring decisions.

With a GRU and ``trace_len = L > 0`` (sequence replay, as in Dec-HDDRQN), a minibatch holds
segments of up to L consecutive decisions of one agent in one episode; the cell runs along each
segment from the state stored at its first decision, over the inputs o_0, o'_0, …, o'_{L−1}
(o'_k = o_{k+1} within a segment), and the gradient flows back through the whole segment.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dmarl_des.bounds import Count, Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.act_records import ActRecords
from dmarl_des.learn.agent_replay import AgentReplay
from dmarl_des.learn.config import MAX_BUFFER, LearnerConfig, LearnerSpec
from dmarl_des.learn.masking import masked_argmax
from dmarl_des.learn.networks import GatheredSets
from dmarl_des.learn.optimism import hysteretic_weights
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.q_agents import AgentQ, gradient_step, q_metrics, td_loss
from dmarl_des.learn.replay import ReplayBuffer
from dmarl_des.learn.sampling import LinearSchedule
from dmarl_des.learn.seeding import learner_streams
from dmarl_des.learn.sequence_replay import SequenceReplay
from dmarl_des.learn.stacked_adam import StackedAdam


class IQLConfig(LearnerConfig):
    """Mac-IQL hyperparameters (counts are transitions unless said otherwise)."""

    name: Literal["iql"] = "iql"
    replay: Literal["pooled", "per_agent"] = Field(
        "pooled",
        description="one buffer of all agents' transitions, or one buffer per agent (its own "
        "buffer_size / n_agents transitions; batch_size and train_every then count per agent)",
    )
    buffer_size: int = Field(50_000, gt=0, le=MAX_BUFFER)
    batch_size: Count = Field(64, gt=0)
    learning_starts: Count = Field(500, ge=0)
    train_every: Count = Field(4, gt=0)
    target_every: Count = Field(200, gt=0, description="updates between target syncs")
    polyak: float = Field(1.0, gt=0.0, le=1.0)
    eps_start: float = Field(1.0, ge=0.0, le=1.0)
    eps_end: float = Field(0.05, ge=0.0, le=1.0)
    eps_decay: Count = Field(
        5_000, ge=0, description="exploring decisions per agent (all agents' / N) from start to end"
    )
    loss: Literal["huber", "mse"] = "huber"
    huber_delta: Real = Field(1.0, gt=0.0)
    hysteretic_beta: float = Field(
        1.0, ge=0.0, le=1.0, description="weight of negative TD errors at the start (1 = off)"
    )
    hysteretic_beta_end: float | None = Field(
        None, ge=0.0, le=1.0, description="weight of negative TD errors at the end (None = start)"
    )
    hysteretic_decay: Count = Field(
        0, ge=0, description="exploring decisions per agent over which β moves from start to end"
    )
    trace_len: int = Field(
        0,
        ge=0,
        le=10_000,
        description="GRU only: train on sequences of this many decisions of one agent (0 = one "
        "step from the stored recurrent state)",
    )


def double_q_target(
    reward: torch.Tensor,
    discount: torch.Tensor,
    terminal: torch.Tensor,
    q_next_online: torch.Tensor,
    q_next_target: torch.Tensor,
    mask_next: torch.Tensor,
) -> torch.Tensor:
    """r_c + γ^τ · Q_target(o', argmax over allowed m' of Q_online(o', m')); no bootstrap at a
    true terminal (nor where o' allows no action)."""
    best = masked_argmax(q_next_online, mask_next)
    next_value = q_next_target.gather(1, best.unsqueeze(1)).squeeze(1)
    bootstrap = ~terminal & mask_next.any(dim=1)
    return reward + discount * torch.where(bootstrap, next_value, torch.zeros_like(next_value))


class IQL:
    """Mac-IQL learner (implements the Learner protocol; ``joint = False``)."""

    joint = False

    def __init__(self, config: IQLConfig, spec: LearnerSpec, device: torch.device) -> None:
        if config.trace_len and config.network != "gru":
            raise ConfigError(
                "learner.trace_len", config.trace_len, "0 unless learner.network is 'gru'"
            )
        if config.trace_len and config.replay == "per_agent":
            raise ConfigError("learner.replay", config.replay, "'pooled' when trace_len > 0")
        self.config = config
        self.spec = spec
        self.device = device
        self.streams = learner_streams(spec.seed)
        self.rng = self.streams.rng
        self.agents = AgentQ(config, spec, device, self.streams)
        self.optimizer = StackedAdam(self.agents.online.flat, lr=config.lr)
        per = spec.n_agents  # schedules count decisions per agent
        self.epsilon = LinearSchedule(config.eps_start, config.eps_end, config.eps_decay, per)
        beta_end = config.hysteretic_beta_end
        self.beta = LinearSchedule(
            config.hysteretic_beta,
            config.hysteretic_beta if beta_end is None else beta_end,
            config.hysteretic_decay,
            per,
        )
        d, a, h = spec.obs_dim, spec.n_actions, self.agents.state_size
        columns = {
            "agent": ((), np.int64),
            "obs": ((d,), np.float32),
            "action": ((), np.int64),
            "reward": ((), np.float32),
            "obs_next": ((d,), np.float32),
            "mask_next": ((a,), np.bool_),
            "discount": ((), np.float32),
            "terminal": ((), np.bool_),
        }
        if h:
            columns |= {"h": ((h,), np.float32), "h_next": ((h,), np.float32)}
        self.replay: ReplayBuffer | SequenceReplay | AgentReplay
        if config.trace_len:
            del columns["agent"]  # the sequence replay keeps the agent with its links
            self.replay = SequenceReplay(config.buffer_size, columns, spec.n_agents)
        elif config.replay == "per_agent":
            capacity = max(1, config.buffer_size // spec.n_agents)
            self.replay = AgentReplay(spec.n_agents, capacity, columns)
        else:
            self.replay = ReplayBuffer(config.buffer_size, columns)
        self.records = ActRecords(spec.n_agents, d, {"h": (h,), "h_next": (h,)}) if h else None
        self.decisions = 0  # exploring decisions taken (drives ε)
        self.updates = 0
        self._credit = 0  # transitions stored since the last update (once learning started)

    # -- acting -----------------------------------------------------------------------------
    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        epsilon = self.epsilon(self.decisions) if explore else 0.0
        actions, h_in, h_out = self.agents.act(obs, agent_idx, mask, epsilon)
        if explore:
            self.decisions += len(actions)
        if self.records is not None:
            self.records.record(np.asarray(agent_idx), obs, actions, h=h_in, h_next=h_out)
        return actions

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        self.agents.reset(agent_idx)

    # -- experience ---------------------------------------------------------------------------
    def observe(self, batch: TransitionBatch) -> None:
        rows = {
            "agent": batch.agent_idx,
            "obs": batch.obs,
            "action": batch.action,
            "reward": batch.reward,
            "obs_next": batch.obs_next,
            "mask_next": batch.mask_next,
            "discount": self.spec.gamma ** np.asarray(batch.tau, dtype=np.float64),
            "terminal": batch.terminal,
        }
        if self.records is not None:
            _, states = self.records.lookup(batch.agent_idx, batch.obs, batch.action)
            rows |= states
        if isinstance(self.replay, SequenceReplay):
            del rows["agent"]
            self.replay.add(batch.episode, batch.agent_idx, batch.done, **rows)
        else:
            self.replay.add(**rows)
        if len(self.replay) >= self.config.learning_starts:
            self._credit += len(batch)

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        """Independent learner: joint epochs are not used."""

    def end_episode(self, episode: int) -> None:
        """Nothing to do: updates follow the transition count."""

    def _update_cost(self) -> int:
        """Stored transitions per update: ``train_every``, or ``train_every`` per agent with
        data when each agent has its own replay (every update trains each of them)."""
        if isinstance(self.replay, AgentReplay):
            return self.config.train_every * self.replay.n_agents_with_data
        return self.config.train_every

    def ready(self) -> bool:
        cfg = self.config
        if isinstance(self.replay, AgentReplay):
            enough = len(self.replay) >= max(cfg.learning_starts, 1)
        else:
            enough = len(self.replay) >= max(cfg.learning_starts, cfg.batch_size)
        return enough and self._credit >= self._update_cost()

    # -- learning -----------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        cfg = self.config
        if len(self.replay) == 0:
            raise RuntimeError("IQL.update() called with no transitions; check ready() first")
        self._credit = max(0, self._credit - self._update_cost())
        if isinstance(self.replay, SequenceReplay):
            q_taken, target, online = self._sequence_targets()
        else:
            q_taken, target, online = self._step_targets()
        beta = self.beta(self.decisions)
        weights = None if beta >= 1.0 else hysteretic_weights(target - q_taken.detach(), beta)
        loss = td_loss(q_taken, target, cfg.loss, cfg.huber_delta, weights)
        grad_norm = gradient_step(self.optimizer, loss, online, cfg.grad_clip)
        self.updates += 1
        if self.updates % cfg.target_every == 0:
            self.agents.sync_target(cfg.polyak)
        return q_metrics(loss, q_taken, q_taken.shape[0], grad_norm, self.epsilon(self.decisions))

    def _batch(self, sample: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v).to(self.device) for k, v in sample.items()}

    def _step_targets(self) -> tuple[torch.Tensor, torch.Tensor, GatheredSets]:
        """Q(o, m), its double-Q target, and the online parameter sets they train, for a
        minibatch of single transitions (``batch_size`` of each agent with per-agent replay)."""
        b = self._batch(self.replay.sample(self.config.batch_size, self.rng))
        agents = self.agents
        online, target_net = agents.gather(b["agent"])  # only the sets of the sampled agents
        q_all, _ = agents.q_values(online, b["obs"], b["agent"], b.get("h"))
        q_taken = q_all.gather(1, b["action"].unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            h_next = b.get("h_next")
            q_next_online, _ = agents.q_values(online, b["obs_next"], b["agent"], h_next)
            q_next_target, _ = agents.q_values(target_net, b["obs_next"], b["agent"], h_next)
            target = double_q_target(
                b["reward"],
                b["discount"],
                b["terminal"],
                q_next_online,
                q_next_target,
                b["mask_next"],
            )
        return q_taken, target, online

    def _sequence_targets(self) -> tuple[torch.Tensor, torch.Tensor, GatheredSets]:
        """Q(o_k, m_k), double-Q targets along sampled segments (valid steps only), and the
        online parameter sets they train."""
        cfg = self.config
        b = self._batch(self.replay.sample(cfg.batch_size, cfg.trace_len, self.rng))
        agents = self.agents
        agent = b["agent"][:, 0]
        online, target_net = agents.gather(agent)  # only the sets of the sampled agents
        h0 = b["h"][:, 0]
        inputs = torch.cat([b["obs"][:, :1], b["obs_next"]], dim=1)  # o_0, o'_0, …, o'_{L-1}
        valid = b["valid"]
        q = agents.q_sequence(online, inputs, agent, h0)
        q_taken = q[:, :-1].gather(2, b["action"].unsqueeze(2)).squeeze(2)[valid]
        with torch.no_grad():
            q_next_target = agents.q_sequence(target_net, inputs, agent, h0)[:, 1:]
            target = double_q_target(
                b["reward"][valid],
                b["discount"][valid],
                b["terminal"][valid],
                q[:, 1:].detach()[valid],
                q_next_target[valid],
                b["mask_next"][valid],
            )
        return q_taken, target, online

    # -- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "algorithm": "iql",
            "nets": self.agents.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": {"decisions": self.decisions, "updates": self.updates},
        }

    def load_state_dict(self, state: dict) -> None:
        self.agents.load_state_dict(state["nets"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.decisions = int(state["counters"]["decisions"])
        self.updates = int(state["counters"]["updates"])
