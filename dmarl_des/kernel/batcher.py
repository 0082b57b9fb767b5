"""The decision batcher: every agent that asks at the same instant is served by one policy call.

Semantics, precisely:

* ``request(...)`` returns an event that succeeds with the chosen macro-action index.
* With ``period == 0`` the requests of one instant ``t`` are served by ONE call of ``decide`` at
  ``t``, after every other event of that instant. SimPy's event queue is ordered by
  ``(time, priority, id)`` and every ``Timeout``/``succeed`` uses priority NORMAL (1), so the flush
  event, scheduled with priority NORMAL + 1, runs after every NORMAL or URGENT event of ``t`` —
  including events created at ``t`` after the flush was scheduled (chains of zero-delay events).
  Agents resumed by the flush run at ``t`` too; one that asks again at ``t`` (a zero-duration
  macro-action) opens a new batch at the same instant.
* With ``period > 0`` (a control tick) a request at ``t`` is served at the first tick time
  ``k · period ≥ t`` (tick times are computed as integer multiples, so they do not drift), again
  after every other event of that instant.
* Requests are served in the order they were made; ``decide`` sees rows in that order, so a policy
  that draws its randomness row by row makes the same draws batched or one at a time.
* ``max_batch=1`` serves each request by its own call (the one-at-a-time reference semantics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy
from simpy.events import NORMAL

FLUSH_PRIORITY = NORMAL + 1
"""Priority of the flush event: after every NORMAL (1) and URGENT (0) event of the same instant."""

Decide = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""decide(obs [B, D], agent_idx [B], mask [B, A]) -> actions [B]."""


@dataclass(slots=True)
class DecisionRequest:
    """One pending request: who asks, what it sees, what it may do, and the event to answer."""

    agent_idx: int
    obs: np.ndarray
    mask: np.ndarray
    answer: simpy.Event
    cancelled: bool = False


class DecisionBatcher:
    """Collects decision requests and serves them in batched policy calls."""

    def __init__(
        self,
        env: simpy.Environment,
        decide: Decide,
        *,
        period: float = 0.0,
        max_batch: int | None = None,
        before_flush: Callable[[float], bool] | None = None,
        after_flush: Callable[[list[DecisionRequest], np.ndarray], None] | None = None,
    ) -> None:
        self.env = env
        self.decide = decide
        self.period = float(period)
        self.max_batch = max_batch
        self.before_flush = before_flush
        self.after_flush = after_flush
        self._pending: list[DecisionRequest] = []
        self._flush_scheduled = False
        self.batch_sizes: list[int] = []
        self.n_decisions = 0

    def serve_time(self, now: float) -> float:
        """When a request made at ``now`` is served."""
        if self.period <= 0.0:
            return now
        k = math.ceil(now / self.period - 1e-9)
        return max(now, k * self.period)

    def request(self, agent_idx: int, obs: np.ndarray, mask: np.ndarray) -> simpy.Event:
        """Ask for a macro-action; the returned event succeeds with its index."""
        answer = simpy.Event(self.env)
        req = DecisionRequest(agent_idx, obs, mask, answer)
        self._pending.append(req)
        if self.max_batch == 1:
            self._schedule_flush(single=req)
        elif not self._flush_scheduled:
            self._schedule_flush()
        return answer

    def cancel(self, agent_idx: int) -> None:
        """Withdraw the pending request of an agent (crashed or leaving); it is never answered."""
        for req in self._pending:
            if req.agent_idx == agent_idx:
                req.cancelled = True

    def pending_agents(self) -> list[int]:
        """Agents waiting for an answer."""
        return [r.agent_idx for r in self._pending if not r.cancelled]

    def _schedule_flush(self, single: DecisionRequest | None = None) -> None:
        event = simpy.Event(self.env)
        event._ok = True
        event._value = single
        event.callbacks.append(self._flush)
        delay = self.serve_time(self.env.now) - self.env.now
        self.env.schedule(event, priority=FLUSH_PRIORITY, delay=delay)
        if single is None:
            self._flush_scheduled = True

    def _flush(self, event: simpy.Event) -> None:
        single = event._value
        if single is not None:
            batch = [single] if not single.cancelled else []
            self._pending.remove(single)
        else:
            batch = [r for r in self._pending if not r.cancelled]
            self._pending = []
            self._flush_scheduled = False
        if not batch:
            return
        if self.before_flush is not None and not self.before_flush(self.env.now):
            return
        obs = np.stack([r.obs for r in batch])
        idx = np.fromiter((r.agent_idx for r in batch), dtype=np.int64, count=len(batch))
        mask = np.stack([r.mask for r in batch])
        actions = np.asarray(self.decide(obs, idx, mask), dtype=np.int64)
        self.batch_sizes.append(len(batch))
        self.n_decisions += len(batch)
        if self.after_flush is not None:
            self.after_flush(batch, actions)
        for req, action in zip(batch, actions.tolist(), strict=True):
            req.answer.succeed(action)
