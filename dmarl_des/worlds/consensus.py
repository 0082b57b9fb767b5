"""Average consensus by gossip: agents repeatedly combine their value with what neighbours sent.

Every agent holds a value ``x_i`` in R^dim and runs one macro-action, *gossip*, over and over:

* at its start the agent broadcasts its current value (message kind ``value``: a float64 array of
  shape ``(dim,)`` with every entry within ``±VALUE_BOUND``) to its neighbours;
* it lasts ``world.period`` time units;
* at its end the agent reads its inbox — every ``value`` message delivered since its last update;
  of several from one neighbour it keeps the one received last — and updates its value.

Update rules (``world.aggregator``):

* ``weights`` (default): ``x_i ← x_i + Σ_{j ∈ N_i, arrived} W_ij (x_j − x_i)`` with
  ``W_ij = 1 / (deg_i + 1)`` (``world.weights = uniform``) or the Metropolis–Hastings weights
  ``W_ij = 1 / (1 + max(deg_i, deg_j))`` (``metropolis``). A neighbour whose value did not arrive
  contributes nothing, which is the same as using ``x_i`` in its place.
* a robust rule of ``dmarl_des.robust`` (mean, median, trimmed_mean, wmsr, krum, clipped_gossip):
  ``x_i ← rule(own value, values that arrived)``. An agent with fewer candidates than the rule
  needs in a round falls back (krum: keeps its value; trimmed_mean: the median), counted in the
  table's ``n_degraded``.

Every update is a convex combination of values within ``±VALUE_BOUND``, which receivers enforce,
so values stay finite whatever Byzantine agents send.

Timing within an instant ``t = kP`` (every agent starts at 0, so rounds are synchronous). Gossip
has a duration known when it starts, so the agents are kept in arrays (``timed`` world): the
gossips ending at ``t`` end together in ONE event (priority NORMAL), which runs after every
delivery due at ``t`` of a message sent before ``t`` and updates all those agents in one
vectorized step (``end_many``); then the decision flush (NORMAL + 1) reads the new values as
observations and starts the next gossip, which broadcasts them (``begin_many``); last, the round
log (NORMAL + 2) writes the row of round ``k`` to the ``consensus`` table and gives the team reward
``−disagreement``. So a message sent at ``kP`` with delay ``d`` is used at the update at
``(k + max(1, ⌈d / P⌉)) P``: with ``d ≤ P`` in the next round, with ``P < d ≤ 2P`` one round late.

See docs/world_consensus.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from dmarl_des.agent import SimAgent
from dmarl_des.bounds import Count, Period, Real, RealOrInf
from dmarl_des.errors import ConfigError
from dmarl_des.kernel import AFTER_DECISIONS, call_at
from dmarl_des.log import EPISODE_METRICS, Metric, declare_metrics
from dmarl_des.net import MessageKind, Topology, ring
from dmarl_des.robust import RULES, AggregationRule, make_aggregator
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.scenario.budget import links_per_agent
from dmarl_des.world import World

ROUND_LOG_PRIORITY = AFTER_DECISIONS
"""The round log runs after the updates and the decisions (hence the broadcasts) of its instant."""

VALUE_BOUND = 1e38
"""Receivers reject a ``value`` with an entry beyond ``±VALUE_BOUND`` (reason ``out_of_bound``).

Every update combines values within the bound into a value within it (a convex combination; the
world clamps what rounding pushes past it), so honest values stay within ``±VALUE_BOUND``
whatever a Byzantine agent sends. The bound is the largest power of ten whose float32
observation is finite, and far below where any sum or squared distance that the world or the
robust rules compute in float64 could overflow.
"""

DEFAULT_RING_K = 2
"""With ``net.topology.kind = world`` the agents sit on a ring, linked to 2 neighbours each side."""

AGGREGATORS = ("weights", *RULES)
"""``world.aggregator`` values: the linear weight update, or a rule of dmarl_des.robust."""

CONSENSUS_TABLE: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "round": pl.Int64,
    "time": pl.Float64,
    "disagreement": pl.Float64,
    "honest_min": pl.Float64,
    "honest_max": pl.Float64,
    "honest_mean": pl.Float64,
    "mean_all": pl.Float64,
    "n_honest": pl.Int64,
    "n_degraded": pl.Int64,
}
"""One row per round (round 0 = the initial values), written after the round's updates."""


class ConsensusParams(WorldParams):
    """`world.*` keys of the consensus world."""

    name: Literal["consensus"] = "consensus"
    dim: int = Field(1, ge=1, le=4096, description="dimension of each agent's value")
    period: Period = Field(1.0, gt=0.0, allow_inf_nan=False, description="gossip period P")
    weights: Literal["uniform", "metropolis"] = Field(
        "uniform", description="W of the `weights` update: 1/(deg_i+1) or Metropolis–Hastings"
    )
    init: Literal["uniform", "normal"] = Field(
        "uniform", description="initial values: uniform in [0, 1) or standard normal"
    )
    aggregator: str = Field("weights", description="weights | " + " | ".join(RULES))
    aggregator_f: Count = Field(1, ge=0, description="f of wmsr and krum, h of clipped_mean")
    aggregator_b: Count = Field(1, ge=0, description="b of trimmed_mean")
    aggregator_tau: RealOrInf | Literal["auto"] = Field(
        "auto", description="tau of clipped_gossip (> 0, inf, or auto)"
    )
    target_disagreement: Real = Field(
        0.1, gt=0.0, description="success: final disagreement below this"
    )

    @field_validator("aggregator")
    @classmethod
    def _known_aggregator(cls, value: str) -> str:
        if value not in AGGREGATORS:
            raise ValueError(f"one of {', '.join(AGGREGATORS)}")
        return value

    @field_validator("aggregator_tau")
    @classmethod
    def _positive_tau(cls, value: float | str) -> float | str:
        if value != "auto" and not value > 0:
            raise ValueError("a number > 0 (inf allowed) or 'auto'")
        return value

    def rule(self) -> AggregationRule | None:
        """The robust rule named by ``aggregator`` (None for the linear weight update)."""
        if self.aggregator == "weights":
            return None
        params: dict[str, Any] = {
            "wmsr": {"f": self.aggregator_f},
            "krum": {"f": self.aggregator_f, "too_few": "keep"},
            "trimmed_mean": {"b": self.aggregator_b},
            "clipped_gossip": {"tau": self.aggregator_tau},
            "clipped_mean": {"h": self.aggregator_f},
        }.get(self.aggregator, {})
        return make_aggregator(self.aggregator, **params)

    def bytes_per_agent(self, scenario: Scenario) -> float:
        # the value and its copies (8 B a component), and a value received on each link
        return 64.0 * self.dim + 32.0 * self.dim * links_per_agent(scenario)

    def links_per_agent(self, scenario: Scenario) -> float:
        return float(min(2 * DEFAULT_RING_K, scenario.n_agents - 1))  # kind world: a ring

    def check(self, scenario: Scenario) -> None:
        on_positions = scenario.net.position_fields()
        if on_positions:
            field, value = next(iter(on_positions.items()))
            raise ConfigError(field, value, "a setting that needs no positions (agents have none)")
        if self.period >= scenario.horizon:
            raise ConfigError(
                "world.period", self.period, f"a period < horizon ({scenario.horizon})"
            )
        self.rule()  # the rule's own checks
        if self.aggregator == "krum":
            degree = _known_degree(scenario)
            need = 2 * self.aggregator_f + 2
            if degree is not None and degree + 1 <= need:
                raise ConfigError(
                    "world.aggregator_f",
                    self.aggregator_f,
                    f"krum needs every agent's 1 + degree ({degree + 1}) > 2f + 2",
                )


def _known_degree(scenario: Scenario) -> int | None:
    """The degree of every agent when the scenario's graph is regular and known in advance."""
    topo, n = scenario.net.topology, scenario.n_agents
    if topo.kind == "complete":
        return n - 1
    if topo.kind in ("ring", "world"):
        k = topo.k if topo.kind == "ring" else DEFAULT_RING_K
        return min(2 * k, n - 1)
    return None


@dataclass(frozen=True, slots=True)
class HearingGraph:
    """Whom each agent hears (in-neighbours, CSR) and the weight of each link in the W update.

    Entry ``k`` of row ``i`` is the link ``indices[k] → i``; ``keys[k] = i·N + indices[k]`` is
    sorted, so a message ``src → dst`` maps to its entry with one ``searchsorted``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    rows: np.ndarray
    keys: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, topology: Topology, weights: str) -> HearingGraph:
        n = topology.n
        hear = topology.adjacency().T.tocsr()
        hear.sort_indices()
        indptr = hear.indptr.astype(np.int64)
        indices = hear.indices.astype(np.int64)
        degree = np.diff(indptr)
        rows = np.repeat(np.arange(n, dtype=np.int64), degree)
        if weights == "uniform":
            w = 1.0 / (degree[rows] + 1.0)
        else:
            w = 1.0 / (1.0 + np.maximum(degree[rows], degree[indices]))
        return cls(indptr, indices, rows, rows * n + indices, w)

    def entries(self, dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR entry of each link ``src → dst`` and whether that link exists."""
        n = self.indptr.size - 1
        keys = dst * n + src
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, max(self.keys.size - 1, 0))
        hit = self.keys[pos] == keys if self.keys.size else np.zeros(keys.size, dtype=bool)
        return pos, hit


def _as_row(payload: Any) -> np.ndarray:
    """A validated payload (numpy array or torch tensor) as a numpy array."""
    if isinstance(payload, np.ndarray):
        return payload
    return payload.detach().cpu().numpy()


class ConsensusWorld(World):
    """N agents agreeing on the average of their initial values by gossip over the network."""

    Params = ConsensusParams
    timed = True
    tables: ClassVar[dict[str, dict[str, pl.DataType]]] = {"consensus": CONSENSUS_TABLE}
    metrics = declare_metrics(
        EPISODE_METRICS,
        Metric(
            "episodes.team_return",
            "minus the honest agents' disagreement summed over rounds (0: agreement throughout)",
            "disagreement × rounds",
        ),
        Metric(
            "episodes.success",
            "share of episodes ending with disagreement below world.target_disagreement",
            "share of episodes",
            rate=True,
        ),
        Metric(
            "consensus.disagreement",
            "distance of the honest agents' values from their mean, per logged round",
            "value units",
            higher_is_better=False,
        ),
    )
    record_values: bool = False
    """Set True to keep a copy of all values at every logged round in ``value_history``."""

    def __init__(self, scenario: Scenario, **kwargs: Any) -> None:
        dim = int(getattr(scenario.world, "dim", 1))
        # the message kind depends on `world.dim`, and the base class reads it on construction
        self.message_kinds = {
            "value": MessageKind("value", (dim,), "float64", 8 * dim, bound=VALUE_BOUND)
        }
        super().__init__(scenario, **kwargs)

    # ------------------------------------------------------------------ world hooks
    def setup(self) -> None:
        p = self.params
        self.dim = p.dim
        self.period = p.period
        self.round_period = p.period
        self.obs_dim = p.dim
        self.state_dim = self.scenario.n_agents * p.dim
        self.rule = p.rule()
        self.value_history: list[np.ndarray] = []

    def build_topology(self, episode: int) -> Topology:
        if self.scenario.net.topology.kind == "world":
            return ring(len(self.sim_agents), DEFAULT_RING_K)
        return super().build_topology(episode)

    def reset_episode(self, episode: int) -> None:
        rng = self.streams.fresh("world", episode)
        shape = (len(self.sim_agents), self.dim)
        x0 = rng.random(shape) if self.params.init == "uniform" else rng.standard_normal(shape)
        self.x0 = x0
        self.x = x0.copy()
        self.round = 0
        self.value_history = []
        self._hearing: HearingGraph | None = None
        self._hearing_of: Topology | None = None

    def start_processes(self) -> None:
        self._schedule_round_log(0.0)

    def reset_agent_state(self, agent: SimAgent) -> None:
        """A recovering agent restarts from its initial value (its memory is lost)."""
        self.x[agent.idx] = self.x0[agent.idx]

    def observe_many(self, idx: np.ndarray) -> np.ndarray:
        return self.x[idx].astype(np.float32)

    def mask_many(self, idx: np.ndarray) -> np.ndarray:
        return np.ones((len(idx), 1), dtype=bool)

    def global_state(self) -> np.ndarray:
        return self.x.ravel().astype(np.float32)

    def success(self) -> bool:
        return self.disagreement() < self.params.target_disagreement

    def scripted_policy(self) -> AlwaysGossip:
        return AlwaysGossip()

    # ------------------------------------------------------------------ measures
    def honest(self) -> np.ndarray:
        """Bool mask of the agents whose role is ``honest``."""
        agents = self.sim_agents
        return np.fromiter((a.role == "honest" for a in agents), dtype=bool, count=len(agents))

    def disagreement(self) -> float:
        """``‖x_H − mean(x_H)‖`` over honest agents H (Euclidean over agents and coordinates)."""
        xh = self.x[self.honest()]
        if not xh.shape[0]:
            return 0.0
        return float(np.linalg.norm(xh - xh.mean(axis=0)))

    # ------------------------------------------------------------------ the gossip macro-action
    def macro_action_names(self) -> tuple[str, ...]:
        return ("gossip",)

    def begin_many(self, idx: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Gossip starts: each agent broadcasts its current value; it lasts one period."""
        assert self.network is not None
        self.network.broadcast_many(idx, "value", self.x[idx])
        return np.full(len(idx), self.period)

    def end_many(self, idx: np.ndarray) -> None:
        """Gossip ends: agents ``idx`` read their inboxes and update, all in one step."""
        due = np.asarray(idx, dtype=np.int64)
        if due.size:
            self._update(due)

    def _hearing_graph(self) -> HearingGraph:
        net = self.network
        assert net is not None
        if self._hearing is None or self._hearing_of is not net.topology:
            self._hearing = HearingGraph.of(net.topology, self.params.weights)
            self._hearing_of = net.topology
        return self._hearing

    _degraded_updates: int = 0
    """Updates since the last round log in which the rule had too few candidates and fell back."""

    def _update(self, due: np.ndarray) -> None:
        hearing = self._hearing_graph()
        entry, values = self._latest_values(due, hearing)
        if self.rule is None:
            rows = hearing.rows[entry]
            change = hearing.weights[entry, None] * (values - self.x[rows])
            total = np.zeros_like(self.x)
            np.add.at(total, rows, change)
            self.x += total
            self._keep_within_bound(self.x)
            return
        received = np.zeros((hearing.indices.size, self.dim), dtype=np.float64)
        valid = np.zeros(hearing.indices.size, dtype=bool)
        received[entry] = values
        valid[entry] = True
        new = self.rule(self.x, hearing.indptr, hearing.indices, received=received, valid=valid)
        self.x[due] = self._keep_within_bound(new[due])
        if self.rule.min_candidates > 1:
            n = self.x.shape[0]
            candidates = 1 + np.bincount(hearing.rows[entry], minlength=n)[due]
            self._degraded_updates += int((candidates < self.rule.min_candidates).sum())

    @staticmethod
    def _keep_within_bound(x: np.ndarray) -> np.ndarray:
        """Clamp ``x`` in place to ``±VALUE_BOUND``; a no-op unless an update of values within the
        bound rounded past it (every update is a convex combination of such values)."""
        if x.size and np.abs(x).max() > VALUE_BOUND:
            np.clip(x, -VALUE_BOUND, VALUE_BOUND, out=x)
        return x

    def _latest_values(
        self, due: np.ndarray, hearing: HearingGraph
    ) -> tuple[np.ndarray, np.ndarray]:
        """Drain the inboxes of ``due``: per heard link, the value received last ([E], [E, dim]).

        Messages from agents the receiver does not hear (not a link of the topology) are ignored.
        """
        net = self.network
        assert net is not None
        got = net.drain_many(due)
        if not got.receiver.size:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float64)
        payloads = got.payloads
        if payloads.dtype == object:  # e.g. torch tensors among the payloads
            payloads = np.stack([_as_row(p) for p in payloads])
        pos, hit = hearing.entries(got.receiver, got.sender)
        heard = np.flatnonzero(hit)
        order = heard[np.argsort(pos[heard], kind="stable")]  # per link: oldest first
        grouped = pos[order]
        last = np.ones(order.size, dtype=bool)
        last[:-1] = grouped[1:] != grouped[:-1]
        keep = order[last]
        return pos[keep], payloads[keep].astype(np.float64, copy=False)

    # ------------------------------------------------------------------ the round log
    def _schedule_round_log(self, delay: float) -> None:
        # ``now + period`` (not ``k · period``): the same instants as the gossips' ends
        call_at(self.env, delay, self._log_round, priority=ROUND_LOG_PRIORITY)

    def _log_round(self) -> None:
        honest = self.honest()
        xh = self.x[honest]
        any_honest = xh.shape[0] > 0
        disagreement = self.disagreement()
        degraded = self._degraded_updates if self.round > 0 else 0  # round 0: no update yet
        self._degraded_updates = 0
        self.recorder.add(
            "consensus",
            episode=self.episode,
            round=self.round,
            time=self.now,
            disagreement=disagreement,
            honest_min=float(xh.min()) if any_honest else None,
            honest_max=float(xh.max()) if any_honest else None,
            honest_mean=float(xh.mean()) if any_honest else None,
            mean_all=float(self.x.mean()),
            n_honest=int(honest.sum()),
            n_degraded=degraded,
        )
        if self.record_values:
            self.value_history.append(self.x.copy())
        if self.round > 0:
            self.give_reward(-disagreement)
        self.round += 1
        self._schedule_round_log(self.period)


class AlwaysGossip:
    """The scripted policy: every agent always chooses gossip (macro-action 0)."""

    def act(
        self, obs: np.ndarray, agent_idx: np.ndarray, mask: np.ndarray, *, explore: bool = True
    ) -> np.ndarray:
        return np.zeros(len(agent_idx), dtype=np.int64)

    def reset(self, agent_idx: np.ndarray | None = None) -> None:
        """Stateless."""


WORLD = ConsensusWorld
