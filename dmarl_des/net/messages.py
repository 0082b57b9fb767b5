"""Message kinds, messages, payload snapshots and the receiver-side payload check."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch

from dmarl_des.errors import ConfigError

__all__ = [
    "MAX_MAPPING_ENTRIES",
    "REJECT_REASONS",
    "Message",
    "MessageKind",
    "Unreadable",
    "check_payload",
    "payload_nbytes",
    "snapshot",
]

#: Reason codes returned by :func:`check_payload`, in the order the checks run ("ok" if none).
#: New reasons are appended, so the code of an existing reason never changes.
REJECT_REASONS = (
    "unknown_kind",
    "wrong_type",
    "oversize",
    "wrong_shape",
    "wrong_dtype",
    "not_finite",
    "out_of_bound",
)
_NUMERIC = "biuf"

#: A mapping payload with more entries than this is not copied at send time and is rejected as
#: ``oversize`` (every payload costs bounded work, whatever the sender builds).
MAX_MAPPING_ENTRIES = 4096


@dataclass(frozen=True)
class MessageKind:
    """What receivers accept under one kind name.

    ``shape``: the exact array shape, or None for any shape (mappings are only accepted then).
    ``dtype``: a numpy dtype name (bool, integer or float). Arrays must have exactly this dtype;
    values of a mapping must be real numbers castable to it ("same_kind" casting).
    ``max_bytes``: upper bound on both the declared size and the payload's own bytes.
    ``bound``: upper bound on the magnitude of every integer or float entry, ``|x| ≤ bound``
    (booleans are not bounded); ``inf`` (the default) bounds nothing beyond finiteness.
    """

    name: str
    shape: tuple[int, ...] | None
    dtype: str
    max_bytes: int
    bound: float = math.inf

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("kind.name", self.name, "a non-empty string")
        if self.shape is not None and (
            not isinstance(self.shape, tuple)
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in self.shape
            )
        ):
            raise ConfigError(
                f"kind[{self.name}].shape", self.shape, "None or a tuple of ints >= 0"
            )
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            dt = None
        if dt is None or dt.kind not in _NUMERIC:
            raise ConfigError(
                f"kind[{self.name}].dtype", self.dtype, "a numpy bool, integer or float dtype name"
            )
        mb = self.max_bytes
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < 0:
            raise ConfigError(f"kind[{self.name}].max_bytes", mb, "an integer >= 0")
        bound = self.bound
        if isinstance(bound, bool) or not isinstance(bound, numbers.Real) or not bound > 0:
            raise ConfigError(
                f"kind[{self.name}].bound", bound, "a number > 0 (inf: no bound but finiteness)"
            )
        object.__setattr__(self, "bound", float(bound))
        object.__setattr__(self, "_np_dtype", dt)
        object.__setattr__(self, "_torch_name", f"torch.{dt.name}")

    @property
    def np_dtype(self) -> np.dtype:
        """The dtype as a numpy dtype object."""
        return self._np_dtype  # type: ignore[attr-defined]


@dataclass(slots=True, eq=False)
class Message:
    """One delivered message as the receiver sees it.

    ``seq`` is the network-wide send order (one per recipient); ``attempts`` the number of
    transmissions it took; ``size`` its size in bytes on the link.
    """

    src: int
    dst: int
    kind: str
    payload: Any
    size: int
    t_sent: float
    t_delivered: float
    attempts: int
    seq: int


@dataclass(frozen=True, slots=True)
class Unreadable:
    """What a payload becomes when it cannot be copied at send time; rejected with ``reason``."""

    reason: str


_NOT_DATA = Unreadable("wrong_type")
_TOO_MANY_ENTRIES = Unreadable("oversize")


def _readonly_copy(a: np.ndarray) -> np.ndarray:
    c = np.array(a, copy=True)
    c.flags.writeable = False
    return c


def _is_plain_tensor(t: torch.Tensor) -> bool:
    """A dense tensor whose entries can be read: not sparse, nested, quantized, meta or a subclass
    (an ``nn.Parameter`` is fine)."""
    return (
        type(t) in (torch.Tensor, torch.nn.Parameter)
        and t.layout == torch.strided
        and not t.is_nested
        and not t.is_quantized
        and not t.is_meta
    )


def _snapshot_value(value: Any) -> Any:
    """Snapshot an array, tensor or number; anything else passes through unchanged."""
    if isinstance(value, np.ndarray | np.generic | int | float | bool):
        return _readonly_copy(np.asarray(value))
    if isinstance(value, torch.Tensor):
        if not _is_plain_tensor(value):
            return _NOT_DATA
        return value.detach().clone()
    return value


def snapshot(payload: Any) -> Any:
    """Copy a payload as it is at send time, so later changes by the sender do not travel.

    numpy arrays (and numpy or Python numbers) become read-only arrays; dense torch tensors are
    detached clones; a mapping is copied one level deep, value by value (at most
    ``MAX_MAPPING_ENTRIES`` entries). Anything else is passed through unchanged and is rejected
    at the receiver. Never raises: a payload that cannot be read or copied (a sparse, nested,
    quantized or meta tensor, a tensor subclass, a mapping whose iteration raises, ...) becomes
    an :class:`Unreadable` that the check rejects.
    """
    try:
        if isinstance(payload, Mapping):
            entries = list(islice(payload.items(), MAX_MAPPING_ENTRIES + 1))
            if len(entries) > MAX_MAPPING_ENTRIES:
                return _TOO_MANY_ENTRIES
            return {k: _snapshot_value(v) for k, v in entries}
        return _snapshot_value(payload)
    except Exception:  # a hostile payload: whatever it raises, it is not data
        return _NOT_DATA


def _array_nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, torch.Tensor):
        return int(value.element_size() * value.numel())
    if isinstance(value, np.generic | int | float | bool):
        return int(np.asarray(value).nbytes)
    return 0


def payload_nbytes(payload: Any) -> int:
    """Payload size in bytes: an array's nbytes, or the sum over a mapping's values.

    Meant for snapshots; 0 for anything that is not data (or cannot be measured).
    """
    try:
        if isinstance(payload, Mapping):
            return sum(_array_nbytes(v) for v in payload.values())
        return _array_nbytes(payload)
    except Exception:  # not data: the check rejects it
        return 0


def _dtype_name(value: np.ndarray | torch.Tensor) -> str:
    if isinstance(value, torch.Tensor):
        return str(value.dtype).removeprefix("torch.")
    return value.dtype.name


def _entries_reason(value: np.ndarray | torch.Tensor, bound: float) -> str:
    """The entries' verdict: "not_finite" if one is NaN or infinite, "out_of_bound" if one exceeds
    ``bound`` in magnitude (integers and floats, compared in float64; booleans are never out of
    bound), else "ok"."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return "not_finite"
        if bound == math.inf or value.dtype == torch.bool or value.is_complex():
            return "ok"
        wide = value.to(torch.float64)
        return "ok" if bool(((wide <= bound) & (wide >= -bound)).all()) else "out_of_bound"
    if value.dtype.kind == "f" and not bool(np.isfinite(value).all()):
        return "not_finite"
    if bound == math.inf or value.dtype.kind not in "iuf":
        return "ok"
    wide = value.astype(np.float64, copy=False)
    return "ok" if bool(((wide <= bound) & (wide >= -bound)).all()) else "out_of_bound"


def _is_array(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return _is_plain_tensor(value)
    return isinstance(value, np.ndarray)


def _check_mapping(kind: MessageKind, payload: Mapping) -> str:
    if kind.shape is not None:
        return "wrong_type"
    target = kind.np_dtype
    for key, value in payload.items():
        if not isinstance(key, str) or not _is_array(value):
            return "wrong_type"
        name = _dtype_name(value)
        try:
            dt = np.dtype(name)
        except TypeError:
            return "wrong_dtype"
        if dt.kind not in _NUMERIC or not np.can_cast(dt, target, casting="same_kind"):
            return "wrong_dtype"
        reason = _entries_reason(value, kind.bound)
        if reason != "ok":
            return reason
    return "ok"


def check_payload(kind: MessageKind | None, payload: Any, size: int) -> str:
    """Check a snapshotted payload against its kind; returns "ok" or a reason from REJECT_REASONS.

    Checks, in order: known kind; payload type (a numpy array, a dense torch tensor, or a mapping
    of str to those); size (declared ``size`` and the payload's own bytes both <= max_bytes);
    shape; dtype; finite; within the kind's bound. Total: whatever the payload is, the answer is a
    reason, never an exception (anything that raises while being checked is "wrong_type").
    """
    if kind is None:
        return "unknown_kind"
    if isinstance(payload, Unreadable):
        return payload.reason
    try:
        return _check(kind, payload, size)
    except Exception:  # a hostile payload: whatever it raises, it is not data
        return "wrong_type"


def _check(kind: MessageKind, payload: Any, size: int) -> str:
    is_array = _is_array(payload)
    if not is_array and not isinstance(payload, Mapping):
        return "wrong_type"
    if max(size, payload_nbytes(payload)) > kind.max_bytes:
        return "oversize"
    if not is_array:
        return _check_mapping(kind, payload)
    if kind.shape is not None and tuple(payload.shape) != kind.shape:
        return "wrong_shape"
    if isinstance(payload, np.ndarray):
        if payload.dtype != kind.np_dtype:
            return "wrong_dtype"
    elif str(payload.dtype) != kind._torch_name:  # type: ignore[attr-defined]
        return "wrong_dtype"
    return _entries_reason(payload, kind.bound)
