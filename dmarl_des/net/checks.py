"""Checks of the network's arguments: message kinds, per-link overrides, agent ids, recipients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net.links import LinkModel
from dmarl_des.net.messages import MessageKind


def check_kinds(kinds: Mapping[str, MessageKind]) -> dict[str, MessageKind]:
    """The accepted message kinds by name (each a ``MessageKind`` of that name)."""
    if not isinstance(kinds, Mapping):
        raise ConfigError("kinds", kinds, "a mapping of kind name to MessageKind")
    for name, kind in kinds.items():
        if not isinstance(kind, MessageKind) or kind.name != name:
            raise ConfigError(f"kinds[{name!r}]", kind, "a MessageKind with the same name")
    return dict(kinds)


def check_overrides(
    n: int, link: LinkModel, overrides: Mapping[tuple[int, int], LinkModel]
) -> tuple[list[LinkModel], np.ndarray, np.ndarray]:
    """The distinct link models (the default first) and, sorted by ``src * n + dst``, the
    overridden links' keys and model numbers."""
    models = [link]
    index = {link: 0}
    keys, which = [], []
    for pair, model in overrides.items():
        ok = (
            isinstance(pair, tuple)
            and len(pair) == 2
            and all(isinstance(a, int | np.integer) and 0 <= a < n for a in pair)
        )
        if not ok:
            raise ConfigError("overrides", pair, f"(src, dst) pairs of agent ids in [0, {n})")
        if not isinstance(model, LinkModel):
            raise ConfigError(f"overrides[{pair}]", model, "a LinkModel")
        if model not in index:
            index[model] = len(models)
            models.append(model)
        keys.append(int(pair[0]) * n + int(pair[1]))
        which.append(index[model])
    order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
    return (
        models,
        np.asarray(keys, dtype=np.int64)[order],
        np.asarray(which, dtype=np.int64)[order],
    )


def check_agent(n: int, i: Any) -> int:
    """One agent id in [0, n)."""
    if isinstance(i, bool) or not isinstance(i, int | np.integer) or not 0 <= i < n:
        raise ConfigError("agent", i, f"an agent id in [0, {n})")
    return int(i)


def check_agents(n: int, field: str, ids: Any) -> np.ndarray:
    """Agent ids in [0, n) as an int64 array (the caller's array itself when it is one)."""
    one = type(ids) is np.ndarray and ids.dtype == np.int64 and ids.shape == (1,)
    if one and 0 <= int(ids[0]) < n:  # one agent (continuous time): checked
        return ids
    arr = np.asarray(ids if not isinstance(ids, set | frozenset) else sorted(ids))
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ConfigError(field, ids, "a 1-d sequence of integer agent ids")
    arr = arr.astype(np.int64, copy=False)  # never written to: the caller's array may be kept
    if arr.min() < 0 or arr.max() >= n:
        raise ConfigError(field, arr.tolist(), f"agent ids in [0, {n})")
    return arr


def check_recipients(n: int, dsts: np.ndarray) -> np.ndarray:
    """Distinct recipient ids in [0, n)."""
    dsts = np.asarray(dsts, dtype=np.int64).ravel()
    if dsts.size and (dsts.min() < 0 or dsts.max() >= n):
        raise ConfigError("dsts", dsts.tolist(), f"agent ids in [0, {n})")
    if dsts.size > 1 and np.unique(dsts).size != dsts.size:
        raise ConfigError("dsts", dsts.tolist(), "distinct agent ids")
    return dsts


def check_kind_and_size(kind: Any, size: Any) -> None:
    """A kind name and a byte size (None: the payload's own)."""
    if not isinstance(kind, str):
        raise ConfigError("kind", kind, "a message kind name (str)")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ConfigError("size", size, "None or an integer >= 0 (bytes)")
