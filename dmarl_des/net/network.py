"""The network: sends messages over lossy, delayed, bandwidth-limited links into agents' inboxes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import simpy

from dmarl_des.errors import ConfigError
from dmarl_des.net.channel import IN_FLIGHT, Channel
from dmarl_des.net.checks import (
    check_agent,
    check_agents,
    check_kind_and_size,
    check_kinds,
    check_overrides,
    check_recipients,
)
from dmarl_des.net.delivery import Delivery
from dmarl_des.net.fanout import (
    PayloadRows,
    apply_verdicts,
    filter_pairs,
    link_verdicts,
    neighbour_pairs,
    repeat_passes,
)
from dmarl_des.net.inbox import Inbox
from dmarl_des.net.inbox_store import Drained, DrainedRefs
from dmarl_des.net.inflight import InFlight, SendCall
from dmarl_des.net.ledger import Carried, Ledger
from dmarl_des.net.links import LinkModel
from dmarl_des.net.mailboxes import Mailboxes
from dmarl_des.net.messages import MessageKind
from dmarl_des.net.payloads import PayloadBlock, one_payload, payload_list, payload_rows
from dmarl_des.net.topology import Topology

__all__ = ["LinkFilter", "Network", "OutgoingFilter"]

#: fn(src, dsts, payloads, kind) -> (dsts_kept, payloads_kept); payloads is a list aligned with
#: dsts, kind the message kind's name.
OutgoingFilter = Callable[[int, np.ndarray, list, str], tuple[np.ndarray, Sequence]]
#: fn(src, dsts) -> bool array, True where the link may carry the message (``src`` is an array
#: aligned with ``dsts`` for a pairwise filter).
LinkFilter = Callable[[Any, np.ndarray], np.ndarray]
IsUp = Callable[[np.ndarray], np.ndarray]


class Network:
    """Delivers messages between agents 0..N-1 through link models into bounded inboxes.

    Each send call draws the fate of all its messages at once (queueing, loss, retransmissions,
    delay); ``broadcast_many`` does so for many senders in one call. Messages in flight wait in a
    table keyed by delivery instant; each distinct instant (``resolution == 0``) or bucket
    (``resolution > 0``, delivery time rounded up to a multiple of it) is served by one SimPy
    timeout of priority NORMAL, created when its first message is sent. At delivery the receiver
    is checked with ``is_up`` and the payload against its kind, then the message enters the
    receiver's inbox for that kind: the default inbox, or a named one opened with
    :meth:`open_inbox`. Counters are kept in total and per kind (:meth:`stats_by_kind`). See
    ``docs/network.md`` for the precise semantics.
    """

    def __init__(
        self,
        env: simpy.Environment,
        topology: Topology,
        link: LinkModel,
        rng: np.random.Generator,
        *,
        resolution: float = 0.0,
        inbox_limit: int = 64,
        inbox_policy: str = "drop_oldest",
        kinds: Mapping[str, MessageKind],
        is_up: IsUp | None = None,
        positions: Callable[[], np.ndarray] | None = None,
        overrides: Mapping[tuple[int, int], LinkModel] | None = None,
        trace: bool = False,
    ) -> None:
        if not isinstance(env, simpy.Environment):
            raise ConfigError("env", env, "a simpy.Environment")
        if not isinstance(topology, Topology):
            raise ConfigError("topology", topology, "a Topology")
        if not isinstance(link, LinkModel):
            raise ConfigError("link", link, "a LinkModel")
        if not isinstance(rng, np.random.Generator):
            raise ConfigError("rng", rng, "a numpy.random.Generator")
        if (
            isinstance(resolution, bool)
            or not isinstance(resolution, int | float)
            or not 0 <= resolution < math.inf
        ):
            raise ConfigError("resolution", resolution, "a finite number >= 0")
        self._kinds = check_kinds(kinds)
        if is_up is not None and not callable(is_up):
            raise ConfigError("is_up", is_up, "None or a callable(dsts) -> bool array")
        if positions is not None and not callable(positions):
            raise ConfigError("positions", positions, "None or a callable() -> [N, 2] array")
        self._n = topology.n
        self._mail = Mailboxes(self._n, inbox_limit, inbox_policy)  # validates both
        self._store = self._mail.default
        self._topology = topology
        models, ov_keys, ov_model = check_overrides(topology.n, link, overrides or {})
        if positions is None:
            for m in models:
                if m.delay.model == "distance":
                    raise ConfigError("positions", None, "a callable when delay.model is distance")
        self._models = models
        self._ov_keys = ov_keys
        self._ov_model = ov_model
        self._env = env
        self._rng = rng
        self._resolution = float(resolution)
        self._is_up = is_up
        self._positions = positions
        self._outgoing: OutgoingFilter | None = None
        self._outgoing_senders: np.ndarray | None = None  # bool [N]; None = every sender
        self._link_filter: LinkFilter | None = None
        self._link_filter_pairwise = False
        self._send_times: np.ndarray | None = None  # float [N] while senders keep own clocks
        self._refusing: str | None = None  # while set: sends refused, this field named
        self._refusal = ""
        self._inboxes: list[Inbox | None] = [None] * self._n  # of the default inbox
        self._next_seq = 0
        self._ledger = Ledger(trace=bool(trace))
        self._delivery = Delivery(env, self._mail, self._ledger, is_up)
        delivery = self._delivery
        self._inflight = InFlight(env, self._resolution, delivery.deliver, delivery.deliver_one)
        self._channel = Channel(self._n, models, rng, self._derive_key(rng), positions)

    # -- configuration -------------------------------------------------------------------------

    @staticmethod
    def _derive_key(rng: np.random.Generator) -> tuple[int, int]:
        k = rng.integers(0, 2**32, size=2)
        return int(k[0]), int(k[1])

    @property
    def env(self) -> simpy.Environment:
        """The simulation environment deliveries are scheduled on."""
        return self._env

    @property
    def n(self) -> int:
        """Number of agents."""
        return self._n

    @property
    def kinds(self) -> dict[str, MessageKind]:
        """Accepted message kinds by name."""
        return dict(self._kinds)

    def open_inbox(
        self,
        name: str,
        kinds: Mapping[str, MessageKind],
        *,
        limit: int,
        policy: str = "drop_oldest",
    ) -> None:
        """Accept ``kinds`` (new kind names) too, and give every agent a second inbox ``name``
        for them, of at most ``limit`` messages with its own overflow ``policy``.

        Messages of these kinds enter that inbox only: draining or overflowing the default inbox
        (or any other) never takes or evicts them, and the other way round. Read it with
        ``inbox(i, name)`` and ``drain_many(ids, inbox=name)``.
        """
        checked = check_kinds(kinds)
        clash = sorted(set(checked) & set(self._kinds))
        if clash:
            raise ConfigError(f"inbox[{name}]", clash, "kind names the network does not have")
        self._mail.open(name, checked, limit, policy)
        self._kinds.update(checked)

    @property
    def inboxes(self) -> tuple[str, ...]:
        """Names of the opened inboxes (the default inbox has none)."""
        return tuple(self._mail.named)

    @property
    def resolution(self) -> float:
        """Delivery bucket width (0 = exact delivery times)."""
        return self._resolution

    @property
    def lookahead(self) -> float | None:
        """How far ahead of now senders may be stamped (``sending_at``): the delivery bucket
        width while every link is a stateless one of the default model, without a link filter,
        an outgoing filter that reads the clock, symmetric loss or distance delays (a message's
        fate then depends on its own draws and send time only);
        None otherwise. A message sent at ``t`` then arrives at a bucket edge at or after ``t``."""
        model = self._models[0]
        if (
            self._resolution <= 0
            or (self._outgoing is not None and not getattr(self._outgoing, "clock_free", False))
            or self._link_filter is not None
            or self._ov_keys.size
            or not self._channel.stateless
            or model.loss.symmetric
            or model.delay.model == "distance"  # positions are read when a message is sent
        ):
            return None
        return self._resolution

    def sending_at(self, times: np.ndarray | None) -> None:
        """Stamp each send of agent ``i`` with ``times[i]`` (float [N], none before now, within
        the ``lookahead``) instead of now, until called with None: the senders of a window of
        exact instants, each at its own time (``dmarl_des.world.windows``). Draws, sequence
        numbers and fates are those of the same sends made one instant after the other."""
        if times is not None and self.lookahead is None:
            raise ConfigError("sending_at", "times", "a network with a lookahead (see lookahead)")
        self._send_times = times

    def refuse_sends(self, field: str | None, allowed: str = "") -> None:
        """Refuse every send with a ``ConfigError`` naming ``field`` and saying ``allowed``,
        until called with None (where a window of exact instants decides: its sends would not be
        stamped at their own times)."""
        self._refusing = field
        self._refusal = allowed

    @property
    def topology(self) -> Topology:
        """The current neighbour graph used by :meth:`broadcast`."""
        return self._topology

    @topology.setter
    def topology(self, topology: Topology) -> None:
        if not isinstance(topology, Topology) or topology.n != self._n:
            raise ConfigError("topology", topology, f"a Topology over {self._n} agents")
        self._topology = topology

    def set_outgoing_filter(
        self, fn: OutgoingFilter | None, senders: Iterable[int] | None = None
    ) -> None:
        """Install (or remove with None) a filter applied to sends before anything else.

        ``fn(src, dsts, payloads, kind)`` gets the recipients, a list of payloads aligned with
        them and the message kind's name, and returns ``(dsts_kept, payloads_kept)``: it may
        drop recipients (omission: counted as ``omitted``, not as sent) or replace payloads per
        recipient (Byzantine behaviour).
        ``senders`` limits it to those agents (None: every sender); sends of other agents skip
        it, which keeps :meth:`broadcast_many` vectorized for them.

        A filter may also offer ``fn.many(kind, ids, filtered, sender, dsts, rows)``: the verdicts
        on every pair of a :meth:`broadcast_many` call at once (a ``PairVerdicts``), exactly what
        calling it sender after sender would decide, or None to be called sender after sender.
        ``filtered`` marks the senders (positions in ``ids``) it applies to.

        A filter that never reads the clock (its verdicts depend on the sender, the recipients,
        the payloads and its own draws in send order) says so with ``fn.clock_free = True``: the
        network then keeps its ``lookahead``.
        """
        if fn is not None and not callable(fn):
            raise ConfigError("outgoing_filter", fn, "None or a callable")
        mask = None
        if fn is not None and senders is not None:
            ids = check_agents(self._n, "senders", senders)
            mask = np.zeros(self._n, dtype=bool)
            mask[ids] = True
        self._outgoing = fn
        self._outgoing_senders = mask

    def set_link_filter(self, fn: LinkFilter | None, *, pairwise: bool = False) -> None:
        """Install (or remove) a link mask: ``fn(src, dsts) -> bool array`` (False = cut link).

        Messages on cut links are sent but dropped (``dropped_cut``) before touching the link.
        The filter is called once per sender with its recipients; with ``pairwise=True`` it is
        called once per send call with aligned arrays ``fn(srcs, dsts)`` instead (one call for
        a whole :meth:`broadcast_many`).
        """
        if fn is not None and not callable(fn):
            raise ConfigError("link_filter", fn, "None or a callable")
        if not isinstance(pairwise, bool):
            raise ConfigError("pairwise", pairwise, "true | false")
        self._link_filter = fn
        self._link_filter_pairwise = pairwise

    def set_is_up(self, fn: IsUp | None) -> None:
        """Replace the receiver liveness check evaluated at delivery time."""
        if fn is not None and not callable(fn):
            raise ConfigError("is_up", fn, "None or a callable(dsts) -> bool array")
        self._is_up = fn
        self._delivery.is_up = fn

    def links_up(self) -> tuple[np.ndarray, np.ndarray]:
        """The topology's directed links that would carry a message now, as (src, dst) int64
        arrays sorted by src: both ends up (``is_up``) and the link not cut by the link filter
        (cut links, a partition). Loss is not a state of a link: it strikes per message."""
        src, dst = self._topology.edges()
        if self._is_up is not None and src.size:
            ok = self._delivery.receivers_up(src) & self._delivery.receivers_up(dst)
            src, dst = src[ok], dst[ok]
        if self._link_filter is not None and src.size:
            ids, sender = np.unique(src, return_inverse=True)
            allowed = link_verdicts(
                self._link_filter, self._link_filter_pairwise, ids, sender, src, dst
            )
            src, dst = src[allowed], dst[allowed]
        return src, dst

    # -- inboxes -------------------------------------------------------------------------------

    def inbox(self, i: int, name: str | None = None) -> Inbox:
        """The inbox of agent ``i``: the default one, or the one opened as ``name``."""
        i = check_agent(self._n, i)
        if name is not None:
            return Inbox.of(self._mail.store(name), i)
        box = self._inboxes[i]
        if box is None:
            box = self._inboxes[i] = Inbox.of(self._store, i)
        return box

    def clear_inboxes(self, i: int) -> None:
        """Empty every inbox of agent ``i`` (the default one and the named ones), detaching
        waiters; the messages removed stay counted as delivered."""
        self._mail.clear_agent(check_agent(self._n, i))

    def drain_many(
        self,
        receivers: Sequence[int] | np.ndarray | None = None,
        *,
        inbox: str | None = None,
    ) -> Drained:
        """Take every message out of the inboxes of ``receivers`` (distinct ids; None: all agents)
        — their default inboxes, or the ones opened as ``inbox``.

        Returns aligned columns ``(receiver, sender, t_delivered, payloads)``: inbox after inbox
        in the order given, oldest message first, exactly the messages that ``inbox(i).drain()``
        would return one receiver at a time. ``payloads`` stacks the payloads into one new
        ``[M, ...]`` array when they share a shape and dtype, else it is an object array. With no
        message it is ``[0, *shape]`` of the kind's dtype when the network has a single kind of
        fixed shape.
        """
        if receivers is None:
            ids = np.arange(self._n, dtype=np.int64)
        else:
            ids = check_agents(self._n, "receivers", receivers)
            if ids.size > 1 and (
                len(set(ids.tolist())) < ids.size  # a few receivers: no N-wide count
                if ids.size <= 64
                else np.bincount(ids, minlength=self._n).max() > 1
            ):
                raise ConfigError("receivers", ids.tolist(), "distinct agent ids")
        store = self._mail.store(inbox)
        # one receiver (continuous time): its inbox's rows, oldest first, as ``take`` gives them
        rows = store.take_one(int(ids[0])) if ids.size == 1 else store.take(ids)
        payloads = store.payloads(rows)
        if rows.size == 0:
            kinds = [k for k in self._kinds.values() if self._mail.of_kind(k.name) is store]
            if len(kinds) == 1 and kinds[0].shape is not None:
                payloads = np.empty((0, *kinds[0].shape), dtype=kinds[0].np_dtype)
        return Drained(
            store.column("recv", rows),
            store.column("src", rows),
            store.column("t_delivered", rows),
            payloads,
        )

    def drain_refs(
        self, receivers: Sequence[int] | np.ndarray, *, inbox: str | None = None
    ) -> DrainedRefs:
        """``drain_many`` without copying payloads: the same messages in the same order, with
        seq and send time, and each payload as a row of a read-only array (``sources[source[m]]
        [row[m]]``: recipients of one broadcast share one array). For large payloads (parameter
        vectors) that a reader combines with one product per source array."""
        ids = check_agents(self._n, "receivers", receivers)
        if ids.size > 1 and np.bincount(ids, minlength=self._n).max() > 1:
            raise ConfigError("receivers", ids.tolist(), "distinct agent ids")
        store = self._mail.store(inbox)
        rows = store.take(ids)
        sources, source, row = store.payload_refs(rows)
        return DrainedRefs(
            store.column("recv", rows),
            store.column("src", rows),
            store.column("seq", rows),
            store.column("t_sent", rows),
            store.column("t_delivered", rows),
            sources,
            source,
            row,
        )

    # -- sending -------------------------------------------------------------------------------

    def send(self, src: int, dst: int, kind: str, payload: Any, size: int | None = None) -> int:
        """Send one message; returns the number of messages sent (0 or 1)."""
        dsts = np.array([check_agent(self._n, dst)], dtype=np.int64)
        return self._send(src, dsts, kind, payload, size, False, checked=True)

    def broadcast(
        self,
        src: int,
        kind: str,
        payload: Any,
        size: int | None = None,
        *,
        per_recipient: bool = False,
    ) -> int:
        """Send to the current topology neighbours of ``src`` (in their sorted order).

        With ``per_recipient`` the payload is a sequence with one payload per neighbour.
        Returns the number of messages sent.
        """
        src = check_agent(self._n, src)
        dsts = self._topology.neighbors(src)
        return self._send(src, dsts, kind, payload, size, per_recipient, checked=True)

    def multicast(
        self,
        src: int,
        dsts: Sequence[int] | np.ndarray,
        kind: str,
        payload: Any,
        size: int | None = None,
        *,
        per_recipient: bool = False,
    ) -> int:
        """Send to the given distinct recipients; returns the number of messages sent."""
        arr = np.asarray(dsts, dtype=np.int64).ravel()
        return self._send(src, arr, kind, payload, size, per_recipient)

    def broadcast_many(
        self,
        srcs: Sequence[int] | np.ndarray,
        kind: str,
        payloads: np.ndarray,
        size: int | None = None,
        *,
        copy: bool = True,
    ) -> int:
        """Many senders broadcast at this instant, each to its current topology neighbours.

        ``payloads[i]`` (an array with one row per sender, ``[S, *kind.shape]``) is what
        ``srcs[i]`` sends. Exactly equivalent to ``broadcast(srcs[0], kind, payloads[0], size)``,
        ``broadcast(srcs[1], ...)``, ... in that order: same messages and sequence numbers, same
        random draws, same fates, same deliveries. ``srcs`` may repeat a sender (its later
        broadcasts queue behind the earlier ones). Returns the number of messages sent.

        The stack is snapshotted (copied, read-only); ``copy=False`` hands a numeric stack over
        instead: it becomes the snapshot itself (made read-only), for a caller that built it for
        this call and keeps no writable reference (the learning rounds' parameter vectors).
        """
        ids = check_agents(self._n, "srcs", srcs)
        check_kind_and_size(kind, size)
        if not isinstance(payloads, np.ndarray) or payloads.ndim == 0:
            raise ConfigError(
                "payloads",
                type(payloads).__name__,
                "a numpy array [S, ...] with one row per sender",
            )
        if payloads.shape[0] != ids.size:
            raise ConfigError("payloads", payloads.shape, f"one row per sender ({ids.size})")
        kind_spec = self._kinds.get(kind)
        block, row_entry, row_reason, row_size = payload_rows(kind_spec, payloads, size, copy)
        sender, dsts = neighbour_pairs(self._topology, ids)
        if ids.size == 1:  # one sender (continuous time): its row repeated, no gathers
            m = dsts.size
            entries, reasons, sizes = row_entry.repeat(m), row_reason.repeat(m), row_size.repeat(m)
        else:
            entries, reasons, sizes = row_entry[sender], row_reason[sender], row_size[sender]
        if self._outgoing is not None:
            filtered = np.ones(ids.size, dtype=bool)
            if self._outgoing_senders is not None:
                filtered = self._outgoing_senders[ids]
            if filtered.any():
                rows = PayloadRows(block, row_entry, row_reason, row_size, kind_spec, size)
                many = getattr(self._outgoing, "many", None)
                verdicts = None if many is None else many(kind, ids, filtered, sender, dsts, rows)
                if verdicts is None:
                    sender, dsts, entries, reasons, sizes = filter_pairs(
                        ids, filtered, sender, dsts, rows, partial(self._apply_outgoing, kind)
                    )
                else:
                    block, omitted, pairs = apply_verdicts(sender, dsts, rows, verdicts)
                    sender, dsts, entries, reasons, sizes = pairs
                    self._ledger.omitted(omitted, kind)
        return self._transmit(kind, block, ids, sender, dsts, sizes, entries, reasons)

    def _apply_outgoing(
        self, kind: str, src: int, dsts: np.ndarray, offered: list
    ) -> tuple[np.ndarray, list]:
        """Run the outgoing filter for one sender's send of ``kind``; counts the omitted
        recipients."""
        assert self._outgoing is not None
        kept, kept_payloads = self._outgoing(src, dsts.copy(), offered, kind)
        kept = check_recipients(self._n, kept)
        payloads = list(kept_payloads)
        if len(payloads) != kept.size:
            raise ConfigError("outgoing_filter", len(payloads), "one payload per kept recipient")
        self._ledger.omitted(dsts.size - kept.size, kind)
        return kept, payloads

    def _send(
        self,
        src: int,
        dsts: np.ndarray,
        kind: str,
        payload: Any,
        size: int | None,
        per_recipient: bool,
        *,
        checked: bool = False,
    ) -> int:
        src = check_agent(self._n, src)
        check_kind_and_size(kind, size)
        if not checked:
            dsts = check_recipients(self._n, dsts)
        if per_recipient:
            payloads = list(payload)
            if len(payloads) != dsts.size:
                raise ConfigError(
                    "payload", f"{len(payloads)} payloads", f"one per recipient ({dsts.size})"
                )
        mask = self._outgoing_senders
        if self._outgoing is not None and (mask is None or mask[src]):
            offered = payloads if per_recipient else [payload] * dsts.size
            dsts, payloads = self._apply_outgoing(kind, src, dsts, offered)
            per_recipient = True
        m = dsts.size
        if m == 0:
            return 0
        kind_spec = self._kinds.get(kind)
        if per_recipient:
            block = PayloadBlock()
            entries, reasons, sizes = payload_list(block, kind_spec, payloads, size)
        else:
            block, reason, nbytes = one_payload(kind_spec, payload, size)
            entries = np.zeros(m, dtype=np.int64)
            reasons = np.full(m, reason, dtype=np.uint8)
            sizes = np.full(m, nbytes, dtype=np.int64)
        ids = np.array([src], dtype=np.int64)
        sender = np.zeros(m, dtype=np.int64)
        return self._transmit(kind, block, ids, sender, dsts, sizes, entries, reasons)

    def _transmit(
        self,
        kind: str,
        block: PayloadBlock,
        ids: np.ndarray,
        sender: np.ndarray,
        dsts: np.ndarray,
        sizes: np.ndarray,
        entries: np.ndarray,
        reasons: np.ndarray,
    ) -> int:
        """Put the messages ``ids[sender[k]] -> dsts[k]`` of one send call on the wire, in order
        (``sender`` is non-decreasing: sender after sender)."""
        m = dsts.size
        if self._refusing is not None:
            raise ConfigError(self._refusing, kind, self._refusal)
        if m == 0:
            return 0
        srcs = ids[sender]
        allowed = None
        if self._link_filter is not None:
            allowed = link_verdicts(
                self._link_filter, self._link_filter_pairwise, ids, sender, srcs, dsts
            )
        now: float | np.ndarray = float(self._env.now)
        clock = self._send_times
        if clock is not None:  # each sender at its own time
            at = clock[ids]
            now = float(at[0]) if at.size == 1 else at[sender]
        passes = None if self._channel.stateless else repeat_passes(ids, sender, self._n)
        fate = self._channel.transmit(
            now, srcs, dsts, sizes, self._model_index(srcs, dsts), allowed, passes
        )
        seq0 = self._next_seq
        self._next_seq += m
        self._ledger.sent(
            seq0, now, srcs, dsts, kind, sizes, fate.cause, fate.attempts, fate.delay, fate.t_due
        )
        live = (fate.cause == IN_FLIGHT).nonzero()[0]
        if live.size:
            self._inflight.add(
                SendCall(kind, block),
                None if live.size == m else live,
                t_sent=now,
                seq=np.arange(seq0, seq0 + m),
                src=srcs,
                dst=dsts,
                t_due=fate.t_due,
                size=sizes,
                attempts=fate.attempts,
                reason=reasons,
                entry=entries,
            )
        return m

    def _model_index(self, srcs: np.ndarray, dsts: np.ndarray) -> np.ndarray | None:
        if self._ov_keys.size == 0:
            return None
        keys = srcs * self._n + dsts
        pos = np.searchsorted(self._ov_keys, keys)
        inside = pos < self._ov_keys.size
        out = np.zeros(dsts.size, dtype=np.int64)
        hit = np.zeros(dsts.size, dtype=bool)
        hit[inside] = self._ov_keys[pos[inside]] == keys[inside]
        out[hit] = self._ov_model[pos[hit]]
        return out

    # -- accounting and episodes ---------------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        """Counters since the last reset; ``sent`` counts one per recipient.

        sent = delivered + dropped_loss + dropped_crash + dropped_overflow + dropped_inbox
        + dropped_cut + dropped_pending + rejected_invalid + in_flight. Also retransmissions,
        omitted (removed by the outgoing filter, not sent) and latency_p50/p90/p99/mean of
        arrivals into inboxes.
        """
        return self._ledger.stats()

    def stats_by_kind(self) -> list[dict[str, float | int | str]]:
        """The counters of :meth:`stats` split by message kind since the last reset: one dict per
        kind sent (in order of first send) with ``kind``, ``sent``, ``delivered``, every
        ``dropped_*``, ``rejected_invalid``, ``retransmissions``, ``omitted``, ``in_flight``,
        ``bytes_sent``, ``bytes_delivered`` and ``latency_mean``; the invariant of ``stats``
        holds for each. ``bytes_delivered`` counts the bytes of the messages counted in
        ``delivered``."""
        ledger = self._ledger
        return ledger.kinds.rows(ledger.totals())

    def rejections(self) -> dict[str, int]:
        """Rejected messages by reason code (see messages.REJECT_REASONS)."""
        return dict(self._ledger.rejections)

    def trace_columns(self) -> dict[str, list]:
        """The messages table as typed column lists (empty unless ``trace=True``).

        One row per sent message: seq, t_sent, src, dst, kind, bytes, attempts, delay (drawn
        propagation delay, nan if not delivered), t_due (exact delivery time, nan if dropped at
        send), delivered, t_delivered (nan if never arrived), drop_cause ("" while in flight or
        delivered; else loss, crash, overflow, inbox, cut, pending, invalid).
        """
        return self._ledger.columns()

    def reset_stats(self) -> None:
        """Start a new accounting window (counters, latencies, trace).

        Messages still in flight, and messages waiting in inboxes, are carried into the new window
        (as sent, and as delivered for the latter) so that the invariant holds in every window.
        """
        seqs, kinds, sizes = self._inflight.pending()
        resident = [store.resident() for store in self._mail.stores()]
        r_seqs, r_kinds, r_sizes = (np.concatenate(col) for col in zip(*resident))
        carried = Carried(seqs, kinds, sizes, r_seqs, r_kinds, r_sizes)
        self._ledger.restart(self._next_seq, carried)

    def drop_pending(self) -> int:
        """Discard every message in flight (counted as dropped_pending); returns how many."""
        _, kinds, _ = self._inflight.pending()
        seqs = self._inflight.clear()
        self._ledger.dropped(seqs, "pending", kinds)
        return int(seqs.size)

    def reset(
        self,
        env: simpy.Environment | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        """Prepare a new episode: drop messages in flight, empty inboxes (detaching waiters),
        free all links and loss chains, restart counters and trace and the message sequence.

        A new ``env`` or ``rng`` may be given; by default the current ones are kept.
        """
        if env is not None and not isinstance(env, simpy.Environment):
            raise ConfigError("env", env, "a simpy.Environment")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ConfigError("rng", rng, "a numpy.random.Generator")
        self._inflight.clear()
        self._mail.clear_all()
        if env is not None:
            self._env = env
            self._inflight.env = env
            self._delivery.env = env
        if rng is not None:
            self._rng = rng
            self._channel.rng = rng
            self._channel.key = self._derive_key(rng)
        self._channel.reset()
        self._next_seq = 0
        self._ledger.restart(next_seq=0)
