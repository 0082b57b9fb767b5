"""Loads scenario files: a Python file exposing `scenario(**overrides) -> Scenario`."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.scenario.model import Scenario


def load_scenario_module(path: str | Path) -> ModuleType:
    """Import a scenario file by path (each file under its own private module name)."""
    file = Path(path)
    if not file.is_file() or file.suffix != ".py":
        raise ConfigError("scenario", str(path), "a path to an existing .py scenario file")
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:10]
    name = f"dmarl_scenario_{file.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        where = f"{exc.filename or file}, line {exc.lineno}"
        raise ConfigError(
            "scenario", str(path), f"a valid Python file ({where}: {exc.msg})"
        ) from None
    except BaseException:
        sys.modules.pop(name, None)  # a failed import is retried, never half-cached
        raise
    if not callable(getattr(module, "scenario", None)):
        sys.modules.pop(name, None)
        raise ConfigError(
            "scenario", str(path), "a file defining scenario(**overrides) -> Scenario"
        )
    return module


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """The scenario a file defines, with dotted-key overrides applied and validated."""
    module = load_scenario_module(path)
    result = module.scenario(**dict(overrides or {}))
    if not isinstance(result, Scenario):
        raise ConfigError("scenario", str(path), "scenario() must return a dmarl_des Scenario")
    return result
