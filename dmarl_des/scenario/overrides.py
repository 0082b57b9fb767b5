"""Parses `key=value` assignments from the command line into typed override values."""

from __future__ import annotations

import ast
from typing import Any

from dmarl_des.errors import ConfigError

_WORDS = {"true": True, "false": False, "null": None, "inf": float("inf")}
"""Words with a meaning of their own; ``none`` stays a string (it is a value of several keys)."""


def parse_value(text: str) -> Any:
    """``"8"`` → 8, ``"0.2"`` → 0.2, ``"true"`` → True, ``"null"`` → None, ``"a,b"`` → ("a", "b"),
    else the string itself."""
    text = text.strip()
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if "," in text:
            return tuple(parse_value(part) for part in text.split(",") if part.strip())
        return text
    if isinstance(value, list):
        return tuple(value)
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"world.grid_size=8"`` → ("world.grid_size", 8)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", text, "KEY=VALUE with a dotted key, e.g. world.grid_size=8")
    return key.strip(), parse_value(raw)


def parse_grid(text: str) -> tuple[str, tuple[Any, ...]]:
    """``"net.loss.p=0,0.2,0.4"`` → ("net.loss.p", (0, 0.2, 0.4))."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not raw.strip():
        raise ConfigError("--grid", text, "KEY=V1,V2,... e.g. net.loss.p=0,0.2,0.4")
    values = tuple(parse_value(part) for part in raw.split(",") if part.strip())
    return key.strip(), values
