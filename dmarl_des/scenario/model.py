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

from dmarl_des.bounds import MAX_EPISODES, Count, Period, Real
from dmarl_des.errors import ConfigError
from dmarl_des.scenario.budget import check_memory, check_steps
from dmarl_des.scenario.comm import CommSpec
from dmarl_des.scenario.faults import FaultSpec
from dmarl_des.scenario.net import NetSpec
from dmarl_des.scenario.validation import Spec, validated

POLICY_KINDS = ("random", "scripted", "learner")

MAX_NAME_LENGTH = 128
"""Longest scenario name (it starts every file name of the run)."""


class WorldParams(Spec):
    """Base of every world's parameters (`world.*`); each world subclasses it with its own keys."""

    name: str

    def check(self, scenario: Scenario) -> None:
        """Raise ConfigError when these parameters do not fit the rest of the scenario."""

    def bytes_per_agent(self, scenario: Scenario) -> float:
        """Memory one agent of this world holds beyond the framework's own (bytes, an upper
        estimate; world-wide state such as a map may be spread over the agents). Default 0."""
        return 0.0

    def links_per_agent(self, scenario: Scenario) -> float:
        """Mean directed links per agent of the graph this world builds itself (topology kind
        ``world`` or ``proximity``); not asked for the static kinds. Default 0 (no graph)."""
        return 0.0


class RecordSpec(Spec):
    """Optional tables, off by default: squeezed transitions, a per-message trace, and a trace of
    every agent's position, role and macro-action every ``trace_every`` time units."""

    transitions: bool = False
    messages: bool = False
    trace_every: Period = Field(0.0, ge=0.0, description="trace table period Δt (0 = no trace)")

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

    name: str = Field("scenario", description="names the run's files: no path separators")
    seed: int = Field(0, ge=0, lt=2**63)
    episodes: Count = Field(1, ge=1, le=MAX_EPISODES)
    eval_episodes: Count = Field(
        0, ge=0, le=MAX_EPISODES, description="greedy episodes after training"
    )
    horizon: Real = Field(100.0, gt=0.0, description="simulated time per episode")
    max_decisions: Count | None = Field(None, ge=1, description="decisions per episode, all agents")
    gamma: float = Field(0.99, gt=0.0, le=1.0)
    decision_period: Period = Field(0.0, ge=0.0, description="control tick; 0 = exact instants")
    n_agents: Count = Field(2, ge=1)
    policy: str = "random"
    world: SerializeAsAny[WorldParams]
    learner: SerializeAsAny[BaseModel] | None = None
    net: NetSpec = NetSpec()
    faults: FaultSpec = FaultSpec()
    record: RecordSpec = RecordSpec()
    comm: CommSpec = CommSpec()

    @model_serializer(mode="wrap")
    def _without_comm_when_ideal(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """In JSON (the canonical form), leave ``comm`` out while it has its defaults, so
        scenarios without learned messages keep their digest (and run ids)."""
        data = handler(self)
        if info.mode_is_json() and self.comm.is_default:
            data.pop("comm", None)
        return data

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if (
            not value
            or value in (".", "..")
            or any(c in value for c in "/\\")
            or not value.isprintable()
            or len(value) > MAX_NAME_LENGTH
        ):
            raise ValueError(
                f"a non-empty name without path separators or control characters, "
                f"at most {MAX_NAME_LENGTH} characters (not '.' or '..')"
            )
        return value

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
        self.net.topology.check(self.n_agents)
        check_steps(self)
        check_memory(self)
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
            _assign(data, key, value, self)
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


def _assign(data: dict[str, Any], key: str, value: Any, model: BaseModel) -> None:
    """Set ``data[a][b][c] = value`` for ``key == "a.b.c"``; unknown keys are ConfigErrors.

    A mapping given for a section of ``model`` (``{"world": {"dim": 2}}``) is merged into it key by
    key, exactly as the dotted keys ``world.dim`` would be: the section's other keys are kept.
    """
    parts = key.split(".")
    node: Any = data
    section: Any = model
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
        section = getattr(section, part, None)
        if depth == len(parts) - 1:
            if isinstance(value, Mapping) and isinstance(section, BaseModel):
                for sub, sub_value in value.items():
                    _assign(data, f"{key}.{sub}", sub_value, model)
                return
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
