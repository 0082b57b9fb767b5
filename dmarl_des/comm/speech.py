"""Learned messages over the network: agents speak when they decide, and hear before they decide.

A ``Speech`` serves one communicating policy (``dmarl_des.learn.messaging.Messaging``) over a
world's episodes — training and evaluation alike, since the policy acts on what it hears. At the
start of each episode ``begin_episode`` gives every agent an inbox of the policy's message kind
on the episode's network (float32, the declared size — plus the sender's position in worlds with
positions when the policy asks for it — ``4 ·`` entries bytes, the declared bound) and, under
the ``vbc`` rule, one of its requests (kind ``<name>.request``, one float32).

**At a decision flush** (``dmarl_des.world.decisions``), for the agents of the batch:

1. *hear* — every inbox of the kind is drained into the ``HeardTable`` (the latest message per
   receiver and sender); each deciding agent is handed, per current neighbour, the latest
   message that arrived from it this episode (``Heard``: its age, whether it arrived since the
   agent's previous decision, its offset in worlds with positions). Then the batch's ending
   macro-actions close and the policy acts;
2. *speak* — the policy gives the batch's messages (``spoken``); under ``vbc`` uncertain agents
   first broadcast a request; the rule (``sending.py``) and the byte budget choose who
   transmits, and those broadcast to their current neighbours in one ``broadcast_many``; the
   policy learns who transmitted and the bytes each put on the air (``transmitted``).

With ``comm.period > 0`` a communication tick every period (place ``AFTER_DECISIONS``) drains the
inboxes and lets every agent up offer its latest message again, under the same rule and budget.
Loss, delay, bandwidth queues, ARQ, partitions, crashes and Byzantine message attacks act on
these messages as on any other; receivers check them like any payload. Nothing waits: a
neighbour none of whose messages arrived is simply absent from what an agent hears.

**Counts** (one `comm` row per episode): ``offered`` messages, ``transmissions``, ``held_rule``
and ``held_budget`` (offers not transmitted), ``requests`` (vbc), ``bytes_on_air`` (one count
per transmission; the network's tables count per recipient), and over the decisions: ``used``
messages, of which ``stale`` (the sender had transmitted a newer one since), ``missing``
neighbours (they had transmitted, nothing arrived), ``silent`` ones (nothing transmitted yet),
``mean_age`` of the used messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from dmarl_des.comm.heard import HeardTable
from dmarl_des.comm.kinds import learning_inbox_limit
from dmarl_des.comm.sending import SendingRule, TokenBucket
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, Periodic, every
from dmarl_des.learn.messaging import Heard, MessageSpec, Messaging
from dmarl_des.log import TABLES, Recorder
from dmarl_des.net import MessageKind, Network
from dmarl_des.scenario.comm import CommSpec

__all__ = ["POSITION_BOUND", "Speech"]

POSITION_BOUND = 1e6
"""Value bound of a message kind that carries positions (world units)."""

COUNTS = (
    "offered",
    "transmissions",
    "held_rule",
    "held_budget",
    "requests",
    "bytes_on_air",
    "used",
    "stale",
    "missing",
    "silent",
)


class Speech:
    """The learned messages of a communicating policy over a world's episodes (module docstring)."""

    def __init__(self, policy: Messaging, comm: CommSpec, recorder: Recorder, n: int) -> None:
        spec = policy.message_spec()
        if not isinstance(spec, MessageSpec):
            raise ConfigError("message_spec", type(spec).__name__, "a MessageSpec")
        self.policy = policy
        self.spec = spec
        self.comm = comm
        self.n = int(n)
        self.recorder = recorder
        recorder.declare("comm", TABLES["comm"])
        self.rule = SendingRule(comm, self.n, spec.size)
        self.request_kind = f"{spec.name}.request"
        self._env: simpy.Environment | None = None
        self._network: Network | None = None
        self._up = np.ones(self.n, dtype=bool)
        self._positions: Callable[[], np.ndarray | None] | None = None
        self._tick: Periodic | None = None
        self._episode = 0
        self.width = spec.size
        self.table = HeardTable(self.n, self.width)
        self.bucket = TokenBucket(self.n, 0.0, 0.0)
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self._age_sum = 0.0

    # ---------------------------------------------------------------- episodes
    def begin_episode(
        self,
        env: simpy.Environment,
        network: Network,
        up: np.ndarray,
        positions: Callable[[], np.ndarray | None],
        episode: int,
        horizon: float,
    ) -> None:
        """Open the message inboxes on ``network``; start the communication tick (if any)."""
        spec, comm = self.spec, self.comm
        with_position = spec.position and positions() is not None
        self._positions = positions if with_position else None
        self.width = spec.size + (2 if with_position else 0)
        bound = max(spec.bound, POSITION_BOUND) if with_position else spec.bound
        kind = MessageKind(
            spec.name, (self.width,), "float32", max_bytes=4 * self.width, bound=bound
        )
        limit = learning_inbox_limit(network.topology)
        network.open_inbox(spec.name, {spec.name: kind}, limit=limit)
        if comm.send == "vbc":
            request = MessageKind(self.request_kind, (1,), "float32", max_bytes=4, bound=1.0)
            network.open_inbox(self.request_kind, {self.request_kind: request}, limit=limit)
        self.message_bytes = 4 * self.width
        depth = comm.burst if comm.burst > 0 else float(self.message_bytes)
        self.bucket = TokenBucket(self.n, comm.budget, depth)
        self.rule.reset()
        self.table = HeardTable(self.n, self.width)
        self._env, self._network, self._up, self._episode = env, network, up, episode
        self.counts = dict.fromkeys(COUNTS, 0)
        self._age_sum = 0.0
        self.last_transmit = np.full(self.n, -np.inf)
        """[N] when each agent last transmitted this episode (-inf: never)."""
        self.last_decided = np.full(self.n, -np.inf)
        self.latest = np.zeros((self.n, spec.size), dtype=np.float32)
        self.has_latest = np.zeros(self.n, dtype=bool)
        self.latest_gate = np.zeros(self.n, dtype=bool)
        self._tick = None
        if comm.period > 0:
            self._tick = every(env, comm.period, self.tick, priority=AFTER_DECISIONS, until=horizon)

    def end_episode(self) -> dict[str, Any]:
        """The episode's simulation is over: stop the tick, add the `comm` row, return it."""
        if self._tick is not None:
            self._tick.stop()
            self._tick = None
        used = self.counts["used"]
        row = {
            "episode": self._episode,
            "kind": self.spec.name,
            **self.counts,
            "mean_age": self._age_sum / used if used else None,
        }
        self.recorder.add("comm", **row)
        self._env = None
        return row

    def forget(self, agents: np.ndarray) -> None:
        """Agents that (re)enter their slot know nothing and have said nothing."""
        agents = np.asarray(agents, dtype=np.int64)
        self.table.forget(agents)
        self.rule.forget(agents)
        if self._env is not None:
            self.has_latest[agents] = False
            self.last_decided[agents] = -np.inf

    # ---------------------------------------------------------------- hearing
    def _drain(self) -> None:
        """Every inbox of the message kind into the table; requests mark who was asked."""
        network = self._network
        assert network is not None
        everyone = np.arange(self.n, dtype=np.int64)
        self.table.merge(network.drain_refs(everyone, inbox=self.spec.name))
        if self.comm.send == "vbc":
            asked = network.drain_refs(everyone, inbox=self.request_kind).receiver
            self.rule.requested[asked] = True

    def hear(self, agents: np.ndarray) -> Heard:
        """Step 1 for a decision batch: hand the policy what ``agents`` heard (module doc)."""
        env, network = self._env, self._network
        assert env is not None and network is not None
        now = float(env.now)
        agents = np.asarray(agents, dtype=np.int64)
        self._drain()
        topology = network.topology
        found = self.table.lookup(agents, topology.indptr, topology.indices)
        size = self.spec.size
        offset = None
        if self._positions is not None:
            here = np.asarray(self._positions(), dtype=np.float32)[agents]
            offset = found.payload[:, size : size + 2] - here[found.row]
        receivers = agents[found.row]
        stale = found.t_sent < self.last_transmit[found.sender]
        ever = np.isfinite(self.last_transmit[found.unheard])
        age = now - found.t_sent
        counts = {
            "used": int(found.row.size),
            "stale": int(np.count_nonzero(stale)),
            "missing": int(np.count_nonzero(ever)),
            "silent": int(found.unheard.size - np.count_nonzero(ever)),
        }
        for key, value in counts.items():
            self.counts[key] += value
        self._age_sum += float(age.sum())
        heard = Heard(
            time=now,
            agents=agents,
            row=found.row,
            sender=found.sender,
            age=age,
            fresh=found.t_arrived > self.last_decided[receivers],
            vectors=np.ascontiguousarray(found.payload[:, :size]),
            offset=offset,
            counts=counts,
        )
        self.last_decided[agents] = now
        self.policy.hear(heard)
        return heard

    # ---------------------------------------------------------------- speaking
    def speak(self, agents: np.ndarray) -> np.ndarray:
        """Step 2 for the batch just served: the rule and the budget choose who transmits;
        returns the bytes each of ``agents`` put on the air."""
        agents = np.asarray(agents, dtype=np.int64)
        spoken = self.policy.spoken(agents)
        vectors = np.asarray(spoken.vectors)
        if vectors.shape != (agents.size, self.spec.size) or vectors.dtype != np.float32:
            raise ConfigError(
                "spoken().vectors",
                f"{vectors.dtype} {vectors.shape}",
                f"float32 ({agents.size}, {self.spec.size})",
            )
        self.latest[agents] = vectors
        self.has_latest[agents] = True
        if spoken.gate is not None:
            self.latest_gate[agents] = np.asarray(spoken.gate, dtype=bool)
        spent = np.zeros(agents.size)
        asks = self.rule.requests(spoken.confidence)
        if asks is not None and asks.size == agents.size and asks.any():
            spent += self._request(agents, asks)
        gate = None if spoken.gate is None else self.latest_gate[agents]
        spent += self._offer(agents, vectors, gate)
        self.policy.transmitted(agents, spent)
        return spent

    def tick(self) -> None:
        """A communication tick: drain the inboxes; every agent up with a message offers it."""
        self._drain()
        agents = np.flatnonzero(self._up & self.has_latest)
        if not agents.size:
            return
        gate = self.latest_gate[agents] if self.comm.send == "gate" else None
        spent = self._offer(agents, self.latest[agents], gate)
        if spent.any():
            self.policy.transmitted(agents, spent)

    def _request(self, agents: np.ndarray, asks: np.ndarray) -> np.ndarray:
        """Uncertain agents broadcast a request (4 bytes, within the budget)."""
        spent = np.zeros(agents.size)
        who = np.flatnonzero(asks)
        paid = self.bucket.pay(agents[who], np.full(who.size, 4.0), self._now())
        who = who[paid]
        if who.size:
            assert self._network is not None
            payload = np.ones((who.size, 1), dtype=np.float32)
            self._network.broadcast_many(agents[who], self.request_kind, payload)
            spent[who] = 4.0
            self.counts["requests"] += int(who.size)
            self.counts["bytes_on_air"] += 4 * int(who.size)
        return spent

    def _offer(
        self, agents: np.ndarray, vectors: np.ndarray, gate: np.ndarray | None
    ) -> np.ndarray:
        """Agents offer ``vectors``: the rule, then the budget, choose who transmits."""
        spent = np.zeros(agents.size)
        self.counts["offered"] += int(agents.size)
        allowed = self.rule.choose(agents, vectors, gate)
        self.counts["held_rule"] += int(agents.size - np.count_nonzero(allowed))
        who = np.flatnonzero(allowed)
        if not who.size:
            return spent
        cost = np.full(who.size, float(self.message_bytes))
        paid = self.bucket.pay(agents[who], cost, self._now())
        self.counts["held_budget"] += int(who.size - np.count_nonzero(paid))
        who = who[paid]
        if not who.size:
            return spent
        senders = agents[who]
        payload = vectors[who]
        if self._positions is not None:
            where = np.asarray(self._positions(), dtype=np.float32)[senders]
            payload = np.concatenate([payload, where], axis=1)
        assert self._network is not None
        self._network.broadcast_many(senders, self.spec.name, np.ascontiguousarray(payload))
        self.rule.sent(senders, vectors[who])
        self.last_transmit[senders] = self._now()
        spent[who] = float(self.message_bytes)
        self.counts["transmissions"] += int(who.size)
        self.counts["bytes_on_air"] += int(who.size) * self.message_bytes
        return spent

    def _now(self) -> float:
        assert self._env is not None
        return float(self._env.now)
