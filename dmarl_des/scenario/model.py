"""The Scenario: one nested, validated, immutable description of a run, addressable by dotted keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    SerializationInfo,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from dmarl_des.errors import ConfigError
from dmarl_des.scenario.faults import FaultSpec
from dmarl_des.scenario.net import NetSpec
from dmarl_des.scenario.validation import Spec, validated

POLICY_KINDS = ("random", "scripted", "learner")


class WorldParams(Spec):
    """Base of every world's parameters (`world.*`); each world subclasses it with its own keys."""

    name: str

    def check(self, scenario: Scenario) -> None:
        """Raise ConfigError when these parameters do not fit the rest of the scenario."""


class RecordSpec(Spec):
    """Optional tables, off by default: squeezed transitions, a per-message trace, and a trace of
    every agent's position, role and macro-action every ``trace_every`` time units."""

    transitions: bool = False
    messages: bool = False
    trace_every: float = Field(
        0.0, ge=0.0, allow_inf_nan=False, description="trace table period Δt (0 = no trace)"
    )

    @model_serializer(mode="wrap")
    def _without_trace_when_off(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """In JSON (the canonical form), leave ``trace_every`` out while it is 0, so scenarios
        without a trace keep their digest (and run ids) from before the key existed."""
        data = handler(self)
        if info.mode_is_json() and data.get("trace_every") == 0:
            del data["trace_every"]
        return data


LearnerParams = BaseModel
"""A learner's configuration: any pydantic model from the learner registry (`learner.*`)."""


class Scenario(Spec):
    """Everything that defines a run; same scenario and seed give identical tables."""

    name: str = "scenario"
    seed: int = Field(0, ge=0, lt=2**63)
    episodes: int = Field(1, ge=1)
    eval_episodes: int = Field(0, ge=0, description="greedy episodes after training")
    horizon: float = Field(100.0, gt=0.0, description="simulated time per episode")
    max_decisions: int | None = Field(None, ge=1, description="decisions per episode, all agents")
    gamma: float = Field(0.99, gt=0.0, le=1.0)
    decision_period: float = Field(0.0, ge=0.0, description="control tick; 0 = exact instants")
    n_agents: int = Field(2, ge=1)
    policy: str = "random"
    world: SerializeAsAny[WorldParams]
    learner: SerializeAsAny[BaseModel] | None = None
    net: NetSpec = NetSpec()
    faults: FaultSpec = FaultSpec()
    record: RecordSpec = RecordSpec()

    @field_validator("policy")
    @classmethod
    def _policy_kind_or_checkpoint(cls, value: str) -> str:
        if value in POLICY_KINDS:
            return value
        card = Path(value) / "card.json"
        if not card.is_file():
            raise ValueError(
                f"must be one of {', '.join(POLICY_KINDS)} or a checkpoint folder holding card.json"
            )
        return value

    @model_validator(mode="after")
    def _parts_fit_together(self) -> Scenario:
        if self.policy == "learner" and self.learner is None:
            raise ConfigError(
                "policy", self.policy, "'learner' only with a learner (--learner NAME)"
            )
        self.world.check(self)
        self.faults.check(self.n_agents)
        return self

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def build(cls, **values: Any) -> Scenario:
        """Construct with ConfigError (not pydantic's ValidationError) on bad input."""
        return validated(cls, values)

    def with_overrides(self, overrides: Mapping[str, Any] | None = None, **more: Any) -> Scenario:
        """A new scenario with dotted keys replaced (``{"world.grid_size": 8}``), re-validated."""
        changes = {**(overrides or {}), **more}
        if not changes:
            return self
        data = self.model_dump(mode="python")
        sections = {"world": type(self.world)}
        if self.learner is not None:
            sections["learner"] = type(self.learner)
        for key, value in changes.items():
            _assign(data, key, value)
        for name, model in sections.items():
            data[name] = validated(model, data[name], prefix=name)
        if data.get("learner") is not None and not isinstance(data["learner"], BaseModel):
            raise ConfigError("learner", data["learner"], "choose a learner by name first")
        return validated(type(self), data)

    def with_learner(self, learner: BaseModel) -> Scenario:
        """A new scenario using ``learner`` (a config from the learner registry)."""
        data = self.model_dump(mode="python")
        data["world"] = self.world
        data["learner"] = learner
        return validated(type(self), data)

    # ----------------------------------------------------------------- identity
    def canonical(self) -> dict[str, Any]:
        """A JSON-able dict that determines the run completely."""
        return json.loads(self.model_dump_json())

    def digest(self) -> str:
        """A stable short hash of the canonical form (used in run ids)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``key == "a.b.c"``; unknown keys are ConfigErrors."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, BaseModel):
            node = node.model_dump(mode="python")
        if not isinstance(node, dict):
            raise ConfigError(key, value, f"{'.'.join(parts[:depth])} has no sub-keys")
        if part not in node:
            known = ", ".join(sorted(node)) or "none"
            if here == "learner":
                known += " (learner: choose one with --learner NAME or learner.name)"
            raise ConfigError(f"unknown key {here!r}", value, f"known keys here: {known}")
        if depth == len(parts) - 1:
            if part == "name" and parts[0] in ("world",) and value != node[part]:
                raise ConfigError(key, value, f"{node[part]!r} (the scenario's world)")
            node[part] = value
        else:
            if isinstance(node[part], BaseModel):
                node[part] = node[part].model_dump(mode="python")
            if node[part] is None:
                hint = " (choose one with --learner NAME)" if here == "learner" else ""
                raise ConfigError(key, value, f"nothing: {here} is not configured{hint}")
            node = node[part]
