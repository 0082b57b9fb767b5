"""The UAV's sensor: detection probability per glimpse, lateral range curve, sweep width, Koopman's law.

A UAV looks every ``scan_period`` (a *glimpse*). A glimpse detects a target at distance ``d``
with probability ``g(d)``, independently of other glimpses:

* ``definite`` (Koopman's "definite range" or cookie-cutter law): ``g(d) = p`` for ``d ≤ R``,
  0 beyond;
* ``gaussian``: ``g(d) = p·exp(−d² / (2σ²))`` with ``σ = R / 3`` for ``d ≤ R``, 0 beyond (at the
  cut-off ``g(R) = p·e^{−4.5} ≈ 0.011·p``).

``R`` is ``sensor_range`` and ``p`` is ``p_detect`` (the probability at distance 0).

**Lateral range curve.** A UAV on an infinite straight track at speed ``v`` glimpses every
``Δ = v·scan_period``; a target at lateral distance ``x`` from the track is detected with
probability ``L(x) = 1 − E_φ[Π_k (1 − g(√(x² + (φ + kΔ)²)))]``, the phase ``φ`` of the glimpses
along the track uniform on ``[0, Δ)``. **The sweep width** is ``W = ∫ L(x) dx`` (Koopman). For a
definite-range sensor with ``p = 1`` a glimpse falls inside the chord ``2√(R² − x²)`` with
probability ``min(1, 2√(R² − x²)/Δ)``, so ``W → 2R`` as ``Δ → 0`` (closed form in
``definite_sweep_width``).

**Random search** (Koopman 1946): ``n`` searchers whose track elements are spread uniformly and
independently over an area ``A`` find a uniformly placed, static target by time ``t`` with
probability ``1 − exp(−n·W·v·t / A)``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Sensor = Literal["definite", "gaussian"]
SENSORS: tuple[str, ...] = ("definite", "gaussian")
SIGMA_PER_RANGE = 1.0 / 3.0
"""Gaussian sensor: σ = sensor_range / 3 (the range is the 3σ cut-off)."""


def glimpse_probability(
    distance: np.ndarray, sensor: Sensor, sensor_range: float, p_detect: float
) -> np.ndarray:
    """Probability ``g(d)`` that one glimpse detects a target at ``distance`` (array, same shape)."""
    d = np.asarray(distance, dtype=np.float64)
    inside = d <= sensor_range
    if sensor == "definite":
        return np.where(inside, p_detect, 0.0)
    if sensor == "gaussian":
        sigma = SIGMA_PER_RANGE * sensor_range
        return np.where(inside, p_detect * np.exp(-0.5 * (d / sigma) ** 2), 0.0)
    raise ValueError(f"unknown sensor {sensor!r}; one of {SENSORS}")


def lateral_range_curve(
    lateral: np.ndarray,
    sensor: Sensor,
    sensor_range: float,
    p_detect: float,
    spacing: float,
    resolution: int = 256,
) -> np.ndarray:
    """``L(x)``: detection probability over one pass of an infinite straight track, glimpses every
    ``spacing`` along it, for targets at lateral distances ``lateral`` [K]. The average over the
    glimpses' phase is a midpoint rule with phase steps of at most ``sensor_range / resolution``."""
    x = np.abs(np.asarray(lateral, dtype=np.float64))
    phases = min(1 << 16, max(64, math.ceil(spacing * resolution / sensor_range)))
    phase = (np.arange(phases) + 0.5) / phases * spacing
    reach = math.ceil(sensor_range / spacing) + 1
    along = phase[:, None] + spacing * np.arange(-reach, reach + 1)[None, :]  # [P, G]
    chunk = max(1, (1 << 22) // along.size)
    out = np.empty(len(x))
    for lo in range(0, len(x), chunk):
        xs = x[lo : lo + chunk, None, None]
        g = glimpse_probability(np.sqrt(xs * xs + along[None] ** 2), sensor, sensor_range, p_detect)
        out[lo : lo + chunk] = 1.0 - np.prod(1.0 - g, axis=2).mean(axis=1)
    return out


def sweep_width(
    sensor: Sensor,
    sensor_range: float,
    p_detect: float,
    spacing: float,
    points: int = 2001,
    resolution: int = 256,
) -> float:
    """``W = ∫ L(x) dx`` over ``[−R, R]`` (the curve is 0 beyond), by the trapezoid rule."""
    x = np.linspace(-sensor_range, sensor_range, points)
    curve = lateral_range_curve(x, sensor, sensor_range, p_detect, spacing, resolution)
    return float(np.sum((curve[1:] + curve[:-1]) * np.diff(x)) / 2.0)


def definite_sweep_width(sensor_range: float, spacing: float) -> float:
    """Closed form of ``W`` for the definite-range sensor with ``p = 1``:
    ``∫ min(1, 2√(R² − x²)/Δ) dx`` (``2R`` in the limit of continuous looking, ``Δ → 0``)."""
    r, delta = float(sensor_range), float(spacing)
    if delta <= 0:
        return 2.0 * r
    if delta >= 2 * r:  # never a full chord: (2/Δ)·(πR²/2)
        return math.pi * r * r / delta
    a = math.sqrt(r * r - delta * delta / 4.0)  # |x| ≤ a: the chord is at least Δ
    # ∫_a^R √(R² − x²) dx = (R²/4)·(2θ − sin 2θ) with sin θ = (Δ/2)/R
    tail = 0.25 * r * r * _x_minus_sin(2.0 * math.asin(0.5 * delta / r))
    return 2.0 * a + (4.0 / delta) * tail


def _x_minus_sin(x: float) -> float:
    """``x − sin x`` without cancellation for small ``x``."""
    if abs(x) > 0.1:
        return x - math.sin(x)
    x2 = x * x  # Taylor series: x³/3! − x⁵/5! + x⁷/7! − x⁹/9!
    return x * x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0)))


def random_search_fraction(
    t: np.ndarray | float, width: float, speed: float, area: float, searchers: int = 1
) -> np.ndarray:
    """Koopman's random-search law: fraction found by ``t``, ``1 − exp(−n·W·v·t / A)``."""
    return 1.0 - np.exp(-searchers * width * speed * np.asarray(t, dtype=np.float64) / area)
