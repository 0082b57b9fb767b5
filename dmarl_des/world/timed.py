"""Timed macro-actions: durations known at the start, so agents live in arrays and ends are batched.

A timed world (``timed = True``) starts macro-actions with ``begin_many(idx, actions) ->
durations`` and ends them with ``end_many(idx)``. Kept in arrays (the default), the agents whose
macro-actions end at the same time ``t`` are filed under ``t`` and end in ONE ``NORMAL`` event:
``end_many`` for all of them (in the order they were started), then one request for their next
decisions, which the decision flush of ``t`` serves. An end whose slot was cancelled since (crash,
interrupt: the slot's ``generation`` moved on) or whose agent is down is skipped. Run as processes
(``agents_as_processes=True``) each agent's behaviour is the same begin, wait, end; the tests show
identical tables.

With a control tick (``decision_period > 0``) a macro-action whose duration runs out between two
ticks ends at the next tick — the agent's controller runs at the ticks — so its end effects happen
there, with those of every other agent ending at that tick.

A local world in continuous time may have its ends served in windows of exact instants
(``windows.py``): the ends are then kept in an ``EndQueue`` and a window's rows are handed to
``serve_window`` with their times.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from dmarl_des.agent import SimAgent
from dmarl_des.errors import ConfigError
from dmarl_des.world.rewards import Rewards
from dmarl_des.world.slots import Slots
from dmarl_des.world.windows import EndQueue, window_bound

Begin = Callable[[np.ndarray, np.ndarray], np.ndarray]


def run_bounds(values: np.ndarray) -> list[int]:
    """Where the runs of equal values of a sorted array start, and its length at the end."""
    return [0, *((values[1:] != values[:-1]).nonzero()[0] + 1).tolist(), len(values)]


End = Callable[[np.ndarray], Any]


class TimedMacroActions:
    """Starts timed macro-actions, files their ends by end time, and ends them in batches."""

    def __init__(
        self, slots: Slots, rewards: Rewards, begin_many: Begin, end_many: End, period: float
    ) -> None:
        self.slots = slots
        self.rewards = rewards
        self.begin_many = begin_many
        self.end_many = end_many
        self.period = period
        self.env = simpy.Environment()
        self.request_many: Callable[[np.ndarray], None] = lambda _idx: None
        self._ends: dict[float, list[np.ndarray]] = {}
        self._queue: EndQueue | None = None
        self.lookahead: Callable[[], float | None] = lambda: None
        """How far ahead of an end a window may reach (None: each instant alone)."""
        self.serve_window: Callable[[np.ndarray, np.ndarray, float], None] = (
            lambda _idx, _at, _bound: None
        )
        """Ends, observes and decides a window's rows ``idx`` at their times ``at`` (all before
        the window's bound)."""
        self.clock: np.ndarray | None = None
        """Each slot's time while a window's ends run (float [N]), else None."""
        self.shortest = 0.0
        """The world's shortest duration while windows are on (no duration may be shorter)."""

    def begin_episode(self, env: simpy.Environment, request_many: Callable[[np.ndarray], None]):
        """Use ``env`` and ask for decisions through ``request_many`` from now on."""
        self.env = env
        self.request_many = request_many
        self._ends = {}
        self._queue = None
        self.clock = None

    def use_windows(
        self,
        lookahead: Callable[[], float | None],
        serve_window: Callable[[np.ndarray, np.ndarray, float], None],
        shortest: float,
    ) -> None:
        """Serve this episode's ends in windows of exact instants (``windows.py``) spanning
        less than ``shortest`` (the world's shortest duration; 0: one instant each)."""
        self._queue = EndQueue(self.env, self._on_due)
        self.lookahead = lookahead
        self.serve_window = serve_window
        self.shortest = float(shortest)

    def end_times(self, durations: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
        """When timed macro-actions started now end: after their duration, at a control tick.

        With ``decision_period > 0`` the agent's controller runs at the ticks, so a macro-action
        whose duration runs out between two ticks completes at the next tick (its transition
        spans to the tick in any case).
        """
        ends = (self.env.now if at is None else at) + np.asarray(durations, dtype=np.float64)
        period = self.period
        if period > 0:
            ends = np.maximum(ends, np.ceil(ends / period - 1e-9) * period)
        return ends

    def end_now(self, idx: np.ndarray) -> None:
        """``end_many(idx)``, with the rewards it gives credited to the ending macro-actions."""
        rewards = self.rewards
        rewards.ending = True
        try:
            self.end_many(idx)
        finally:
            rewards.ending = False

    # ---------------------------------------------------------------- agents kept in arrays
    def start(self, idx: np.ndarray, actions: np.ndarray, at: np.ndarray | None = None) -> None:
        """Begin the chosen macro-actions of slots ``idx`` (now, or each at its time ``at``)
        and file their ends."""
        durations = self.begin_many(idx, actions)
        if self._queue is not None and self.shortest > 0 and np.min(durations) < self.shortest:
            raise ConfigError(
                "shortest_duration",
                self.shortest,
                f"a lower bound of begin_many's durations (got {float(np.min(durations))})",
            )
        ends = self.end_times(durations, at)
        # each agent with the generation its macro-action belongs to (a later one cancels it)
        agents = np.empty((2, len(idx)), dtype=np.int64)
        agents[0] = idx
        agents[1] = self.slots.generation[idx]
        if len(idx) == 1:
            self._add_end(float(ends[0]), agents)
            return
        order = ends.argsort(kind="stable")
        ends, agents = ends[order], agents[:, order]
        bounds = run_bounds(ends)
        keys = ends[bounds[:-1]].tolist()
        if self._queue is not None:
            self._queue.add_many(keys, agents, bounds)
            return
        pending = self._ends
        for key, lo, hi in zip(keys, bounds[:-1], bounds[1:], strict=True):
            chunks = pending.get(key)
            if chunks is None:
                self._add_end(key, agents[:, lo:hi])
            else:
                chunks.append(agents[:, lo:hi])

    def cancel(self, idx: int) -> None:
        """Forget slot ``idx``'s filed end (its macro-action is cut or interrupted)."""
        self.slots.generation[idx] += 1

    def _add_end(self, t_end: float, agents: np.ndarray) -> None:
        """File ``agents`` ([2, K]: slots and generations) under the end time ``t_end``."""
        if self._queue is not None:
            self._queue.add(t_end, agents)
            return
        chunks = self._ends.get(t_end)
        if chunks is None:
            chunks = self._ends[t_end] = []
            event = self.env.timeout(t_end - self.env.now)
            event.callbacks.append(lambda _ev, key=t_end: self._on_ends(key))
        chunks.append(agents)

    def _on_ends(self, key: float) -> None:
        chunks = self._ends.pop(key)
        self._end_instant(np.concatenate(chunks, axis=1) if len(chunks) > 1 else chunks[0])

    def _live(self, agents: np.ndarray) -> np.ndarray | None:
        """Which filed ends of ``agents`` ([2, K]) still stand (their slot up, their
        macro-action not cut since); None when all do."""
        idx, gen = agents
        slots = self.slots
        live = (slots.generation[idx] == gen) & slots.up[idx]
        return None if live.all() else live

    def _end_instant(self, agents: np.ndarray) -> None:
        """End the live macro-actions of ``agents`` ([2, K]) now and ask for their decisions."""
        idx = agents[0]
        live = self._live(agents)
        if live is not None:
            idx = idx[live]
        if len(idx):
            self.end_now(idx)
            self.request_many(idx)

    def _on_due(self, t: float) -> None:
        """The earliest filed end is due: end it alone, or its whole window together."""
        assert self._queue is not None
        lookahead = self.lookahead()
        bound = t if lookahead is None else window_bound(self.env, t, lookahead, self.shortest)
        times, parts = self._queue.pop_before(bound)
        if len(times) == 1:
            self._end_instant(parts[0])
            return
        agents = np.concatenate(parts, axis=1)
        idx, at = agents[0], np.repeat(times, [p.shape[1] for p in parts])
        live = self._live(agents)
        if live is not None:
            idx, at = idx[live], at[live]
        if len(idx):
            self.serve_window(idx, at, bound)

    # ---------------------------------------------------------------- agents as processes
    def behaviour(self, agent: SimAgent) -> Generator[simpy.Event, Any, None]:
        """The process-mode run of a timed macro-action: begin, wait its duration, end."""
        idx = np.array([agent.idx], dtype=np.int64)
        end = float(self.end_times(self.begin_many(idx, self.slots.action[idx]))[0])
        yield self.env.timeout(end - self.env.now)
        self.end_now(idx)
