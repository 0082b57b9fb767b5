"""Resilient projection-based consensus actor-critic (Figura, Lin, Liu & Gupta), over macro-transitions.

The networked actor-critic's Algorithm 2 (``networked_ac``, Zhang et al. 2018: a state-value
critic ``V(·; ω_i)`` and a team-reward model ``R̄(·; λ_i)`` per agent, private rewards, one
actor per agent) with the consensus step replaced by a **resilient projection**: agents do not
average their neighbours' parameters (one lying neighbour then drags every critic it reaches),
they compare what the neighbours' networks *compute* on their own data, clip the outliers, and
fit their own networks to the result. Everything else — the networks, the stacked per-agent
parameters, the exchanged blocks, the TD and actor steps, SMDP discounting — is the networked
actor-critic's (``dmarl_des.learn.networked_ac``, whose docstring has the equations).

**Local step** (every update, for the agents with data)::

    ω̃_i = ω_i + β δ_i ∇V(s; ω_i),       δ_i = r_i + γ^τ V(s'; ω_i) − V(s; ω_i)
    λ̃_i = λ_i + β (r_i − R̄(s, a; λ_i)) ∇R̄(s, a; λ_i)
    θ_i += α δ̃_i ∇log π_i(a_i | o_i),    δ̃_i = R̄(s, a; λ_i) + γ^τ V(s'; ω_i) − V(s; ω_i)

The actor's weight is the *team* TD error: ``R̄`` estimates the team-average reward once the
projections have mixed the reward models. ``ω̃_i``, ``λ̃_i`` are the candidates each agent
sends at the next round; it keeps ``ω_i``, ``λ_i`` — its parameters before the local steps
since its previous round (its *anchor*).

**Round** (the networked actor-critic's cadence and exchanges; what arrived, as ``Arrived``).
Agent ``i`` takes its last ``batch`` critic inputs ``s_b`` (and reward-model inputs
``(s_b, a_b)``; fewer at the start: repeated), evaluates its own candidate ``v_0 = V(s_b; ω̃_i)``
and each neighbour candidate ``ω̃_j`` that arrived, ``v_j = V(s_b; ω̃_j)`` — one batched matmul
per layer over all (receiver, candidate) pairs of the round — and aggregates per sample with
``rule`` (default ``clipped_mean``, Figura et al.'s: clip every ``v_j`` into
``[min(v_0, v_(H+1)), max(v_0, v_(m−H)))]``, then average; H = 0 is the plain average; any rule
of ``dmarl_des.robust``)::

    y_b = rule(v_0(s_b), {v_j(s_b)}_j)                           for b = 1..batch
    ω_i ← argmin_ω Σ_b (V(s_b; ω) − y_b)²                        (the projection)

With ``hidden_layers = fit`` (the default) the whole network is fitted. With ``aggregate``
(Figura et al.'s deep variant) the hidden layers first take the rule over the candidates' hidden
parameters, coordinate by coordinate (own and arrived, as the values), and the projection fits
only the output layer under them — a linear least-squares problem on the aggregated features,
the setting of the paper's analysis. ``fit`` is the default because a liar's sign-flipped hidden
layers, clipped coordinate by coordinate, still bias every honest neighbour's features towards
one edge of the honest range at every round: on mutual aid under a sign-flipping neighbour,
``aggregate`` recovered 35 %, 96 % and −7 % of what the liar cost plain consensus (seeds 0-2),
``fit`` 64 %, 76 % and 63 % (docs/declearn.md). The projection is ``fit_steps`` plain gradient steps of
size ``critic_lr`` (the paper's fast step) from the anchor on the mean squared error (each
agent's gradient row clipped to ``grad_clip``), all combining agents at once; likewise ``λ_i``
on ``R̄(s_b, a_b)``. The result is the agent's new parameters and anchor. With at most H
Byzantine neighbours, every target ``y_b`` (and every aggregated hidden parameter) lies within
what honest candidates hold (``robust.ClippedMean``), whatever the liars send.

Choices where the paper is silent: several local steps may happen between two rounds (the
candidate carries them all; the anchor is the parameters after the previous round); a
neighbour's stale candidate is evaluated as it is; an agent without data yet, or that does not
combine (crashed, or a ``greedy`` / ``faulty`` adversary), keeps its parameters, which become
its anchor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from dmarl_des.bounds import Count
from dmarl_des.learn.config import MAX_WIDTH, LearnerSpec
from dmarl_des.learn.consensus import rule_step
from dmarl_des.learn.exchange import Arrived
from dmarl_des.learn.networked_ac import NetworkedAC, NetworkedACConfig
from dmarl_des.learn.networks import AgentNet, SetPlan
from dmarl_des.learn.params import clip_grad_per_set
from dmarl_des.robust import RULES, counted_rule

__all__ = ["RecentInputs", "ResilientAC", "ResilientACConfig"]


class ResilientACConfig(NetworkedACConfig):
    """``resilient_ac``: the networked actor-critic (Algorithm 2) with resilient projections."""

    name: Literal["resilient_ac"] = "resilient_ac"
    algorithm: Literal["state_value"] = Field(
        "state_value", description="Algorithm 2: V critic and team-reward model R̄"
    )
    rule: str = Field("clipped_mean", description="clipped_mean | any rule of dmarl_des.robust")
    hidden_layers: Literal["fit", "aggregate"] = Field(
        "fit",
        description="fit: fit the whole nets; aggregate: rule over hidden parameters, fit the head",
    )
    batch: Count = Field(32, ge=1, le=MAX_WIDTH, description="own samples evaluated at a round")
    fit_steps: Count = Field(5, ge=1, le=1000, description="gradient steps of a projection")

    @field_validator("rule")
    @classmethod
    def _value_rule(cls, value: str) -> str:
        if value not in RULES:
            raise ValueError(f"one of {', '.join(RULES)} (values are aggregated, not weighted)")
        return value


class RecentInputs:
    """Each agent's last ``size`` inputs of one network, with the action taken (a ring each)."""

    def __init__(self, n_agents: int, size: int, dim: int, device: torch.device) -> None:
        self.size = size
        self.x = torch.zeros(n_agents, size, dim, device=device)
        self.action = torch.zeros(n_agents, size, dtype=torch.int64, device=device)
        self.count = torch.zeros(n_agents, dtype=torch.int64, device=device)
        self.next = torch.zeros(n_agents, dtype=torch.int64, device=device)

    def add(self, agent: torch.Tensor, x: torch.Tensor, action: torch.Tensor) -> None:
        """Append rows (in order); an agent with more than ``size`` rows keeps its last ones."""
        n, size = self.count.shape[0], self.size
        order = torch.argsort(agent, stable=True)
        a = agent[order]
        counts = torch.bincount(a, minlength=n)
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(a.shape[0], device=a.device) - start[a]
        skip = (counts - size).clamp(min=0)[a]  # the agent's rows beyond its last ``size``
        keep = rank >= skip
        a, rows, rank = a[keep], order[keep], (rank - skip)[keep]
        slot = (self.next[a] + rank) % size
        self.x[a, slot] = x[rows]
        self.action[a, slot] = action[rows]
        self.next = (self.next + counts.clamp(max=size)) % size
        self.count = (self.count + counts).clamp(max=size)

    def batch(self, agents: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` inputs [A, size, dim] and actions [A, size] of each of ``agents`` (all with
        data): its stored ones, repeated in order when it has fewer."""
        have = self.count[agents].clamp(min=1)
        at = torch.arange(size, device=agents.device).unsqueeze(0) % have.unsqueeze(1)
        rows = agents.unsqueeze(1).expand_as(at)
        return self.x[rows, at], self.action[rows, at]


def candidate_values(
    net: AgentNet, theta: torch.Tensor, x: torch.Tensor, action: torch.Tensor
) -> torch.Tensor:
    """Values [R, B] of the nets with parameter rows ``theta`` [R, F] on their own batches
    ``x`` [R, B, in] — one batched matmul per layer — at ``action`` [R, B] for nets with one
    output per action (a local reward model), at their single output otherwise."""
    r, b = x.shape[0], x.shape[1]
    sets = torch.arange(r, device=x.device).repeat_interleave(b)
    plan = SetPlan(sets, torch.arange(b, device=x.device).repeat(r), b)
    out = net.forward(x.reshape(r * b, -1), plan, layers=net.linears(theta))[0].reshape(r, b, -1)
    if out.shape[2] == 1:
        return out[..., 0]
    return out.gather(2, action.unsqueeze(2)).squeeze(2)


class ResilientAC(NetworkedAC):
    """Resilient projection-based consensus actor-critic (see the module docstring)."""

    round_metrics = ("disagreement", "fit_loss")

    def __init__(self, config: ResilientACConfig, spec: LearnerSpec, device: torch.device) -> None:
        super().__init__(config, spec, device)
        self.rule = counted_rule(config.rule, config.H)
        nets = self._exchanged()
        self.anchor = {name: net.flat.detach().clone() for name, net in nets.items()}
        """Per block, every agent's parameters after its previous round (the projection's start)."""
        self.recent = {
            name: RecentInputs(spec.n_agents, config.batch, net.maps[0].in_dim, device)
            for name, net in nets.items()
        }
        """Per block, every agent's last inputs: critic states, reward-model state-actions."""

    def _inputs(self, t: dict[str, torch.Tensor], d: dict[str, np.ndarray]) -> dict:
        """The networked actor-critic's critic inputs, kept as each agent's recent samples."""
        inp = super()._inputs(t, d)
        self.recent["critic"].add(t["agent"], inp["s"], t["action"])
        self.recent["reward_model"].add(t["agent"], inp["sa"], t["action"])
        return inp

    def combine(self, arrived: Arrived) -> Mapping[str, float | None]:
        """The resilient projection of block ``arrived.name`` for the combining agents."""
        net = self._exchanged()[arrived.name]
        recent = self.recent[arrived.name]
        agents = torch.as_tensor(arrived.agents, device=self.device)
        candidates = torch.as_tensor(arrived.vectors(), device=self.device)  # [M, F]
        with_data = agents[recent.count[agents] > 0]
        fit_loss = None
        if with_data.numel():
            target, x, action = self._targets(net, recent, arrived, candidates, with_data)
        if self.config.hidden_layers == "aggregate":
            self._aggregate_hidden(net, arrived, candidates)
        if with_data.numel():
            fit_loss = self._project(net, arrived.name, with_data, x, action, target)
        self.anchor[arrived.name] = net.flat.detach().clone()
        if not agents.numel():
            return {"disagreement": None, "fit_loss": None}
        with torch.no_grad():
            rows = net.flat.index_select(0, agents)
            spread = torch.linalg.vector_norm(rows - rows.mean(0)) / rows.shape[0] ** 0.5
        return {"disagreement": float(spread), "fit_loss": fit_loss}

    def _robust(self, own: torch.Tensor, arrived: Arrived, messages: torch.Tensor, use=None):
        """``rule`` over each agent's row of ``own`` and the ``messages`` that reached it."""
        return rule_step(self.rule, own, arrived, messages, use)

    @torch.no_grad()
    def _targets(
        self,
        net: AgentNet,
        recent: RecentInputs,
        arrived: Arrived,
        candidates: torch.Tensor,
        agents: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Robust per-sample targets [A, B] of ``agents`` (those with data), with their batch:
        the rule over the values their own and their neighbours' candidates compute on it."""
        size = self.config.batch
        x, action = recent.batch(agents, size)
        own = candidate_values(net, net.flat.detach().index_select(0, agents), x, action)
        values = own.new_zeros(net.flat.shape[0], size)
        values[agents] = own
        has = torch.zeros(net.flat.shape[0], dtype=torch.bool, device=self.device)
        has[agents] = True
        receiver = torch.as_tensor(arrived.receiver, device=self.device)
        use = np.flatnonzero(has[receiver].cpu().numpy()) if len(arrived) else np.empty(0, int)
        theirs = own.new_zeros(0, size)
        if use.size:
            local = torch.searchsorted(agents, receiver[use])
            theirs = candidate_values(net, candidates[use], x[local], action[local])
        return self._robust(values, arrived, theirs, use)[agents], x, action

    @torch.no_grad()
    def _aggregate_hidden(self, net: AgentNet, arrived: Arrived, candidates: torch.Tensor) -> None:
        """Hidden layers of the combining agents ← the rule over their own and the arrived
        candidates' hidden parameters, coordinate by coordinate (the output layer is fitted)."""
        hidden = net.n_params - self._head_size(net)
        agents = torch.as_tensor(arrived.agents, device=self.device)
        new = self._robust(net.flat.detach()[:, :hidden], arrived, candidates[:, :hidden])
        net.flat[agents, :hidden] = new[agents]

    @staticmethod
    def _head_size(net: AgentNet) -> int:
        head = net.maps[-1]
        return head.in_dim * head.out_dim + head.out_dim

    def _project(
        self,
        net: AgentNet,
        name: str,
        agents: torch.Tensor,
        x: torch.Tensor,
        action: torch.Tensor,
        target: torch.Tensor,
    ) -> float:
        """Fit rows ``agents`` of ``net`` to ``target`` [A, B] from their anchors (the output
        layer only, under the aggregated hidden layers, with ``hidden_layers = aggregate``);
        returns the mean squared error after the fit."""
        cfg = self.config
        anchor = self.anchor[name].index_select(0, agents)
        free = self._head_size(net) if cfg.hidden_layers == "aggregate" else net.n_params
        fixed = net.flat.detach().index_select(0, agents)[:, : net.n_params - free]
        tail = anchor[:, net.n_params - free :].clone()
        for _ in range(cfg.fit_steps):
            tail.requires_grad_(True)
            theta = torch.cat([fixed, tail], dim=1)
            error = candidate_values(net, theta, x, action) - target
            loss = 0.5 * error.square().mean(1).sum()
            (grad,) = torch.autograd.grad(loss, tail)
            tail.grad = grad
            clip_grad_per_set([tail], cfg.grad_clip, int(tail.shape[0]))
            tail = (tail - cfg.critic_lr * tail.grad).detach()
        theta = torch.cat([fixed, tail], dim=1)
        with torch.no_grad():
            net.flat.index_copy_(0, agents, theta)
            error = candidate_values(net, theta, x, action) - target
        return float(error.square().mean())

    def load_state_dict(self, state: dict) -> None:
        """The nets and optimizers; anchors restart at the loaded parameters (recent inputs are
        not kept in checkpoints: they fill again from the next updates)."""
        super().load_state_dict(state)
        self.anchor = {name: net.flat.detach().clone() for name, net in self._exchanged().items()}
