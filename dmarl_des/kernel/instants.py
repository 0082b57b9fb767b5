"""The order of events within one instant, and events scheduled at a chosen place in that order.

SimPy processes its events by ``(time, priority, id)``: at one instant ``t`` every event of a
lower priority number runs before any of a higher one, and events of one priority run in the
order they were scheduled. The framework uses four places in an instant:

==================  ========  ===========================================================
place               priority  what runs there
==================  ========  ===========================================================
``URGENT``          0         world events that must come first (e.g. a topology refresh)
``NORMAL``          1         timeouts, message deliveries, macro-action ends, faults,
                              ``terminate`` and the horizon — in the order they were made
``DECISIONS``       2         the decision flush: every agent that asked at ``t`` is
                              observed, its transition closed, and served by one policy call
``AFTER_DECISIONS`` 3         world events that must see the decisions of ``t`` (a tick
                              that resolves the macro-actions chosen at ``t``, table rows)
==================  ========  ===========================================================

A ``NORMAL`` event created at ``t`` by a later event of ``t`` (a chain of zero-delay events, or an
agent resumed by the flush) still runs at ``t`` before any ``DECISIONS`` event still pending:
the heap is ordered by priority first. Agents answered by a flush run right after it, so an
agent that asks again at ``t`` (a macro-action of zero duration) is served by a second flush at
``t``.

``Instant`` and ``trigger_later`` are the only code of the package that touches SimPy's event
internals (exactly as ``simpy.Timeout`` does); worlds schedule through ``call_at`` and ``every``
(or ``World.every``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import NORMAL, PENDING, URGENT

DECISIONS = NORMAL + 1
"""Priority of the decision flush: after every ``URGENT`` and ``NORMAL`` event of its instant."""

AFTER_DECISIONS = DECISIONS + 1
"""Priority of world events that must run after the decisions of their instant."""

__all__ = [
    "AFTER_DECISIONS",
    "DECISIONS",
    "NORMAL",
    "URGENT",
    "Instant",
    "Periodic",
    "call_at",
    "every",
    "trigger_later",
]


class Instant(simpy.Event):
    """An event that fires ``delay`` time units from now at place ``priority`` of that instant,
    with ``value`` — a ``simpy.Timeout`` whose place in the instant is chosen."""

    def __init__(
        self,
        env: simpy.Environment,
        delay: float = 0.0,
        priority: int = NORMAL,
        value: Any = None,
    ) -> None:
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        super().__init__(env)
        self._ok = True
        self._value = value
        env.schedule(self, priority, delay)


def trigger_later(
    event: simpy.Event, delay: float, value: Any = None, priority: int = NORMAL
) -> None:
    """Make a pending event (one that processes may already be waiting on) succeed with ``value``
    ``delay`` time units from now, at place ``priority`` of that instant."""
    if event._value is not PENDING:
        raise RuntimeError(f"{event} has already been triggered")
    if delay < 0:
        raise ValueError(f"negative delay {delay}")
    event._ok = True
    event._value = value
    event.env.schedule(event, priority, delay)


def call_at(
    env: simpy.Environment, delay: float, action: Callable[[], Any], priority: int = NORMAL
) -> Instant:
    """Call ``action()`` ``delay`` time units from now, at place ``priority`` of that instant."""
    event = Instant(env, delay, priority)
    event.callbacks.append(lambda _event: action())
    return event


class Periodic:
    """A world process that calls ``action()`` at the instants ``k · period`` for
    ``k = first, first + 1, …`` while ``k · period < until``, at place ``priority`` of each.

    Times are integer multiples of the period (no drift from repeated additions). The next call is
    scheduled after ``action()`` returns, so events that ``action`` creates for the same place of
    a later instant run before the next call. ``stop()`` (also from inside ``action``) ends it.
    """

    def __init__(
        self,
        env: simpy.Environment,
        period: float,
        action: Callable[[], Any],
        *,
        priority: int = NORMAL,
        first: int = 1,
        until: float = math.inf,
    ) -> None:
        if not period > 0 or not math.isfinite(period):
            raise ValueError(f"a period must be finite and > 0, not {period}")
        if first < 0:
            raise ValueError(f"first must be >= 0, not {first}")
        self.env = env
        self.period = float(period)
        self.action = action
        self.priority = priority
        self.until = until
        self.calls = 0
        self._stopped = False
        self._schedule(first)

    def stop(self) -> None:
        """Call ``action`` no more."""
        self._stopped = True

    @property
    def active(self) -> bool:
        """True while a next call is planned."""
        return not self._stopped

    def _schedule(self, k: int) -> None:
        t = k * self.period
        if t >= self.until:
            self._stopped = True
            return
        event = Instant(self.env, max(t - self.env.now, 0.0), self.priority)
        event.callbacks.append(lambda _event: self._fire(k))

    def _fire(self, k: int) -> None:
        if self._stopped:
            return
        self.calls += 1
        self.action()
        if not self._stopped:
            self._schedule(k + 1)


def every(
    env: simpy.Environment,
    period: float,
    action: Callable[[], Any],
    *,
    priority: int = NORMAL,
    first: int = 1,
    until: float = math.inf,
) -> Periodic:
    """Start a ``Periodic`` world process (see there) and return it."""
    return Periodic(env, period, action, priority=priority, first=first, until=until)
