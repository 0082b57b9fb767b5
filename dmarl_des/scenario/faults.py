"""Scenario keys of faults: which agents or links fail, how, and when (`faults.*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dmarl_des.scenario.validation import Spec


class TargetSpec(Spec):
    """Which agents a fault hits: explicit ids, or a fraction/count drawn from the fault stream."""

    fraction: float = Field(0.0, ge=0.0, le=1.0)
    count: int = Field(0, ge=0)
    ids: tuple[int, ...] = ()


class TimingSpec(Spec):
    """When a fault strikes: from the start, at a fixed time, or at Poisson times with ``rate``."""

    start: Literal["begin", "at", "poisson"] = "begin"
    at: float = Field(0.0, ge=0.0)
    rate: float = Field(0.0, ge=0.0)


class CrashSpec(TargetSpec, TimingSpec):
    """Crash-stop: the agent stops acting and communicating."""


class RecoverSpec(Spec):
    """Crash-recover: crashed agents come back after a down time drawn from a distribution."""

    enabled: bool = False
    downtime: Literal["constant", "exponential"] = "exponential"
    mean: float = Field(10.0, gt=0.0)
    keep_params: bool = True


class OmissionSpec(TargetSpec, TimingSpec):
    """Omission: the agent silently drops a fraction ``p`` of its outgoing messages."""

    p: float = Field(0.5, ge=0.0, le=1.0)


class ByzantineSpec(TargetSpec, TimingSpec):
    """Byzantine agents: misbehaving actions and/or message attacks, combinable."""

    actions: Literal["none", "random", "adversarial"] = "none"
    messages: tuple[
        Literal["noise", "sign_flip", "constant", "bias", "stale", "garbage", "equivocate"], ...
    ] = ()
    scale: float = Field(1.0, ge=0.0)
    value: float = 0.0


class PartitionSpec(Spec):
    """A network partition into ``groups`` for the window [at, at + duration)."""

    groups: int = Field(0, ge=0)
    at: float = Field(0.0, ge=0.0)
    duration: float = Field(float("inf"), gt=0.0)


class ChurnSpec(Spec):
    """Agents leaving and joining during an episode at Poisson rates; joiners get new ids."""

    leave_rate: float = Field(0.0, ge=0.0)
    join_rate: float = Field(0.0, ge=0.0)


class BoundSpec(Spec):
    """Bounds on faulty agents: at most ``total`` overall, at most ``local`` in any neighbourhood."""

    total: int | None = Field(None, ge=0)
    local: int | None = Field(None, ge=0)


class FaultSpec(Spec):
    """The whole faults section of a scenario."""

    crash: CrashSpec = CrashSpec()
    recover: RecoverSpec = RecoverSpec()
    omission: OmissionSpec = OmissionSpec()
    byzantine: ByzantineSpec = ByzantineSpec()
    partition: PartitionSpec = PartitionSpec()
    cut_links: tuple[tuple[int, int], ...] = ()
    churn: ChurnSpec = ChurnSpec()
    bound: BoundSpec = BoundSpec()
