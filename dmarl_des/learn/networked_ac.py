"""Networked actor-critic (Zhang, Yang, Liu, Zhang & Başar, ICML 2018), over squeezed macro-transitions.

Each agent ``i`` has a **private reward** ``r_i`` (the team's rewards plus its own), a local
actor ``π_i(a_i | o_i; θ_i)`` and its own critic, trained by a local TD step and then a
**consensus step** over the critics its neighbours sent it through the network
(``ω_i ← c_ii ω̃_i + Σ_{j arrived} c_ij ω̃_j``, ``dmarl_des.learn.consensus``): averaging the
critics makes each one value the team-average reward while no reward leaves its agent.
SMDP discounting over macro-actions replaces the paper's average-reward term: a transition
``(o, a, r_c, o', τ)`` bootstraps with ``γ^τ`` (``r_c = Σ γ^(t − t_start) r``).

**Algorithm 1** (``algorithm = action_value``), critic ``Q(·; ω_i)``::

    δ_i = r_i + γ^τ Q(s', a'; ω_i) − Q(s, a; ω_i)                       critic: ω̃_i = ω_i + β δ_i ∇Q
    A_i = Q(s, a; ω_i) − Σ_{a_i'} π_i(a_i'|o_i) Q(s, (a_i', a_{-i}); ω_i) actor:  θ_i += α A_i ∇log π_i

**Algorithm 2** (``algorithm = state_value``), critic ``V(·; v_i)`` and reward model
``R̄(·; λ_i)``, regressed on the private reward and averaged by consensus too::

    δ_i = r_i + γ^τ V(s'; v_i) − V(s; v_i)                              critic: ṽ_i = v_i + β δ_i ∇V
    λ̃_i = λ_i + β (r_i − R̄(s, a; λ_i)) ∇R̄
    δ̃_i = R̄(s, a; λ_i) + γ^τ V(s'; v_i) − V(s; v_i)                    actor:  θ_i += α δ̃_i ∇log π_i

``critic_input = global`` is the paper's setting: ``s`` the world's global state and ``a`` the
joint action (every agent's running macro-action) at the decision epoch that started the
transition, ``(s', a')`` those of the epoch that ended it (``epoch_views``), so the learner is
``joint``. ``local`` is the relaxation for large swarms: ``s = o_i``, and Q and R̄ output one
value per own action (``Q(o_i, a_i)``); the next action is then unknown when the transition is
handed over, so the target is the expected one, ``Σ_{a'} π_i(a'|o'_i) Q(o'_i, a')``. Advantages
and TD errors for the actor use the critics *before* the step (as in the paper); a terminal
transition does not bootstrap.

Critics and reward models take plain SGD steps by default, as in the paper: averaging SGD steps
is a step on the average reward, while Adam would weigh each agent's step by its own gradient
scale (``critic_optimizer = adam`` offers it). Every agent's critic (and reward model) starts
from one common random draw: averaging the parameters of networks that started apart does not
average what they compute (the paper's critics are linear). Actors take Adam steps (``lr``).
Every step is on the per-agent mean loss of the agents with data (each gradient row clipped to
``grad_clip``), plus an entropy bonus ``ent_coef`` for the actor (the paper has none).

Three learners share this module: ``networked_ac`` (per-agent critics, private rewards,
consensus over the network every ``consensus_period`` of simulated time or ``consensus_every``
updates), ``independent_ac`` (the no-consensus ablation: each agent learns from its own reward
only) and ``central_ac`` (the centralized baseline: one critic shared by all agents, trained on
the team-average reward). Cadence: one update per batch of transitions handed over
(``update_every = 0``: each agent steps when its macro-action ends, as the paper steps every
agent at every step), or when ``update_every`` complete transitions are pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from dmarl_des.bounds import Count, Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.config import LearnerConfig, LearnerSpec
from dmarl_des.learn.consensus import consensus_step, rule_step
from dmarl_des.learn.epoch_views import EpochViews
from dmarl_des.learn.exchange import Arrived, Exchange
from dmarl_des.learn.joint_inputs import joint_one_hot, with_own_actions
from dmarl_des.learn.masking import check_decision_batch, mask_logits, masked_argmax
from dmarl_des.learn.networks import AgentNet, hidden_sizes, plan_sets, select_sets
from dmarl_des.learn.params import build_layout
from dmarl_des.learn.protocol import DecisionEpoch, TransitionBatch
from dmarl_des.learn.sampling import sample_masked
from dmarl_des.learn.seeding import learner_streams
from dmarl_des.learn.stacked_adam import StackedAdam, load_optimizers, step_sets
from dmarl_des.learn.stacked_sgd import StackedSGD, per_set_weights
from dmarl_des.robust import RULES, counted_rule

ALGORITHMS = ("action_value", "state_value")
CRITIC_INPUTS = ("local", "global")


class ActorCriticConfig(LearnerConfig):
    """Hyperparameters shared by the networked, independent and central actor-critics."""

    name: Literal["networked_ac", "independent_ac", "central_ac"] = "networked_ac"
    params: Literal["shared", "per_agent", "per_group"] = Field(
        "per_agent", description="the actors' parameter mode (critics: see the learner)"
    )
    network: Literal["mlp"] = "mlp"
    algorithm: Literal["action_value", "state_value"] = Field(
        "action_value", description="Zhang et al.'s Algorithm 1 (Q critic) or 2 (V critic and R̄)"
    )
    critic_input: Literal["local", "global"] = Field(
        "local", description="the agent's observation, or the global state and joint action"
    )
    lr: Real = Field(1e-3, gt=0.0, description="actor step size (Adam)")
    critic_optimizer: Literal["sgd", "adam"] = Field(
        "sgd", description="steps of the critics and reward models: plain SGD (the paper) or Adam"
    )
    critic_lr: Real = Field(0.05, gt=0.0, description="critic and reward-model step size")
    grad_clip: Real = Field(10.0, gt=0.0)
    ent_coef: Real = Field(0.01, ge=0.0, description="entropy bonus of the actor")
    update_every: Count = Field(
        0, ge=0, description="0: an update per batch handed over; K: when K transitions wait"
    )


class NetworkedACConfig(ActorCriticConfig):
    """``networked_ac``: per-agent critics with consensus rounds over the network."""

    name: Literal["networked_ac"] = "networked_ac"
    consensus_period: Period = Field(
        1.0, ge=0.0, description="a consensus round every Δt of simulated time (0: off)"
    )
    consensus_every: Count = Field(0, ge=0, description="a round every K updates (0: off)")
    message_bound: Real = Field(
        1e3, gt=0.0, description="largest parameter magnitude a receiver accepts"
    )
    rule: str = Field(
        "metropolis",
        description="metropolis (the consensus step) | a rule of dmarl_des.robust over parameters",
    )
    H: Count = Field(1, ge=0, description="the rule's count of tolerated outliers")

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value != "metropolis" and value not in RULES:
            raise ValueError(f"metropolis or one of {', '.join(RULES)}")
        return value

    @model_validator(mode="after")
    def _one_cadence(self) -> NetworkedACConfig:
        if (self.consensus_period > 0) == (self.consensus_every > 0):
            raise ConfigError(
                "learner.consensus_period",
                (self.consensus_period, self.consensus_every),
                "exactly one of consensus_period > 0 (Δt) and consensus_every > 0 (K updates)",
            )
        return self


class IndependentACConfig(ActorCriticConfig):
    """``independent_ac``: per-agent critics, no consensus (each agent its own reward)."""

    name: Literal["independent_ac"] = "independent_ac"


class CentralACConfig(ActorCriticConfig):
    """``central_ac``: one critic shared by every agent, trained on the team-average reward."""

    name: Literal["central_ac"] = "central_ac"


class NetworkedAC:
    """The networked (``consensus``), independent (``none``) or central actor-critic."""

    round_metrics = ("self_weight", "disagreement")

    def __init__(self, config: ActorCriticConfig, spec: LearnerSpec, device: torch.device) -> None:
        self.config, self.spec, self.device = config, spec, device
        self.mode = {"independent_ac": "none", "central_ac": "central"}.get(
            config.name, "consensus"
        )
        self.team_reward = self.mode == "central"
        rule = getattr(config, "rule", "metropolis")
        self.param_rule = None if rule == "metropolis" else counted_rule(rule, config.H)
        """The robust rule of the combine over parameters (None: the Metropolis consensus step)."""
        self.joint = config.critic_input == "global"
        if self.joint and spec.state_dim < 1:
            raise ConfigError("learner.critic_input", "global", "a world with a global state")
        self.streams = learner_streams(spec.seed)
        self.layout = build_layout(
            config.params, config.agent_feature, spec.n_agents, spec.groups, device
        )
        hidden = hidden_sizes("mlp", config.hidden)
        n, a = spec.n_agents, spec.n_actions
        local_in = spec.obs_dim + self.layout.feature_dim
        self.actor = AgentNet(
            local_in,
            a,
            hidden,
            recurrent=False,
            n_sets=self.layout.n_sets,
            generator=self.streams.init,
            head_gain=0.01,
        ).to(device)
        n_critics = 1 if self.mode == "central" else n
        value_in = spec.state_dim if self.joint else local_in
        action_in = spec.state_dim + n * a if self.joint else local_in
        per_action = 1 if self.joint else a  # local critics give one value per own action
        q = config.algorithm == "action_value"
        self.critic = AgentNet(
            action_in if q else value_in,
            per_action if q else 1,
            hidden,
            recurrent=False,
            n_sets=n_critics,
            generator=self.streams.init,
        ).to(device)
        self.reward_model = None
        if not q:
            self.reward_model = AgentNet(
                action_in,
                per_action,
                hidden,
                recurrent=False,
                n_sets=n_critics,
                generator=self.streams.init,
            ).to(device)
        with torch.no_grad():  # every agent's critic starts from one draw (see the docstring)
            for net in (self.critic, self.reward_model):
                if net is not None:
                    net.flat.copy_(net.flat[:1].expand_as(net.flat))
        critic_step = StackedSGD if config.critic_optimizer == "sgd" else StackedAdam
        self.optimizers = {
            "actor": StackedAdam(self.actor.flat, lr=config.lr),
            "critic": critic_step(self.critic.flat, lr=config.critic_lr),
        }
        if self.reward_model is not None:
            self.optimizers["reward_model"] = critic_step(self.reward_model.flat, config.critic_lr)
        self.epochs = EpochViews(spec.state_dim, n) if self.joint else None
        self.pending: list[dict[str, np.ndarray]] = []
        self.updates = 0
        self.episode_over = False

    # -- acting -----------------------------------------------------------------------------
    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        spec = self.spec
        obs, agent_idx, mask = check_decision_batch(
            obs, agent_idx, mask, spec.obs_dim, spec.n_actions, spec.n_agents
        )
        with torch.no_grad():
            idx = torch.from_numpy(agent_idx).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            x = self.layout.inputs(torch.from_numpy(obs).to(self.device), idx)
            logits = mask_logits(self.actor(x, self.layout.plan(idx))[0], mask_t)
            noise = self.streams.noise
            chosen = (
                sample_masked(logits, mask_t, noise) if explore else masked_argmax(logits, mask_t)
            )
        return chosen.cpu().numpy()

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Feed-forward actors: no memory to forget."""

    # -- experience ---------------------------------------------------------------------------
    def observe(self, batch: TransitionBatch) -> None:
        reward = batch.team_reward if self.team_reward else batch.reward
        if reward is None:
            raise ConfigError("team_reward", None, "transitions with the team-average reward")
        self.pending.append(
            {
                "episode": np.full(len(batch), batch.episode, dtype=np.int64),
                "agent": np.asarray(batch.agent_idx, dtype=np.int64),
                "obs": np.asarray(batch.obs, dtype=np.float32),
                "action": np.asarray(batch.action, dtype=np.int64),
                "mask": np.asarray(batch.mask, dtype=bool),
                "reward": np.asarray(reward, dtype=np.float32),
                "obs_next": np.asarray(batch.obs_next, dtype=np.float32),
                "mask_next": np.asarray(batch.mask_next, dtype=bool),
                "discount": (self.spec.gamma ** np.asarray(batch.tau)).astype(np.float32),
                "terminal": np.asarray(batch.terminal, dtype=bool),
                "t_start": np.asarray(batch.t_start, dtype=np.float64),
                "t_end": np.asarray(batch.t_end, dtype=np.float64),
            }
        )

    def observe_epoch(self, epoch: DecisionEpoch) -> None:
        if self.epochs is not None:
            self.epochs.add(epoch)

    def _complete(self) -> np.ndarray:
        """Pending rows whose next state is known (local input: all of them)."""
        rows = {k: np.concatenate([p[k] for p in self.pending]) for k in ("episode", "t_end")}
        if self.epochs is None:
            return np.ones(len(rows["t_end"]), dtype=bool)
        return self.epochs.complete(rows["episode"], rows["t_end"])

    def ready(self) -> bool:
        if not self.pending:
            return False
        done = int(self._complete().sum())
        return done >= max(1, self.config.update_every)

    def end_episode(self, episode: int) -> None:
        self.episode_over = True

    # -- critics ------------------------------------------------------------------------------
    def _inputs(self, t: dict[str, torch.Tensor], d: dict[str, np.ndarray]) -> dict:
        """Critic inputs of the rows: (s, a) and (s', a') as the config says."""
        spec = self.spec
        if not self.joint:
            x = self.layout.inputs(t["obs"], t["agent"])
            x_next = self.layout.inputs(t["obs_next"], t["agent"])
            return {"s": x, "s_next": x_next, "sa": x, "sa_next": x_next}
        assert self.epochs is not None
        s, a = self.epochs.at(d["episode"], d["t_start"], after=False)
        s2, a2 = self.epochs.at(d["episode"], d["t_end"], after=True)
        s, a, s2, a2 = (torch.from_numpy(v).to(self.device) for v in (s, a, s2, a2))
        joint, joint_next = joint_one_hot(a, spec.n_actions), joint_one_hot(a2, spec.n_actions)
        return {
            "s": s,
            "s_next": s2,
            "sa": torch.cat([s, joint], 1),
            "sa_next": torch.cat([s2, joint_next], 1),
            "joint": joint,
        }

    def _values(self, net: AgentNet, x: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
        """Outputs of ``net`` for rows ``x`` with parameter sets ``sets`` (call without
        gradient: the stacked parameters are read in place)."""
        return net(x, plan_sets(sets, net.n_sets))[0]

    def _counterfactuals(self, inp: dict, agent: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
        """[B, A]: Q(s, (a_i', a_{-i})) for every own action a_i' of each row's agent i (global
        action-value critics), without gradient."""
        a = self.spec.n_actions
        state = inp["s"]
        alternatives = with_own_actions(inp["sa"][:, state.shape[1] :], agent, a)
        x = torch.cat([state.repeat_interleave(a, 0), alternatives], 1)
        return self._values(self.critic, x, sets.repeat_interleave(a)).reshape(-1, a)

    # -- learning -----------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        cfg = self.config
        data = {k: np.concatenate([p[k] for p in self.pending]) for k in self.pending[0]}
        done = self._complete()
        rest = {k: v[~done] for k, v in data.items()}
        self.pending = [rest] if len(rest["agent"]) else []
        d = {k: v[done] for k, v in data.items()}
        t = {k: torch.from_numpy(v).to(self.device) for k, v in d.items() if v.dtype != np.float64}
        agent, action, reward = t["agent"], t["action"], t["reward"]
        bootstrap = t["discount"] * (~t["terminal"]).float()
        critic_sets = agent if self.mode != "central" else torch.zeros_like(agent)
        inp = self._inputs(t, d)
        rows = torch.arange(len(agent), device=self.device)
        # forward passes of the agents with data, before any step (their values are pre-step)
        actor = self.actor.gather(self.layout.select(agent))
        x_actor = self.layout.inputs(t["obs"], agent)
        logp_all = torch.log_softmax(mask_logits(actor(x_actor)[0], t["mask"]), dim=1)
        pi = logp_all.detach().exp()
        critic = self.critic.gather(select_sets(critic_sets, self.critic.n_sets))
        out = critic(inp["sa"] if self.reward_model is None else inp["s"])[0]
        value = out[:, 0] if self.joint or self.reward_model is not None else out[rows, action]
        model = predicted = None
        if self.reward_model is not None:
            model = self.reward_model.gather(select_sets(critic_sets, self.critic.n_sets))
            r_out = model(inp["sa"])[0]
            predicted = r_out[:, 0] if self.joint else r_out[rows, action]
        with torch.no_grad():
            if self.reward_model is None:  # Algorithm 1: targets and counterfactual advantages
                q_all = out.detach()
                if self.joint:
                    q_all = self._counterfactuals(inp, agent, critic_sets)
                advantage = q_all[rows, action] - (pi * q_all).sum(1)
                q_next = self._values(self.critic, inp["sa_next"], critic_sets)
                if not self.joint:  # expected over the next own action
                    x_next = self.layout.inputs(t["obs_next"], agent)
                    logits_next = self._values(self.actor, x_next, self.layout.set_of_agent[agent])
                    pi_next = torch.softmax(mask_logits(logits_next, t["mask_next"]), dim=1)
                    q_next = (pi_next * q_next).sum(1, keepdim=True)
                target = reward + bootstrap * q_next[:, 0]
            else:  # Algorithm 2: TD targets of V, and the actor's TD error through R̄
                assert predicted is not None
                v_next = self._values(self.critic, inp["s_next"], critic_sets)[:, 0]
                advantage = predicted.detach() + bootstrap * v_next - value.detach()
                target = reward + bootstrap * v_next
        weights = per_set_weights(critic_sets)
        metrics: dict[str, float] = {"samples": float(len(agent))}
        # critic (and reward model): a TD step on the private (or team-average) reward
        critic_loss = (weights * 0.5 * (value - target).square()).sum()
        critic_loss.backward()
        metrics["value_loss"] = float(critic_loss.detach()) / float(weights.sum())
        step_sets(self.optimizers["critic"], critic, cfg.grad_clip)
        if model is not None:
            model_loss = (weights * 0.5 * (predicted - reward).square()).sum()
            model_loss.backward()
            metrics["reward_loss"] = float(model_loss.detach()) / float(weights.sum())
            step_sets(self.optimizers["reward_model"], model, cfg.grad_clip)
        # actor: a policy-gradient step with the advantage (Alg. 1) or TD error (Alg. 2)
        entropy = -(logp_all.exp() * logp_all).sum(1)
        actor_weights = per_set_weights(self.layout.set_of_agent[agent])
        policy_loss = -(actor_weights * advantage * logp_all[rows, action]).sum()
        loss = policy_loss - cfg.ent_coef * (actor_weights * entropy).sum()
        loss.backward()
        metrics["grad_norm"] = step_sets(self.optimizers["actor"], actor, cfg.grad_clip)
        norm = float(actor_weights.sum())
        metrics.update(
            policy_loss=float(policy_loss.detach()) / norm,
            entropy=float((actor_weights * entropy.detach()).sum()) / norm,
            loss=float(loss.detach()) / norm + metrics["value_loss"],
            advantage=float(advantage.mean()),
        )
        if self.epochs is not None and self.episode_over:
            self.epochs.forget_before(int(d["episode"].max()))
        self.episode_over = False
        self.updates += 1
        return metrics

    train_metrics = ("reward_loss", "advantage")

    # -- consensus over the network (networked_ac) ---------------------------------------------
    def _exchanged(self) -> dict[str, AgentNet]:
        nets = {"critic": self.critic}
        if self.reward_model is not None:
            nets["reward_model"] = self.reward_model
        return nets if self.mode == "consensus" else {}

    def exchanges(self) -> tuple[Exchange, ...]:
        """The critic's parameters (and the reward model's, Algorithm 2), one vector per agent,
        at the consensus cadence; none without consensus."""
        cfg = self.config
        if self.mode != "consensus":
            return ()
        assert isinstance(cfg, NetworkedACConfig)
        return tuple(
            Exchange(
                name,
                net.n_params,
                bound=cfg.message_bound,
                period=cfg.consensus_period,
                every_updates=cfg.consensus_every,
            )
            for name, net in self._exchanged().items()
        )

    def outgoing(self, name: str, agents: np.ndarray) -> np.ndarray:
        """Each agent's current parameters of ``name`` (after its local steps so far)."""
        net = self._exchanged()[name]
        idx = torch.as_tensor(agents, device=self.device)
        return net.flat.detach().index_select(0, idx).cpu().numpy().astype(np.float32, copy=False)

    def combine(self, arrived: Arrived) -> Mapping[str, float | None]:
        """The consensus step over what arrived; returns the mean self weight and the
        disagreement (RMS distance of the combining agents' parameters to their mean, after)."""
        flat = self._exchanged()[arrived.name].flat
        if self.param_rule is None:
            self_weight = consensus_step(flat.data, arrived)
        else:  # a robust rule over the own and arrived parameters, coordinate by coordinate
            agents = torch.as_tensor(arrived.agents, device=self.device)
            messages = torch.as_tensor(arrived.vectors(), device=self.device)
            with torch.no_grad():
                flat[agents] = rule_step(self.param_rule, flat.detach(), arrived, messages)[agents]
            self_weight = None
        if not arrived.agents.size:
            return {"self_weight": None, "disagreement": None}
        with torch.no_grad():
            rows = flat
            if arrived.agents.shape[0] < flat.shape[0]:
                rows = flat.index_select(0, torch.as_tensor(arrived.agents, device=self.device))
            spread = torch.linalg.vector_norm(rows - rows.mean(0)) / rows.shape[0] ** 0.5
        weight = None if self_weight is None else float(self_weight.mean())
        return {"self_weight": weight, "disagreement": float(spread)}

    # -- persistence --------------------------------------------------------------------------
    def _nets(self) -> dict[str, AgentNet]:
        nets = {"actor": self.actor, "critic": self.critic}
        if self.reward_model is not None:
            nets["reward_model"] = self.reward_model
        return nets

    def state_dict(self) -> dict:
        return {
            "algorithm": self.config.name,
            "nets": {k: net.state_dict() for k, net in self._nets().items()},
            "optimizer": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "counters": {"updates": self.updates},
        }

    def load_state_dict(self, state: dict) -> None:
        for key, net in self._nets().items():
            net.load_state_dict(state["nets"][key])
        load_optimizers(self.optimizers, state["optimizer"], [])
        self.updates = int(state["counters"]["updates"])
