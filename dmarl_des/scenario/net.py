"""Scenario keys of the communication network: topology, loss, delay, bandwidth, ARQ, resolution."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dmarl_des.bounds import MAX_COUNT, Count, Period, Real, RealOrInf
from dmarl_des.errors import ConfigError
from dmarl_des.scenario.validation import Spec


class TopologySpec(Spec):
    """Who can talk to whom: a static graph or radio range in a space (proximity)."""

    kind: Literal[
        "world",
        "complete",
        "ring",
        "grid",
        "random_geometric",
        "small_world",
        "scale_free",
        "proximity",
    ] = "world"
    k: Count = Field(2, ge=1, description="ring/small-world neighbours on each side")
    p: float = Field(0.1, ge=0.0, le=1.0, description="small-world rewiring probability")
    m: Count = Field(2, ge=1, description="scale-free edges per new node")
    radius: Real = Field(0.2, gt=0.0, description="random-geometric or proximity range")

    def check(self, n_agents: int) -> None:
        """Raise ConfigError when the graph cannot be built for ``n_agents`` agents."""
        if self.kind == "small_world" and 2 * self.k >= n_agents:
            raise ConfigError(
                "net.topology.k", self.k, f"2k < n_agents ({n_agents}) for a small-world graph"
            )
        if self.kind == "scale_free" and self.m >= n_agents:
            raise ConfigError(
                "net.topology.m", self.m, f"m < n_agents ({n_agents}) for a scale-free graph"
            )


class LossSpec(Spec):
    """Per-attempt message loss: none, Bernoulli(p) or Gilbert–Elliott (p, r, k, h)."""

    model: Literal["none", "bernoulli", "gilbert_elliott"] = "bernoulli"
    p: float = Field(0.0, ge=0.0, le=1.0)
    r: float = Field(1.0, ge=0.0, le=1.0)
    k: float = Field(1.0, ge=0.0, le=1.0)
    h: float = Field(0.0, ge=0.0, le=1.0)
    symmetric: bool = False

    @model_validator(mode="after")
    def _p_means_something(self) -> LossSpec:
        if self.model == "none" and self.p > 0:
            raise ConfigError("net.loss.p", self.p, "0 with net.loss.model=none (set the model)")
        return self


class DelaySpec(Spec):
    """Propagation delay: constant, exponential, lognormal or distance-proportional, plus jitter."""

    model: Literal["constant", "exponential", "lognormal", "distance"] = "constant"
    mean: Real = Field(0.0, ge=0.0)
    sigma: Real = Field(0.5, ge=0.0)
    speed: Real = Field(1.0, gt=0.0)
    jitter: Real = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def _random_delays_have_a_mean(self) -> DelaySpec:
        if self.model in ("exponential", "lognormal") and self.mean <= 0:
            raise ConfigError(
                "net.delay.mean", self.mean, f"a mean > 0 with net.delay.model={self.model}"
            )
        return self


class BandwidthSpec(Spec):
    """Per-link capacity in bytes per time unit and the FIFO queue limit in messages; ``inf``
    (the default of both) means unlimited."""

    capacity: RealOrInf = Field(
        float("inf"), gt=0.0, description="bytes per time unit; inf = no limit"
    )
    queue_limit: float = Field(float("inf"), ge=0.0, description="messages; inf = no limit")

    @field_validator("queue_limit")
    @classmethod
    def _whole_queue(cls, value: float) -> float:
        if value != math.inf and not (value.is_integer() and value <= MAX_COUNT):
            raise ValueError(f"a whole number of messages in [0, {MAX_COUNT}] or inf")
        return value


class ArqSpec(Spec):
    """Automatic repeat request: up to ``max_tries`` transmissions, retried after ``timeout``."""

    max_tries: int = Field(1, ge=1, le=64)
    timeout: Real = Field(1.0, gt=0.0)


class NetSpec(Spec):
    """The whole network section of a scenario (`net.*` keys)."""

    topology: TopologySpec = TopologySpec()
    loss: LossSpec = LossSpec()
    delay: DelaySpec = DelaySpec()
    bandwidth: BandwidthSpec = BandwidthSpec()
    arq: ArqSpec = ArqSpec()
    resolution: Period = Field(0.0, ge=0.0, description="delivery time bucket; 0 = exact times")
    inbox_limit: Count = Field(64, ge=1)

    def position_fields(self) -> dict[str, str]:
        """The keys set here that need agents' positions, with their values: a world whose
        agents have no position cannot take them."""
        needs = {
            "net.topology.kind": (self.topology.kind, "proximity"),
            "net.delay.model": (self.delay.model, "distance"),
        }
        return {field: value for field, (value, needing) in needs.items() if value == needing}
