"""One picture of a swarm: agents where they are, coloured by role, the links up, the world's map.

A ``Scene`` is what the live view and the animations draw, whichever the source: a running world
(``world_scene.scene_of_world``) or a recorded `trace` (``replay.scenes_of_run``). Worlds without
positions get a circle layout, agent slot by slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dmarl_des.world import WorldMap

ROLES = ("honest", "byzantine", "crashed", "absent")
"""The roles a scene tells apart, in legend order."""

ROLE_COLOURS = {
    "honest": (43, 108, 176),
    "byzantine": (214, 110, 20),
    "crashed": (200, 30, 45),
    "absent": (170, 175, 185),
}
"""RGB of each role: blue, orange, red, light grey (absent agents are drawn hollow)."""

LINK_COLOUR = (150, 160, 175)
FLASH_COLOUR = (200, 30, 45)
MAP_COLOURS = ((255, 255, 255), (188, 226, 178))
"""A map's 0 and 255 (coverage: unseen white, seen green); values between blend."""


@dataclass
class Scene:
    """The swarm at one instant. Arrays are aligned by agent slot."""

    time: float
    positions: np.ndarray
    """[N, 2] float64 in the scene's space."""
    roles: list[str]
    agent_ids: np.ndarray
    """[N] int64."""
    links: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    """[L, 2] slot pairs (src, dst) of the links up."""
    extent: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    """(x0, y0, x1, y1) shown."""
    world_map: WorldMap | None = None
    flashes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    """[K, 2] places where an agent crashed since the previous scene."""
    title: str = ""
    episode: int = 0

    def counts(self) -> dict[str, int]:
        """How many agents have each role."""
        return {role: sum(1 for r in self.roles if r == role) for role in ROLES}

    def caption(self) -> str:
        """One line: time and the agents by role."""
        c = self.counts()
        parts = [f"{c[r]} {r}" for r in ROLES if c[r] or r == "honest"]
        head = f"{self.title}  " if self.title else ""
        return f"{head}t = {self.time:.1f}   " + ", ".join(parts)


def circle_layout(n: int, radius: float = 1.0) -> np.ndarray:
    """[n, 2] positions on a circle, slot 0 at the top, clockwise (worlds without a space)."""
    angle = math.pi / 2 - 2 * math.pi * np.arange(n) / max(n, 1)
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def padded_extent(points: np.ndarray, pad: float = 0.05) -> tuple[float, float, float, float]:
    """A square extent around ``points`` [K, 2] (finite ones), ``pad`` of its side around."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return (-1.0, -1.0, 1.0, 1.0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = float(max(hi - lo)) or 1.0
    centre = (lo + hi) / 2
    half = side * (0.5 + pad)
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def map_rgb(world_map: WorldMap) -> np.ndarray:
    """The map as an RGB image [H, W, 3] uint8 with row 0 at the TOP (ready to draw)."""
    t = world_map.values[::-1].astype(np.float32)[..., None] / 255.0
    low, high = (np.array(c, dtype=np.float32) for c in MAP_COLOURS)
    return (low + (high - low) * t).round().astype(np.uint8)
