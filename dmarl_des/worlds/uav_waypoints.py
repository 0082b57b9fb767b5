"""Candidate waypoints of a UAV, what it knows about their footprints, and its observation layout.

Shared by the UAV worlds (coverage, search and rescue): the search and rescue observation starts
with this layout.

A UAV at ``p`` may fly to one of eight compass waypoints ``p + step·u_j`` (north first, then
clockwise; diagonals have the same length ``step``), each clipped coordinate-wise to the area
``[0, size]²``, or hover (candidate 8, the point ``p`` itself). Clipping shortens flights near the
border and can make one degenerate (zero length): such a waypoint is not offered.

What a UAV *knows* is a small set of visited points (its own recent arrivals and the reports it
received). A point of the plane counts as known covered when it lies within ``sensor_radius`` of a
known point, or outside the area (nothing to gain there). The known covered share of a candidate's
footprint is estimated on 13 fixed sample points of the sensor disc (the centre, 6 at half the
radius, 6 at 0.9 of it), so it moves in steps of 1/13.
"""

from __future__ import annotations

import numpy as np

_DIAG = np.sqrt(0.5)
DIRECTIONS = np.array(
    [
        [0.0, 1.0],
        [_DIAG, _DIAG],
        [1.0, 0.0],
        [_DIAG, -_DIAG],
        [0.0, -1.0],
        [-_DIAG, -_DIAG],
        [-1.0, 0.0],
        [-_DIAG, _DIAG],
        [0.0, 0.0],
    ]
)
"""Unit displacement of each candidate: N, NE, E, SE, S, SW, W, NW, then hover (no move)."""
WAYPOINT_NAMES = ("n", "ne", "e", "se", "s", "sw", "w", "nw")
HOVER = 8
N_CANDIDATES = 9

# Observation layout (float32 [OBS_DIM]).
POSITION = slice(0, 2)
"""Own position / size (x, y in [0, 1])."""
KNOWN = slice(2, 11)
"""Known covered share of each candidate's footprint (steps of 1/13)."""
NEAREST = slice(11, 20)
"""Distance from each candidate to the nearest known point / (2·sensor_radius), capped at 1."""
LENGTH = slice(20, 29)
"""Flight length to each candidate / step (0 for hover and degenerate waypoints)."""
FILL = 29
"""Reports remembered / memory capacity."""
OBS_DIM = 30


def _footprint_samples() -> np.ndarray:
    a = np.arange(6) * (np.pi / 3)
    inner = 0.5 * np.stack([np.cos(a), np.sin(a)], axis=1)
    outer = 0.9 * np.stack([np.cos(a + np.pi / 6), np.sin(a + np.pi / 6)], axis=1)
    return np.concatenate([np.zeros((1, 2)), inner, outer])


FOOTPRINT_SAMPLES = _footprint_samples()
"""Sample points [13, 2] of the unit sensor disc: the centre (index 0), 6 at half the radius,
6 at 0.9 of it (turned by 30°)."""


def candidates(position: np.ndarray, step: float, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Waypoints [..., 9, 2] of UAVs at ``position`` [..., 2] and their flight lengths [..., 9]."""
    pos = np.asarray(position, dtype=np.float64)[..., None, :]
    targets = np.clip(pos + step * DIRECTIONS, 0.0, size)
    d = targets - pos
    return targets, np.sqrt((d * d).sum(axis=-1))


CHUNK = 256
"""UAVs per block in ``known_coverage`` (bounds its temporary arrays to a few MB)."""


def known_coverage(
    position: np.ndarray,
    targets: np.ndarray,
    known: np.ndarray,
    sensor_radius: float,
    step: float,
    size: float,
) -> tuple[np.ndarray, np.ndarray]:
    """What B UAVs at ``position`` [B, 2] know of the footprints at their candidates.

    ``targets`` [B, C, 2] are the candidates (within ``step`` of the position), ``known``
    [B, K, 2] the known points of each UAV (empty slots far away). Returns the known covered share
    [B, C] and the distance from each candidate to the nearest known point [B, C], exact up to
    ``2·sensor_radius`` (larger distances may be reported as any value above it, inf included).

    Only known points within ``step + 2·sensor_radius`` of a UAV can touch its candidates'
    footprints or come within ``2·sensor_radius`` of a candidate, so each block keeps just the
    nearest few (as many as the block's busiest UAV needs), relative to the UAV, in float32.
    """
    b, c = targets.shape[:2]
    share = np.empty((b, c))
    nearest = np.full((b, c), np.inf)
    offsets = sensor_radius * FOOTPRINT_SAMPLES
    r2 = np.float32(sensor_radius * sensor_radius)
    reach2 = (step + 2.0 * sensor_radius) ** 2
    for lo in range(0, b, CHUNK):
        hi = min(lo + CHUNK, b)
        pos = position[lo:hi, None, :]
        samples = targets[lo:hi, :, None, :] + offsets  # [b, C, S, 2]
        outside = ((samples < 0.0) | (samples > size)).any(axis=3)
        rel = known[lo:hi] - pos
        d2 = (rel * rel).sum(axis=2)
        k = int((d2 <= reach2).sum(axis=1).max())
        if k == 0:
            share[lo:hi] = outside.mean(axis=2)
            continue
        if k < rel.shape[1]:
            order = np.argpartition(d2, k - 1, axis=1)[:, :k]
            rel = np.take_along_axis(rel, order[:, :, None], axis=1)
        rel = rel.astype(np.float32)
        pts = (samples - pos[:, :, None, :]).astype(np.float32).reshape(hi - lo, -1, 1, 2)
        dx = pts[..., 0] - rel[:, None, :, 0]
        dy = pts[..., 1] - rel[:, None, :, 1]
        dmin = (dx * dx + dy * dy).min(axis=2).reshape(hi - lo, c, -1)
        share[lo:hi] = ((dmin <= r2) | outside).mean(axis=2)
        nearest[lo:hi] = np.sqrt(dmin[:, :, 0].astype(np.float64))
    return share, nearest
