"""Byzantine message attacks: how a Byzantine sender tampers with each recipient's copy of a send.

An attack works on the payloads of one send, one per recipient (a broadcast passes the same object
for every recipient). Numeric payloads — numpy arrays of any shape, numpy or Python numbers, torch
tensors, and mappings of names to those (each value tampered alike) — are transformed; any other
payload passes unchanged. The attacks, in the order they are applied:

* ``stale`` (always first): the sender's own untampered message of the same kind, shape and
  dtype sent ``lag`` sends earlier is used instead of the current one (the oldest one kept while
  fewer than ``lag`` were sent, i.e. the first message at the start);
* then, in the order listed in the spec, on values computed in float64:
  ``sign_flip`` (``-x``), ``constant`` (every entry ``value``), ``bias`` (``x + value``),
  ``noise`` (``x + N(0, scale²)``, drawn independently per entry and recipient),
  ``equivocate`` (recipients at even positions of the send get ``x + scale``, odd ones
  ``x - scale``: one broadcast, two stories); results are cast back to the payload's dtype
  (floats may overflow to ±inf; integers are rounded and clipped to their range; booleans are
  True where non-zero);
* ``garbage`` (always last): each recipient gets, drawn uniformly from the fault stream, one of
  ``nan`` (all NaN), ``inf`` (all +inf), ``shape`` (the flattened values plus one extra entry: a
  wrong shape) or ``huge`` (at least 4096 entries, 64 times the original size, of the dtype's
  largest value). NaN and inf keep a float dtype (float64 for non-float payloads, a wrong dtype).
  A receiver whose message kind has a fixed shape and a float dtype rejects every garbage payload.

Payloads that are the same for every recipient stay one shared object, so the network snapshots
and checks them once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.net.messages import snapshot

MESSAGE_ATTACKS = ("noise", "sign_flip", "constant", "bias", "stale", "garbage", "equivocate")
GARBAGE_KINDS = ("nan", "inf", "shape", "huge")
_VALUE_ATTACKS = ("noise", "sign_flip", "constant", "bias", "equivocate")


class MessageAttack:
    """Tampers with the payloads of one send; ``__call__`` is the per-send entry point."""

    def __init__(
        self,
        attacks: Sequence[str],
        rng: np.random.Generator,
        *,
        scale: float = 1.0,
        value: float = 0.0,
        lag: int = 5,
    ) -> None:
        unknown = [a for a in attacks if a not in MESSAGE_ATTACKS]
        if unknown:
            raise ConfigError("faults.byzantine.messages", unknown, ", ".join(MESSAGE_ATTACKS))
        if not scale >= 0 or not np.isfinite(scale):
            raise ConfigError("faults.byzantine.scale", scale, "a finite number >= 0")
        if not np.isfinite(value):
            raise ConfigError("faults.byzantine.value", value, "a finite number")
        if isinstance(lag, bool) or not isinstance(lag, int) or lag < 1:
            raise ConfigError("faults.byzantine.lag", lag, "an integer >= 1")
        self.attacks = tuple(attacks)
        self.rng = rng
        self.scale = float(scale)
        self.value = float(value)
        self.lag = lag
        self._stale = "stale" in self.attacks
        self._garbage = "garbage" in self.attacks
        self._steps = tuple(a for a in self.attacks if a in _VALUE_ATTACKS)
        self._history: dict[tuple[int, str, Any], deque[Any]] = {}

    def __call__(self, src: int, payloads: Sequence[Any], kind: str = "") -> list[Any]:
        """The tampered payload for each recipient of a send of ``kind``, aligned with
        ``payloads``."""
        out: list[Any] = [None] * len(payloads)
        groups: dict[int, list[int]] = {}
        for k, p in enumerate(payloads):
            groups.setdefault(id(p), []).append(k)
        for positions in groups.values():
            payload = payloads[positions[0]]
            if self._stale:
                payload = self._replay(src, kind, payload)
            tampered = self._tamper(payload, np.asarray(positions, dtype=np.int64))
            for k, v in zip(positions, tampered, strict=True):
                out[k] = v
        return out

    @property
    def row_wise(self) -> bool:
        """True when :meth:`tamper_rows` applies: no ``stale`` (it keeps a history per send)
        and no ``garbage`` (it draws from the stream between the senders' value draws)."""
        return not self._stale and not self._garbage

    @property
    def needs_positions(self) -> bool:
        """True when :meth:`tamper_rows` reads the recipients' positions (``equivocate``)."""
        return "equivocate" in self._steps

    def tamper_rows(self, rows: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
        """The tampered copies of numeric payload rows [T, *shape] (recipients of several sends,
        send after send; ``positions`` [T]: each recipient's position in its send, needed only
        when ``needs_positions``), with the values and random draws that calling the attack
        send after send gives (``row_wise``)."""
        assert self.row_wise
        if not self._steps or rows.dtype.kind not in "biuf":
            return rows
        vals, _ = self._apply_steps(rows.astype(np.float64), len(rows), positions)
        return _cast(vals, rows.dtype)

    def _apply_steps(
        self, vals: np.ndarray, m: int, positions: np.ndarray | None
    ) -> tuple[np.ndarray, bool]:
        """The attack's value steps on float64 ``vals`` [1 or m, *shape] for ``m`` recipients
        (``positions`` [m]: their positions in their sends, read by ``equivocate``); also whether
        the result has one row per recipient (noise and equivocate draw or differ per row)."""
        per_recipient = False
        for attack in self._steps:
            if attack == "sign_flip":
                vals = -vals
            elif attack == "constant":
                vals = np.full_like(vals, self.value)
            elif attack == "bias":
                vals = vals + self.value
            elif attack == "noise":
                vals = vals + self.rng.normal(0.0, self.scale, size=(m, *vals.shape[1:]))
                per_recipient = True
            else:  # equivocate
                assert positions is not None
                sign = np.where(positions % 2 == 0, 1.0, -1.0).reshape(
                    (m,) + (1,) * (vals.ndim - 1)
                )
                vals = vals + self.scale * sign
                per_recipient = True
        return vals, per_recipient

    # -- stale ----------------------------------------------------------------------------------
    def _replay(self, src: int, kind: str, payload: Any) -> Any:
        sig = _signature(payload)
        if sig is None:
            return payload
        key = (src, kind, sig)
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = deque(maxlen=self.lag + 1)
        history.append(snapshot(payload))
        return history[0]

    # -- values ---------------------------------------------------------------------------------
    def _tamper(self, payload: Any, positions: np.ndarray) -> list[Any]:
        if isinstance(payload, Mapping):
            keys = list(payload)
            per_key = [self._tamper(payload[k], positions) for k in keys]
            if all(all(v is col[0] for v in col) for col in per_key):
                shared = {k: col[0] for k, col in zip(keys, per_key, strict=True)}
                return [shared] * positions.size
            return [
                {k: col[r] for k, col in zip(keys, per_key, strict=True)}
                for r in range(positions.size)
            ]
        if isinstance(payload, torch.Tensor):
            values = self._tamper_array(payload.detach().cpu().numpy(), positions)
            as_tensor: dict[int, torch.Tensor] = {}
            out = []
            for v in values:
                t = as_tensor.get(id(v))
                if t is None:
                    t = as_tensor[id(v)] = torch.from_numpy(np.ascontiguousarray(v)).to(
                        payload.device
                    )
                out.append(t)
            return out
        if isinstance(payload, np.ndarray | np.generic | int | float):
            return self._tamper_array(np.asarray(payload), positions)
        return [payload] * positions.size

    def _tamper_array(self, x: np.ndarray, positions: np.ndarray) -> list[np.ndarray]:
        m = positions.size
        if x.dtype.kind not in "biuf":
            return [x] * m
        vals, per_recipient = self._apply_steps(x.astype(np.float64)[None], m, positions)
        cast = _cast(vals, x.dtype) if self._steps else x[None]
        rows = [cast[k] for k in range(m)] if per_recipient else [cast[0]] * m
        if self._garbage:
            kinds = self.rng.integers(len(GARBAGE_KINDS), size=m)
            rows = [_garbage(row, GARBAGE_KINDS[k]) for row, k in zip(rows, kinds.tolist())]
        return rows


def _signature(payload: Any) -> Any:
    """What a replayed message must share with the current one (None: cannot be replayed)."""
    if isinstance(payload, Mapping):
        parts = []
        for key in sorted(payload, key=str):
            sig = _signature(payload[key])
            if sig is None:
                return None
            parts.append((key, sig))
        return ("mapping", tuple(parts))
    if isinstance(payload, torch.Tensor):
        return ("tensor", tuple(payload.shape), str(payload.dtype))
    if isinstance(payload, np.ndarray | np.generic | int | float):
        a = np.asarray(payload)
        return ("array", a.shape, a.dtype.str)
    return None


def _cast(vals: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            return vals.astype(dtype)
    if dtype.kind == "b":
        return vals != 0
    info = np.iinfo(dtype)
    return np.clip(np.rint(vals), info.min, info.max).astype(dtype)


def _garbage(row: np.ndarray, kind: str) -> np.ndarray:
    float_dtype = row.dtype if row.dtype.kind == "f" else np.dtype(np.float64)
    if kind == "nan":
        return np.full(row.shape, np.nan, dtype=float_dtype)
    if kind == "inf":
        return np.full(row.shape, np.inf, dtype=float_dtype)
    flat = row.ravel()
    if kind == "shape":
        extra = flat[:1] if flat.size else np.zeros(1, dtype=row.dtype)
        return np.concatenate([flat, extra])
    if row.dtype.kind == "f":
        big: Any = np.finfo(row.dtype).max
    elif row.dtype.kind == "b":
        big = True
    else:
        big = np.iinfo(row.dtype).max
    return np.full(max(4096, 64 * flat.size), big, dtype=row.dtype)
