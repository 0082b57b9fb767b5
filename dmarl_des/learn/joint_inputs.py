"""Critic inputs over the global state and the joint action: one-hot joint actions, counterfactuals."""

from __future__ import annotations

import torch


def joint_one_hot(actions: torch.Tensor, n_actions: int) -> torch.Tensor:
    """[B, N] macro-action indices (-1: none running) -> [B, N · A] one-hot (zeros for -1)."""
    running = (actions >= 0).unsqueeze(-1)
    hot = torch.nn.functional.one_hot(actions.clamp(min=0), n_actions).float() * running
    return hot.reshape(actions.shape[0], -1)


def with_own_actions(joint: torch.Tensor, agent: torch.Tensor, n_actions: int) -> torch.Tensor:
    """Every alternative of each row's own action: [B, N · A] one-hot joint actions and the row's
    agent [B] -> [B · A, N · A], rows ``b · A + k`` with agent ``agent[b]`` taking action k and
    the others as in ``joint[b]`` (the counterfactual joint actions ``(a_i', a_{-i})``)."""
    b = joint.shape[0]
    blocks = joint.reshape(b, -1, n_actions).unsqueeze(1).repeat(1, n_actions, 1, 1)
    eye = torch.eye(n_actions, device=joint.device)
    blocks[torch.arange(b, device=joint.device), :, agent, :] = eye
    return blocks.reshape(b * n_actions, -1)
