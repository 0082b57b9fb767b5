"""The network: sends messages over lossy, delayed, bandwidth-limited links into agents' inboxes."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import simpy

from dmarl_des.errors import ConfigError
from dmarl_des.net.channel import IN_FLIGHT, Channel
from dmarl_des.net.inbox import Inbox
from dmarl_des.net.ledger import Ledger
from dmarl_des.net.links import LinkModel
from dmarl_des.net.messages import Message, MessageKind, check_payload, payload_nbytes, snapshot
from dmarl_des.net.topology import Topology

__all__ = ["LinkFilter", "Network", "OutgoingFilter"]

#: fn(src, dsts, payloads) -> (dsts_kept, payloads_kept); payloads is a list aligned with dsts.
OutgoingFilter = Callable[[int, np.ndarray, list], tuple[np.ndarray, Sequence]]
#: fn(src, dsts) -> bool array, True where the link may carry the message.
LinkFilter = Callable[[int, np.ndarray], np.ndarray]
IsUp = Callable[[np.ndarray], np.ndarray]


class _Batch:
    """What one send call put on the wire, shared by its recipients' pending deliveries."""

    __slots__ = ("attempts", "dsts", "kind", "payloads", "reasons", "sizes", "src", "t_sent")

    def __init__(self, src, kind, t_sent, dsts, sizes, attempts, payloads, reasons) -> None:
        self.src = src
        self.kind = kind
        self.t_sent = t_sent
        self.dsts = dsts
        self.sizes = sizes
        self.attempts = attempts
        self.payloads = payloads  # one shared payload, or a list aligned with dsts
        self.reasons = reasons  # one shared reason code, or a list aligned with dsts


#: Messages due at one delivery instant (exact mode) or in one bucket: (t_due, seq, batch, index).
_Due = list[tuple[float, int, _Batch, int]]


class Network:
    """Delivers messages between agents 0..N-1 through link models into bounded inboxes.

    Each send call draws the fate of all its recipients at once (queueing, loss, retransmissions,
    delay). Messages in flight wait in a table keyed by delivery instant; each distinct instant
    (``resolution == 0``) or bucket (``resolution > 0``, delivery time rounded up to a multiple of
    it) is served by one SimPy timeout of priority NORMAL, created when its first message is sent.
    At delivery the receiver is checked with ``is_up`` and the payload against its kind, then the
    message enters the receiver's inbox. See ``docs/network.md`` for the precise semantics.
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
        Inbox(inbox_limit, inbox_policy)  # validates both
        self._kinds = self._check_kinds(kinds)
        if is_up is not None and not callable(is_up):
            raise ConfigError("is_up", is_up, "None or a callable(dsts) -> bool array")
        if positions is not None and not callable(positions):
            raise ConfigError("positions", positions, "None or a callable() -> [N, 2] array")
        self._n = topology.n
        self._topology = topology
        models, ov_keys, ov_model = self._check_overrides(link, overrides or {})
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
        self._inbox_limit = inbox_limit
        self._inbox_policy = inbox_policy
        self._is_up = is_up
        self._positions = positions
        self._outgoing: OutgoingFilter | None = None
        self._link_filter: LinkFilter | None = None
        self._inboxes: list[Inbox | None] = [None] * self._n
        self._pending: dict[float | int, _Due] = {}
        self._next_seq = 0
        self._ledger = Ledger(trace=bool(trace))
        self._channel = Channel(self._n, models, rng, self._derive_key(rng), positions)

    # -- configuration -------------------------------------------------------------------------

    @staticmethod
    def _derive_key(rng: np.random.Generator) -> tuple[int, int]:
        k = rng.integers(0, 2**32, size=2)
        return int(k[0]), int(k[1])

    @staticmethod
    def _check_kinds(kinds: Mapping[str, MessageKind]) -> dict[str, MessageKind]:
        if not isinstance(kinds, Mapping):
            raise ConfigError("kinds", kinds, "a mapping of kind name to MessageKind")
        for name, kind in kinds.items():
            if not isinstance(kind, MessageKind) or kind.name != name:
                raise ConfigError(f"kinds[{name!r}]", kind, "a MessageKind with the same name")
        return dict(kinds)

    def _check_overrides(
        self, link: LinkModel, overrides: Mapping[tuple[int, int], LinkModel]
    ) -> tuple[list[LinkModel], np.ndarray, np.ndarray]:
        models = [link]
        index = {link: 0}
        keys, which = [], []
        for pair, model in overrides.items():
            ok = (
                isinstance(pair, tuple)
                and len(pair) == 2
                and all(isinstance(a, int | np.integer) and 0 <= a < self._n for a in pair)
            )
            if not ok:
                raise ConfigError(
                    "overrides", pair, f"(src, dst) pairs of agent ids in [0, {self._n})"
                )
            if not isinstance(model, LinkModel):
                raise ConfigError(f"overrides[{pair}]", model, "a LinkModel")
            if model not in index:
                index[model] = len(models)
                models.append(model)
            keys.append(int(pair[0]) * self._n + int(pair[1]))
            which.append(index[model])
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        return (
            models,
            np.asarray(keys, dtype=np.int64)[order],
            np.asarray(which, dtype=np.int64)[order],
        )

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

    @property
    def resolution(self) -> float:
        """Delivery bucket width (0 = exact delivery times)."""
        return self._resolution

    @property
    def topology(self) -> Topology:
        """The current neighbour graph used by :meth:`broadcast`."""
        return self._topology

    @topology.setter
    def topology(self, topology: Topology) -> None:
        if not isinstance(topology, Topology) or topology.n != self._n:
            raise ConfigError("topology", topology, f"a Topology over {self._n} agents")
        self._topology = topology

    def set_outgoing_filter(self, fn: OutgoingFilter | None) -> None:
        """Install (or remove with None) a filter applied to every send before anything else.

        ``fn(src, dsts, payloads)`` gets the recipients and a list of payloads aligned with them
        and returns ``(dsts_kept, payloads_kept)``: it may drop recipients (omission: counted as
        ``omitted``, not as sent) or replace payloads per recipient (Byzantine behaviour).
        """
        if fn is not None and not callable(fn):
            raise ConfigError("outgoing_filter", fn, "None or a callable")
        self._outgoing = fn

    def set_link_filter(self, fn: LinkFilter | None) -> None:
        """Install (or remove) a link mask: ``fn(src, dsts) -> bool array`` (False = cut link).

        Messages on cut links are sent but dropped (``dropped_cut``) before touching the link.
        """
        if fn is not None and not callable(fn):
            raise ConfigError("link_filter", fn, "None or a callable")
        self._link_filter = fn

    def set_is_up(self, fn: IsUp | None) -> None:
        """Replace the receiver liveness check evaluated at delivery time."""
        if fn is not None and not callable(fn):
            raise ConfigError("is_up", fn, "None or a callable(dsts) -> bool array")
        self._is_up = fn

    # -- inboxes -------------------------------------------------------------------------------

    def inbox(self, i: int) -> Inbox:
        """The inbox of agent ``i``."""
        i = self._check_agent(i)
        box = self._inboxes[i]
        if box is None:
            box = self._inboxes[i] = Inbox(self._inbox_limit, self._inbox_policy)
        return box

    # -- sending -------------------------------------------------------------------------------

    def send(self, src: int, dst: int, kind: str, payload: Any, size: int | None = None) -> int:
        """Send one message; returns the number of messages sent (0 or 1)."""
        dsts = np.array([self._check_agent(dst)], dtype=np.int64)
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
        src = self._check_agent(src)
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

    def _check_agent(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < self._n:
            raise ConfigError("agent", i, f"an agent id in [0, {self._n})")
        return int(i)

    def _check_recipients(self, dsts: np.ndarray) -> np.ndarray:
        dsts = np.asarray(dsts, dtype=np.int64).ravel()
        if dsts.size and (dsts.min() < 0 or dsts.max() >= self._n):
            raise ConfigError("dsts", dsts.tolist(), f"agent ids in [0, {self._n})")
        if dsts.size > 1 and np.unique(dsts).size != dsts.size:
            raise ConfigError("dsts", dsts.tolist(), "distinct agent ids")
        return dsts

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
        src = self._check_agent(src)
        if not isinstance(kind, str):
            raise ConfigError("kind", kind, "a message kind name (str)")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise ConfigError("size", size, "None or an integer >= 0 (bytes)")
        if not checked:
            dsts = self._check_recipients(dsts)
        if per_recipient:
            payloads = list(payload)
            if len(payloads) != dsts.size:
                raise ConfigError(
                    "payload", f"{len(payloads)} payloads", f"one per recipient ({dsts.size})"
                )
        if self._outgoing is not None:
            before = dsts.size
            offered = payloads if per_recipient else [payload] * before
            kept, kept_payloads = self._outgoing(src, dsts.copy(), offered)
            dsts = self._check_recipients(kept)
            payloads = list(kept_payloads)
            if len(payloads) != dsts.size:
                raise ConfigError(
                    "outgoing_filter", len(payloads), "one payload per kept recipient"
                )
            per_recipient = True
            self._ledger.omitted(before - dsts.size)
        m = dsts.size
        if m == 0:
            return 0

        kind_spec = self._kinds.get(kind)
        if per_recipient:
            shots, reasons, sizes_list = self._prepare_each(payloads, kind_spec, size)
            sizes = np.asarray(sizes_list, dtype=np.int64)
            batch_payloads: Any = shots
            batch_reasons: Any = reasons
        else:
            shot = snapshot(payload)
            nbytes = payload_nbytes(shot) if size is None else size
            sizes = np.full(m, nbytes, dtype=np.int64)
            batch_payloads = shot
            batch_reasons = check_payload(kind_spec, shot, nbytes)

        allowed = None
        if self._link_filter is not None:
            allowed = np.asarray(self._link_filter(src, dsts.copy()), dtype=bool).ravel()
            if allowed.shape != (m,):
                raise ConfigError("link_filter", allowed.shape, f"a bool array of shape [{m}]")
        now = float(self._env.now)
        fate = self._channel.transmit(now, src, dsts, sizes, self._model_index(src, dsts), allowed)
        seq0 = self._next_seq
        self._next_seq += m
        self._ledger.sent(
            seq0, now, src, dsts, kind, sizes, fate.cause, fate.attempts, fate.delay, fate.t_due
        )
        live = np.flatnonzero(fate.cause == IN_FLIGHT)
        if live.size:
            batch = _Batch(
                src, kind, now, dsts, sizes, fate.attempts, batch_payloads, batch_reasons
            )
            self._schedule(batch, live, fate.t_due[live], seq0)
        return m

    def _prepare_each(
        self, payloads: list, kind_spec: MessageKind | None, size: int | None
    ) -> tuple[list, list[str], list[int]]:
        shots: list = []
        reasons: list[str] = []
        sizes: list[int] = []
        seen: dict[int, tuple[Any, str, int]] = {}
        for p in payloads:
            hit = seen.get(id(p))
            if hit is None:
                shot = snapshot(p)
                nbytes = payload_nbytes(shot) if size is None else size
                hit = seen[id(p)] = (shot, check_payload(kind_spec, shot, nbytes), nbytes)
            shots.append(hit[0])
            reasons.append(hit[1])
            sizes.append(hit[2])
        return shots, reasons, sizes

    def _model_index(self, src: int, dsts: np.ndarray) -> np.ndarray | None:
        if self._ov_keys.size == 0:
            return None
        keys = src * self._n + dsts
        pos = np.searchsorted(self._ov_keys, keys)
        inside = pos < self._ov_keys.size
        out = np.zeros(dsts.size, dtype=np.int64)
        hit = np.zeros(dsts.size, dtype=bool)
        hit[inside] = self._ov_keys[pos[inside]] == keys[inside]
        out[hit] = self._ov_model[pos[hit]]
        return out

    # -- delivery ------------------------------------------------------------------------------

    def _schedule(self, batch: _Batch, live: np.ndarray, t_due: np.ndarray, seq0: int) -> None:
        """File each message under its delivery instant (or bucket), starting timers as needed.

        A bucket b of width r holds the messages with (b - 1) * r < t_due <= b * r and is
        delivered at b * r.
        """
        r = self._resolution
        pending = self._pending
        for i, t in zip(live.tolist(), t_due.tolist()):
            if r > 0:
                key = math.ceil(t / r)
                if key * r < t:
                    key += 1
                elif (key - 1) * r >= t:
                    key -= 1
                t_event = key * r
            else:
                key = t_event = t
            items = pending.get(key)
            if items is None:
                items = pending[key] = []
                self._start_timer(key, items, t_event)
            items.append((t, seq0 + i, batch, i))

    def _start_timer(self, key: float | int, items: _Due, t_event: float) -> None:
        now = self._env.now
        dt = max(t_event - now, 0.0)
        while now + dt < t_event:  # the event must never fall before t_event by rounding
            dt = math.nextafter(dt, math.inf)
        ev = self._env.timeout(dt)
        ev.callbacks.append(lambda _ev: self._deliver(key, items))

    def _deliver(self, key: float | int, items: _Due) -> None:
        if self._pending.get(key) is not items:
            return  # discarded by drop_pending()/reset()
        del self._pending[key]
        if self._resolution > 0 and len(items) > 1:
            items.sort(key=lambda it: (it[0], it[1]))
        now = float(self._env.now)
        up = None
        if self._is_up is not None:
            dsts = np.fromiter((b.dsts[i] for _, _, b, i in items), np.int64, len(items))
            up = np.asarray(self._is_up(dsts), dtype=bool).ravel()
            if up.shape != dsts.shape:
                raise ConfigError("is_up", up.shape, f"a bool array of shape [{dsts.size}]")
            up = up.tolist()
        crashed: list[int] = []
        rejected: list[tuple[int, str]] = []
        refused: list[int] = []
        arrived: list[int] = []
        latencies: list[float] = []
        evicted: list[int] = []
        inboxes = self._inboxes
        for j, (_t, seq, batch, i) in enumerate(items):
            if up is not None and not up[j]:
                crashed.append(seq)
                continue
            shared = not isinstance(batch.reasons, list)
            reason = batch.reasons if shared else batch.reasons[i]
            if reason != "ok":
                rejected.append((seq, reason))
                continue
            dst = int(batch.dsts[i])
            message = Message(
                batch.src,
                dst,
                batch.kind,
                batch.payloads if shared else batch.payloads[i],
                int(batch.sizes[i]),
                batch.t_sent,
                now,
                int(batch.attempts[i]),
                seq,
            )
            box = inboxes[dst]
            if box is None:
                box = self.inbox(dst)
            out = box.put(message)
            if out is message:
                refused.append(seq)
                continue
            arrived.append(seq)
            latencies.append(now - batch.t_sent)
            if out is not None:
                evicted.append(out.seq)
        self._ledger.settle(now, crashed, rejected, refused, arrived, latencies, evicted)

    # -- accounting and episodes ---------------------------------------------------------------

    def stats(self) -> dict[str, float | int]:
        """Counters since the last reset; ``sent`` counts one per recipient.

        sent = delivered + dropped_loss + dropped_crash + dropped_overflow + dropped_inbox
        + dropped_cut + dropped_pending + rejected_invalid + in_flight. Also retransmissions,
        omitted (removed by the outgoing filter, not sent) and latency_p50/p90/p99/mean of
        arrivals into inboxes.
        """
        return self._ledger.stats()

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
        in_flight = [it[1] for items in self._pending.values() for it in items]
        resident = [m.seq for box in self._inboxes if box is not None for m in box]
        self._ledger.restart(self._next_seq, in_flight, resident)

    def drop_pending(self) -> int:
        """Discard every message in flight (counted as dropped_pending); returns how many."""
        count = 0
        for items in self._pending.values():
            for _t, seq, _b, _i in items:
                self._ledger.dropped(seq, "pending")
                count += 1
        self._pending.clear()
        return count

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
        self._pending.clear()
        for box in self._inboxes:
            if box is not None:
                box.clear()
        if env is not None:
            self._env = env
        if rng is not None:
            self._rng = rng
            self._channel.rng = rng
            self._channel.key = self._derive_key(rng)
        self._channel.reset()
        self._next_seq = 0
        self._ledger.restart(next_seq=0)
