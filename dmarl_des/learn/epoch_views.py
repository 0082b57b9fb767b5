"""The world's state and joint action at decision epochs, looked up for transitions by time.

A learner whose critic takes the global state and the joint action (the networked actor-critic's
``critic_input = global``) is ``joint``: the world hands it one ``DecisionEpoch`` per decision
flush (after that flush's decisions) and one at the episode's end. A macro-transition of agent
``i`` over ``[t_start, t_end]`` is then valued at

* ``(s, a)``: the state and every agent's running macro-action of the *latest* epoch at or
  before ``t_start`` — the flush where ``i`` chose its macro-action, so ``a`` holds ``a_i``;
* ``(s', a')``: those of the *first* epoch at or after ``t_end`` — the flush where ``i`` chose
  its next macro-action (or the episode's last epoch, for a transition cut at its end).

A transition is *complete* once an epoch at or after its ``t_end`` has arrived.
"""

from __future__ import annotations

import numpy as np

from dmarl_des.learn.protocol import DecisionEpoch


class EpochViews:
    """(time, state, joint action) of every epoch of the episodes not yet forgotten."""

    def __init__(self, state_dim: int, n_agents: int) -> None:
        self.state_dim = state_dim
        self.n_agents = n_agents
        self._times: dict[int, list[float]] = {}
        self._states: dict[int, list[np.ndarray]] = {}
        self._actions: dict[int, list[np.ndarray]] = {}
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, epoch: DecisionEpoch) -> None:
        ep = int(epoch.episode)
        self._times.setdefault(ep, []).append(float(epoch.time))
        self._states.setdefault(ep, []).append(np.asarray(epoch.state, dtype=np.float32))
        self._actions.setdefault(ep, []).append(np.asarray(epoch.action, dtype=np.int64))
        self._cache.pop(ep, None)

    def _arrays(self, ep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        got = self._cache.get(ep)
        if got is None:
            times = np.asarray(self._times.get(ep, []), dtype=np.float64)
            states = np.asarray(self._states.get(ep, []), dtype=np.float32).reshape(
                len(times), self.state_dim
            )
            actions = np.asarray(self._actions.get(ep, []), dtype=np.int64).reshape(
                len(times), self.n_agents
            )
            got = self._cache[ep] = (times, states, actions)
        return got

    def complete(self, episode: np.ndarray, t_end: np.ndarray) -> np.ndarray:
        """Rows for which an epoch at or after ``t_end`` of their episode has arrived."""
        out = np.zeros(len(t_end), dtype=bool)
        for ep in np.unique(episode).tolist():
            rows = np.flatnonzero(episode == ep)
            times = self._arrays(ep)[0]
            if times.size:
                out[rows] = t_end[rows] <= times[-1]
        return out

    def at(
        self, episode: np.ndarray, t: np.ndarray, *, after: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(states [B, S], joint actions [B, N]) of the latest epoch at or before each ``t``
        (``after=False``) or the first at or after it (``after=True``); rows must have one."""
        states = np.zeros((len(t), self.state_dim), dtype=np.float32)
        actions = np.full((len(t), self.n_agents), -1, dtype=np.int64)
        for ep in np.unique(episode).tolist():
            rows = np.flatnonzero(episode == ep)
            times, ep_states, ep_actions = self._arrays(ep)
            if after:
                pick = np.searchsorted(times, t[rows], side="left")
            else:
                pick = np.searchsorted(times, t[rows], side="right") - 1
            pick = np.clip(pick, 0, max(len(times) - 1, 0))
            if len(times):
                states[rows] = ep_states[pick]
                actions[rows] = ep_actions[pick]
        return states, actions

    def forget_before(self, episode: int) -> None:
        """Drop the epochs of episodes before ``episode``."""
        for ep in [e for e in self._times if e < episode]:
            for store in (self._times, self._states, self._actions, self._cache):
                store.pop(ep, None)
