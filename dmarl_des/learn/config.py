"""What every learner is built from: common config fields, the world's dimensions, the device."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from dmarl_des.bounds import Real, reject_bool_numbers
from dmarl_des.errors import ConfigError
from dmarl_des.learn.federated import FederatedConfig

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")

MAX_WIDTH = 8192
"""Widest hidden layer of a learner's networks (a square layer of 8192 is 256 MiB of float32)."""

MAX_BUFFER = 10**8
"""Most transitions a replay buffer holds."""


class LearnerConfig(BaseModel):
    """Fields shared by every built-in learner; each algorithm adds its hyperparameters.

    Numbers are bounded where declared (``dmarl_des.bounds``): reals finite, counts within what
    the machine holds, widths at most ``MAX_WIDTH``; a bool is never read as a number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="wrap")
    @classmethod
    def _no_bool_numbers(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return reject_bool_numbers(value, handler)

    name: str
    params: Literal["shared", "per_agent", "per_group"] = "shared"
    agent_feature: Literal["none", "agent_id", "group"] = "none"
    device: str = "cpu"
    network: Literal["mlp", "gru"] = "mlp"
    hidden: int = Field(64, gt=0, le=MAX_WIDTH)
    lr: Real = Field(5e-4, gt=0)
    grad_clip: Real = Field(10.0, gt=0)
    federated: FederatedConfig = Field(
        default_factory=FederatedConfig,
        description="federated rounds over per-agent blocks (off unless a cadence is set)",
    )

    @model_serializer(mode="wrap")
    def _without_federated_when_off(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """In JSON (the canonical form), leave ``federated`` out while it is off, so learners
        without federated rounds keep their digest (and run ids)."""
        data = handler(self)
        if info.mode_is_json() and not self.federated.enabled:
            data.pop("federated", None)
        return data

    @field_validator("device")
    @classmethod
    def _device_format(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("device must be 'cpu', 'cuda' or 'cuda:N'")
        return value


@dataclass(frozen=True, slots=True)
class LearnerSpec:
    """What the world tells a learner: its dimensions, discount, agent groups and seed."""

    obs_dim: int
    n_actions: int
    n_agents: int
    gamma: float
    seed: int
    state_dim: int = 0
    groups: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("obs_dim", "n_actions", "n_agents"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(name, value, "a positive integer")
        if not isinstance(self.state_dim, int | np.integer) or self.state_dim < 0:
            raise ConfigError("state_dim", self.state_dim, "a non-negative integer")
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ConfigError("gamma", self.gamma, "a discount in [0, 1]")
        if not isinstance(self.seed, int | np.integer):
            raise ConfigError("seed", self.seed, "an integer")
        if self.groups is not None and len(self.groups) != self.n_agents:
            raise ConfigError(
                "groups", f"length {len(self.groups)}", f"one group id per agent ({self.n_agents})"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (for checkpoint cards)."""
        out = asdict(self)
        out["groups"] = None if self.groups is None else [int(g) for g in self.groups]
        return out


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name``; a ConfigError when it is malformed or not available here."""
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ConfigError("learner.device", name, "'cpu', 'cuda' or 'cuda:N'")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("learner.device", name, "'cpu' (CUDA is not available on this machine)")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError("learner.device", name, f"cuda:0 .. cuda:{count - 1}")
    return device
