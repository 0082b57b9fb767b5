"""Message kinds, messages, payload snapshots and the receiver-side payload check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dmarl_des.errors import ConfigError

__all__ = [
    "REJECT_REASONS",
    "Message",
    "MessageKind",
    "check_payload",
    "payload_nbytes",
    "snapshot",
]

#: Reason codes returned by :func:`check_payload`, in the order the checks run ("ok" if none).
REJECT_REASONS = (
    "unknown_kind",
    "wrong_type",
    "oversize",
    "wrong_shape",
    "wrong_dtype",
    "not_finite",
)
_NUMERIC = "biuf"


@dataclass(frozen=True)
class MessageKind:
    """What receivers accept under one kind name.

    ``shape``: the exact array shape, or None for any shape (mappings are only accepted then).
    ``dtype``: a numpy dtype name (bool, integer or float). Arrays must have exactly this dtype;
    values of a mapping must be real numbers castable to it ("same_kind" casting).
    ``max_bytes``: upper bound on both the declared size and the payload's own bytes.
    """

    name: str
    shape: tuple[int, ...] | None
    dtype: str
    max_bytes: int

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


def _readonly_copy(a: np.ndarray) -> np.ndarray:
    c = np.array(a, copy=True)
    c.flags.writeable = False
    return c


def snapshot(payload: Any) -> Any:
    """Copy a payload as it is at send time, so later changes by the sender do not travel.

    numpy arrays (and numpy or Python scalars) become read-only arrays; torch tensors are detached
    clones; mappings are copied value by value. Anything else is passed through unchanged (and is
    rejected at the receiver).
    """
    if isinstance(payload, np.ndarray | np.generic | int | float | bool):
        return _readonly_copy(np.asarray(payload))
    if isinstance(payload, torch.Tensor):
        return payload.detach().clone()
    if isinstance(payload, Mapping):
        return {k: snapshot(v) for k, v in payload.items()}
    return payload


def _array_nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, torch.Tensor):
        return int(value.element_size() * value.numel())
    if isinstance(value, np.generic | int | float | bool):
        return int(np.asarray(value).nbytes)
    return 0


def payload_nbytes(payload: Any) -> int:
    """Payload size in bytes: an array's nbytes, or the sum over a mapping's values."""
    if isinstance(payload, Mapping):
        return sum(_array_nbytes(v) for v in payload.values())
    return _array_nbytes(payload)


def _dtype_name(value: np.ndarray | torch.Tensor) -> str:
    if isinstance(value, torch.Tensor):
        return str(value.dtype).removeprefix("torch.")
    return value.dtype.name


def _all_finite(value: np.ndarray | torch.Tensor) -> bool:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            return bool(torch.isfinite(value).all())
        return True
    if value.dtype.kind == "f":
        return bool(np.isfinite(value).all())
    return True


def _check_mapping(kind: MessageKind, payload: Mapping) -> str:
    if kind.shape is not None:
        return "wrong_type"
    target = kind.np_dtype
    for key, value in payload.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray | torch.Tensor):
            return "wrong_type"
        name = _dtype_name(value)
        try:
            dt = np.dtype(name)
        except TypeError:
            return "wrong_dtype"
        if dt.kind not in _NUMERIC or not np.can_cast(dt, target, casting="same_kind"):
            return "wrong_dtype"
        if not _all_finite(value):
            return "not_finite"
    return "ok"


def check_payload(kind: MessageKind | None, payload: Any, size: int) -> str:
    """Check a snapshotted payload against its kind; returns "ok" or a reason from REJECT_REASONS.

    Checks, in order: known kind; payload type (array, tensor, or mapping of str to arrays);
    size (declared ``size`` and the payload's own bytes both <= max_bytes); shape; dtype; finite.
    """
    if kind is None:
        return "unknown_kind"
    is_array = isinstance(payload, np.ndarray | torch.Tensor)
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
    if not _all_finite(payload):
        return "not_finite"
    return "ok"
