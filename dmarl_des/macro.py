"""Macro-actions (MacDec-POMDP) and the squeezed, continuous-time discounted reward of each.

A macro-action has an initiation condition (``can_start``; the policy sees it as an action mask),
a low-level behaviour written as a SimPy generator that runs inside the agent's process (it may take
state-dependent, variable time and may finish early) and ends when the generator returns. An
interrupted macro-action ends at the instant of the interrupt.

Reward convention (exact; tested on hand-computed cases):

* A reward is an event with an amount and a *stamp* (the time it is discounted from). By default
  a reward given by a running macro-action — by its behaviour after its start instant, or by
  ``end_many`` as it ends — is stamped ``t⁻``, the float just below the instant ``t`` it is given
  at, so it belongs to that macro-action even when it ends at ``t``; any other reward is stamped
  ``t`` (see ``dmarl_des/world/rewards.py``). Worlds that run in ticks stamp the reward of tick
  ``[k, k+1)`` with ``k``.
* A macro-action's transition spans from ``t0``, the instant it was chosen, to ``t1``, the instant
  the agent's next decision is served (its end time itself when ``decision_period`` is 0; the next
  control tick otherwise, so an agent's transitions tile the episode). It owns the rewards stamped
  in the half-open window ``[t0, t1)``: a reward stamped exactly at a decision instant belongs to the macro-action
  that *starts* there. The last macro-action of an episode that ends at ``T`` owns ``[t0, T]``
  (closed), so a terminal reward given at the final instant is counted.
* Its squeezed reward is ``r_c = Σ γ^(s_k − t0) r_k`` over the rewards it owns and its bootstrap
  weight is ``γ^τ`` with ``τ = t1 − t0``. For tick worlds this equals
  ``r_c = Σ_{k<τ} γ^k r_{t0+k}`` of the MacDec-POMDP papers, and the episode's discounted return
  ``Σ γ^s r_s`` equals the discrete ``Σ_t γ^t r_t`` of the original benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

Behaviour = Callable[[Any], Generator[simpy.Event, Any, Any]]
"""behaviour(agent) -> a SimPy generator run inside the agent's lifecycle process."""


@dataclass(frozen=True, slots=True)
class MacroAction:
    """A temporally extended action: its name, its low-level behaviour, when it may start."""

    name: str
    behaviour: Behaviour
    can_start: Callable[[Any], bool] | None = None


def wait(duration: float) -> Behaviour:
    """A macro-action behaviour that does nothing for ``duration`` time units."""

    def behaviour(agent: Any) -> Generator[simpy.Event, Any, None]:
        yield agent.model.env.timeout(duration)

    return behaviour


class RewardLedger:
    """Rewards of one episode as growable (stamp, amount) arrays, kept sorted by stamp."""

    __slots__ = ("_amounts", "_n", "_stamps")

    def __init__(self, capacity: int = 1024) -> None:
        self._stamps = np.empty(capacity, dtype=np.float64)
        self._amounts = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, amount: float, stamp: float) -> None:
        """Record one reward (out-of-order stamps are inserted in place)."""
        n = self._n
        if n == self._stamps.shape[0]:
            self._stamps = np.resize(self._stamps, 2 * n)
            self._amounts = np.resize(self._amounts, 2 * n)
        if n and stamp < self._stamps[n - 1]:
            pos = int(np.searchsorted(self._stamps[:n], stamp, side="right"))
            self._stamps[pos + 1 : n + 1] = self._stamps[pos:n]
            self._amounts[pos + 1 : n + 1] = self._amounts[pos:n]
        else:
            pos = n
        self._stamps[pos] = stamp
        self._amounts[pos] = amount
        self._n = n + 1

    def window(
        self, t0: float, t1: float, gamma: float, closed: bool = False
    ) -> tuple[float, float]:
        """(Σ γ^(s−t0) r, Σ r) over stamps in [t0, t1) — or [t0, t1] when ``closed``."""
        stamps = self._stamps[: self._n]
        lo = int(np.searchsorted(stamps, t0, side="left"))
        hi = int(np.searchsorted(stamps, t1, side="right" if closed else "left"))
        if hi <= lo:
            return 0.0, 0.0
        s = stamps[lo:hi]
        r = self._amounts[lo:hi]
        return float(np.dot(r, np.power(gamma, s - t0))), float(r.sum())

    def _bounds(
        self, t0: np.ndarray, t1: np.ndarray, closed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stamp positions [lo, hi) of each row's window."""
        stamps = self._stamps[: self._n]
        lo = np.searchsorted(stamps, t0, side="left")
        if closed.any():
            hi = np.where(
                closed,
                np.searchsorted(stamps, t1, side="right"),
                np.searchsorted(stamps, t1, side="left"),
            )
        else:
            hi = np.searchsorted(stamps, t1, side="left")
        return lo, np.maximum(hi, lo)

    def _covered_sums(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Σ r over stamps [lo, hi) of each row: prefix sums over the stamps the rows cover only
        (not the whole episode so far)."""
        first, last = int(lo.min()), int(hi.max())
        cum = np.empty(last - first + 1)
        cum[0] = 0.0
        np.cumsum(self._amounts[first:last], out=cum[1:])
        return cum[hi - first] - cum[lo - first]

    def totals(self, t0: np.ndarray, t1: np.ndarray, closed: np.ndarray) -> np.ndarray:
        """Σ r of each row's window (the second half of ``windows``, without discounting)."""
        t0 = np.asarray(t0, dtype=np.float64)
        if t0.size == 0 or self._n == 0:
            return np.zeros(t0.size)
        if t0.shape == (1,):  # one row (continuous time): no per-row arrays
            t1_, closed_ = np.asarray(t1, dtype=np.float64), np.asarray(closed, dtype=bool)
            return self._one_total(float(t0[0]), float(t1_.flat[0]), bool(closed_.flat[0]))
        lo, hi = self._bounds(t0, np.asarray(t1, dtype=np.float64), np.asarray(closed, dtype=bool))
        return self._covered_sums(lo, hi)

    def _one_total(self, t0: float, t1: float, closed: bool) -> np.ndarray:
        """``totals`` of one row: the same bounds and the same sequential prefix sum."""
        stamps = self._stamps[: self._n]
        lo = int(stamps.searchsorted(t0, side="left"))
        hi = int(stamps.searchsorted(t1, side="right" if closed else "left"))
        if hi <= lo:
            return np.zeros(1)
        cum = np.empty(hi - lo + 1)
        cum[0] = 0.0
        self._amounts[lo:hi].cumsum(out=cum[1:])
        return cum[-1:] - cum[:1]

    def windows(
        self, t0: np.ndarray, t1: np.ndarray, gamma: float, closed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``window`` for many rows at once: arrays (Σ γ^(s−t0) r, Σ r), one entry per row."""
        t0 = np.asarray(t0, dtype=np.float64)
        t1 = np.asarray(t1, dtype=np.float64)
        closed = np.asarray(closed, dtype=bool)
        n = self._n
        if t0.size == 0 or n == 0:
            return np.zeros(t0.size), np.zeros(t0.size)
        stamps, amounts = self._stamps[:n], self._amounts[:n]
        lo, hi = self._bounds(t0, t1, closed)
        total = self._covered_sums(lo, hi)
        first, last = int(lo.min()), int(hi.max())
        ref = float(t1.max())
        span = ref - float(stamps[first]) if last > first else 0.0
        if gamma == 1.0:
            return total.copy(), total
        if span * -np.log(gamma) > 13.0:  # weights beyond 1e5.6: sum each row exactly instead
            disc = np.array([self.window(a, b, gamma, c)[0] for a, b, c in zip(t0, t1, closed)])
            return disc, total
        weights = amounts[first:last] * np.power(gamma, stamps[first:last] - ref)
        pref = np.concatenate(([0.0], np.cumsum(weights)))
        disc = np.power(gamma, ref - t0) * (pref[hi - first] - pref[lo - first])
        return np.where(hi > lo, disc, 0.0), total

    def total(self) -> float:
        """Σ r over the episode."""
        return float(self._amounts[: self._n].sum())

    def discounted_total(self, gamma: float) -> float:
        """Σ γ^s r_s from t = 0."""
        n = self._n
        return float(np.dot(self._amounts[:n], np.power(gamma, self._stamps[:n])))

    def clear(self) -> None:
        self._n = 0
