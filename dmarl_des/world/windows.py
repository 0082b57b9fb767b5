"""Windows of exact instants: the ends of a local world's macro-actions served together, each at its own time.

A timed world whose agents interact only through the network declares ``local = True`` (see
``WorldHooks.local``): what an agent's end does, what it observes and which macro-actions it
may choose read and change its own data, its sends and the team rewards of its end
(``World.reward_ends``), nothing else. With bucketed delivery (``net.resolution = r > 0``, a
network with a ``lookahead``) a message sent at ``t`` arrives at a bucket edge at or after
``t``, so nothing an agent does at ``t`` reaches another agent before the edge ``e(t)`` (the
first multiple of ``r`` at or after ``t``). In continuous time (``decision_period = 0``) the
macro-actions ending at ``t_1 <= t_2 <= …`` before both ``e(t_1)`` and the next other event of
the simulation (a delivery, a fault, a world process, the horizon) form a *window*: they are
ended, observed, closed and decided in one batch, every row at its own time — its sends leave
at ``t_i`` (``Network.sending_at``), its rewards are stamped ``t_i⁻``, its transition closes at
``t_i`` and its next macro-action starts there.

The outcome is that of serving each instant alone: the same decisions at the same times, the
same messages, fates and rewards. The policy's noise and the channel's uniforms are drawn row
after row as one instant after the other would draw them; what may differ: batched matrix
products may round differently in the last place (observations, logits), a delivery instant may
come one unit in the last place later (``InFlight._start_timer``), and an event tied at exactly
the same time as an end may run before it rather than after (SimPy orders ties by creation).
A window is one batch in the ``episodes`` table (``mean_batch``); it spans less than the world's
``shortest_duration()``, so no macro-action started in it ends inside it.

Windows are off (each instant served alone) on a control tick, with a decision budget
(``max_decisions``), while training a learner, with learned messages or joint learners, for
agents run as processes, with a ``max_batch`` and for a world built with ``windows=False``;
a network without a lookahead (exact delivery, queues, ARQ, partitions and cut links, per-link
models) serves each instant alone too.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from dmarl_des.errors import ConfigError
from dmarl_des.kernel import NORMAL
from dmarl_des.kernel.instants import Instant
from dmarl_des.net.inflight import bucket_key

OnDue = Callable[[float], None]


class EndQueue:
    """Macro-action ends filed by end time, with one wake-up event at the earliest.

    Unlike one SimPy timeout per end time, only the earliest end is in SimPy's queue, so
    ``env.peek()`` inside a wake-up tells when the next *other* event happens.
    """

    def __init__(self, env: simpy.Environment, on_due: OnDue) -> None:
        self.env = env
        self.on_due = on_due
        self._times: list[float] = []  # a heap of the filed end times
        self._chunks: dict[float, list[np.ndarray]] = {}
        self._token = 0  # the wake-up that counts (earlier ones were superseded)
        self._wake_at = math.inf

    def add(self, t_end: float, agents: np.ndarray) -> None:
        """File ``agents`` ([2, K]: slots and generations) under ``t_end``."""
        self.add_many([t_end], agents, [0, agents.shape[1]])

    def add_many(self, t_ends: list[float], agents: np.ndarray, bounds: list[int]) -> None:
        """File ``agents[:, bounds[k]:bounds[k + 1]]`` under ``t_ends[k]`` for every k, in that
        order; one wake-up for the earliest new time."""
        chunks_of, heap = self._chunks, self._times
        earliest = math.inf
        for k, t_end in enumerate(t_ends):
            part = agents[:, bounds[k] : bounds[k + 1]]
            chunks = chunks_of.get(t_end)
            if chunks is not None:
                chunks.append(part)
                continue
            chunks_of[t_end] = [part]
            heapq.heappush(heap, t_end)
            if t_end < earliest:
                earliest = t_end
        if earliest < self._wake_at:
            self._wake(earliest)

    def _wake(self, t: float) -> None:
        self._token += 1
        self._wake_at = t
        token = self._token
        event = Instant(self.env, t - self.env.now, NORMAL)
        event.callbacks.append(lambda _ev: self._fire(token, t))

    def _fire(self, token: int, t: float) -> None:
        if token != self._token:
            return  # superseded by an earlier end filed after it
        self._wake_at = -math.inf  # no wake-up while the due ends run: one after them
        self.on_due(t)
        self._wake_at = math.inf
        if self._times:
            self._wake(self._times[0])

    def pop_before(self, bound: float) -> tuple[list[float], list[np.ndarray]]:
        """Remove the earliest end time and every later one before ``bound``; returns the times
        and, aligned, their agents ([2, K] each, in filing order)."""
        times, parts = [], []
        heap, chunks = self._times, self._chunks
        while heap and (not times or heap[0] < bound):
            t = heapq.heappop(heap)
            group = chunks.pop(t)
            times.append(t)
            parts.append(group[0] if len(group) == 1 else np.concatenate(group, axis=1))
        return times, parts


def bucket_edge(t: float, resolution: float) -> float:
    """The first delivery instant at or after ``t`` (``inflight.bucket_key`` times ``r``)."""
    return bucket_key(t, resolution) * resolution


def window_bound(env: simpy.Environment, t: float, lookahead: float, shortest: float) -> float:
    """Ends at times before this (and from ``t`` on) can be served together: the next other
    event, the delivery edge at or after ``t`` (a finite ``lookahead``: the bucket width) and
    ``t`` plus the shortest duration (no macro-action started in the window ends inside it)."""
    bound = min(env.peek(), t + shortest)
    if lookahead < math.inf:
        bound = min(bound, bucket_edge(t, lookahead))
    return bound


class WindowServer:
    """Runs a window: its ends at their times, then its decisions (one batch)."""

    def __init__(self, world: Any, timed: Any, decisions: Any, ended: Callable[[], bool]) -> None:
        self.world = world
        self.timed = timed
        self.decisions = decisions
        self.ended = ended
        self._clock = np.zeros(0)

    @staticmethod
    def allowed(world: Any, learning: Any, speech: Any) -> bool:
        """Whether this episode's ends may be served in windows (see the module docstring)."""
        scenario = world.scenario
        return bool(
            world.local
            and world.windows
            and world.arrays_mode
            and scenario.decision_period == 0
            and world.max_batch is None
            and scenario.max_decisions is None
            and speech is None
            and learning.learner is None
            and learning.joint is None
            and not learning.exchanger
        )

    def lookahead(self) -> float | None:
        """The network's lookahead (∞ without a network); None while a driver holds the
        decisions (they are taken one instant at a time)."""
        world = self.world
        if world.batcher.hold is not None:
            return None
        return math.inf if world.network is None else world.network.lookahead

    def serve(self, idx: np.ndarray, at: np.ndarray, bound: float) -> None:
        """End the window's macro-actions of slots ``idx`` at their times ``at`` (ascending),
        then serve their decisions as one batch; nothing the hooks do may fall before
        ``bound``, the window's limit."""
        world = self.world
        net = world.network
        clock = self._clock
        n = self.timed.slots.n
        if clock.size != n:
            clock = self._clock = np.zeros(n)
        clock[idx] = at
        self.timed.clock = clock
        try:
            if net is not None:
                net.sending_at(clock)
            try:
                self.timed.end_now(idx)
            finally:
                if net is not None:
                    net.sending_at(None)
            self._check(bound, "end_many")
            if net is not None:
                net.refuse_sends("local", "sends from end_many only, in a local world")
            try:
                self.decisions.serve_window(idx, at)
            finally:
                if net is not None:
                    net.refuse_sends(None)
            self._check(bound, "observe_many, mask_many or begin_many")
        finally:
            self.timed.clock = None

    def _check(self, bound: float, hooks: str) -> None:
        """A local world's hooks end no episode and schedule nothing inside a window."""
        if self.ended() or self.world.env.peek() < bound:
            raise ConfigError(
                "local",
                True,
                f"{type(self.world).__name__}.{hooks} scheduled an event or ended the episode "
                "inside a window of exact instants; a local world does neither (set local = "
                "False)",
            )
