"""Warehouse floor plans: the grid, its highways, goal cells and shelf homes (RWARE's layouts).

A floor is a grid of ``height`` rows and ``width`` columns; cell ``(x, y)`` (column ``x``, row
``y``, row 0 at the top) has index ``y · width + x``. Headings are ``UP`` (towards row 0),
``RIGHT``, ``DOWN``, ``LEFT`` — clockwise, so a right turn adds 1 modulo 4. Moving off the grid
leaves a robot where it is.

*Highway* cells are corridors: a loaded robot may put its shelf down only off the highways, and
every cell that is not a highway holds a shelf at the start of an episode. *Goal* cells (on the
highways) are where requested shelves are delivered.

The parametric layout of RWARE (Papoudakis et al. 2021): ``shelf_columns`` (odd) columns of
two-wide shelf blocks separated by one-wide vertical highways (``x % 3 == 0``), ``shelf_rows``
bands of ``column_height`` shelf rows separated by horizontal highways (``y % (column_height + 1)
== 0``), a last row of corridor holding the two goal cells in the middle, and the two middle
columns kept free over the last ``column_height + 2`` rows as a queue towards the goals. The
grid has ``(column_height + 1) · shelf_rows + 2`` rows and ``3 · shelf_columns + 1`` columns.
Named sizes give (shelf_rows, shelf_columns) with a column height of 8: tiny (1, 3), small
(2, 3), medium (2, 5), large (3, 5).

A custom layout is text, one line per row: ``x`` a shelf, ``.`` a corridor, ``g`` a goal
(case-insensitive, spaces ignored); goals are numbered row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmarl_des.errors import ConfigError

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
HEADING_STEPS = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], dtype=np.int64)
"""(dx, dy) of one step forward for each heading."""

SIZES = {"tiny": (1, 3), "small": (2, 3), "medium": (2, 5), "large": (3, 5)}
"""Named layouts: (shelf_rows, shelf_columns), column height 8."""

MAX_CELLS = 1_000_000
"""Largest grid (cells) a layout may have."""


@dataclass(frozen=True, eq=False)
class Layout:
    """A floor plan: grid size, highway mask, goal cells and the shelves' starting cells."""

    height: int
    width: int
    highway: np.ndarray
    """[C] bool: the cell is a corridor (no shelf at the start; shelves are not put down there)."""
    goals: np.ndarray
    """[G] goal cells, in delivery order (row by row)."""

    @property
    def n_cells(self) -> int:
        return self.height * self.width

    @property
    def shelf_homes(self) -> np.ndarray:
        """[S] the cells holding a shelf at the start, in cell order (shelf ``k`` starts at
        ``shelf_homes[k]``)."""
        return np.flatnonzero(~self.highway)

    @property
    def xy(self) -> np.ndarray:
        """[C, 2] (x, y) of every cell."""
        cells = np.arange(self.n_cells)
        return np.stack([cells % self.width, cells // self.width], axis=1)

    def ahead(self) -> np.ndarray:
        """[C, 4] the cell one step forward from each cell for each heading (the cell itself at
        the border)."""
        xy = self.xy
        out = np.empty((self.n_cells, 4), dtype=np.int64)
        for h, (dx, dy) in enumerate(HEADING_STEPS.tolist()):
            x = np.clip(xy[:, 0] + dx, 0, self.width - 1)
            y = np.clip(xy[:, 1] + dy, 0, self.height - 1)
            out[:, h] = y * self.width + x
        return out

    def text(self) -> str:
        """The layout as text (``x`` shelf home, ``.`` corridor, ``g`` goal)."""
        chars = np.where(self.highway, ".", "x").astype(object)
        chars[self.goals] = "g"
        return "\n".join("".join(row) for row in chars.reshape(self.height, self.width))


def parametric_layout(
    shelf_rows: int, shelf_columns: int, column_height: int, stations: int = 1
) -> Layout:
    """RWARE's layout of ``shelf_rows`` × ``shelf_columns`` shelf blocks (see the module).

    ``stations > 1`` (an extension for large fleets) spreads that many pairs of goal cells, each
    with its two-column queue, evenly along the last row: the pair of station ``j`` sits at
    columns ``x − 1`` and ``x`` with ``x = (2j + 1) · width // (2 · stations)`` (one station: the
    middle, as in RWARE)."""
    if shelf_columns < 1 or shelf_columns % 2 == 0:
        raise ConfigError("world.shelf_columns", shelf_columns, "an odd number >= 1")
    if shelf_rows < 1:
        raise ConfigError("world.shelf_rows", shelf_rows, "an integer >= 1")
    if column_height < 1:
        raise ConfigError("world.column_height", column_height, "an integer >= 1")
    height = (column_height + 1) * shelf_rows + 2
    width = 3 * shelf_columns + 1
    if height * width > MAX_CELLS:
        raise ConfigError("world", f"{height}×{width} cells", f"at most {MAX_CELLS} cells")
    if not 1 <= stations <= width // 3:
        raise ConfigError("world.stations", stations, f"1 to {width // 3} for {width} columns")
    y, x = np.indices((height, width))
    centres = (2 * np.arange(stations) + 1) * width // (2 * stations)
    queue = np.isin(x, np.concatenate([centres - 1, centres]))
    highway = (
        (x % 3 == 0)
        | (y % (column_height + 1) == 0)
        | (y == height - 1)
        | ((y > height - (column_height + 3)) & queue)
    )
    goals = (height - 1) * width + np.stack([centres - 1, centres], axis=1).reshape(-1)
    return Layout(height, width, highway.reshape(-1), goals)


def parse_layout(text: str, field: str = "world.layout") -> Layout:
    """A custom layout from text (see the module); ConfigError naming ``field`` when malformed."""
    lines = text.strip().replace(" ", "").split("\n")
    if not lines or not lines[0]:
        raise ConfigError(field, text, "rows of x (shelf), . (corridor) and g (goal)")
    width = len(lines[0])
    if any(len(line) != width for line in lines):
        raise ConfigError(field, text, "a rectangle: every row of the same length")
    if len(lines) * width > MAX_CELLS:
        raise ConfigError(field, f"{len(lines)}×{width} cells", f"at most {MAX_CELLS} cells")
    chars = np.array([list(line.lower()) for line in lines])
    bad = sorted(set(chars.reshape(-1).tolist()) - {"x", ".", "g"})
    if bad:
        raise ConfigError(field, "".join(bad), "only x (shelf), . (corridor) and g (goal)")
    flat = chars.reshape(-1)
    goals = np.flatnonzero(flat == "g")
    if goals.size == 0:
        raise ConfigError(field, text, "a layout with at least one goal cell (g)")
    return Layout(len(lines), width, flat != "x", goals)


def layout_of(
    size: str,
    shelf_rows: int | None,
    shelf_columns: int | None,
    column_height: int,
    text: str | None,
    stations: int = 1,
) -> Layout:
    """The layout the ``world.*`` keys name: ``text`` if given, else the named ``size`` with
    ``shelf_rows`` / ``shelf_columns`` overriding its numbers."""
    if text is not None:
        return parse_layout(text)
    if size not in SIZES:
        raise ConfigError("world.size", size, ", ".join(SIZES))
    rows, columns = SIZES[size]
    return parametric_layout(
        rows if shelf_rows is None else shelf_rows,
        columns if shelf_columns is None else shelf_columns,
        column_height,
        stations,
    )
