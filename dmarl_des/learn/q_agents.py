"""Decentralized per-agent Q-networks (online and target) with ε-greedy acting and recurrent state.

Used by Mac-IQL, VDN and QMIX alike: execution always uses only the acting agent's own Q-values.
A recurrent ('gru') agent carries a hidden state from one of its decisions to the next; updates
re-run the cell one step from the state stored at decision time (stored-state replay), or along a
sequence of the agent's decisions from the state stored at its first one (sequence replay).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from dmarl_des.learn.config import LearnerConfig, LearnerSpec
from dmarl_des.learn.masking import check_decision_batch
from dmarl_des.learn.networks import AgentNet, GatheredSets, HiddenState, SetPlan, hidden_sizes
from dmarl_des.learn.params import ParamLayout, build_layout, clip_grad_per_set
from dmarl_des.learn.sampling import epsilon_greedy
from dmarl_des.learn.seeding import LearnerStreams
from dmarl_des.learn.stacked_adam import StackedAdam, step_sets


def td_loss(
    value: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    delta: float,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean TD loss: Huber (quadratic within ``delta``, linear beyond) or squared error; with
    ``weights`` [B], the mean of the weighted per-row losses."""
    reduction = "mean" if weights is None else "none"
    if kind == "mse":
        loss = torch.nn.functional.mse_loss(value, target, reduction=reduction)
    else:
        loss = torch.nn.functional.huber_loss(value, target, delta=delta, reduction=reduction)
    return loss if weights is None else (weights * loss).mean()


def gradient_step(
    optimizer: StackedAdam,
    loss: torch.Tensor,
    online: GatheredSets,
    grad_clip: float,
    mixer: tuple[torch.nn.Module, torch.optim.Optimizer] | None = None,
) -> float:
    """One optimizer step on ``loss`` for the agents' parameter sets gathered in ``online`` (each
    set clipped to ``grad_clip``; the sets not gathered do not move) and, with a ``mixer`` (net,
    optimizer), for the mixer as one more set; returns the gradient norm before clipping."""
    if mixer is not None:
        mixer[1].zero_grad(set_to_none=True)
    loss.backward()
    norm = step_sets(optimizer, online, grad_clip)
    if mixer is not None:
        norm = float(np.hypot(norm, clip_grad_per_set(mixer[0].parameters(), grad_clip, 1)))
        mixer[1].step()
    return norm


def q_metrics(
    loss: torch.Tensor, q: torch.Tensor, samples: int, grad_norm: float, epsilon: float
) -> dict[str, float]:
    """The `train` table row of a Q-learning update."""
    loss_value = float(loss.detach())
    return {
        "samples": float(samples),
        "loss": loss_value,
        "q_loss": loss_value,
        "q_mean": float(q.detach().mean()),
        "grad_norm": grad_norm,
        "epsilon": float(epsilon),
    }


class AgentQ:
    """Q(o_i, ·) for every agent under a parameter mode; online net, target net, per-agent state."""

    def __init__(
        self,
        config: LearnerConfig,
        spec: LearnerSpec,
        device: torch.device,
        streams: LearnerStreams,
    ) -> None:
        self.spec = spec
        self.device = device
        self.noise = streams.noise
        self.layout: ParamLayout = build_layout(
            config.params, config.agent_feature, spec.n_agents, spec.groups, device
        )
        self.online = AgentNet(
            spec.obs_dim + self.layout.feature_dim,
            spec.n_actions,
            hidden_sizes(config.network, config.hidden),
            recurrent=config.network == "gru",
            n_sets=self.layout.n_sets,
            generator=streams.init,
        ).to(device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        self.state_size = self.online.state_size
        self.hidden = HiddenState(spec.n_agents, self.state_size, device)
        # the recurrent state each agent's latest decision started from (joint learners store it)
        self.decision_state = torch.zeros(spec.n_agents, self.state_size, device=device)

    def gather(self, agent_idx: torch.Tensor) -> tuple[GatheredSets, GatheredSets]:
        """The online (trainable) and target parameters of the sets that rows of agents
        ``agent_idx`` use: all that an update on those rows reads and trains."""
        online = self.online.gather(self.layout.select(agent_idx))
        return online, online.of(self.target)

    def q_values(
        self,
        net: AgentNet | GatheredSets,
        obs: torch.Tensor,
        agent_idx: torch.Tensor,
        h: torch.Tensor | None,
        plan: SetPlan | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Q-values [B, A] and next recurrent state of rows ``obs`` of agents ``agent_idx``, with
        a whole net or with sets gathered for these rows."""
        x = self.layout.inputs(obs, agent_idx)
        if isinstance(net, GatheredSets):
            return net(x, h)
        return net(x, self.layout.plan(agent_idx) if plan is None else plan, h)

    def q_sequence(
        self,
        net: AgentNet | GatheredSets,
        obs: torch.Tensor,
        agent_idx: torch.Tensor,
        h0: torch.Tensor | None,
        plan: SetPlan | None = None,
    ) -> torch.Tensor:
        """Q-values [B, T, A] along sequences ``obs`` [B, T, D] of agents ``agent_idx`` [B], the
        recurrent state carried from step to step from ``h0`` [B, H] (zeros when None)."""
        if plan is None and not isinstance(net, GatheredSets):
            plan = self.layout.plan(agent_idx)
        h = h0
        steps = []
        for t in range(obs.shape[1]):
            q, h = self.q_values(net, obs[:, t], agent_idx, h, plan)
            steps.append(q)
        return torch.stack(steps, dim=1)

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, epsilon: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(actions [B], recurrent state before [B, H], after [B, H]); states None for an MLP."""
        spec = self.spec
        obs, agent_idx, mask = check_decision_batch(
            obs, agent_idx, mask, spec.obs_dim, spec.n_actions, spec.n_agents
        )
        with torch.no_grad():
            obs_t = torch.from_numpy(obs).to(self.device)
            idx_t = torch.from_numpy(agent_idx).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            h_in = self.hidden.get(idx_t)
            q, h_out = self.q_values(self.online, obs_t, idx_t, h_in)
            actions = epsilon_greedy(q, mask_t, epsilon, self.noise)
            if h_out is None:
                return actions.cpu().numpy(), None, None
            self.hidden.set(idx_t, h_out)
            self.decision_state[idx_t] = h_in
            return actions.cpu().numpy(), h_in.cpu().numpy(), h_out.cpu().numpy()

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Forget recurrent state of all agents (None) or of the given ones."""
        if self.state_size == 0:
            return
        if agent_idx is None:
            self.hidden.reset()
        else:
            idx = torch.as_tensor(np.asarray(agent_idx, dtype=np.int64), device=self.device)
            self.hidden.reset(idx)

    def sync_target(self, polyak: float) -> None:
        """target ← polyak · online + (1 − polyak) · target (a copy when polyak = 1)."""
        with torch.no_grad():
            for tgt, src in zip(self.target.parameters(), self.online.parameters(), strict=True):
                if polyak >= 1.0:
                    tgt.copy_(src)
                else:
                    tgt.lerp_(src, polyak)

    def state_dict(self) -> dict:
        return {"online": self.online.state_dict(), "target": self.target.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
