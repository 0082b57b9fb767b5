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

import itertools

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


CHUNK = 4096
"""UAVs per block in ``known_coverage`` (bounds its temporary arrays to a few tens of MB)."""
PAIRS = 1 << 20
"""Most (sample, known point) distances computed at once (4 MB of float32)."""


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
    footprints or come within ``2·sensor_radius`` of a candidate. UAVs are grouped by how many
    such points they have, and each group computes exactly those distances (relative to the UAV,
    in float32; x and y apart, one pass of elementwise minima over the points).
    """
    b, c = targets.shape[:2]
    share = np.empty((b, c))
    nearest = np.full((b, c), np.inf)
    for lo in range(0, b, CHUNK):
        hi = min(lo + CHUNK, b)
        _known_block(
            (position[lo:hi], targets[lo:hi], known[lo:hi]),
            (sensor_radius, step, size),
            share[lo:hi],
            nearest[lo:hi],
        )
    return share, nearest


def _known_block(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    lengths: tuple[float, float, float],
    share: np.ndarray,
    nearest: np.ndarray,
) -> None:
    """``known_coverage`` of one block of UAVs, written into ``share`` and ``nearest``."""
    position, targets, known = arrays
    sensor_radius, step, size = lengths
    b, c = targets.shape[:2]
    s = FOOTPRINT_SAMPLES.shape[0]
    offsets = sensor_radius * FOOTPRINT_SAMPLES
    # sample points per coordinate [B, C·S] (candidate after candidate)
    sx = np.repeat(targets[:, :, 0], s, axis=1) + np.tile(offsets[:, 0], c)
    sy = np.repeat(targets[:, :, 1], s, axis=1) + np.tile(offsets[:, 1], c)
    # a sample leaves the area only for UAVs within step + 0.9·sensor_radius of the border
    margin = step + 2.0 * sensor_radius
    edge = np.flatnonzero(((position < margin) | (position > size - margin)).any(axis=1))
    covered = np.zeros((b, c * s), dtype=bool)
    if edge.size:
        ex, ey = sx[edge], sy[edge]
        covered[edge] = (ex < 0.0) | (ex > size) | (ey < 0.0) | (ey > size)
    rx = known[:, :, 0] - position[:, 0, None]
    ry = known[:, :, 1] - position[:, 1, None]
    inreach = rx * rx + ry * ry <= (step + 2.0 * sensor_radius) ** 2
    counts = inreach.sum(axis=1)
    order = np.argsort(counts, kind="stable")
    ranked = counts[order]
    if ranked[-1] > 0:
        px = (sx - position[:, 0, None]).astype(np.float32)
        py = (sy - position[:, 1, None]).astype(np.float32)
        centre = np.full((b, c), np.inf, dtype=np.float32)
        r2 = np.float32(sensor_radius * sensor_radius)
        cuts = [0, *(np.flatnonzero(ranked[1:] != ranked[:-1]) + 1).tolist(), b]
        for first, last in itertools.pairwise(cuts):
            k = int(ranked[first])
            if k == 0:
                continue
            group = order[first:last]
            per = max(1, PAIRS // (k * c * s))
            for at in range(0, group.size, per):
                rows = group[at : at + per]
                g = rows.size
                sel = inreach[rows]
                qx = rx[rows][sel].reshape(g, k, 1).astype(np.float32)
                qy = ry[rows][sel].reshape(g, k, 1).astype(np.float32)
                dx = px[rows][:, None, :] - qx  # [g, k, C·S]
                dy = py[rows][:, None, :] - qy
                dx *= dx
                dy *= dy
                dx += dy
                dmin = dx.min(axis=1)
                covered[rows] |= dmin <= r2
                centre[rows] = dmin[:, ::s]  # the first sample of a candidate is its centre
        reached = np.isfinite(centre)
        nearest[reached] = np.sqrt(centre[reached].astype(np.float64))
    share[:] = covered.reshape(b, c, s).mean(axis=2)
