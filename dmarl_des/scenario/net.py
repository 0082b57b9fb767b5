"""Scenario keys of the communication network: topology, loss, delay, bandwidth, ARQ, resolution."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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
    k: int = Field(2, ge=1, description="ring/small-world neighbours on each side")
    p: float = Field(0.1, ge=0.0, le=1.0, description="small-world rewiring probability")
    m: int = Field(2, ge=1, description="scale-free edges per new node")
    radius: float = Field(0.2, gt=0.0, description="random-geometric or proximity range")


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
    mean: float = Field(0.0, ge=0.0)
    sigma: float = Field(0.5, ge=0.0)
    speed: float = Field(1.0, gt=0.0)
    jitter: float = Field(0.0, ge=0.0)


class BandwidthSpec(Spec):
    """Per-link capacity in bytes per time unit and the FIFO queue limit in messages."""

    capacity: float = Field(float("inf"), gt=0.0)
    queue_limit: float = Field(float("inf"), ge=0.0)


class ArqSpec(Spec):
    """Automatic repeat request: up to ``max_tries`` transmissions, retried after ``timeout``."""

    max_tries: int = Field(1, ge=1, le=64)
    timeout: float = Field(1.0, gt=0.0)


class NetSpec(Spec):
    """The whole network section of a scenario (`net.*` keys)."""

    topology: TopologySpec = TopologySpec()
    loss: LossSpec = LossSpec()
    delay: DelaySpec = DelaySpec()
    bandwidth: BandwidthSpec = BandwidthSpec()
    arq: ArqSpec = ArqSpec()
    resolution: float = Field(0.0, ge=0.0, description="delivery time bucket; 0 = exact times")
    inbox_limit: int = Field(64, ge=1)
