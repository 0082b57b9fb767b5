"""Joint transitions between consecutive decision epochs, and their conditional target (VDN, QMIX).

A joint transition links epoch e to epoch e+1 of the same episode: the joint observation,
actions and state at e; the team reward accrued since e (discounted from it) and the elapsed time
τ, both read from epoch e+1's record; and epoch e+1's joint view. Agents whose macro-action is still
running at e+1 keep it: in the next-state value they are evaluated at that running action, while
agents deciding at e+1 take the best allowed action (chosen by the online net, evaluated by the
target net).
"""

from __future__ import annotations

import numpy as np
import torch

from dmarl_des.learn.masking import masked_argmax
from dmarl_des.learn.protocol import DecisionEpoch


def conditional_next_q(
    q_next_online: torch.Tensor,
    q_next_target: torch.Tensor,
    mask_next: torch.Tensor,
    action_next: torch.Tensor,
    deciding_next: torch.Tensor,
) -> torch.Tensor:
    """Each agent's next-state value [..., N]: Q_target(o'_i, a'_i) where a'_i is the running
    macro-action for agents not deciding at e+1, and argmax over allowed actions of the online Q
    for deciding agents. Inputs are [..., N, A] Q-values and masks, [..., N] actions and flags."""
    choose = deciding_next & mask_next.any(dim=-1)
    greedy = masked_argmax(q_next_online, mask_next)
    action = torch.where(choose, greedy, action_next.clamp(min=0))
    return q_next_target.gather(-1, action.unsqueeze(-1)).squeeze(-1)


class EpochReplay:
    """A ring buffer of decision epochs; slot i and slot i+1 form a joint transition when linked."""

    def __init__(
        self,
        capacity: int,
        n_agents: int,
        obs_dim: int,
        n_actions: int,
        state_dim: int,
        state_size: int,
        gamma: float,
    ) -> None:
        if capacity < 2:
            capacity = 2
        self.capacity = capacity
        self.gamma = gamma
        n = n_agents
        self.columns: dict[str, np.ndarray] = {
            "state": np.zeros((capacity, state_dim), np.float32),
            "obs": np.zeros((capacity, n, obs_dim), np.float32),
            "mask": np.zeros((capacity, n, n_actions), np.bool_),
            "action": np.zeros((capacity, n), np.int64),
            "deciding": np.zeros((capacity, n), np.bool_),
            "alive": np.zeros((capacity, n), np.bool_),
            "reward": np.zeros(capacity, np.float32),
            "discount": np.zeros(capacity, np.float32),
            "terminal": np.zeros(capacity, np.bool_),
        }
        if state_size:
            self.columns["h"] = np.zeros((capacity, n, state_size), np.float32)
        self.episode = np.full(capacity, -1, np.int64)
        self.linked = np.zeros(capacity, np.bool_)  # slot i's successor is slot i+1
        self.cursor = 0
        self.size = 0
        self._open = False  # the latest epoch may still get a successor

    @property
    def n_transitions(self) -> int:
        return int(self.linked.sum())

    def add(self, epoch: DecisionEpoch, h: np.ndarray | None = None) -> bool:
        """Store an epoch; True when it completes a joint transition with the previous epoch."""
        j = self.cursor
        prev = (j - 1) % self.capacity
        links = self._open and self.size > 0 and self.episode[prev] == epoch.episode
        self.linked[j] = False  # the pair (j, j+1) of older data is gone
        self.linked[prev] = links
        col = self.columns
        col["state"][j] = epoch.state
        col["obs"][j] = epoch.obs
        col["mask"][j] = epoch.mask
        col["action"][j] = epoch.action
        col["deciding"][j] = epoch.deciding
        col["alive"][j] = epoch.alive
        col["reward"][j] = epoch.reward
        col["discount"][j] = self.gamma ** float(epoch.tau)
        col["terminal"][j] = epoch.terminal
        if h is not None and "h" in col:
            col["h"][j] = h
        self.episode[j] = epoch.episode
        self._open = not epoch.done
        self.cursor = (j + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return bool(links)

    def end_episode(self) -> None:
        """No later epoch links to the latest one."""
        self._open = False

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` joint transitions drawn uniformly (with replacement) among linked pairs.

        Keys: the epoch-e columns, the epoch-(e+1) columns suffixed ``_next``, and ``reward``,
        ``discount`` (γ^τ) and ``terminal`` of the transition (read from epoch e+1).
        """
        linked = np.flatnonzero(self.linked)
        now = linked[rng.integers(0, len(linked), size=n)]
        nxt = (now + 1) % self.capacity
        out = {}
        for name, column in self.columns.items():
            if name in ("reward", "discount", "terminal"):
                out[name] = column[nxt]
            else:
                out[name] = column[now]
                out[name + "_next"] = column[nxt]
        return out
