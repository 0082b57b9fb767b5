"""Learner checkpoints: ``weights.pt`` (plain tensors, weights_only-loadable) and ``card.json``.

The card says what the weights are for: the learner config, its dimensions (``spec``), the parameter
mode, and whatever the caller adds (world, scenario overrides, seed, final metrics, versions).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn.config import resolve_device
from dmarl_des.learn.registry import LEARNERS, learner_config, make_learner

WEIGHTS_FILE = "weights.pt"
CARD_FILE = "card.json"
FORMAT = 1


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a checkpoint depends on (for the card)."""
    versions = {"python": platform.python_version()}
    for package in ("dmarl_des", "torch", "numpy", "pydantic"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"card value of type {type(value).__name__} is not JSON-able")


FILE_MODE = 0o644
"""Mode of the files a checkpoint writes (mkstemp creates 0600 files: private to their owner)."""


def _write_atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(directory: str | os.PathLike, learner: Any, card: dict[str, Any]) -> Path:
    """Write ``weights.pt`` and ``card.json`` into ``directory`` (created); returns the directory.

    The card's ``learner`` (config), ``spec`` (dimensions) and ``params`` (parameter mode) come
    from the learner; a caller's value for them that disagrees is a ConfigError. ``versions`` is
    filled in when absent.
    """
    config, spec = getattr(learner, "config", None), getattr(learner, "spec", None)
    if config is None or spec is None:
        raise ConfigError("learner", type(learner).__name__, "a learner from make_learner()")
    own = {
        "learner": config.model_dump(mode="json"),
        "spec": spec.to_dict(),
        "params": config.params,
    }
    for key, value in own.items():
        if key in card and json.loads(json.dumps(card[key], default=_json_default)) != value:
            raise ConfigError(f"card.{key}", card[key], f"the learner's own {value!r}")
    full = {"format": FORMAT, **card, **own}
    full.setdefault("versions", library_versions())
    text = json.dumps(full, indent=2, sort_keys=True, default=_json_default) + "\n"
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "algorithm": config.name, "state": learner.state_dict()}
    _write_atomic(directory / WEIGHTS_FILE, lambda handle: torch.save(payload, handle))
    _write_atomic(directory / CARD_FILE, lambda handle: handle.write(text.encode()))
    return directory


def read_card(directory: str | os.PathLike) -> dict[str, Any]:
    """The card of a checkpoint directory."""
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise ConfigError("checkpoint", str(directory), f"a directory holding {CARD_FILE}")
    return json.loads(path.read_text())


def check_card(card: dict[str, Any], obs_dim: int, n_actions: int, n_agents: int) -> None:
    """ConfigError naming the first of obs_dim, n_actions, n_agents that the card does not match."""
    spec = card.get("spec")
    if not isinstance(spec, dict):
        raise ConfigError("card.spec", spec, "a dict with obs_dim, n_actions, n_agents")
    for field, wanted in (("obs_dim", obs_dim), ("n_actions", n_actions), ("n_agents", n_agents)):
        if spec.get(field) != int(wanted):
            raise ConfigError(f"card.spec.{field}", spec.get(field), f"{int(wanted)} (this world)")


def load_checkpoint(directory: str | os.PathLike, *, device: str = "cpu") -> tuple[Any, dict]:
    """(learner rebuilt from the card's config and spec, with the saved weights; card)."""
    card = read_card(directory)
    values = dict(card.get("learner") or {})
    name = values.get("name")
    if name not in LEARNERS:
        raise ConfigError("card.learner.name", name, " | ".join(LEARNERS))
    resolve_device(device)
    values["device"] = device
    config = learner_config(name, values)
    spec = card["spec"]
    learner = make_learner(
        config,
        obs_dim=spec["obs_dim"],
        n_actions=spec["n_actions"],
        n_agents=spec["n_agents"],
        state_dim=spec.get("state_dim", 0),
        groups=spec.get("groups"),
        gamma=spec["gamma"],
        seed=spec["seed"],
        device=device,
    )
    payload = torch.load(
        Path(directory) / WEIGHTS_FILE, map_location=torch.device(device), weights_only=True
    )
    if payload.get("algorithm") != name:
        raise ConfigError("weights.algorithm", payload.get("algorithm"), repr(name))
    learner.load_state_dict(payload["state"])
    return learner, card
