"""The decision batcher: every agent that asks at the same instant is served by one policy call.

Semantics, precisely:

* ``request(agent)`` (an agent running as a SimPy process) returns an event that succeeds with the
  chosen macro-action index; ``request_many(agents)`` (agents kept in arrays) asks for several at
  once without events — the world starts their macro-actions itself when they are served.
* With ``period == 0`` the requests of one instant ``t`` are served by ONE call of ``serve`` at
  ``t``, after every other event of that instant. SimPy's event queue is ordered by
  ``(time, priority, id)`` and every ``Timeout``/``succeed`` uses priority NORMAL (1), so the flush
  event, scheduled with priority NORMAL + 1, runs after every NORMAL or URGENT event of ``t`` —
  including events created at ``t`` after the flush was scheduled (chains of zero-delay events).
  Agents resumed by the flush run at ``t`` too; one that asks again at ``t`` (a zero-duration
  macro-action) opens a new batch at the same instant.
* With ``period > 0`` (a control tick) a request at ``t`` is served at the first tick time
  ``k · period ≥ t`` (tick times are computed as integer multiples, so they do not drift), again
  after every other event of that instant.
* Rows reach ``serve`` in the order the requests were made, so a policy that draws its randomness
  row by row makes the same draws batched or one at a time.
* ``max_batch=1`` serves each request by its own call (the one-at-a-time reference semantics).
* A driver that decides elsewhere (an environment stepped by another library) sets ``hold``: a
  flush then hands its rows to ``hold(ids, answers)`` instead of calling ``serve``, and the
  driver, once it has the actions, calls ``answer(ids, answers, actions)`` — at the same
  simulated instant, before the environment runs on — which does what a flush does after
  ``serve``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import simpy

from dmarl_des.kernel.instants import DECISIONS, Instant

FLUSH_PRIORITY = DECISIONS
"""Priority of the flush event: after every NORMAL (1) and URGENT (0) event of the same instant."""

Serve = Callable[[np.ndarray], np.ndarray | None]
"""serve(agent_idx [B]) -> actions [B], or None when the batch is refused (episode over)."""

Hold = Callable[[np.ndarray, list[simpy.Event | None] | None], None]
"""hold(agent_idx [B], answers) takes a batch to decide elsewhere (see ``answer``)."""

_NO_IDS = np.empty(0, dtype=np.int64)
_NO_IDS.flags.writeable = False


class DecisionBatcher:
    """Collects decision requests and serves them in batched calls of ``serve``."""

    def __init__(
        self,
        env: simpy.Environment,
        serve: Serve,
        *,
        period: float = 0.0,
        max_batch: int | None = None,
    ) -> None:
        self.env = env
        self.serve = serve
        self.period = float(period)
        self.max_batch = max_batch
        # pending requests, chunk after chunk (request order): agent ids, and per chunk either the
        # answer events aligned with the ids or None (requests of agents kept in arrays)
        self._chunks: list[np.ndarray] = []
        self._answers: list[list[simpy.Event | None] | None] = []
        self._flush_scheduled = False
        self.batch_sizes: list[int] = []
        self.n_decisions = 0
        self.hold: Hold | None = None
        """When set, flushes hand their rows to it instead of serving them (see ``answer``)."""

    def serve_time(self, now: float) -> float:
        """When a request made at ``now`` is served."""
        if self.period <= 0.0:
            return now
        k = math.ceil(now / self.period - 1e-9)
        return max(now, k * self.period)

    def request(self, agent_idx: int) -> simpy.Event:
        """Ask for a macro-action for one agent; the returned event succeeds with its index."""
        answer = simpy.Event(self.env)
        self._add(np.array([int(agent_idx)], dtype=np.int64), [answer])
        return answer

    def request_many(self, agent_idx: np.ndarray) -> None:
        """Ask for macro-actions for several agents (served in this order, without events)."""
        # a copy: later changes to the caller's array do not reach the batch
        self._add(np.array(agent_idx, dtype=np.int64).reshape(-1), None)

    def cancel(self, agent_idx: int) -> None:
        """Withdraw an agent's pending request (crashed or leaving); it is never answered."""
        for k, ids in enumerate(self._chunks):
            keep = ids != agent_idx
            if keep.all():
                continue
            self._chunks[k] = ids[keep]
            answers = self._answers[k]
            if answers is not None:
                self._answers[k] = [a for a, kept in zip(answers, keep.tolist()) if kept]

    def pending_agents(self) -> list[int]:
        """Agents waiting for an answer, in request order."""
        return [i for ids in self._chunks for i in ids.tolist()]

    def _add(self, ids: np.ndarray, answers: list[simpy.Event | None] | None) -> None:
        if not ids.size:
            return
        self._chunks.append(ids)
        self._answers.append(answers)
        if self.max_batch == 1:
            for i in ids.tolist():
                self._schedule_flush(i)
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._schedule_flush(None)

    def _schedule_flush(self, single: int | None) -> None:
        delay = self.serve_time(self.env.now) - self.env.now
        Instant(self.env, delay, FLUSH_PRIORITY, single).callbacks.append(self._flush)

    def _take(self, single: int | None) -> tuple[np.ndarray, list[simpy.Event | None] | None]:
        """Remove and return the rows this flush serves: agent ids and their answer events (None
        when no row has one)."""
        if single is None:
            chunks, answers = self._chunks, self._answers
            self._chunks, self._answers = [], []
            self._flush_scheduled = False
            if not chunks:
                return _NO_IDS, None
            ids = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            if all(a is None for a in answers):
                return ids, None
            events: list[simpy.Event | None] = []
            for part, a in zip(chunks, answers, strict=True):
                events.extend([None] * part.size if a is None else a)
            return ids, events
        for k, part in enumerate(self._chunks):  # the first pending request of that agent
            hit = np.flatnonzero(part == single)
            if hit.size:
                j = int(hit[0])
                self._chunks[k] = np.delete(part, j)
                answers = self._answers[k]
                return part[j : j + 1], [None if answers is None else answers.pop(j)]
        return _NO_IDS, None

    def _flush(self, event: simpy.Event) -> None:
        ids, events = self._take(event.value)
        if not ids.size:
            return
        if self.hold is not None:
            self.hold(ids, events)
            return
        actions = self.serve(ids)
        if actions is None:
            return
        self.answer(ids, events, actions)

    def answer(
        self, ids: np.ndarray, events: list[simpy.Event | None] | None, actions: np.ndarray
    ) -> None:
        """Count a served batch and answer its requests (agents run as processes resume with
        their actions at this instant); ``ids`` and ``events`` as handed to ``hold``."""
        self.batch_sizes.append(ids.size)
        self.n_decisions += ids.size
        if events is None:  # requests of agents kept in arrays: no events
            return
        for answer, action in zip(events, np.asarray(actions).tolist(), strict=True):
            if answer is not None:
                answer.succeed(action)
