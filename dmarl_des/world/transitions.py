"""Closing macro-actions into squeezed transitions: agents' returns, the learner's batches, the table.

A macro-action is *closed* when its agent's next decision is served (``done=False``), when the
agent stops (crash, leave: ``done=True``) or at the episode's end (``done=True``, ``terminal``
when the world ended it in a terminal state). Closing records the row (who, the observation and
mask it was chosen on, the action, ``t0``, ``t1 = now``, the next observation and mask) and
updates the slot's counters at once; *emitting* squeezes the pending rows' rewards (see
``rewards.py``) and hands them on — to each agent's return, to the ``transitions`` table
(``record.transitions``), to the learner of a training episode and to every listener (a driver
stepping the world from outside). Rows are emitted at the decision flush that closed them (so
rewards given up to that instant are counted), before a slot gets a new agent, and at the episode's
end. Without a learner, the table and listeners, only the returns are computed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dmarl_des.learn.protocol import TransitionBatch
from dmarl_des.log import Recorder
from dmarl_des.world.learning import Learning
from dmarl_des.world.rewards import Rewards
from dmarl_des.world.slots import Slots


class Transitions:
    """Pending closed macro-actions of one episode, squeezed and handed on when emitted."""

    def __init__(
        self, slots: Slots, rewards: Rewards, learning: Learning, recorder: Recorder, gamma: float
    ) -> None:
        self.slots = slots
        self.rewards = rewards
        self.learning = learning
        self.recorder = recorder
        self.gamma = gamma
        self.record = recorder.has("transitions")
        self.episode = 0
        self._pending: list[dict[str, np.ndarray]] = []
        self.listeners: list[Callable[[TransitionBatch], None]] = []
        """Called with every emitted batch, after the table and the learner."""

    def begin_episode(self, episode: int) -> None:
        self.episode = episode
        self._pending = []

    @property
    def wanted(self) -> bool:
        """Whether closed macro-actions become full transitions (a learner, the table or a
        listener)."""
        return self.learning.learner is not None or self.record or bool(self.listeners)

    def close(
        self,
        idx: np.ndarray,
        now: float | np.ndarray,
        obs_next: np.ndarray,
        mask_next: np.ndarray,
        *,
        done: bool,
        terminal: bool = False,
    ) -> None:
        """End the open macro-actions of slots ``idx`` (distinct) at ``now`` (one time, or one
        per row); squeezed when emitted."""
        slots = self.slots
        t0 = slots.t_start[idx]
        n = len(idx)
        if isinstance(now, np.ndarray) and n == 1:
            now = float(now[0])
        if not self.wanted:  # only the reward windows are needed
            t1, ended = (
                (np.array([now]), np.array([done]))
                if n == 1
                else (np.full(n, now), np.full(n, done))
            )
            self._pending.append({"idx": idx, "t0": t0, "t1": t1, "done": ended})
        else:
            self._pending.append(
                {
                    "idx": idx,
                    "obs": slots.obs[idx],
                    "action": slots.action[idx],
                    "mask": slots.mask[idx],
                    "obs_next": np.asarray(obs_next, dtype=np.float32),
                    "mask_next": np.asarray(mask_next, dtype=bool),
                    "t0": t0,
                    "t1": np.full(n, now),
                    "done": np.full(n, done),
                    "terminal": np.full(n, terminal),
                }
            )
        # one open macro-action per agent: the agents of one close are distinct
        if n == 1:  # one agent (continuous time): the same updates through an int index
            i = int(idx[0])
            slots.busy[i] += now - t0[0]
            slots.n_done[i] += 1
            slots.action[i] = -1
        else:
            slots.busy[idx] += now - t0
            slots.n_done[idx] += 1
            slots.action[idx] = -1

    def _team_average(self, cols: dict[str, np.ndarray]) -> np.ndarray | None:
        """The rows' team-average rewards when the learner asks for them (else None)."""
        learner = self.learning.learner
        if learner is None or not getattr(learner, "team_reward", False):
            return None
        return self.rewards.average_windows(
            cols["t0"], cols["t1"], cols["done"], self.gamma, self.slots.n
        )

    def emit(self) -> None:
        """Squeeze every pending row and hand it on (returns, table, learner)."""
        if not self._pending:
            return
        chunks = self._pending
        self._pending = []
        cols = chunks[0]
        if len(chunks) > 1:
            cols = {k: np.concatenate([c[k] for c in chunks]) for k in cols}
        idx = cols["idx"]
        full = "obs" in cols  # closed as full transitions (see close)
        rewards, totals = self.rewards.windows(
            idx, cols["t0"], cols["t1"], cols["done"], self.gamma, discounted=full
        )
        returns = self.slots.returns
        add_returns(returns, idx, totals)
        self.rewards.squeezed_until = max(self.rewards.squeezed_until, float(cols["t1"].max()))
        if rewards is None:  # no learner and no transitions table: returns are all that is kept
            return
        batch = TransitionBatch(
            agent_idx=idx,
            obs=cols["obs"],
            action=cols["action"],
            mask=cols["mask"],
            reward=rewards,
            obs_next=cols["obs_next"],
            mask_next=cols["mask_next"],
            tau=cols["t1"] - cols["t0"],
            done=cols["done"],
            terminal=cols["terminal"],
            t_start=cols["t0"],
            t_end=cols["t1"],
            episode=self.episode,
            team_reward=self._team_average(cols),
        )
        if self.record:
            self.recorder.extend(
                "transitions",
                {
                    "episode": np.full(len(batch), self.episode),
                    "agent_id": self.slots.agent_id[idx],
                    "t_start": batch.t_start,
                    "t_end": batch.t_end,
                    "tau": batch.tau,
                    "action": batch.action,
                    "reward": batch.reward,
                    "done": batch.done,
                    "terminal": batch.terminal,
                    "obs": batch.obs.tolist(),
                    "obs_next": batch.obs_next.tolist(),
                },
            )
        if self.learning.learner is not None:
            self.learning.observe(batch)
        for listener in self.listeners:
            listener(batch)


def add_returns(returns: np.ndarray, idx: np.ndarray, totals: np.ndarray) -> None:
    """``returns += bincount(idx, totals)``: each row's total added to its agent's return (one
    row, as in continuous time, without touching the other agents: the same sums)."""
    if idx.size == 1:
        returns[idx[0]] += totals[0]
    else:
        returns += np.bincount(idx, totals, minlength=returns.size)
