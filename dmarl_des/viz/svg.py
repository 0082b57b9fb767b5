"""Drawing for the browser: a scene and line plots as SVG markup (what the live view shows).

The geometry is the frames' (``raster.plot_box``, ``raster.to_pixels``), so a live picture and
an animation frame of the same scene agree. Elements carry classes a page (or a test) can find:
``agent`` plus the role on each agent's circle, ``link`` on each link, ``world-map`` on the map
image, ``flash`` on crash marks, ``series`` on a plot's line.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
from PIL import Image

from dmarl_des.viz.raster import LEGEND, agent_radius, plot_box, to_pixels
from dmarl_des.viz.scene import FLASH_COLOUR, LINK_COLOUR, ROLE_COLOURS, ROLES, Scene, map_rgb

SERIES_COLOURS = ("#2b6cb0", "#c81e2d", "#2f855a", "#d66e14")
_FIT = "width:100%;height:auto"
"""In a page, a picture shrinks to the width of its box (the view box keeps its proportions)."""


def _rgb(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _png_data(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def scene_svg(scene: Scene, size: int = 560) -> str:
    """The scene as an ``<svg>`` element of ``size × size`` pixels."""
    box = plot_box(size)
    left, top, side = box
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dmarl-scene" width="{size}" '
        f'height="{size}" viewBox="0 0 {size} {size}" data-time="{scene.time:g}" '
        f'data-agents="{len(scene.roles)}" style="{_FIT}">',
        f'<rect x="0" y="0" width="{size}" height="{size}" fill="#fafafc"/>',
        f'<rect x="{left}" y="{top}" width="{side}" height="{side}" fill="#ffffff"/>',
    ]
    m = scene.world_map
    if m is not None:
        (a, b), (c, d) = to_pixels(
            scene, np.array([[m.extent[0], m.extent[3]], [m.extent[2], m.extent[1]]]), box
        ).tolist()
        out.append(
            f'<image class="world-map" x="{a:.1f}" y="{b:.1f}" width="{c - a:.1f}" '
            f'height="{d - b:.1f}" preserveAspectRatio="none" '
            f'style="image-rendering:pixelated" href="{_png_data(map_rgb(m))}"/>'
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{side}" height="{side}" fill="none" stroke="#787d87"/>'
    )
    px = to_pixels(scene, scene.positions, box)
    if len(scene.links):
        out.append(f'<g stroke="{_rgb(LINK_COLOUR)}" stroke-width="1">')
        for i, j in np.unique(np.sort(scene.links, axis=1), axis=0).tolist():
            (x1, y1), (x2, y2) = px[i], px[j]
            out.append(
                f'<line class="link" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'
            )
        out.append("</g>")
    r = agent_radius(len(scene.roles), side)
    order = sorted(range(len(scene.roles)), key=lambda k: ROLES.index(scene.roles[k]), reverse=True)
    out.append("<g>")
    for k in order:
        role = scene.roles[k]
        colour = _rgb(ROLE_COLOURS[role])
        paint = f'fill="none" stroke="{colour}"' if role == "absent" else f'fill="{colour}"'
        out.append(
            f'<circle class="agent {role}" data-agent="{int(scene.agent_ids[k])}" '
            f'cx="{px[k, 0]:.1f}" cy="{px[k, 1]:.1f}" r="{r:.1f}" {paint}/>'
        )
    out.append("</g>")
    for x, y in to_pixels(scene, scene.flashes, box).tolist():
        out.append(
            f'<circle class="flash" cx="{x:.1f}" cy="{y:.1f}" r="{2.6 * r:.1f}" fill="none" '
            f'stroke="{_rgb(FLASH_COLOUR)}" stroke-width="2"/>'
        )
    out.append(f'<text x="6" y="15" font-size="12" fill="#232832">{escape(scene.caption())}</text>')
    x = 8
    for role in ROLES:
        colour = _rgb(ROLE_COLOURS[role])
        paint = f'fill="none" stroke="{colour}"' if role == "absent" else f'fill="{colour}"'
        out.append(f'<circle cx="{x + 5}" cy="{size - LEGEND + 9}" r="4.5" {paint}/>')
        out.append(
            f'<text x="{x + 13}" y="{size - LEGEND + 13}" font-size="11" fill="#232832">{role}</text>'
        )
        x += 13 + 7 * len(role) + 14
    out.append("</svg>")
    return "".join(out)


def line_chart_svg(
    title: str,
    xs: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    *,
    width: int = 360,
    height: int = 170,
    y_range: tuple[float, float] | None = None,
) -> str:
    """Line plots of ``series`` (label → values aligned with ``xs``; None/NaN leave a gap) as an
    ``<svg>`` element with axes, the value range and a legend."""
    left, right, top, bottom = 44, 10, 22, 24
    w, h = width - left - right, height - top - bottom
    values = [
        float(v) for ys in series.values() for v in ys if v is not None and math.isfinite(float(v))
    ]
    lo, hi = (
        y_range if y_range is not None else (min(values, default=0.0), max(values, default=1.0))
    )
    if hi <= lo:
        hi = lo + 1.0
    x_lo, x_hi = (min(xs), max(xs)) if len(xs) else (0.0, 1.0)
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0

    def point(x: float, y: float) -> str:
        return f"{left + (x - x_lo) / (x_hi - x_lo) * w:.1f},{top + (hi - y) / (hi - lo) * h:.1f}"

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dmarl-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{_FIT}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{left}" y="14" font-size="12" fill="#232832">{escape(title)}</text>',
        f'<path d="M{left},{top} V{top + h} H{left + w}" fill="none" stroke="#787d87"/>',
        f'<text x="{left - 4}" y="{top + 9}" font-size="10" text-anchor="end">{hi:.3g}</text>',
        f'<text x="{left - 4}" y="{top + h}" font-size="10" text-anchor="end">{lo:.3g}</text>',
        f'<text x="{left}" y="{height - 8}" font-size="10">t = {x_lo:.3g}</text>',
        f'<text x="{left + w}" y="{height - 8}" font-size="10" text-anchor="end">{x_hi:.3g}</text>',
    ]
    for k, (label, ys) in enumerate(series.items()):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        runs: list[list[str]] = [[]]
        for x, y in zip(xs, ys, strict=True):
            if y is None or not math.isfinite(float(y)):
                runs.append([])
            else:
                runs[-1].append(point(float(x), float(y)))
        for run in (r for r in runs if r):
            out.append(
                f'<polyline class="series" data-label="{escape(label)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.6" points="{" ".join(run)}"/>'
            )
        out.append(
            f'<text x="{left + w - 4}" y="{top + 12 + 12 * k}" font-size="10" text-anchor="end" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
