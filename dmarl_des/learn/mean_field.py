"""The mean action of mean-field learners, from the macro-actions neighbours announced through the network.

An agent announces the macro-action it just chose as a one-hot vector (message kind
``mf_action``, one float32 per macro-action). Agent i's mean action when it decides is

    ā_i = (1 / |H_i|) Σ_{j ∈ H_i} onehot(a_j)        (ā_i = 0 when H_i is empty)

over H_i, the current neighbours whose announcement *arrived*: a neighbour whose messages were
all lost is left out of the mean, and a delayed one counts with the macro-action it announced
then (stale); the simulator counts both (``comm`` table: ``missing``, ``stale``). Nothing else
enters the mean — not the neighbours' true macro-actions.

``Announcements`` keeps what a mean-field learner needs between the simulator's calls: the mean
action each agent heard at its latest decision batch (``now``, also the next state's mean action
of a transition closing there), the one its running macro-action was chosen with (``chosen``),
and the batch's announcements.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.messaging import Heard, MessageSpec, Spoken

__all__ = ["MESSAGE_KIND", "Announcements", "mean_action"]

MESSAGE_KIND = "mf_action"


def mean_action(heard: Heard, n_actions: int) -> np.ndarray:
    """ā [B, A] of the batch's agents: the mean of the announcements each heard (zeros when it
    heard none)."""
    b = heard.agents.size
    sums = np.zeros((b, n_actions), dtype=np.float64)
    if len(heard):
        np.add.at(sums, heard.row, heard.vectors.astype(np.float64))
    count = np.bincount(heard.row, minlength=b)
    return (sums / np.maximum(count, 1)[:, None]).astype(np.float32)


class Announcements:
    """Mean actions and announced macro-actions of a mean-field learner's agents."""

    def __init__(self, n_agents: int, n_actions: int) -> None:
        self.n_actions = int(n_actions)
        self.now = np.zeros((n_agents, n_actions), dtype=np.float32)
        """[N, A] the mean action each agent heard at its latest decision batch."""
        self.chosen = np.zeros((n_agents, n_actions), dtype=np.float32)
        """[N, A] the mean action its running macro-action was chosen with."""
        self._said: tuple[np.ndarray, np.ndarray] | None = None

    def spec(self) -> MessageSpec:
        return MessageSpec(MESSAGE_KIND, self.n_actions, 1.0)

    def reset(self, agents: np.ndarray | None = None) -> None:
        """A new episode (None), or agents that start over: nothing heard."""
        if agents is None:
            self.now[:] = 0.0
            self.chosen[:] = 0.0
        else:
            self.now[agents] = 0.0
            self.chosen[agents] = 0.0

    def hear(self, heard: Heard) -> None:
        self.now[heard.agents] = mean_action(heard, self.n_actions)

    def decide(self, agent_idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The batch chose ``actions``: their mean actions become the chosen ones (returned);
        the one-hot announcements are ready for ``spoken``."""
        self.chosen[agent_idx] = self.now[agent_idx]
        onehot = np.zeros((agent_idx.size, self.n_actions), dtype=np.float32)
        onehot[np.arange(agent_idx.size), actions] = 1.0
        self._said = (agent_idx.copy(), onehot)
        return self.chosen[agent_idx]

    def spoken(self, agents: np.ndarray) -> Spoken:
        if self._said is None or not np.array_equal(self._said[0], agents):
            return Spoken(np.zeros((len(agents), self.n_actions), dtype=np.float32))
        return Spoken(self._said[1])
