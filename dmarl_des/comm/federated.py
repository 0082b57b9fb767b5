"""Federated rounds as world events: selected clients upload per-agent blocks, an aggregator sends back.

A ``FederatedRounds`` serves one learner whose ``learner.federated`` cadence is set
(``dmarl_des.learn.federated``) over its training episodes. Each *block* (a stacked net with one
parameter row per agent: a critic, a reward model, a Q-net) travels as two message kinds of its
own, ``<block>_upload`` (a client's row) and ``<block>_model`` (the aggregate), each
``4 · F`` bytes of float32 with the configured value bound, through the world's network — loss,
delay, bandwidth, ARQ, cuts, partitions, crashes, omission and Byzantine message attacks act on
them, receivers validate them, and ``network_kinds`` counts them as learning traffic.

**The server is an agent.** ``server = i`` makes agent ``i`` the aggregator: a node of the
network with the links the topology gives it (its *clients* are its neighbours at the round's
instant, itself included), subject to every fault of ``faults.*`` like any agent (crash,
partition, cut links, omission, a Byzantine server tampering the models it sends back). It keeps
acting and learning in the world; its own row is a candidate of every aggregate it makes.

**One round r at instant t** (at place ``AFTER_DECISIONS``, after the decisions of t and the
updates they triggered), ``w = window``:

1. *upload* (t): the eligible clients are the server's neighbours that are up (and the server);
   the selection rule picks some (``SELECTIONS``, drawn from a generator keyed by the learner's
   seed, the episode and r); each picked client other than the server sends its current rows;
2. *aggregate* (t + w, after the deliveries due then): if the server is up (and not a learning
   adversary), it takes the uploads of round r that arrived — an upload lost, rejected or still
   in flight *misses the round*; one of an earlier round arriving now is *late* and dropped —
   and sets its own rows to ``rule(own, uploads)`` (``mean``: their average), then sends that
   model to the round's picked clients. A server that is down aggregates nothing: no model goes
   out and every client keeps its parameters;
3. *adopt* (t + 2w): every client up (not a learning adversary) replaces its rows by the latest
   model that reached it (one of an earlier round, if that is the latest: counted by its age).

With ``w = 0`` and ideal links all three happen at t: synchronous FedAvg. **Serverless**
(``server = gossip``): at step 1 the picked agents broadcast their rows to their neighbours; at
step 2 every agent up aggregates its own rows with the uploads of round r that reached it
(``rule`` over own + arrived, one batched call over all agents); there is no step 3.

Optimizer states stay with their rows (a client adopting a model keeps its Adam moments); a
faulty agent's rows never change, a greedy agent never adopts (``abstain``). One row per round ×
block in the ``rounds`` table (``exchange = federated:<block>``), with the columns
``participants`` (rows that entered an aggregate), ``bytes`` (upload and model bytes sent),
``staleness`` (per upload used, rounds between the model its sender last adopted and the
latest one), ``late`` and ``aggregated`` (1 when an aggregate was made).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import simpy
import torch

from dmarl_des.comm.collect import collect
from dmarl_des.comm.kinds import learning_inbox_limit
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, Periodic, call_at, every
from dmarl_des.learn.federated import (
    SELECTIONS,
    FederatedConfig,
    aggregation_rule,
    federated_blocks,
    server_aggregate,
)
from dmarl_des.log import TABLES, Recorder
from dmarl_des.net import MessageKind, Network

__all__ = ["FEDERATED_COLUMNS", "FederatedRounds", "federating"]

FEDERATED_COLUMNS = {
    "participants": pl.Int64,
    "bytes": pl.Int64,
    "staleness": pl.Float64,
    "late": pl.Int64,
    "aggregated": pl.Int64,
}
"""Columns the ``rounds`` table gets for federated rounds (null on other rounds' rows)."""


def federating(policy: Any) -> bool:
    """True for a learner whose ``learner.federated`` cadence is set."""
    config = getattr(getattr(policy, "config", None), "federated", None)
    return isinstance(config, FederatedConfig) and config.enabled


@dataclass
class _Round:
    """What one round has done so far (one entry per block where it differs)."""

    index: int
    time: float
    picked: np.ndarray
    sent: dict[str, int]
    used: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    staleness: dict[str, float | None] = field(default_factory=dict)
    participants: dict[str, int] = field(default_factory=dict)
    model_sent: dict[str, int] = field(default_factory=dict)
    adopted: dict[str, int] = field(default_factory=dict)
    age: dict[str, float | None] = field(default_factory=dict)
    aggregated: int = 0


class FederatedRounds:
    """The federated rounds of one learner over a world's training episodes (module docstring)."""

    def __init__(self, learner: Any, recorder: Recorder) -> None:
        config: FederatedConfig = learner.config.federated
        self.learner = learner
        self.config = config
        self.blocks = federated_blocks(learner, config.blocks)
        self.rule = aggregation_rule(config)
        self.select = SELECTIONS[config.select]
        self.seed = int(getattr(getattr(learner, "spec", None), "seed", 0))
        self.kinds: dict[str, tuple[MessageKind, MessageKind]] = {}
        for name, net in self.blocks.items():
            f = net.n_params
            self.kinds[name] = tuple(  # type: ignore[assignment]
                MessageKind(f"{name}_{what}", (f,), "float32", max_bytes=4 * f, bound=config.bound)
                for what in ("upload", "model")
            )
        self.recorder = recorder
        recorder.declare("rounds", TABLES["rounds"])
        recorder.add_columns("rounds", FEDERATED_COLUMNS)
        n = int(learner.spec.n_agents)
        self.version = np.zeros(n, dtype=np.int64)
        """Per agent, the round of the last model it adopted (gossip: aggregated); 0: none."""
        self.new_data = np.zeros(n, dtype=np.int64)
        """Per agent, transitions handed to the learner since its last upload."""
        self.n_rounds = 0
        self.episode_rounds = 0
        self.skipped = 0
        """Rounds due while the previous one was still open (window too long), skipped."""
        self._done = 0
        self._owed = False
        self._planned: float | None = None
        self._open: list[_Round] = []
        self._model_round: dict[float, int] = {}
        self._periodic: Periodic | None = None
        self._env: simpy.Environment | None = None
        self._network: Network | None = None
        self._up: np.ndarray | None = None
        self._abstain: np.ndarray | None = None
        self._episode = 0

    # ---------------------------------------------------------------- episodes
    def begin_episode(
        self,
        env: simpy.Environment,
        network: Network,
        up: np.ndarray,
        episode: int,
        horizon: float,
        *,
        abstain: np.ndarray | None = None,
    ) -> None:
        """Open the blocks' inboxes on ``network`` and schedule the episode's rounds."""
        if self.config.server != "gossip" and self.config.server >= network.n:
            raise ConfigError(
                "learner.federated.server", self.config.server, f"an agent id < {network.n}"
            )
        limit = learning_inbox_limit(network.topology)
        for upload, model in self.kinds.values():
            network.open_inbox(upload.name, {upload.name: upload}, limit=max(limit, network.n))
            network.open_inbox(model.name, {model.name: model}, limit=limit)
        self._env, self._network, self._up, self._episode = env, network, up, episode
        self._abstain = abstain if abstain is not None else np.zeros(network.n, dtype=bool)
        self.episode_rounds = 0
        self._planned = None
        self._open = []
        self._model_round = {}
        if self.config.period > 0:
            self._periodic = every(
                env, self.config.period, self._start, priority=AFTER_DECISIONS, until=horizon
            )
        if self._owed:
            self._owed = False
            self._plan()

    def end_episode(self) -> None:
        """The episode's simulation is over: no more rounds; unfinished ones get their row."""
        if self._periodic is not None:
            self._periodic.stop()
            self._periodic = None
        for rnd in self._open:
            self._record(rnd)
        self._open = []
        self._env = None

    def after_updates(self, n_updates: int) -> None:
        """The learner has made ``n_updates`` updates in all: plan the rounds they call for."""
        k = self.config.every
        if k <= 0 or n_updates // k <= self._done:
            return
        self._done = n_updates // k
        if self._env is None:
            self._owed = True
        else:
            self._plan()

    def saw(self, agents: np.ndarray) -> None:
        """Transitions of ``agents`` (one entry each) were handed to the learner."""
        np.add.at(self.new_data, agents, 1)

    def _plan(self) -> None:
        assert self._env is not None
        now = float(self._env.now)
        if self._planned == now:
            return
        self._planned = now
        call_at(self._env, 0.0, self._start, priority=AFTER_DECISIONS)

    # ---------------------------------------------------------------- one round
    def _rows(self, name: str, agents: np.ndarray) -> np.ndarray:
        """Rows ``agents`` of block ``name`` as a new float32 numpy array."""
        flat = self.blocks[name].flat.detach()
        idx = torch.as_tensor(agents, device=flat.device)
        return flat.index_select(0, idx).cpu().numpy().astype(np.float32)

    def _write(self, name: str, agents: np.ndarray, rows: torch.Tensor | np.ndarray) -> None:
        flat = self.blocks[name].flat
        idx = torch.as_tensor(agents, device=flat.device)
        values = torch.as_tensor(np.asarray(rows), device=flat.device, dtype=flat.dtype)
        with torch.no_grad():
            flat.index_copy_(0, idx, values.reshape(len(agents), -1))

    def _start(self) -> None:
        """Step 1: pick the clients and send their uploads (not while a round is still open:
        a round due then is skipped and counted in ``skipped``)."""
        env, network, up = self._env, self._network, self._up
        assert env is not None and network is not None and up is not None
        if self._open:
            self.skipped += 1
            return
        self.n_rounds += 1
        self.episode_rounds += 1
        now = float(env.now)
        server = self.config.server
        if server == "gossip":
            eligible = np.flatnonzero(up)
        else:
            linked = np.zeros(network.n, dtype=bool)
            linked[network.topology.neighbors(server)] = True
            linked[server] = True
            eligible = np.flatnonzero(up & linked)
        rng = np.random.default_rng([self.seed, self._episode, self.n_rounds])
        picked = np.asarray(
            self.select(eligible, self.n_rounds, self.new_data, self.config.fraction, rng),
            dtype=np.int64,
        )
        self.new_data[picked] = 0
        sent: dict[str, int] = {}
        for name, (upload, _) in self.kinds.items():
            if server == "gossip":
                rows = self._rows(name, picked)
                sent[name] = network.broadcast_many(picked, upload.name, rows) if picked.size else 0
                continue
            senders = picked[picked != server]
            rows = self._rows(name, senders)
            sent[name] = sum(
                network.send(int(c), server, upload.name, rows[k])
                for k, c in enumerate(senders.tolist())
            )
        rnd = _Round(self.n_rounds, now, picked, sent)
        self._open.append(rnd)
        step = self._gossip if server == "gossip" else self._aggregate
        call_at(env, self.config.window, lambda: step(rnd), priority=AFTER_DECISIONS)

    def _server_uploads(self, rnd: _Round, name: str, server: int) -> tuple[np.ndarray, np.ndarray]:
        """(senders, vectors [M, F]) of the uploads of round ``rnd`` that reached the server
        (the latest per client); earlier rounds' uploads arriving now are counted late."""
        network = self._network
        assert network is not None
        got = network.drain_refs(np.array([server]), inbox=self.kinds[name][0].name)
        this = got.t_sent == rnd.time
        rnd.late[name] = int(np.count_nonzero(got.t_sent < rnd.time))
        keep = np.flatnonzero(this & np.isin(got.sender, rnd.picked))
        order = keep[np.lexsort((got.seq[keep], got.sender[keep]))]
        last = np.ones(order.size, dtype=bool)
        last[:-1] = got.sender[order][1:] != got.sender[order][:-1]
        keep = order[last]
        vectors = np.empty((keep.size, self.blocks[name].n_params), dtype=np.float32)
        for k, m in enumerate(keep.tolist()):
            vectors[k] = got.sources[got.source[m]][got.row[m]]
        return got.sender[keep], vectors

    def _staleness(self, senders: np.ndarray, index: int) -> float | None:
        if not senders.size:
            return None
        return float(np.maximum(index - 1 - self.version[senders], 0).mean())

    def _aggregate(self, rnd: _Round) -> None:
        """Step 2 with a server: aggregate the uploads of this round and send the model back."""
        env, network, up = self._env, self._network, self._up
        assert env is not None and network is not None and up is not None
        server = int(self.config.server)
        if not up[server] or self._abstain[server]:
            call_at(env, self.config.window, lambda: self._adopt(rnd), priority=AFTER_DECISIONS)
            return
        me = np.array([server], dtype=np.int64)
        now = float(env.now)
        rnd.aggregated = 1
        self._model_round[now] = rnd.index
        clients = rnd.picked[rnd.picked != server]
        for name, (_, model) in self.kinds.items():
            senders, vectors = self._server_uploads(rnd, name, server)
            own = self.blocks[name].flat.detach()[server]
            result = server_aggregate(self.rule, own, torch.as_tensor(vectors, device=own.device))
            self._write(name, me, result.unsqueeze(0))
            rnd.used[name] = int(senders.size)
            rnd.missing[name] = int(np.count_nonzero(rnd.picked != server) - senders.size)
            rnd.participants[name] = 1 + int(senders.size)
            rnd.staleness[name] = self._staleness(senders, rnd.index)
            payload = result.detach().cpu().numpy().astype(np.float32)
            rnd.model_sent[name] = network.multicast(server, clients, model.name, payload)
        self.version[server] = rnd.index
        call_at(env, self.config.window, lambda: self._adopt(rnd), priority=AFTER_DECISIONS)

    def _adopt(self, rnd: _Round) -> None:
        """Step 3: every client up replaces its rows by the latest model that reached it."""
        network, up = self._network, self._up
        assert network is not None and up is not None
        server = int(self.config.server)
        clients = np.flatnonzero(up & ~self._abstain)
        clients = clients[clients != server]
        for name, (_, model) in self.kinds.items():
            got = network.drain_refs(clients, inbox=model.name)
            if not got.receiver.size:
                rnd.adopted[name], rnd.age[name] = 0, None
                continue
            order = np.lexsort((got.seq, got.t_sent, got.receiver))
            last = np.ones(order.size, dtype=bool)
            last[:-1] = got.receiver[order][1:] != got.receiver[order][:-1]
            keep = order[last]
            receivers = got.receiver[keep]
            vectors = np.stack([got.sources[s][r] for s, r in zip(got.source[keep], got.row[keep])])
            self._write(name, receivers, vectors)
            rounds = np.array([self._model_round.get(float(t), 0) for t in got.t_sent[keep]])
            self.version[receivers] = np.maximum(self.version[receivers], rounds)
            rnd.adopted[name] = int(receivers.size)
            rnd.age[name] = float((rnd.index - rounds).mean())
        self._finish(rnd)

    def _gossip(self, rnd: _Round) -> None:
        """Step 2 without a server: every agent up aggregates its own rows with the uploads of
        this round that reached it (one call of the rule over all agents)."""
        network, up = self._network, self._up
        assert network is not None and up is not None
        agents = np.flatnonzero(up & ~self._abstain)
        times = np.array([rnd.time])
        picked = np.zeros(network.n, dtype=bool)
        picked[rnd.picked] = True
        for name, (upload, _) in self.kinds.items():
            arrived = collect(network, upload.name, agents, rnd.index, rnd.time, times)
            fresh = np.flatnonzero(arrived.age == 0)
            rnd.late[name] = int(len(arrived) - fresh.size)
            flat = self.blocks[name].flat.detach()
            nnz = arrived.indices.shape[0]
            received = flat.new_zeros((nnz, flat.shape[1]))
            valid = torch.zeros(nnz, dtype=torch.bool, device=flat.device)
            if fresh.size:
                at = torch.as_tensor(arrived.entry[fresh], device=flat.device)
                vectors = torch.as_tensor(arrived.vectors(fresh), device=flat.device)
                received[at] = vectors.to(flat.dtype)
                valid[at] = True
            new = self.rule(flat, arrived.indptr, arrived.indices, received=received, valid=valid)
            self._write(name, agents, new[torch.as_tensor(agents, device=flat.device)])
            rows = np.repeat(np.arange(network.n), np.diff(arrived.indptr))
            combining = np.zeros(network.n, dtype=bool)
            combining[agents] = True
            heard = arrived.indices[combining[rows]]
            rnd.used[name] = int(fresh.size)
            rnd.missing[name] = int(np.count_nonzero(picked[heard]) - fresh.size)
            senders = np.unique(arrived.sender[fresh])
            rnd.participants[name] = int(np.union1d(senders, agents).size) if fresh.size else 0
            rnd.staleness[name] = self._staleness(arrived.sender[fresh], rnd.index)
            rnd.adopted[name], rnd.age[name] = int(agents.size), 0.0
        rnd.aggregated = int(agents.size > 0)
        self.version[agents] = rnd.index
        self._finish(rnd)

    def _finish(self, rnd: _Round) -> None:
        self._record(rnd)
        self._open = [r for r in self._open if r is not rnd]

    def _record(self, rnd: _Round) -> None:
        """The round's row per block in the ``rounds`` table."""
        for name, net in self.blocks.items():
            used = rnd.used.get(name, 0)
            n_senders = int(np.count_nonzero(rnd.picked != self.config.server))
            messages = rnd.sent[name] + rnd.model_sent.get(name, 0)
            self.recorder.add(
                "rounds",
                episode=self._episode,
                round=rnd.index,
                time=rnd.time,
                exchange=f"federated:{name}",
                senders=n_senders,
                sent=rnd.sent[name],
                agents=rnd.adopted.get(name, 0),
                used=used,
                fresh=used,
                stale=0,
                missing=rnd.missing.get(name, 0),
                superseded=0,
                unlinked=0,
                mean_age=rnd.age.get(name),
                participants=rnd.participants.get(name, 0),
                bytes=4 * net.n_params * messages,
                staleness=rnd.staleness.get(name),
                late=rnd.late.get(name, 0),
                aggregated=rnd.aggregated,
            )
