"""Every agent's inboxes: the default one, and named ones that hold only their own message kinds.

A network starts with one inbox per agent (the *default* inbox: every kind given to the network
goes there). ``open`` adds a named inbox per agent for some other kinds, with its own limit and
overflow policy: a message enters the inbox of its kind, so reading or overflowing one inbox
never takes or evicts a message of another (a world's inbox handling and a learner's parameter
messages live side by side). Each inbox is a column store (``InboxStore``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net.inbox_store import InboxStore
from dmarl_des.net.inflight import SendCall

__all__ = ["Mailboxes"]


class Mailboxes:
    """The default inbox store and the named ones, and which kind goes where."""

    def __init__(self, n: int, limit: int, policy: str) -> None:
        self.n = n
        self.default = InboxStore(n, limit, policy)  # validates both
        self.named: dict[str, InboxStore] = {}
        self._of_kind: dict[str, InboxStore] = {}

    def open(self, name: str, kinds: Iterable[str], limit: int, policy: str) -> InboxStore:
        """A new named inbox per agent for ``kinds`` (names not routed elsewhere); its payloads are
        read by reference or gathered from their send calls' blocks (no arena copy)."""
        if not isinstance(name, str) or not name:
            raise ConfigError("inbox", name, "a non-empty inbox name")
        if name in self.named:
            raise ConfigError("inbox", name, f"a name not yet used ({', '.join(self.named)})")
        store = InboxStore(self.n, limit, policy, arena=False)
        kinds = list(kinds)
        for kind in kinds:
            if kind in self._of_kind:
                raise ConfigError(f"inbox[{name}]", kind, "kinds of no other inbox")
        self.named[name] = store
        for kind in kinds:
            self._of_kind[kind] = store
        return store

    def store(self, name: str | None) -> InboxStore:
        """The store of inbox ``name`` (None: the default inbox)."""
        if name is None:
            return self.default
        store = self.named.get(name)
        if store is None:
            allowed = " | ".join(["None", *self.named]) if self.named else "None (no named inbox)"
            raise ConfigError("inbox", name, allowed)
        return store

    def of_kind(self, kind: str) -> InboxStore:
        """The store messages of ``kind`` enter (the default one unless routed)."""
        return self._of_kind.get(kind, self.default) if self._of_kind else self.default

    def stores(self) -> list[InboxStore]:
        """Every store, the default one first."""
        return [self.default, *self.named.values()]

    def groups(
        self, calls: list[SendCall], call: np.ndarray
    ) -> list[tuple[InboxStore, np.ndarray | None]]:
        """The stores the messages of one delivery key enter: (store, positions of its messages,
        None when all), stores in order of first use; positions ascend (arrival order kept)."""
        if not self._of_kind:
            return [(self.default, None)]
        stores = [self.of_kind(c.kind) for c in calls]
        first = stores[0]
        if all(s is first for s in stores):
            return [(first, None)]
        numbers: dict[int, int] = {}
        distinct: list[InboxStore] = []
        for s in stores:
            if id(s) not in numbers:
                numbers[id(s)] = len(distinct)
                distinct.append(s)
        which = np.array([numbers[id(s)] for s in stores], dtype=np.int64)[call]
        return [(s, np.flatnonzero(which == k)) for k, s in enumerate(distinct)]

    def clear_all(self) -> None:
        """Empty every inbox of every agent (detaching waiters)."""
        for store in self.stores():
            store.clear_all()

    def clear_agent(self, i: int) -> None:
        """Empty every inbox of agent ``i`` (detaching its waiters)."""
        for store in self.stores():
            store.clear(i)
