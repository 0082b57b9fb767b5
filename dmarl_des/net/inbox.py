"""Per-agent bounded inboxes that agents pull from, with a cancellable wait for the next message."""

from __future__ import annotations

from collections import deque
from typing import Any

import simpy

from dmarl_des.errors import ConfigError
from dmarl_des.net.messages import Message

__all__ = ["INBOX_POLICIES", "Inbox", "InboxWait"]

INBOX_POLICIES = ("drop_oldest", "drop_newest")


class InboxWait(simpy.Event):
    """Fires (with the delivered Message as value) on the next message that enters the inbox.

    Waiting never takes a message out of the inbox: the waiter still calls ``drain()``. A process
    interrupted while waiting must call :meth:`cancel` (or wait inside ``with inbox.wait(env) as
    ev: yield ev``), so that the stale event is detached from the inbox.
    """

    def __init__(self, env: simpy.Environment, inbox: Inbox) -> None:
        super().__init__(env)
        self._inbox: Inbox | None = inbox

    def cancel(self) -> None:
        """Detach from the inbox if not fired yet; safe to call more than once."""
        if self._inbox is not None:
            self._inbox._remove_waiter(self)
            self._inbox = None

    def __enter__(self) -> InboxWait:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class Inbox:
    """A bounded FIFO of delivered messages for one agent.

    When a message arrives to a full inbox, ``drop_oldest`` evicts the oldest message and keeps
    the new one; ``drop_newest`` refuses the new one. :meth:`put` returns the message that was
    dropped so the network can count it.
    """

    __slots__ = ("_items", "_waiters", "limit", "policy")

    def __init__(self, limit: int = 64, policy: str = "drop_oldest") -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError("inbox_limit", limit, "an integer >= 1")
        if policy not in INBOX_POLICIES:
            raise ConfigError("inbox_policy", policy, " | ".join(INBOX_POLICIES))
        self.limit = limit
        self.policy = policy
        self._items: deque[Message] = deque()
        self._waiters: list[InboxWait] = []

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Any:
        return iter(tuple(self._items))

    def put(self, message: Message) -> Message | None:
        """Add a delivered message; returns the message dropped by the overflow policy, if any."""
        dropped: Message | None = None
        if len(self._items) >= self.limit:
            if self.policy == "drop_newest":
                return message
            dropped = self._items.popleft()
        self._items.append(message)
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for w in waiters:
                w._inbox = None
                w.succeed(message)
        return dropped

    def drain(self) -> list[Message]:
        """Remove and return all messages, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def peek(self) -> Message | None:
        """The oldest message without removing it, or None."""
        return self._items[0] if self._items else None

    def wait(self, env: simpy.Environment) -> InboxWait:
        """An event that fires on the next message entering this inbox (see InboxWait)."""
        ev = InboxWait(env, self)
        self._waiters.append(ev)
        return ev

    def clear(self) -> list[Message]:
        """Empty the inbox and detach all waiters; returns the removed messages."""
        for w in self._waiters:
            w._inbox = None
        self._waiters = []
        return self.drain()

    def _remove_waiter(self, ev: InboxWait) -> None:
        if ev in self._waiters:
            self._waiters.remove(ev)
