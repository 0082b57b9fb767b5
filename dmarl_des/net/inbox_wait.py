"""A cancellable wait for the next message entering one agent's inbox (a SimPy event)."""

from __future__ import annotations

from typing import Protocol

import simpy


class Waiters(Protocol):
    """Where waits are registered: the columnar inbox store of a network (or of one inbox)."""

    def remove_waiter(self, i: int, ev: InboxWait) -> None: ...


class InboxWait(simpy.Event):
    """Fires (with the delivered Message as value) on the next message that enters the inbox.

    Waiting never takes a message out of the inbox: the waiter still calls ``drain()``. A process
    interrupted while waiting must call :meth:`cancel` (or wait inside ``with inbox.wait(env) as
    ev: yield ev``), so that the stale event is detached from the inbox.
    """

    def __init__(self, env: simpy.Environment, waiters: Waiters, agent: int) -> None:
        super().__init__(env)
        self._waiters: Waiters | None = waiters
        self._agent = agent

    def detach(self) -> None:
        """Forget the inbox (it fired, or the inbox was cleared): ``cancel`` becomes a no-op."""
        self._waiters = None

    def cancel(self) -> None:
        """Detach from the inbox if not fired yet; safe to call more than once."""
        if self._waiters is not None:
            self._waiters.remove_waiter(self._agent, self)
            self._waiters = None

    def __enter__(self) -> InboxWait:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()
