"""Scenario keys of faults: which agents or links fail, how, and when (`faults.*`).

The defaults describe a run without faults. See docs/faults.md for the semantics of every key.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from dmarl_des.bounds import Count, Finite, Rate, Real, RealOrInf
from dmarl_des.errors import ConfigError
from dmarl_des.scenario.validation import Spec

MessageAttackName = Literal[
    "noise", "sign_flip", "constant", "bias", "stale", "garbage", "equivocate"
]
"""Byzantine message attacks (combinable)."""

LearningAdversary = Literal["none", "greedy", "faulty"]
"""How a Byzantine agent learns (Figura et al.'s adversaries): ``greedy`` learns from its own
reward only and never combines its neighbours' parameters (it still sends its own); ``faulty``
stops learning (its parameters stay as they were at the strike) and keeps sending them."""


class TargetSpec(Spec):
    """Which agents a fault hits: explicit ``ids``, or a ``fraction``/``count`` drawn from the
    fault stream (at most one of the three)."""

    fraction: float = Field(0.0, ge=0.0, le=1.0)
    count: Count = Field(0, ge=0)
    ids: tuple[Count, ...] = ()

    @field_validator("count")
    @classmethod
    def _count_alone(cls, count: int, info: ValidationInfo) -> int:
        if count > 0 and info.data.get("fraction", 0.0) > 0:
            raise ValueError("0 when fraction is set (give fraction, count or ids, not two)")
        return count

    @field_validator("ids")
    @classmethod
    def _ids_alone(cls, ids: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
            raise ValueError("distinct agent ids >= 0")
        if ids and (info.data.get("fraction", 0.0) > 0 or info.data.get("count", 0) > 0):
            raise ValueError("() when fraction or count is set (give one of the three)")
        return ids

    def wanted(self, n_agents: int) -> int:
        """How many agents this spec targets among ``n_agents`` (fraction rounded half up)."""
        if self.ids:
            return len(self.ids)
        if self.count:
            return self.count
        return math.floor(self.fraction * n_agents + 0.5)

    @property
    def targets_any(self) -> bool:
        """True when the spec asks for at least one agent (or a fraction > 0)."""
        return bool(self.ids) or self.count > 0 or self.fraction > 0


class TimingSpec(Spec):
    """When a fault strikes: from the start (``begin``), at time ``at``, or, with ``poisson``, at
    an exponential time of rate ``rate`` drawn independently for each targeted agent."""

    start: Literal["begin", "at", "poisson"] = "begin"
    at: Real = Field(0.0, ge=0.0, allow_inf_nan=False)
    rate: Rate = Field(0.0, ge=0.0, allow_inf_nan=False)

    @field_validator("at")
    @classmethod
    def _at_needs_start_at(cls, at: float, info: ValidationInfo) -> float:
        if at > 0 and info.data.get("start") != "at":
            raise ValueError("0 unless start='at'")
        return at

    @field_validator("rate")
    @classmethod
    def _rate_needs_poisson(cls, rate: float, info: ValidationInfo) -> float:
        poisson = info.data.get("start") == "poisson"
        if poisson and rate <= 0:
            raise ValueError("a rate > 0 with start='poisson'")
        if not poisson and rate > 0:
            raise ValueError("0 unless start='poisson'")
        return rate


class CrashSpec(TargetSpec, TimingSpec):
    """Crash-stop: the agent stops acting and communicating."""


class RecoverSpec(Spec):
    """Crash-recover: crashed agents come back after a downtime (``constant`` = ``mean``, or
    ``exponential`` with mean ``mean``); ``keep_params=False`` resets their parameters."""

    enabled: bool = False
    downtime: Literal["constant", "exponential"] = "exponential"
    mean: Real = Field(10.0, gt=0.0, allow_inf_nan=False)
    keep_params: bool = True


class OmissionSpec(TargetSpec, TimingSpec):
    """Omission: the agent silently drops each outgoing message with probability ``p``."""

    p: float = Field(0.5, ge=0.0, le=1.0)


class ByzantineSpec(TargetSpec, TimingSpec):
    """Byzantine agents: misbehaving actions and/or message attacks, combinable.

    ``scale``: standard deviation of ``noise`` and offset of ``equivocate``; ``value``: the
    ``constant`` sent and the ``bias`` added; ``lag``: how many sends back ``stale`` replays;
    ``learning``: how the agent learns (``LearningAdversary``; acts in training episodes of a
    learner only).
    """

    actions: Literal["none", "random", "adversarial"] = "none"
    messages: tuple[MessageAttackName, ...] = ()
    scale: Finite = Field(1.0, ge=0.0, allow_inf_nan=False)
    value: Finite = Field(0.0, allow_inf_nan=False)
    lag: Count = Field(5, ge=1)
    learning: LearningAdversary = "none"

    @model_serializer(mode="wrap")
    def _without_learning_when_none(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """In JSON (the canonical form), leave ``learning`` out while it is ``none``, so
        scenarios without learning adversaries keep their digest (and run ids)."""
        data = handler(self)
        if info.mode_is_json() and data.get("learning") == "none":
            del data["learning"]
        return data

    @field_validator("messages", mode="before")
    @classmethod
    def _one_attack_is_a_list_of_one(cls, messages: object) -> object:
        return (messages,) if isinstance(messages, str) else messages

    @field_validator("messages")
    @classmethod
    def _distinct_attacks(cls, messages: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(messages)) != len(messages):
            raise ValueError("each attack at most once")
        return messages


class PartitionSpec(Spec):
    """A network partition into ``groups`` random groups during [at, at + duration);
    ``duration = inf`` (the default) lasts to the end of the episode."""

    groups: Count = Field(0, ge=0)
    at: Real = Field(0.0, ge=0.0, allow_inf_nan=False)
    duration: RealOrInf = Field(float("inf"), gt=0.0, description="inf = to the episode's end")

    @field_validator("groups")
    @classmethod
    def _not_one_group(cls, groups: int) -> int:
        if groups == 1:
            raise ValueError("0 (no partition) or at least 2 groups")
        return groups


class ChurnSpec(Spec):
    """Agents leaving and joining during an episode: two Poisson processes with total rates
    ``leave_rate`` and ``join_rate``; joiners take a free slot and get new ids."""

    leave_rate: Rate = Field(0.0, ge=0.0, allow_inf_nan=False)
    join_rate: Rate = Field(0.0, ge=0.0, allow_inf_nan=False)


class BoundSpec(Spec):
    """Bounds on the faulty agents (crash, omission, Byzantine targets together): at most
    ``total`` overall (F-total), at most ``local`` among the in-neighbours of any other agent
    (F-local)."""

    total: Count | None = Field(None, ge=0)
    local: Count | None = Field(None, ge=0)


class FaultSpec(Spec):
    """The whole faults section of a scenario; the defaults inject nothing."""

    crash: CrashSpec = CrashSpec()
    recover: RecoverSpec = RecoverSpec()
    omission: OmissionSpec = OmissionSpec()
    byzantine: ByzantineSpec = ByzantineSpec()
    partition: PartitionSpec = PartitionSpec()
    cut_links: tuple[tuple[Count, Count], ...] = ()
    churn: ChurnSpec = ChurnSpec()
    bound: BoundSpec = BoundSpec()

    @field_validator("cut_links")
    @classmethod
    def _links_are_pairs(cls, links: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        for i, j in links:
            if i < 0 or j < 0 or i == j:
                raise ValueError(f"pairs (i, j) of distinct agent ids >= 0, not {(i, j)}")
        return links

    @model_validator(mode="after")
    def _explicit_ids_fit(self) -> FaultSpec:
        seen: dict[int, str] = {}
        for name in ("byzantine", "crash", "omission"):
            for i in getattr(self, name).ids:
                if i in seen:
                    raise ConfigError(
                        f"faults.{name}.ids", i, f"ids not already in faults.{seen[i]}.ids"
                    )
                seen[i] = name
        total = self.bound.total
        if total is not None and len(seen) > total:
            raise ConfigError(
                "faults.*.ids", sorted(seen), f"at most faults.bound.total = {total} ids"
            )
        return self

    def network_fields(self) -> list[str]:
        """The keys set here that act on messages (a world without a network cannot take them)."""
        needs = {
            "faults.omission": self.omission.targets_any,
            "faults.byzantine.messages": self.byzantine.targets_any
            and bool(self.byzantine.messages),
            "faults.cut_links": bool(self.cut_links),
            "faults.partition.groups": self.partition.groups > 0,
        }
        return [field for field, needed in needs.items() if needed]

    def check(self, n_agents: int) -> None:
        """Raise ConfigError when an explicit agent id or link does not exist among ``n_agents``."""
        for name in ("byzantine", "crash", "omission"):
            bad = [i for i in getattr(self, name).ids if i >= n_agents]
            if bad:
                raise ConfigError(f"faults.{name}.ids", bad, f"agent ids in [0, {n_agents})")
        bad_links = [p for p in self.cut_links if max(p) >= n_agents]
        if bad_links:
            raise ConfigError("faults.cut_links", bad_links, f"pairs of ids in [0, {n_agents})")
        if self.partition.groups > n_agents:
            raise ConfigError(
                "faults.partition.groups", self.partition.groups, f"at most n_agents = {n_agents}"
            )
