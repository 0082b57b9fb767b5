"""Federated averaging of per-agent parameter blocks: the `learner.federated.*` keys, blocks, client selection.

A learner with per-agent parameters (one row per agent of a stacked matrix, see
``dmarl_des.learn.networks``) can average some of them across agents by **federated rounds**
carried over the simulated network (``dmarl_des.comm.federated``): every K learner updates (or
every Δt of simulated time) the *selected* clients upload their rows of each *block* to an
aggregator — a **server**, one agent of the world (``server = i``), or, serverless, every agent
for its neighbours (``server = gossip``) — which combines them with ``rule`` (``mean`` is
FedAvg's average; any rule of ``dmarl_des.robust``) and sends the result back.

This module holds the parts that know nothing of the network: the configuration
(``FederatedConfig``), which stacked nets of a learner are its blocks (``federated_blocks``),
the pluggable client selection (``ClientSelection``, built-ins in ``SELECTIONS``) and the
server's aggregate over the uploads that arrived (``server_aggregate``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dmarl_des.bounds import Count, Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.learn.networks import AgentNet
from dmarl_des.robust import RULES, AggregationRule, counted_rule

__all__ = [
    "BLOCK_PATHS",
    "SELECTIONS",
    "ClientSelection",
    "FederatedConfig",
    "aggregation_rule",
    "check_federated",
    "federated_blocks",
    "server_aggregate",
]


class FederatedConfig(BaseModel):
    """`learner.federated.*`: federated rounds over a learner's per-agent blocks (off by default).

    ``every`` (K updates) or ``period`` (Δt): the cadence, at most one > 0 (both 0: off).
    ``server``: the agent that aggregates, or ``gossip`` (every agent aggregates its neighbours'
    uploads). ``select`` / ``fraction``: which clients upload at a round (``SELECTIONS``).
    ``rule`` / ``f``: the aggregation (``f`` is wmsr's and krum's f, trimmed_mean's b,
    clipped_mean's h). ``window``: the upload deadline after the round's start, and again the
    download deadline after the aggregation (0: the same instant). ``bound``: the messages'
    value bound. ``blocks``: which blocks (empty: the learner's default ones, see
    ``BLOCK_PATHS``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Count = Field(0, ge=0, description="a round every K learner updates (0: off)")
    period: Period = Field(0.0, ge=0.0, description="a round every Δt of simulated time (0: off)")
    server: Count | Literal["gossip"] = Field(0, description="the aggregating agent, or gossip")
    select: Literal["all", "random", "round_robin", "most_data"] = "all"
    fraction: float = Field(1.0, gt=0.0, le=1.0, description="share of eligible clients chosen")
    rule: str = Field("mean", description="mean | any rule of dmarl_des.robust")
    f: Count = Field(
        1, ge=0, description="f of wmsr and krum, b of trimmed_mean, h of clipped_mean"
    )
    window: Period = Field(0.0, ge=0.0, description="upload (and download) deadline")
    bound: Real = Field(1e3, gt=0.0, description="largest parameter magnitude a receiver accepts")
    blocks: tuple[str, ...] = ()

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value not in RULES:
            raise ValueError(f"one of {', '.join(RULES)}")
        return value

    @model_validator(mode="after")
    def _one_cadence(self) -> FederatedConfig:
        if self.every > 0 and self.period > 0:
            raise ValueError("at most one of every > 0 (K updates) and period > 0 (Δt)")
        return self

    @property
    def enabled(self) -> bool:
        """True when rounds happen (a cadence is set)."""
        return self.every > 0 or self.period > 0


def aggregation_rule(config: FederatedConfig) -> AggregationRule:
    """The rule of ``config`` with ``f`` as its count (``robust.counted_rule``)."""
    return counted_rule(config.rule, config.f)


# --------------------------------------------------------------------------- blocks
BLOCK_PATHS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "ippo": {"policy": "net"},
        "iql": {"q": "agents.online"},
        "networked_ac": {"critic": "critic", "reward_model": "reward_model", "actor": "actor"},
        "independent_ac": {"critic": "critic", "reward_model": "reward_model", "actor": "actor"},
        "resilient_ac": {"critic": "critic", "reward_model": "reward_model", "actor": "actor"},
    }
)
"""Per learner name, its blocks (name → attribute path of the stacked net); the first two of
the actor-critics' (those that exist) and the only one of the others are the defaults."""


def _attribute(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def federated_blocks(learner: Any, names: tuple[str, ...] = ()) -> dict[str, AgentNet]:
    """The blocks of ``learner`` named ``names`` (empty: its defaults), each a stacked net with
    one parameter row per agent; ConfigError for a learner without such blocks. A learner
    declares them with a method ``federated_blocks() -> {name: AgentNet}`` (its defaults first),
    or is one of ``BLOCK_PATHS``."""
    kind = getattr(getattr(learner, "config", None), "name", None)
    declared = getattr(learner, "federated_blocks", None)
    paths = BLOCK_PATHS.get(kind)
    if callable(declared):
        present = dict(declared())
    elif paths is not None:
        present = {
            b: net
            for b, path in paths.items()
            if isinstance(net := _attribute(learner, path), AgentNet)
        }
    else:
        raise ConfigError(
            "learner.federated", kind, f"a learner with per-agent blocks: {', '.join(BLOCK_PATHS)}"
        )
    if not names:
        names = tuple([b for b in present if b != "actor"][:2] or list(present)[:1])
    unknown = [b for b in names if b not in present]
    if unknown:
        raise ConfigError(
            "learner.federated.blocks", unknown, f"blocks of {kind}: {', '.join(present)}"
        )
    n_agents = int(learner.spec.n_agents)
    for b in names:
        if present[b].n_sets != n_agents:
            raise ConfigError(
                "learner.params",
                getattr(learner.config, "params", "shared"),
                f"per_agent: federated rounds average one {b} per agent",
            )
    return {b: present[b] for b in names}


def check_federated(learner: Any) -> None:
    """ConfigError unless a learner's federated rounds (if on) can run: blocks it has, one
    parameter row per agent, a server among its agents."""
    config: FederatedConfig = learner.config.federated
    if not config.enabled:
        return
    federated_blocks(learner, config.blocks)
    n_agents = int(learner.spec.n_agents)
    if config.server != "gossip" and not config.server < n_agents:
        raise ConfigError(
            "learner.federated.server", config.server, f"an agent id in [0, {n_agents}) or gossip"
        )


# --------------------------------------------------------------------------- client selection
class ClientSelection(Protocol):
    """Which eligible clients upload at a round (a pluggable rule).

    ``eligible`` [E] ascending agent ids (up and linked to their aggregator); ``round`` the run's
    round count; ``new_data`` [N] transitions each agent handed over since its last upload;
    ``fraction`` the configured share; ``rng`` the round's generator. Returns a subset of
    ``eligible``, ascending. A learned selector (FedQMIX trains one) plugs in the same way.
    """

    def __call__(
        self,
        eligible: np.ndarray,
        round: int,
        new_data: np.ndarray,
        fraction: float,
        rng: np.random.Generator,
    ) -> np.ndarray: ...


def _share(eligible: np.ndarray, fraction: float) -> int:
    """⌈fraction · E⌉ clients (at least one when any is eligible)."""
    return min(eligible.size, max(1, math.ceil(fraction * eligible.size - 1e-9)))


def select_all(eligible, round, new_data, fraction, rng) -> np.ndarray:
    """Every eligible client (``fraction`` ignored)."""
    return eligible


def select_random(eligible, round, new_data, fraction, rng) -> np.ndarray:
    """⌈fraction · E⌉ clients drawn uniformly without replacement (FedAvg's C)."""
    if not eligible.size:
        return eligible
    return np.sort(rng.choice(eligible, size=_share(eligible, fraction), replace=False))


def select_round_robin(eligible, round, new_data, fraction, rng) -> np.ndarray:
    """⌈fraction · E⌉ consecutive eligible clients, the window moving on by as many each round."""
    if not eligible.size:
        return eligible
    k = _share(eligible, fraction)
    start = ((round - 1) * k) % eligible.size
    return np.sort(eligible[(start + np.arange(k)) % eligible.size])


def select_most_data(eligible, round, new_data, fraction, rng) -> np.ndarray:
    """The ⌈fraction · E⌉ clients with the most new transitions (ties: lower id)."""
    if not eligible.size:
        return eligible
    order = np.lexsort((eligible, -new_data[eligible]))
    return np.sort(eligible[order[: _share(eligible, fraction)]])


SELECTIONS: Mapping[str, Callable[..., np.ndarray]] = MappingProxyType(
    {
        "all": select_all,
        "random": select_random,
        "round_robin": select_round_robin,
        "most_data": select_most_data,
    }
)
"""The built-in client selections by ``learner.federated.select``."""


# --------------------------------------------------------------------------- the server
def server_aggregate(
    rule: AggregationRule, own: torch.Tensor, uploads: torch.Tensor
) -> torch.Tensor:
    """The server's new block [F] from its own row ``own`` [F] and the uploads that arrived
    ``uploads`` [M, F]: ``rule`` over the candidates own + uploads (with ``mean``, their plain
    average; the own row is the rule's own value). No upload: the own row."""
    if uploads.shape[0] == 0:
        return own.clone()
    x = torch.cat([own.unsqueeze(0), uploads.to(own.dtype)], dim=0)
    m = uploads.shape[0]
    indptr = np.concatenate([[0], np.full(m + 1, m)]).astype(np.int64)
    indices = np.arange(1, m + 1, dtype=np.int64)
    return rule(x, indptr, indices)[0]
