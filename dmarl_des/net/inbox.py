"""An agent's bounded inbox that it pulls from, with a cancellable wait for the next message."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import simpy

from dmarl_des.net.inbox_store import INBOX_POLICIES, InboxStore
from dmarl_des.net.inbox_wait import InboxWait
from dmarl_des.net.messages import Message
from dmarl_des.net.payloads import PayloadBlock

__all__ = ["INBOX_POLICIES", "Inbox", "InboxWait"]


class Inbox:
    """A bounded FIFO of delivered messages for one agent.

    When a message arrives to a full inbox, ``drop_oldest`` evicts the oldest message and keeps
    the new one; ``drop_newest`` refuses the new one. ``Inbox(limit, policy)`` is a stand-alone
    inbox; a network's inboxes are views of its columnar store (``Network.inbox(i)``), whose
    messages become ``Message`` objects only when read here.
    """

    __slots__ = ("_agent", "_store")

    def __init__(self, limit: int = 64, policy: str = "drop_oldest") -> None:
        self._store = InboxStore(1, limit, policy)
        self._agent = 0

    @classmethod
    def of(cls, store: InboxStore, agent: int) -> Inbox:
        """The inbox of ``agent`` in ``store``."""
        box = cls.__new__(cls)
        box._store = store
        box._agent = agent
        return box

    @property
    def limit(self) -> int:
        """Most messages the inbox holds."""
        return self._store.limit

    @property
    def policy(self) -> str:
        """What happens when a message arrives to a full inbox."""
        return self._store.policy

    @property
    def waiting(self) -> int:
        """Waits (see :meth:`wait`) not yet fired nor cancelled."""
        return self._store.waiting(self._agent)

    def __len__(self) -> int:
        return self._store.count(self._agent)

    def __iter__(self) -> Iterator[Message]:
        return iter(self._store.messages(self._rows()))

    def _rows(self) -> np.ndarray:
        return self._store.rows_of_one(self._agent)

    def put(self, message: Message) -> Message | None:
        """Add a delivered message; returns the message dropped by the overflow policy, if any."""
        block = PayloadBlock()
        entry = block.add(message.payload)
        store = self._store
        entered, evicted = store.put_one(
            message.t_delivered,
            self._agent,
            message.seq,
            message.src,
            message.t_sent,
            message.size,
            message.attempts,
            store.kind_code(message.kind),
            block,
            entry,
        )
        if not entered:
            return message
        return store.messages(np.array([evicted]))[0] if evicted >= 0 else None

    def drain(self) -> list[Message]:
        """Remove and return all messages, oldest first."""
        return self._store.messages(self._store.take_one(self._agent))

    def peek(self) -> Message | None:
        """The oldest message without removing it, or None."""
        rows = self._rows()
        return self._store.messages(rows[:1])[0] if rows.size else None

    def wait(self, env: simpy.Environment) -> InboxWait:
        """An event that fires on the next message entering this inbox (see InboxWait)."""
        ev = InboxWait(env, self._store, self._agent)
        self._store.add_waiter(self._agent, ev)
        return ev

    def clear(self) -> list[Message]:
        """Empty the inbox and detach all waiters; returns the removed messages."""
        return self._store.clear(self._agent)
