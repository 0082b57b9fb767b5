"""Learning rounds as world events: each agent sends its declared vectors, then combines what arrived.

A ``LearningRounds`` serves one exchanging learner (``dmarl_des.learn.exchange.Exchanging``)
over the training episodes of a world. At the start of each, ``begin_episode`` gives every agent
one inbox per exchange on the episode's network (named and kinded after the exchange, see
``kinds.py``: the world's own inbox never holds, reads or evicts them) and schedules the rounds.

**Cadence.** Exchanges with equal cadences share rounds. ``period = Δt``: a round at every
``k · Δt`` (``k ≥ 1``) before the horizon. ``every_updates = K``: a round at the instant the
learner's update count reaches a multiple of K (one round per instant even when several
multiples are reached at once); updates made after an episode's simulation (a per-episode
update) owe a round, held at time 0 of the next training episode.

**One round at instant t**, all at place ``AFTER_DECISIONS`` (``dmarl_des.kernel.instants``) —
after every delivery, macro-action end and fault of t, and after the decisions of t and the
learner updates they triggered:

1. *send*: every agent up at t sends, for each exchange of the round, its current vector
   (``learner.outgoing``) to its current neighbours, in one ``broadcast_many``; loss, delay,
   bandwidth queues, ARQ, cuts, partitions, omission and Byzantine attacks act on these messages
   as on any other, and receivers check them (shape, dtype, finite, bound) at delivery;
2. *deliveries*: messages due at t (zero delay) arrive now, before step 3 (their delivery
   events are ``NORMAL`` events of t, which run before the ``AFTER_DECISIONS`` event of step 3);
3. *combine*: every agent up at t takes, per exchange, the latest vector each neighbour sent it
   that arrived since its previous combine (``collect.py``: fresh, stale, missing, superseded,
   unlinked are counted) and the learner combines them (``learner.combine``). Nothing waits for
   a message still in flight or lost: it is simply missing at this round (and stale, if it
   arrives, at a later one).

A crashed agent neither sends nor combines (its inbox keeps what arrived before the crash and is
emptied when it recovers); a recovered agent takes part again from the next round. Rounds happen
in training episodes only. Each round leaves one row per exchange in the ``rounds`` table (with
the learner's ``round_metrics`` as columns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import simpy

from dmarl_des.comm.collect import collect
from dmarl_des.comm.kinds import exchange_kind, learning_inbox_limit
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, Periodic, call_at, every
from dmarl_des.learn.exchange import Exchange, Exchanging
from dmarl_des.log import TABLES, Recorder
from dmarl_des.net import MessageKind, Network

__all__ = ["LearningRounds"]

Cadence = tuple[float, int]


class LearningRounds:
    """The rounds of an exchanging learner over a world's training episodes (module docstring)."""

    def __init__(self, learner: Exchanging, recorder: Recorder) -> None:
        exchanges = tuple(learner.exchanges())
        for ex in exchanges:
            if not isinstance(ex, Exchange):
                raise ConfigError("exchanges", type(ex).__name__, "Exchange declarations")
        names = [ex.name for ex in exchanges]
        if len(set(names)) != len(names):
            raise ConfigError("exchanges", names, "distinct exchange names")
        self.learner = learner
        self.exchanges = exchanges
        self.kinds: dict[str, MessageKind] = {ex.name: exchange_kind(ex) for ex in exchanges}
        self.groups: dict[Cadence, list[Exchange]] = {}
        for ex in exchanges:
            self.groups.setdefault(ex.cadence, []).append(ex)
        self.recorder = recorder
        recorder.declare("rounds", TABLES["rounds"])
        self.metrics = tuple(getattr(learner, "round_metrics", ()))
        recorder.add_columns("rounds", dict.fromkeys(self.metrics, pl.Float64))
        self.n_rounds = 0
        """Rounds over the run (the ``round`` column of the `rounds` table)."""
        self.episode_rounds = 0
        self._done: dict[Cadence, int] = dict.fromkeys(self.groups, 0)  # update multiples served
        self._owed: set[Cadence] = set()
        self._times: dict[Cadence, list[float]] = {}
        self._planned: dict[Cadence, float] = {}
        self._periodic: list[Periodic] = []
        self._env: simpy.Environment | None = None
        self._network: Network | None = None
        self._up: np.ndarray | None = None
        self._abstain: np.ndarray | None = None
        self._episode = 0

    # ---------------------------------------------------------------- episodes
    def begin_episode(
        self,
        env: simpy.Environment,
        network: Network,
        up: np.ndarray,
        episode: int,
        horizon: float,
        *,
        abstain: np.ndarray | None = None,
    ) -> None:
        """Open the exchanges' inboxes on ``network`` and schedule the episode's rounds
        (``abstain``, bool [N] read at every round: agents that send but never combine)."""
        self._abstain = abstain
        limit = learning_inbox_limit(network.topology)
        for name, kind in self.kinds.items():
            network.open_inbox(name, {name: kind}, limit=limit)
        self._env, self._network, self._up, self._episode = env, network, up, episode
        self.episode_rounds = 0
        self._times = {cadence: [] for cadence in self.groups}
        self._planned = {}
        self._periodic = [
            every(
                env,
                period,
                lambda c=(period, k): self._send(c),
                priority=AFTER_DECISIONS,
                until=horizon,
            )
            for period, k in self.groups
            if period > 0
        ]
        for cadence in sorted(self._owed):
            self._plan(cadence)
        self._owed.clear()

    def end_episode(self) -> None:
        """The episode's simulation is over: no more rounds in it."""
        for periodic in self._periodic:
            periodic.stop()
        self._periodic = []
        self._env = None

    def after_updates(self, n_updates: int) -> None:
        """The learner has made ``n_updates`` updates in all: plan the rounds they call for."""
        for cadence in self.groups:
            k = cadence[1]
            if k <= 0 or n_updates // k <= self._done[cadence]:
                continue
            self._done[cadence] = n_updates // k
            if self._env is None:
                self._owed.add(cadence)
            else:
                self._plan(cadence)

    # ---------------------------------------------------------------- one round
    def _plan(self, cadence: Cadence) -> None:
        """A round of ``cadence`` at this instant (at most one per instant)."""
        assert self._env is not None
        now = float(self._env.now)
        if self._planned.get(cadence) == now:
            return
        self._planned[cadence] = now
        call_at(self._env, 0.0, lambda: self._send(cadence), priority=AFTER_DECISIONS)

    def _send(self, cadence: Cadence) -> None:
        """Step 1: every agent up now sends its vectors of the round's exchanges."""
        env, network, up = self._env, self._network, self._up
        assert env is not None and network is not None and up is not None
        agents = np.flatnonzero(up)
        sent: dict[str, int] = {}
        for ex in self.groups[cadence]:
            vectors = np.asarray(self.learner.outgoing(ex.name, agents))
            if vectors.shape != (agents.size, ex.size) or vectors.dtype != np.float32:
                raise ConfigError(
                    f"outgoing({ex.name!r})",
                    f"{vectors.dtype} {vectors.shape}",
                    f"float32 ({agents.size}, {ex.size})",
                )
            sent[ex.name] = (
                network.broadcast_many(agents, ex.name, vectors, copy=False) if agents.size else 0
            )
        self._times[cadence].append(float(env.now))
        call_at(env, 0.0, lambda: self._combine(cadence, agents.size, sent), AFTER_DECISIONS)

    def _combine(self, cadence: Cadence, senders: int, sent: dict[str, int]) -> None:
        """Step 3: every agent up now combines what arrived, exchange after exchange (agents
        that abstain — greedy and faulty adversaries — do not)."""
        env, network, up = self._env, self._network, self._up
        assert env is not None and network is not None and up is not None
        agents = np.flatnonzero(up if self._abstain is None else up & ~self._abstain)
        now = float(env.now)
        times = np.asarray(self._times[cadence])
        self.n_rounds += 1
        self.episode_rounds += 1
        for ex in self.groups[cadence]:
            arrived = collect(network, ex.name, agents, self.n_rounds, now, times)
            metrics = dict(self.learner.combine(arrived))
            unknown = sorted(set(metrics) - set(self.metrics))
            if unknown:
                raise ConfigError(
                    "round metric", unknown, f"declared in round_metrics {self.metrics}"
                )
            counts = arrived.counts
            self.recorder.add(
                "rounds",
                episode=self._episode,
                round=self.n_rounds,
                time=now,
                exchange=ex.name,
                senders=senders,
                sent=sent[ex.name],
                agents=int(agents.size),
                mean_age=float(arrived.age.mean()) if len(arrived) else None,
                **counts,
                **{k: None if v is None else float(v) for k, v in metrics.items()},
            )


def exchanging(policy: Any) -> bool:
    """True for a learner that declares at least one exchange."""
    exchanges: Callable[[], Any] | None = getattr(policy, "exchanges", None)
    return callable(exchanges) and len(tuple(exchanges())) > 0
