"""Turns pydantic validation failures into ConfigErrors that name the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from dmarl_des.bounds import reject_bool_numbers
from dmarl_des.errors import ConfigError


class Spec(BaseModel):
    """Base of every scenario section: unknown keys are errors, instances are immutable, and a
    bool is never read as a number (``True`` for an int or float field is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="wrap")
    @classmethod
    def _no_bool_numbers(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return reject_bool_numbers(value, handler)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """The field names valid at ``loc`` (the parent of an unknown key), walking nested models."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return "see the section's documented keys"
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) else None
    fields = getattr(current, "model_fields", None)
    return ", ".join(sorted(fields)) if fields else "see the section's documented keys"


def config_error(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> ConfigError:
    """The first error of ``exc`` as a ConfigError (all errors are listed in its message)."""
    messages = []
    first: ConfigError | None = None
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc) or model.__name__
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):
            error = cause
        elif err["type"] == "extra_forbidden":
            allowed = f"known keys here: {_allowed_keys(model, loc)}"
            value: Any = loc[-1] if loc else err.get("input")
            field_msg = f"unknown key {field!r}"
            error = ConfigError(field_msg, value, allowed)
        else:
            err["msg"] = err["msg"].removeprefix("Value error, ")
            error = ConfigError(field, err.get("input"), err["msg"])
        first = first or error
        messages.append(str(error))
    assert first is not None
    if len(messages) > 1:
        first.args = ("; ".join(messages),)
    return first


def validated(model: type[BaseModel], values: Any, prefix: str = "") -> Any:
    """``model.model_validate(values)`` with ConfigError instead of ValidationError."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise config_error(exc, model, prefix) from None
