"""Learner checkpoints: ``weights.pt`` (plain tensors, weights_only-loadable) and ``card.json``.

The card says what the weights are for: the learner config, its dimensions (``spec``), the parameter
mode, and whatever the caller adds (world, scenario overrides, seed, final metrics, versions).

Loading checks in this order, each failure a one-line ConfigError: the card (JSON object, spec
keys, learner config), the world's dimensions when given (before any weight is read), the weights
file (present, complete, plain tensors only, all finite), the size of the networks the card
describes against the saved tensors (before any network is built), then the weights' structure.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import platform
import tempfile
from collections.abc import Iterator
from importlib import metadata
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn.config import LearnerConfig, resolve_device
from dmarl_des.learn.networks import hidden_sizes
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
    """The card of a checkpoint directory (a JSON object)."""
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise ConfigError("checkpoint", str(directory), f"a directory holding {CARD_FILE}")
    try:
        card = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "bytes that are not UTF-8", "a JSON object") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path), f"line {exc.lineno} column {exc.colno}: {exc.msg}", "a JSON object"
        ) from None
    if not isinstance(card, dict):
        raise ConfigError(str(path), type(card).__name__, "a JSON object")
    return card


SPEC_KEYS = ("obs_dim", "n_actions", "n_agents", "gamma", "seed")
"""Keys every card's ``spec`` holds (``state_dim`` and ``groups`` are optional)."""


def card_spec(card: dict[str, Any]) -> dict[str, Any]:
    """The card's ``spec`` with every required key present and of the right type."""
    spec = card.get("spec")
    if not isinstance(spec, dict):
        raise ConfigError("card.spec", spec, "a dict with " + ", ".join(SPEC_KEYS))
    for key in SPEC_KEYS:
        if key not in spec:
            raise ConfigError(
                f"card.spec.{key}", None, f"present (a spec holds {', '.join(SPEC_KEYS)})"
            )
    for key in ("obs_dim", "n_actions", "n_agents", "seed", "state_dim"):
        value = spec.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"card.spec.{key}", value, "an integer")
    gamma = spec["gamma"]
    if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0.0 <= gamma <= 1.0:
        raise ConfigError("card.spec.gamma", gamma, "a discount in [0, 1]")
    groups = spec.get("groups")
    if groups is not None and (
        not isinstance(groups, list)
        or not all(isinstance(g, int) and not isinstance(g, bool) for g in groups)
    ):
        raise ConfigError("card.spec.groups", groups, "null or a list of integer group ids")
    return spec


def check_card(card: dict[str, Any], obs_dim: int, n_actions: int, n_agents: int) -> None:
    """ConfigError naming the first of obs_dim, n_actions, n_agents that the card does not match."""
    spec = card.get("spec")
    if not isinstance(spec, dict):
        raise ConfigError("card.spec", spec, "a dict with obs_dim, n_actions, n_agents")
    for field, wanted in (("obs_dim", obs_dim), ("n_actions", n_actions), ("n_agents", n_agents)):
        if spec.get(field) != int(wanted):
            raise ConfigError(f"card.spec.{field}", spec.get(field), f"{int(wanted)} (this world)")


def check_travel(
    card: dict[str, Any],
    obs_dim: int,
    n_actions: int,
    n_agents: int,
    groups: Any = None,
) -> tuple[int, ...] | None:
    """ConfigError unless the card's policy can act in a world of these dimensions; returns the
    group of every agent for per-group parameters at another swarm size (else None).

    The observation and action sizes must match. The swarm size may differ when no network's
    shape depends on it: shared parameters, or per-group parameters given ``groups`` (one id per
    agent, the card's number of groups) — unless the agents' one-hot index is an input
    (``agent_feature = agent_id``). Per-agent parameters hold one network per trained agent, so
    they act only in a swarm of the trained size.
    """
    spec = card.get("spec")
    if not isinstance(spec, dict):
        raise ConfigError("card.spec", spec, "a dict with obs_dim, n_actions, n_agents")
    for field, wanted in (("obs_dim", obs_dim), ("n_actions", n_actions)):
        if spec.get(field) != int(wanted):
            raise ConfigError(f"card.spec.{field}", spec.get(field), f"{int(wanted)} (this world)")
    trained = spec.get("n_agents")
    if trained == int(n_agents):
        return None
    learner = card.get("learner") if isinstance(card.get("learner"), dict) else {}
    params = learner.get("params", card.get("params"))
    where = f"{int(n_agents)} agents here; the checkpoint was trained with {trained}"
    if params == "per_agent":
        raise ConfigError(
            "card.spec.n_agents",
            trained,
            f"the swarm size it was trained at ({where}): per_agent parameters hold one network "
            "per trained agent; evaluate with n_agents = "
            f"{trained}, or train with learner.params = shared (or per_group) to change sizes",
        )
    if learner.get("name") == "qmix":
        raise ConfigError(
            "card.spec.n_agents",
            trained,
            f"the swarm size it was trained at ({where}): the QMIX mixer takes one value per "
            "trained agent",
        )
    if learner.get("critic") == "state":
        raise ConfigError(
            "card.spec.n_agents",
            trained,
            f"the swarm size it was trained at ({where}): its state critic (critic = state) "
            "takes a one-hot agent index sized for that swarm",
        )
    if learner.get("name") in ("networked_ac", "independent_ac", "resilient_ac"):
        raise ConfigError(
            "card.spec.n_agents",
            trained,
            f"the swarm size it was trained at ({where}): its critics are per agent",
        )
    if learner.get("critic_input") == "global":
        raise ConfigError(
            "card.spec.n_agents",
            trained,
            f"the swarm size it was trained at ({where}): its critic (critic_input = global) "
            "takes the joint action of that swarm",
        )
    if learner.get("agent_feature") == "agent_id":
        raise ConfigError(
            "card.spec.n_agents",
            trained,
            f"the swarm size it was trained at ({where}): its input holds a one-hot agent index "
            "(agent_feature = agent_id) sized for that swarm",
        )
    if params != "per_group":
        return None
    n_groups = len(set(spec.get("groups") or [])) or None
    ids = None if groups is None else tuple(int(g) for g in groups)
    if ids is None or len(ids) != int(n_agents) or (n_groups and max(ids) + 1 != n_groups):
        raise ConfigError(
            "groups",
            None if ids is None else f"{len(ids)} ids",
            f"the group of each of the {int(n_agents)} agents ({n_groups} groups, as trained): "
            f"per_group parameters at another swarm size ({where})",
        )
    return ids


def checkpoint_digest(directory: str | os.PathLike) -> str:
    """SHA-256 (hex) of the checkpoint's content: ``card.json`` and ``weights.pt`` bytes.

    Run ids include it, so results are tied to the weights they were computed with, not to the
    path they were read from.
    """
    h = hashlib.sha256()
    for name in (CARD_FILE, WEIGHTS_FILE):
        path = Path(directory) / name
        if not path.is_file():
            raise ConfigError("checkpoint", str(directory), f"a directory holding {name}")
        h.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def network_size(config: LearnerConfig, spec: dict[str, Any]) -> dict[str, int]:
    """Parameters (float count) the card's networks hold at least, by the card field sizing them.

    The agent network (input at least ``obs_dim``, output at least ``n_actions``, one copy per
    parameter set) counts under ``hidden``; QMIX's hypernetwork under ``mixer_embed``. Computed
    with Python integers from the card alone, before anything is allocated.
    """
    n_sets = spec["n_agents"] if config.params == "per_agent" else 1
    sizes = [spec["obs_dim"], *hidden_sizes(config.network, config.hidden)]
    count = sum(_linear(a, b) for a, b in pairwise(sizes))
    if config.network == "gru":
        count += 2 * _linear(sizes[-1], 3 * sizes[-1])
    count += _linear(sizes[-1], spec["n_actions"])
    out = {"hidden": n_sets * count}
    embed, hyper = getattr(config, "mixer_embed", None), getattr(config, "hypernet_hidden", None)
    if embed is not None and hyper is not None:
        out["mixer_embed"] = hyper * spec["n_agents"] * embed
    return out


def check_network_size(config: LearnerConfig, spec: dict[str, Any], state: dict[str, Any]) -> None:
    """ConfigError when the card describes networks larger than the saved weights ``state``.

    The weights hold at least every parameter of the card's networks, so a card whose networks need
    more elements than the saved tensors have (an absurd ``hidden``, say) is refused before the
    networks are built (which could otherwise try to allocate petabytes).
    """
    saved = sum(t.numel() for _, t in _tensors(state))
    for field, count in network_size(config, spec).items():
        if count > saved:
            raise ConfigError(
                f"card.learner.{field}",
                getattr(config, field),
                f"a size whose networks fit the saved weights ({saved} numbers in "
                f"{WEIGHTS_FILE}; the card's networks need at least {count:.3g})",
            )


def _summary(exc: BaseException, lines: int = 1) -> str:
    """``Type: message`` on one line: the first ``lines`` non-empty lines, at most 200 characters."""
    parts = [t.strip() for t in str(exc).splitlines() if t.strip()][:lines]
    text = f"{type(exc).__name__}: {' '.join(parts)}" if parts else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def read_weights(path: Path, device: str) -> dict[str, Any]:
    """The payload of ``weights.pt``, loaded with ``weights_only=True`` (plain tensors only)."""
    if not path.is_file():
        raise ConfigError(str(path), "missing", "the weights file written beside card.json")
    if path.stat().st_size == 0:
        raise ConfigError(str(path), "an empty file", "a complete weights file")
    try:
        payload = torch.load(path, map_location=torch.device(device), weights_only=True)
    except pickle.UnpicklingError:
        raise ConfigError(
            str(path),
            "objects other than tensors (e.g. code to run)",
            "plain tensors, numbers and strings only; the file was refused without running it",
        ) from None
    except Exception as exc:  # truncated zip, bad header, ...
        raise ConfigError(
            str(path), _summary(exc), "a complete weights file written by save_checkpoint"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state"), dict):
        raise ConfigError(str(path), type(payload).__name__, "a dict with 'algorithm' and 'state'")
    return payload


def _tensors(node: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(node, torch.Tensor):
        yield prefix, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _tensors(value, f"{prefix}.{i}" if prefix else str(i))
    elif isinstance(node, float) and not math.isfinite(node):
        yield prefix, torch.tensor(node)


def check_finite(state: dict[str, Any], path: Path) -> None:
    """ConfigError naming the first tensor of ``state`` that holds NaN or an infinity."""
    for name, tensor in _tensors(state):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ConfigError(str(path), f"NaN or inf in {name}", "finite weights only")


def load_checkpoint(
    directory: str | os.PathLike,
    *,
    device: str = "cpu",
    dims: tuple[int, int, int] | None = None,
    groups: Any = None,
) -> tuple[Any, dict]:
    """(learner rebuilt from the card's config and spec, with the saved weights; card).

    ``dims`` = (obs_dim, n_actions, n_agents) of the world that will use it: checked against the
    card before any weight is read (``check_travel``). Its swarm size may differ from the
    trained one for shared parameters, and for per-group parameters with ``groups`` (one group
    id per agent of the new swarm); the learner is then built for that size. Every problem is a
    one-line ConfigError (see the module).
    """
    card = read_card(directory)
    values = card.get("learner")
    if not isinstance(values, dict):
        raise ConfigError("card.learner", values, "the learner's config (a dict with its name)")
    values = dict(values)
    name = values.get("name")
    if name not in LEARNERS:
        raise ConfigError("card.learner.name", name, " | ".join(LEARNERS))
    spec = card_spec(card)
    n_agents, new_groups = spec["n_agents"], spec.get("groups")
    if dims is not None:
        travelled = check_travel(card, *dims, groups=groups)
        n_agents = int(dims[2])
        if travelled is not None:
            new_groups = list(travelled)
    resolve_device(device)
    values["device"] = device
    config = learner_config(name, values)
    weights = Path(directory) / WEIGHTS_FILE
    payload = read_weights(weights, device)
    if payload.get("algorithm") != name:
        raise ConfigError("weights.algorithm", payload.get("algorithm"), repr(name))
    check_finite(payload["state"], weights)
    check_network_size(config, spec, payload["state"])
    learner = make_learner(
        config,
        obs_dim=spec["obs_dim"],
        n_actions=spec["n_actions"],
        n_agents=n_agents,
        state_dim=spec.get("state_dim", 0),
        groups=new_groups,
        gamma=spec["gamma"],
        seed=spec["seed"],
        device=device,
    )
    try:
        learner.load_state_dict(payload["state"])
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ConfigError(
            str(weights),
            _summary(exc, lines=2),
            "the weights of the network card.json describes (same learner, sizes and layout)",
        ) from None
    return learner, card
