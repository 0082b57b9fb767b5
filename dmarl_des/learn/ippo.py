"""Mac-IPPO: independent PPO over squeezed macro-transitions with SMDP discounting.

Per agent trajectory (its successive macro-transitions, ordered by start time):

    δ_t = r_c,t + γ^{τ_t} · V(o'_t) − V(o_t)         (V(o'_t) = 0 at a true terminal)
    A_t = δ_t + γ^{τ_t} λ · A_{t+1}                   (A_{t+1} = 0 where the trajectory ends:
                                                       episode over, or cut by the rollout)
    R_t = A_t + V(o_t)

A horizon cut (done, not terminal) keeps the bootstrap V(o'_t) in δ_t. Loss per minibatch:
−min(ρA, clip(ρ, 1±ε)A) + c_v · ½(V − R)² − c_e · H[π], ρ = π(m|o) / π_old(m|o), with π_old
stored at act time. The actor and critic share a trunk (logits and value heads). Cadence: one
update (``epochs`` passes of ``minibatches`` minibatches) per episode, or every ``update_every``
transitions.

Options for coordination games, all off by default: ε-mixture exploration (behaviour
(1 − ε)·π + ε·uniform; π_old is π's own probability unless ``explore_correction = importance``),
an expectile critic (value errors with R < V weighted ``value_beta``), leaky advantages
(negative ones scaled by ``advantage_slope``; then scaled by their std, not centred), and a
centralized critic V(s, i) over the world state (``critic = state``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from dmarl_des.bounds import Count, Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.act_records import ActRecords
from dmarl_des.learn.config import LearnerConfig, LearnerSpec
from dmarl_des.learn.masking import check_decision_batch, mask_logits, masked_argmax
from dmarl_des.learn.networks import AgentNet, GatheredSets, HiddenState, hidden_sizes, select_sets
from dmarl_des.learn.optimism import hysteretic_weights, leaky_advantage
from dmarl_des.learn.params import build_layout
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.sampling import (
    LinearSchedule,
    epsilon_mixture,
    mixture_log_prob,
    sample_masked,
)
from dmarl_des.learn.seeding import learner_streams
from dmarl_des.learn.stacked_adam import StackedAdam, load_optimizers, step_sets


class PPOSettings(LearnerConfig):
    """The clipped-surrogate PPO hyperparameters Mac-IPPO shares with its communicating variant."""

    lr: Real = Field(3e-4, gt=0.0)
    grad_clip: Real = Field(0.5, gt=0.0)
    update_every: Count = Field(0, ge=0, description="0: once per episode; K: every K transitions")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0)
    clip_coef: Real = Field(0.2, gt=0.0)
    vf_coef: Real = Field(0.5, ge=0.0)
    ent_coef: Real = Field(0.01, ge=0.0)
    epochs: int = Field(4, gt=0, le=10_000)
    minibatches: Count = Field(4, gt=0)
    normalize_advantage: bool = True


class IPPOConfig(PPOSettings):
    """Mac-IPPO hyperparameters."""

    name: Literal["ippo"] = "ippo"
    explore_eps: float = Field(
        0.0, ge=0.0, le=1.0, description="ε of the behaviour (1 − ε)·π + ε·uniform, at the start"
    )
    explore_eps_end: float = Field(0.0, ge=0.0, le=1.0, description="ε at the end of the decay")
    explore_decay: Count = Field(
        0, ge=0, description="exploring decisions per agent (all agents' / N), start to end ε"
    )
    explore_correction: Literal["none", "importance"] = Field(
        "none", description="ratio denominator: π_old (none) or the mixture μ_old (importance)"
    )
    critic: Literal["local", "state"] = Field(
        "local", description="value of the agent's observation, or of the world state (training)"
    )
    value_beta: float = Field(
        1.0, ge=0.0, le=1.0, description="weight of value errors with R < V (1 = plain regression)"
    )
    advantage_slope: float = Field(
        1.0, ge=0.0, le=1.0, description="scale of negative advantages in the policy loss (1 = off)"
    )


def trajectory_ends(episode: np.ndarray, agent: np.ndarray, done: np.ndarray) -> np.ndarray:
    """For rows sorted by (episode, agent, start time): True where no successor row follows."""
    last = np.asarray(done, dtype=bool).copy()
    if len(last):
        changes = (episode[1:] != episode[:-1]) | (agent[1:] != agent[:-1])
        last[:-1] |= changes
        last[-1] = True
    return last


def smdp_gae(
    reward: np.ndarray,
    value: np.ndarray,
    value_next: np.ndarray,
    discount: np.ndarray,
    terminal: np.ndarray,
    last: np.ndarray,
    lam: float,
) -> np.ndarray:
    """SMDP generalized advantage estimates for rows ordered along trajectories.

    ``discount`` is γ^τ of each row; ``last`` marks rows with no successor. Row k+1 is the
    successor of row k unless ``last[k]``. Vectorized across trajectories: one step of the
    backward recursion per position counted from the trajectory's end.
    """
    n = len(reward)
    reward, value, value_next, discount = (
        np.asarray(x, dtype=np.float64) for x in (reward, value, value_next, discount)
    )
    terminal, last = np.asarray(terminal, dtype=bool), np.asarray(last, dtype=bool)
    delta = reward + discount * np.where(terminal, 0.0, value_next) - value
    carry = np.where(last, 0.0, discount * lam)
    rows = np.arange(n)
    end = np.minimum.accumulate(np.where(last, rows, n)[::-1])[::-1]
    from_end = end - rows
    order = np.argsort(from_end, kind="stable")
    bounds = np.searchsorted(from_end[order], np.arange(from_end.max(initial=-1) + 2))
    advantage = np.zeros(n + 1)
    for depth in range(len(bounds) - 1):
        at = order[bounds[depth] : bounds[depth + 1]]
        advantage[at] = delta[at] + carry[at] * advantage[at + 1]
    return advantage[:n]


class IPPO:
    """Mac-IPPO learner (implements the Learner protocol; ``joint = False``)."""

    joint = False

    def __init__(self, config: IPPOConfig, spec: LearnerSpec, device: torch.device) -> None:
        self.config = config
        self.spec = spec
        self.device = device
        self.streams = learner_streams(spec.seed)
        self.rng = self.streams.rng
        self.layout = build_layout(
            config.params, config.agent_feature, spec.n_agents, spec.groups, device
        )
        self.net = AgentNet(
            spec.obs_dim + self.layout.feature_dim,
            spec.n_actions + 1,  # logits, then the value
            hidden_sizes(config.network, config.hidden),
            recurrent=config.network == "gru",
            n_sets=self.layout.n_sets,
            generator=self.streams.init,
        ).to(device)
        with torch.no_grad():  # near-uniform initial policy
            self.net.head.weight[:, :, : spec.n_actions].mul_(0.01)
        self.optimizer = StackedAdam(self.net.flat, lr=config.lr, eps=1e-5)
        self.critic = None  # critic = "state": V(world state, agent id), trained centrally
        self.critic_optimizer = None
        if config.critic == "state":
            if spec.state_dim < 1:
                raise ConfigError("learner.critic", "state", "a world with a global state")
            self.joint = True  # the world then sends DecisionEpoch records (with the state)
            self.critic = AgentNet(
                spec.state_dim + spec.n_agents,
                1,
                (config.hidden, config.hidden),
                recurrent=False,
                n_sets=1,
                generator=self.streams.init,
            ).to(device)
            self.critic_optimizer = StackedAdam(self.critic.flat, lr=config.lr, eps=1e-5)
            self.epoch_states: dict[int, tuple[list[float], list[np.ndarray]]] = {}
        h = self.net.state_size
        self.hidden = HiddenState(spec.n_agents, h, device)
        self.records = ActRecords(
            spec.n_agents, spec.obs_dim, {"logp": (), "h": (h,), "h_next": (h,)}
        )
        self.rollout: list[dict[str, np.ndarray]] = []
        self.rollout_size = 0
        self.updates = 0
        self._episode_over = False
        self.epsilon = LinearSchedule(  # over decisions per agent
            config.explore_eps, config.explore_eps_end, config.explore_decay, spec.n_agents
        )
        self.decisions = 0  # exploring decisions taken (drives ε)

    # -- acting -----------------------------------------------------------------------------
    def _forward(self, obs, agent_idx, h, plan=None, sets: GatheredSets | None = None):
        """(logits [B, A], values [B], next recurrent state) for tensor rows, with the whole net
        or with the parameter sets gathered for these rows."""
        x = self.layout.inputs(obs, agent_idx)
        if sets is not None:
            out, h_next = sets(x, h)
        else:
            out, h_next = self.net(x, self.layout.plan(agent_idx) if plan is None else plan, h)
        return out[:, :-1], out[:, -1], h_next

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        spec = self.spec
        obs, agent_idx, mask = check_decision_batch(
            obs, agent_idx, mask, spec.obs_dim, spec.n_actions, spec.n_agents
        )
        with torch.no_grad():
            idx_t = torch.from_numpy(agent_idx).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            h_in = self.hidden.get(idx_t)
            logits, _, h_out = self._forward(torch.from_numpy(obs).to(self.device), idx_t, h_in)
            logits = mask_logits(logits, mask_t)
            noise = self.streams.noise
            epsilon = self.epsilon(self.decisions) if explore else 0.0
            if explore:
                actions = epsilon_mixture(
                    sample_masked(logits, mask_t, noise), mask_t, epsilon, noise
                )
                self.decisions += len(agent_idx)
            else:
                actions = masked_argmax(logits, mask_t)
            logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
            if epsilon > 0.0 and self.config.explore_correction == "importance":
                logp = mixture_log_prob(logp, mask_t, epsilon)
            self.hidden.set(idx_t, h_out)
            actions_np = actions.cpu().numpy()
            states = {}
            if h_out is not None:
                states = {"h": h_in.cpu().numpy(), "h_next": h_out.cpu().numpy()}
            self.records.record(agent_idx, obs, actions_np, logp=logp.cpu().numpy(), **states)
        return actions_np

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        if self.hidden.size == 0:
            return
        if agent_idx is None:
            self.hidden.reset()
        else:
            idx = torch.as_tensor(np.asarray(agent_idx, dtype=np.int64), device=self.device)
            self.hidden.reset(idx)

    # -- experience ---------------------------------------------------------------------------
    def observe(self, batch: TransitionBatch) -> None:
        found, recorded = self.records.lookup(batch.agent_idx, batch.obs, batch.action)
        if not found.all():  # no act on record: score the action under the current policy
            recorded["logp"][~found] = self._logp_now(batch, ~found)
        n = len(batch)
        row = {
            "episode": np.full(n, batch.episode, dtype=np.int64),
            "agent": np.asarray(batch.agent_idx, dtype=np.int64),
            "t_start": np.asarray(batch.t_start, dtype=np.float64),
            "t_end": np.asarray(batch.t_end, dtype=np.float64),
            "obs": np.asarray(batch.obs, dtype=np.float32),
            "action": np.asarray(batch.action, dtype=np.int64),
            "mask": np.asarray(batch.mask, dtype=bool),
            "reward": np.asarray(batch.reward, dtype=np.float64),
            "obs_next": np.asarray(batch.obs_next, dtype=np.float32),
            "discount": self.spec.gamma ** np.asarray(batch.tau, dtype=np.float64),
            "done": np.asarray(batch.done, dtype=bool),
            "terminal": np.asarray(batch.terminal, dtype=bool),
            **recorded,
        }
        self.rollout.append(row)
        self.rollout_size += n

    def _logp_now(self, batch: TransitionBatch, rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            idx = torch.from_numpy(np.asarray(batch.agent_idx[rows], dtype=np.int64)).to(
                self.device
            )
            obs = torch.from_numpy(np.asarray(batch.obs[rows], dtype=np.float32)).to(self.device)
            mask = torch.from_numpy(np.asarray(batch.mask[rows])).to(self.device)
            action = torch.from_numpy(np.asarray(batch.action[rows], dtype=np.int64)).to(
                self.device
            )
            h = None if self.hidden.size == 0 else obs.new_zeros(len(idx), self.hidden.size)
            logits, _, _ = self._forward(obs, idx, h)
            logp = torch.log_softmax(mask_logits(logits, mask), dim=-1)
            return logp.gather(1, action.unsqueeze(1)).squeeze(1).cpu().numpy()

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        """With critic = "state": keep the world state of each epoch of the open episodes."""
        if self.critic is None:
            return
        times, states = self.epoch_states.setdefault(epoch.episode, ([], []))
        times.append(float(epoch.time))
        states.append(np.asarray(epoch.state, dtype=np.float32))

    def _states_at(self, episode: np.ndarray, time: np.ndarray) -> np.ndarray:
        """The world state of the latest epoch at or before each (episode, time)."""
        out = np.zeros((len(time), self.spec.state_dim), dtype=np.float32)
        for ep in np.unique(episode):
            rows = np.flatnonzero(episode == ep)
            times, states = self.epoch_states.get(int(ep), ([], []))
            if not times:
                continue
            at = np.searchsorted(np.asarray(times), time[rows], side="right") - 1
            out[rows] = np.stack(states)[np.maximum(at, 0)]
        return out

    def _state_value(
        self, state: torch.Tensor, agent: torch.Tensor, critic: GatheredSets | None = None
    ) -> torch.Tensor:
        """V(s, i) of the centralized critic: world state plus the one-hot agent index (with the
        critic's parameters gathered for training, if given)."""
        x = torch.cat([state, torch.nn.functional.one_hot(agent, self.spec.n_agents).float()], 1)
        return (self.critic(x, None) if critic is None else critic(x))[0][:, 0]

    def _value(self, obs, agent, h, state, plan) -> torch.Tensor:
        """V of the rows: the trunk's value head, or V(s, i) of the state critic."""
        if self.critic is not None:
            return self._state_value(state, agent)
        return self._forward(obs, agent, h, plan)[1]

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
            raise RuntimeError("IPPO.update() called with no transitions; check ready() first")
        data = {k: np.concatenate([r[k] for r in self.rollout]) for k in self.rollout[0]}
        self.rollout, self.rollout_size, self._episode_over = [], 0, False
        order = np.lexsort((data["t_start"], data["agent"], data["episode"]))
        data = {k: v[order] for k, v in data.items()}
        last = trajectory_ends(data["episode"], data["agent"], data["done"])
        t = {k: torch.from_numpy(v).to(self.device) for k, v in data.items()}
        t["reward"], t["discount"] = t["reward"].float(), t["discount"].float()
        h, h_next = t.get("h"), t.get("h_next")
        if self.hidden.size == 0:
            h = h_next = None
        if self.critic is not None:
            for key, time in (("state", "t_start"), ("state_next", "t_end")):
                states = self._states_at(data["episode"], data[time])
                t[key] = torch.from_numpy(states).to(self.device)
            latest = int(data["episode"].max())
            for ep in [e for e in self.epoch_states if e < latest]:
                del self.epoch_states[ep]
        with torch.no_grad():
            plan = self.layout.plan(t["agent"])
            value = self._value(t["obs"], t["agent"], h, t.get("state"), plan)
            value_next = self._value(t["obs_next"], t["agent"], h_next, t.get("state_next"), plan)
        advantage = smdp_gae(
            data["reward"],
            value.cpu().numpy(),
            value_next.cpu().numpy(),
            data["discount"],
            data["terminal"],
            last,
            cfg.gae_lambda,
        )
        advantage_t = torch.from_numpy(advantage).float().to(self.device)
        returns = advantage_t + value
        n = len(order)
        sums = dict.fromkeys(
            ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "grad_norm"),
            0.0,
        )
        steps = 0
        for _ in range(cfg.epochs):
            for mb_np in np.array_split(self.rng.permutation(n), min(cfg.minibatches, n)):
                mb = torch.from_numpy(mb_np).to(self.device)
                agent = t["agent"][mb]
                sets = self.net.gather(self.layout.select(agent))  # the minibatch's agents only
                logits, v, _ = self._forward(
                    t["obs"][mb], agent, None if h is None else h[mb], sets=sets
                )
                if self.critic is not None:
                    critic = self.critic.gather(select_sets(agent, 1))  # one set
                    v = self._state_value(t["state"][mb], agent, critic)
                logp_all = torch.log_softmax(mask_logits(logits, t["mask"][mb]), dim=-1)
                logp = logp_all.gather(1, t["action"][mb].unsqueeze(1)).squeeze(1)
                entropy = -(logp_all.exp() * logp_all).sum(dim=1).mean()
                adv = advantage_t[mb]
                leaky = cfg.advantage_slope < 1.0
                if leaky:
                    adv = leaky_advantage(adv, cfg.advantage_slope)
                if cfg.normalize_advantage and len(mb_np) > 1:
                    # leaky advantages keep the signs the critic gives: scaled, not centred
                    adv = (adv if leaky else adv - adv.mean()) / (adv.std() + 1e-8)
                log_ratio = logp - t["logp"][mb]
                ratio = log_ratio.exp()
                clipped = ratio.clamp(1.0 - cfg.clip_coef, 1.0 + cfg.clip_coef)
                policy_loss = -torch.minimum(ratio * adv, clipped * adv).mean()
                value_error = returns[mb] - v
                squared = value_error.pow(2)
                if cfg.value_beta < 1.0:
                    squared = hysteretic_weights(value_error.detach(), cfg.value_beta) * squared
                value_loss = 0.5 * squared.mean()
                loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
                loss.backward()
                grad_norm = step_sets(self.optimizer, sets, cfg.grad_clip)
                if self.critic is not None:  # the critic's gradient is not clipped
                    step_sets(self.critic_optimizer, critic, None)
                with torch.no_grad():
                    sums["loss"] += float(loss)
                    sums["policy_loss"] += float(policy_loss)
                    sums["value_loss"] += float(value_loss)
                    sums["entropy"] += float(entropy)
                    sums["approx_kl"] += float(((ratio - 1.0) - log_ratio).mean())
                    sums["clip_frac"] += float(((ratio - 1.0).abs() > cfg.clip_coef).float().mean())
                    sums["grad_norm"] += grad_norm
                steps += 1
        self.updates += 1
        return {"samples": float(n), **{k: v / steps for k, v in sums.items()}}

    # -- persistence --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        nets = {"net": self.net.state_dict()}
        optimizer = {"net": self.optimizer.state_dict()}
        if self.critic is not None:
            nets["critic"] = self.critic.state_dict()
            optimizer["critic"] = self.critic_optimizer.state_dict()
        return {
            "algorithm": "ippo",
            "nets": nets,
            "optimizer": optimizer,
            "counters": {"updates": self.updates, "decisions": self.decisions},
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["nets"]["net"])
        if self.critic is not None:
            self.critic.load_state_dict(state["nets"]["critic"])
        optimizers = {"net": self.optimizer}
        if self.critic is not None:
            optimizers["critic"] = self.critic_optimizer
        load_optimizers(optimizers, state["optimizer"], [2 * len(self.net.maps)])
        self.updates = int(state["counters"]["updates"])
        self.decisions = int(state["counters"].get("decisions", 0))
