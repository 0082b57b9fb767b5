"""Parameter modes: which parameter set serves each agent (shared, per agent, per group)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn.networks import SetPlan, SetSelection, plan_sets, select_sets

PARAM_MODES = ("shared", "per_agent", "per_group")
AGENT_FEATURES = ("none", "agent_id", "group")


@dataclass(frozen=True, slots=True)
class ParamLayout:
    """Maps agents to parameter sets and builds the network input (obs + optional one-hot id).

    ``shared``: one set for all agents; ``per_agent``: set i for agent i; ``per_group``: set g for
    the agents of group g. ``feature`` appends a one-hot agent id or group id to the observation.
    """

    mode: str
    feature: str
    n_agents: int
    n_groups: int
    set_of_agent: torch.Tensor  # [N] int64
    group_of_agent: torch.Tensor  # [N] int64

    @property
    def n_sets(self) -> int:
        return {"shared": 1, "per_agent": self.n_agents, "per_group": self.n_groups}[self.mode]

    @property
    def feature_dim(self) -> int:
        return {"none": 0, "agent_id": self.n_agents, "group": self.n_groups}[self.feature]

    def inputs(self, obs: torch.Tensor, agent_idx: torch.Tensor) -> torch.Tensor:
        """Network input rows: the observation, plus the one-hot id feature if configured."""
        if self.feature == "none":
            return obs
        ids = agent_idx if self.feature == "agent_id" else self.group_of_agent[agent_idx]
        one_hot = torch.nn.functional.one_hot(ids, self.feature_dim).to(obs.dtype)
        return torch.cat([obs, one_hot], dim=-1)

    def plan(self, agent_idx: torch.Tensor) -> SetPlan | None:
        """The batch layout for rows of agents ``agent_idx`` (None when all share one set)."""
        if self.n_sets == 1:
            return None
        return plan_sets(self.set_of_agent[agent_idx], self.n_sets)

    def select(self, agent_idx: torch.Tensor) -> SetSelection:
        """The parameter sets that rows of agents ``agent_idx`` touch (what an update trains)."""
        return select_sets(self.set_of_agent[agent_idx], self.n_sets)


def build_layout(
    mode: str,
    feature: str,
    n_agents: int,
    groups: Sequence[int] | np.ndarray | None,
    device: torch.device,
) -> ParamLayout:
    """A validated layout; ``groups`` gives each agent's group id 0..G-1 (needed by groups)."""
    if mode not in PARAM_MODES:
        raise ConfigError("learner.params", mode, " | ".join(PARAM_MODES))
    if feature not in AGENT_FEATURES:
        raise ConfigError("learner.agent_feature", feature, " | ".join(AGENT_FEATURES))
    if groups is None:
        if mode == "per_group" or feature == "group":
            raise ConfigError("groups", None, "one group id per agent when groups are used")
        group_ids = np.zeros(n_agents, dtype=np.int64)
    else:
        group_ids = np.asarray(groups)
        if group_ids.shape != (n_agents,) or not np.issubdtype(group_ids.dtype, np.integer):
            raise ConfigError("groups", f"shape {group_ids.shape}", f"{n_agents} integer group ids")
        group_ids = group_ids.astype(np.int64)
        if group_ids.min() < 0 or not (np.bincount(group_ids) > 0).all():
            raise ConfigError(
                "groups", sorted(set(group_ids.tolist()))[:8], "ids 0..G-1, each used"
            )
    n_groups = int(group_ids.max()) + 1
    group_t = torch.as_tensor(group_ids, device=device)
    sets = {
        "shared": torch.zeros(n_agents, dtype=torch.int64, device=device),
        "per_agent": torch.arange(n_agents, device=device),
        "per_group": group_t,
    }[mode]
    return ParamLayout(mode, feature, n_agents, n_groups, sets, group_t)


def clip_grad_per_set(params: Iterable[torch.Tensor], max_norm: float, n_sets: int) -> float:
    """Clip the gradients of stacked parameters to ``max_norm`` separately for each set.

    Each parameter set is its own agent's (or group's) network, so its gradient norm is taken over
    its own slice of every parameter. Returns the norm over all sets before clipping.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    sq = sum(torch.linalg.vector_norm(g.reshape(n_sets, -1), dim=1).square() for g in grads)
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(n_sets, *([1] * (g.dim() - 1))))
    return float(sq.sum().sqrt())
