"""Learner cadence: which learner learns in an episode, what it is handed, when it updates (train rows).

In a training episode (``phase == "train"`` with a ``Learner`` as the policy) the learner is given
every squeezed transition batch as it is emitted (at the decision flush that closes it, or at the
episode's end) and — for joint learners (``joint = True``: VDN, QMIX) — one ``DecisionEpoch`` per
decision flush and one at the end. After each hand-over, and after ``Learner.end_episode``, it
updates as many times as it says it is ``ready()``; each update is one row of the ``train`` table
(typed columns per metric; a learner's own metric names, ``train_metrics``, are added as columns at
its first update).
In evaluation episodes nothing is handed over and nothing updates.

A learner that exchanges vectors with its neighbours (``dmarl_des.learn.exchange.Exchanging``)
also gets learning rounds in its training episodes (``dmarl_des.comm.LearningRounds``, one per
learner over the run): ``attach`` opens its inboxes on the episode's network and schedules the
rounds; update counts are reported to it after every batch of updates (for rounds every K
updates).
A learner with ``learner.federated`` rounds gets them likewise
(``dmarl_des.comm.federated.FederatedRounds``), told which agents' transitions it was handed
(for data-driven client selection).

Learning adversaries (``faults.byzantine.learning``, set by the fault injector through
``adversary``) change what a Byzantine agent learns in training episodes: a ``greedy`` agent
never combines at a round (it keeps learning from its own reward and still sends); a
``faulty`` one neither combines nor gets its transitions handed to the learner, so its
per-agent parameters stay as they were at the strike (and it keeps sending them).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from dmarl_des.comm import LearningRounds, exchanging
from dmarl_des.comm.federated import FederatedRounds, federating
from dmarl_des.errors import ConfigError
from dmarl_des.learn.protocol import DecisionEpoch, Learner, Policy, TransitionBatch
from dmarl_des.log import Recorder
from dmarl_des.log.schema import train_row
from dmarl_des.world.rewards import Rewards
from dmarl_des.world.slots import Slots


class Learning:
    """Hands transitions and decision epochs to the episode's learner and runs its updates."""

    def __init__(self, recorder: Recorder, slots: Slots, rewards: Rewards, gamma: float) -> None:
        self.recorder = recorder
        self.slots = slots
        self.rewards = rewards
        self.gamma = gamma
        self.n_updates = 0
        """Updates over the whole run (the ``update`` column of ``train``)."""
        self.learner: Learner | None = None
        """The learner of this episode (None: evaluation, or a policy that does not learn)."""
        self.joint: Learner | None = None
        """The learner again when it learns from joint decision epochs, else None."""
        self._episode = 0
        self._clock: Callable[[], float] = lambda: 0.0
        self._epoch_time = 0.0
        self._epoch_action = np.zeros(0, dtype=np.int64)
        self.rounds: LearningRounds | None = None
        """The learning rounds of the exchanging learner (kept over the run), else None."""
        self.exchanger = False
        """True when the policy is an exchanging (or federated) learner: every episode has a
        network (even in a world without message kinds; faults on messages then apply to its
        learning traffic)."""
        self.exchanging = False
        """True in a training episode of an exchanging learner: the episode has learning
        traffic (rounds, exchanges or federated)."""
        self.federated: FederatedRounds | None = None
        """The federated rounds of a learner with ``learner.federated`` on (kept over the run)."""
        self.federating = False
        """True in a training episode of such a learner."""
        self.abstain = np.zeros(slots.n, dtype=bool)
        """[N] agents that do not combine at rounds this episode (greedy and faulty ones)."""
        self.frozen = np.zeros(slots.n, dtype=bool)
        """[N] agents whose transitions are withheld from the learner this episode (faulty)."""

    def begin_episode(
        self, policy: Policy, phase: str, episode: int, clock: Callable[[], float]
    ) -> None:
        """Choose who learns in this episode (a learner in a training episode, else nobody)."""
        training = phase == "train" and isinstance(policy, Learner)
        self.learner = policy if training else None
        self.joint = self.learner if training and getattr(policy, "joint", False) else None
        self._episode = episode
        self._clock = clock
        self._epoch_time = 0.0
        self._epoch_action = np.full(self.slots.n, -1, dtype=np.int64)
        self.federating = training and federating(policy)
        if self.federating and (self.federated is None or self.federated.learner is not policy):
            self.federated = FederatedRounds(policy, self.recorder)
        self.exchanger = exchanging(policy) or federating(policy)
        self.exchanging = training and exchanging(policy)
        self.abstain = np.zeros(self.slots.n, dtype=bool)
        self.frozen = np.zeros(self.slots.n, dtype=bool)
        if self.exchanging and (self.rounds is None or self.rounds.learner is not policy):
            self.rounds = LearningRounds(policy, self.recorder)
        self.exchanging = self.exchanging or self.federating

    def attach(self, env: Any, network: Any, up: np.ndarray, horizon: float) -> None:
        """Start the episode's learning rounds on its network (exchanging learners only)."""
        for rounds in self._all_rounds():
            rounds.begin_episode(env, network, up, self._episode, horizon, abstain=self.abstain)

    def _all_rounds(self) -> list[LearningRounds | FederatedRounds]:
        """The rounds of this episode (exchanges, federated), none outside training."""
        out: list[LearningRounds | FederatedRounds] = []
        if self.exchanging and self.rounds is not None and self.rounds.learner is self.learner:
            out.append(self.rounds)
        if self.federating and self.federated is not None:
            out.append(self.federated)
        return out

    @property
    def active(self) -> bool:
        """True when the episode has a learner (so transitions must be built in full)."""
        return self.learner is not None

    def adversary(self, idx: int, mode: str) -> None:
        """Agent ``idx`` learns as ``mode`` says from now on, this episode (``greedy``:
        never combines; ``faulty``: never combines, its transitions are withheld)."""
        if mode not in ("greedy", "faulty"):
            raise ConfigError("faults.byzantine.learning", mode, "greedy | faulty")
        self.abstain[idx] = True
        if mode == "faulty":
            self.frozen[idx] = True

    def observe(self, batch: TransitionBatch) -> None:
        """Hand squeezed transitions to the learner, then update while it is ready."""
        assert self.learner is not None
        if self.frozen.any():
            keep = ~self.frozen[batch.agent_idx]
            if not keep.all():
                batch = _rows(batch, keep)
            if not len(batch):
                return
        self.learner.observe(batch)
        if self.federating:
            assert self.federated is not None
            self.federated.saw(batch.agent_idx)
        self.maybe_update()

    def epoch(self, deciding: np.ndarray, state: np.ndarray, *, done: bool, terminal: bool) -> None:
        """Hand the joint learner the decision epoch ending now (``deciding``: who decides now)."""
        learner = self.joint
        assert learner is not None
        now = self._clock()
        slots = self.slots
        reward, _ = self.rewards.team.window(self._epoch_time, now, self.gamma, closed=done)
        running = slots.action >= 0
        self._epoch_action = np.where(running, slots.action, self._epoch_action)
        epoch = DecisionEpoch(
            time=now,
            tau=now - self._epoch_time,
            reward=reward,
            state=state,
            obs=slots.obs.copy(),
            mask=slots.mask.copy(),
            action=self._epoch_action.copy(),
            deciding=deciding,
            alive=slots.up.copy(),
            done=done,
            terminal=done and terminal,
            episode=self._episode,
        )
        self._epoch_time = now
        learner.observe_epoch(epoch)
        self.maybe_update()

    def maybe_update(self) -> None:
        """Update the learner as long as it is ready; one ``train`` row per update."""
        learner = self.learner
        if learner is None:
            return
        while learner.ready():
            t0 = time.perf_counter()
            metrics = dict(learner.update())
            self.n_updates += 1
            wall = time.perf_counter() - t0
            if self.n_updates == 1:  # a learner's own metrics become columns of their own
                own = getattr(learner, "train_metrics", ())
                self.recorder.add_columns("train", dict.fromkeys(own, pl.Float64))
            self.recorder.add(
                "train",
                update=self.n_updates,
                episode=self._episode,
                sim_time=self._clock(),
                wall_s=wall,
                **train_row(metrics, self.recorder.columns("train")),
            )
            for rounds in self._all_rounds():
                rounds.after_updates(self.n_updates)

    def end_simulation(self) -> int:
        """The episode's simulation is over: no more rounds in it; returns how many it had."""
        total = 0
        for rounds in self._all_rounds():
            rounds.end_episode()
            total += rounds.episode_rounds
        return total

    def end_episode(self, episode: int) -> None:
        """The episode is over: the learner's end-of-episode step, then its updates."""
        if self.learner is not None:
            self.learner.end_episode(episode)
            self.maybe_update()


def _rows(batch: TransitionBatch, keep: np.ndarray) -> TransitionBatch:
    """The rows ``keep`` of a transition batch."""
    values = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
    return TransitionBatch(
        **{k: v[keep] if isinstance(v, np.ndarray) else v for k, v in values.items()}
    )
