"""Drawing a scene as a picture with Pillow (the frames of animations): map, links, agents, legend.

A frame is ``size × size`` pixels: a caption band at the top (time, agents by role), the scene's
extent as a square below it, a legend band at the bottom. Agents are discs coloured by role
(absent ones hollow), links thin grey lines, the world's map underneath, and a red ring marks where
an agent crashed since the previous frame.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dmarl_des.viz.scene import (
    FLASH_COLOUR,
    LINK_COLOUR,
    ROLE_COLOURS,
    ROLES,
    Scene,
    map_rgb,
)

CAPTION = 22
LEGEND = 18
BACKGROUND = (250, 250, 252)
TEXT = (35, 40, 50)


@cache
def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def agent_radius(n: int, side: float) -> float:
    """Disc radius in pixels: smaller for crowded scenes, between 2 and 7."""
    return float(np.clip(side / (7.0 * np.sqrt(max(n, 1))), 2.0, 7.0))


def plot_box(size: int) -> tuple[int, int, int]:
    """(left, top, side) of the square plot area of a ``size``-pixel frame."""
    side = size - CAPTION - LEGEND
    return (size - side) // 2, CAPTION, side


def to_pixels(scene: Scene, points: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    """Scene coordinates [K, 2] → pixel coordinates [K, 2] (y grows upwards in the scene)."""
    left, top, side = box
    x0, y0, x1, y1 = scene.extent
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    px = left + (pts[:, 0] - x0) / (x1 - x0) * side
    py = top + (y1 - pts[:, 1]) / (y1 - y0) * side
    return np.stack([px, py], axis=1)


def _map_box(scene: Scene, box: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
    m = scene.world_map
    if m is None:
        return None
    corners = to_pixels(
        scene, np.array([[m.extent[0], m.extent[3]], [m.extent[2], m.extent[1]]]), box
    )
    (a, b), (c, d) = np.round(corners).astype(int).tolist()
    return (a, b, c, d) if c > a and d > b else None


def draw_scene(scene: Scene, size: int = 480) -> Image.Image:
    """The scene as an RGB image of ``size × size`` pixels."""
    if size < 96:
        raise ValueError(f"a frame needs at least 96 pixels, not {size}")
    image = Image.new("RGB", (size, size), BACKGROUND)
    box = plot_box(size)
    left, top, side = box
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, left + side, top + side), fill=(255, 255, 255))
    where = _map_box(scene, box)
    if where is not None:
        a, b, c, d = where
        raster = Image.fromarray(map_rgb(scene.world_map)).resize((c - a, d - b), Image.NEAREST)
        image.paste(raster, (a, b))
    draw.rectangle((left, top, left + side, top + side), outline=(120, 125, 135))
    px = to_pixels(scene, scene.positions, box)
    if len(scene.links):
        pairs = np.unique(np.sort(scene.links, axis=1), axis=0)
        for i, j in pairs.tolist():
            draw.line((*px[i], *px[j]), fill=LINK_COLOUR, width=1)
    r = agent_radius(len(scene.roles), side)
    order = sorted(range(len(scene.roles)), key=lambda k: ROLES.index(scene.roles[k]), reverse=True)
    for k in order:  # absent first, honest on top
        x, y = px[k]
        role = scene.roles[k]
        colour = ROLE_COLOURS[role]
        if role == "absent":
            draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=1)
        else:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    for x, y in to_pixels(scene, scene.flashes, box).tolist():
        ring = 2.6 * r
        draw.ellipse((x - ring, y - ring, x + ring, y + ring), outline=FLASH_COLOUR, width=2)
    draw.text((6, 4), scene.caption(), fill=TEXT, font=_font(12))
    _legend(draw, size)
    return image


def _legend(draw: ImageDraw.ImageDraw, size: int) -> None:
    x, y = 8, size - LEGEND + 4
    for role in ROLES:
        colour = ROLE_COLOURS[role]
        if role == "absent":
            draw.ellipse((x, y, x + 9, y + 9), outline=colour, width=1)
        else:
            draw.ellipse((x, y, x + 9, y + 9), fill=colour)
        draw.text((x + 13, y - 1), role, fill=TEXT, font=_font(11))
        x += 13 + int(draw.textlength(role, font=_font(11))) + 14
