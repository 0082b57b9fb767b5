"""Signal timing of the traffic world: macro-actions (phase, green time), transitions, max green, flashing.

A signal's macro-action ``a`` means *show phase ``a // G`` green for ``greens[a % G]`` seconds*
(``G = len(greens)``). Choosing the phase that is green already extends it: no transition, the
green simply goes on. Choosing the other phase first ends the current green with ``yellow`` then
``all_red`` (no vehicle crosses during either), then starts the new green; the macro-action lasts
``yellow + all_red + green``. So durations vary with the choice and the signals of a grid decide at
unrelated instants. At the start of an episode every signal shows all-red with its clearance
done: its first green starts at once.

*Max green*: extending is allowed only while the phase's uninterrupted green stays within
``max_green`` (the action mask); switching is always allowed, so some action always is. *Min
green*: every entry of ``greens`` is at least ``min_green``, so no green is shorter.

A crashed signal *flashes*: the intersection works as an all-way stop, every approach
discharging one vehicle per ``flash_headway``. When it recovers it shows all-red and its next
macro-action includes the full transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dmarl_des.worlds.traffic_grid import N_PHASES, PHASE_NAMES

START = -1
"""Phase value of a signal at the start of an episode (all red, clearance done)."""
FLASH = -2
"""Phase value of a flashing (crashed) signal, and of one that recovered and shows all red."""


class SignalHardware(Protocol):
    """What the signals drive: the vehicles' simulator (queues or SUMO)."""

    def switch(self, idx: np.ndarray, old: np.ndarray, new: np.ndarray, green: np.ndarray) -> None:
        """Signals ``idx`` leave phase ``old`` (START, FLASH or a phase) now and show phase
        ``new`` green from times ``green`` on (yellow, then all red, before that)."""

    def flash(self, i: int) -> None:
        """Signal ``i`` flashes from now on."""

    def dark(self, i: int) -> None:
        """Signal ``i`` stops flashing and shows all red from now on."""


@dataclass(frozen=True)
class Timings:
    """The timing plan every signal shares: green times to choose from and transitions."""

    greens: tuple[float, ...]
    yellow: float
    all_red: float
    max_green: float

    @property
    def n_actions(self) -> int:
        return N_PHASES * len(self.greens)

    @property
    def transition(self) -> float:
        return self.yellow + self.all_red

    def names(self) -> tuple[str, ...]:
        """Macro-action names: ``ns_10``, ``ns_20``, …, ``ew_10``, …"""
        return tuple(f"{p}_{g:g}" for p in PHASE_NAMES for g in self.greens)

    def decode(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(phase, green time) of each action."""
        phase, k = np.divmod(np.asarray(actions, dtype=np.int64), len(self.greens))
        return phase, np.asarray(self.greens)[k]

    def action(self, phase: np.ndarray, green_index: np.ndarray | int) -> np.ndarray:
        """The action that shows ``phase`` for ``greens[green_index]``."""
        return np.asarray(phase, dtype=np.int64) * len(self.greens) + green_index


class Signals:
    """What every signal shows: the phase that is green and since when, or flashing."""

    def __init__(self, n: int, timings: Timings) -> None:
        self.timings = timings
        self.phase = np.full(n, START, dtype=np.int64)
        self.green_from = np.zeros(n)
        """Start of the current phase's uninterrupted green (scheduled, during a transition)."""

    def begin(
        self, idx: np.ndarray, actions: np.ndarray, now: float, hardware: SignalHardware
    ) -> np.ndarray:
        """Start the macro-actions ``actions`` of signals ``idx`` now; returns their durations."""
        t = self.timings
        phase, green = self.timings.decode(actions)
        old = self.phase[idx]
        switch = phase != old
        transition = np.where(switch & (old != START), t.transition, 0.0)
        if switch.any():
            moving = idx[switch]
            starts = now + transition[switch]
            hardware.switch(moving, old[switch], phase[switch], starts)
            self.phase[moving] = phase[switch]
            self.green_from[moving] = starts
        return transition + green

    def mask(self, idx: np.ndarray, now: float) -> np.ndarray:
        """[B, A] allowed macro-actions: all but extensions beyond ``max_green``."""
        t = self.timings
        mask = np.ones((len(idx), t.n_actions), dtype=bool)
        phase = self.phase[idx]
        showing = np.flatnonzero(phase >= 0)
        if showing.size:
            elapsed = now - self.green_from[idx[showing]]
            too_long = elapsed[:, None] + np.asarray(t.greens)[None, :] > t.max_green + 1e-9
            cols = t.action(phase[showing][:, None], np.arange(len(t.greens))[None, :])
            mask[showing[:, None], cols] = ~too_long
        return mask

    def elapsed(self, idx: np.ndarray, now: float) -> np.ndarray:
        """Green time of the current phase so far (0 when no phase is green)."""
        return np.where(self.phase[idx] >= 0, now - self.green_from[idx], 0.0)

    def flash(self, i: int, hardware: SignalHardware) -> None:
        """Signal ``i`` crashed: it flashes."""
        self.phase[i] = FLASH
        hardware.flash(i)

    def recover(self, i: int, hardware: SignalHardware) -> None:
        """Signal ``i`` recovered: all red until its next macro-action's transition ends."""
        self.phase[i] = FLASH
        hardware.dark(i)
