"""Shortest plans of primitive actions on a warehouse floor: to a shelf, to a goal, to a free slot.

A plan is the list of primitive actions (forward, turn left, turn right, toggle load) that takes
a robot from its cell and heading to a destination in the fewest steps, a turn costing one step
like a move. Robots are not obstacles to planning: a robot that finds its way blocked is
interrupted and plans again.

* **Unloaded** robots pass under shelves, so the whole grid is open: the shortest plan is at
  most two straight legs, the horizontal one first unless the vertical one saves a turn
  (``free_cost``, ``free_plan``).
* **Loaded** robots keep to the highways (where no shelf ever stands) and leave their start cell
  for one of them. Their plans follow distance fields over (cell, heading) states, computed by
  a breadth-first search from the destinations backwards: to the goal cells once per layout
  (``to_goal``), to the free shelf slots whenever the shelves have moved (``to_slots``). A free
  slot is a cell off the highways with no shelf, entered from a highway cell beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order

from dmarl_des.worlds.warehouse_layout import DOWN, LEFT, RIGHT, UP, Layout
from dmarl_des.worlds.warehouse_rules import FORWARD, NOOP, TURN_LEFT, TURN_RIGHT

TURNS = ((), (TURN_RIGHT,), (TURN_RIGHT, TURN_RIGHT), (TURN_LEFT,))
"""The turns from heading a to heading b, indexed by (b − a) mod 4."""

N_TURNS = np.array([0, 1, 2, 1], dtype=np.int64)
"""Number of turns, indexed by (b − a) mod 4."""


def turns_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Turns needed to go from heading ``a`` to heading ``b`` (0, 1 or 2)."""
    return N_TURNS[(np.asarray(b) - np.asarray(a)) % 4]


@dataclass
class Field:
    """Distances (in steps) from every (cell, heading) state to the nearest destination state,
    and the next state on a shortest way there (-9999 at destinations and unreachable states)."""

    dist: np.ndarray
    """[4C] steps to the nearest destination (inf: unreachable)."""
    next_state: np.ndarray
    """[4C] the state after one step towards it."""


class Routes:
    """Plans on one layout (see the module)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.width = layout.width
        self.ahead = layout.ahead()
        self.highway = layout.highway
        n_states = 4 * layout.n_cells
        state = np.arange(n_states)
        cell, heading = state // 4, state % 4
        src = [state, state]
        dst = [cell * 4 + (heading + 1) % 4, cell * 4 + (heading - 1) % 4]
        step = self.ahead[cell, heading]
        road = (step != cell) & self.highway[step]
        src.append(state[road])
        dst.append(step[road] * 4 + heading[road])
        s, d = np.concatenate(src), np.concatenate(dst)
        # reversed graph (a search from the destinations gives distances *to* them), in CSR
        # form with one more row: a source node whose edges go to the destinations of a search
        order = np.lexsort((s, d))
        self._heads = s[order]
        self._starts = np.searchsorted(d[order], np.arange(n_states + 1))
        goals = layout.goals
        self.to_goal = self.field((goals[:, None] * 4 + np.arange(4)).reshape(-1))
        """The loaded robots' field towards the goal cells (fixed for the layout)."""

    # ------------------------------------------------------------------ loaded robots
    def field(self, destinations: np.ndarray) -> Field:
        """The loaded robots' field towards the given states: a breadth-first search from all of
        them at once (from one extra node linked to each), backwards along the moves."""
        n_states = self._starts.size - 1
        targets = np.unique(destinations)
        indptr = np.append(self._starts, self._starts[-1] + targets.size)
        indices = np.concatenate([self._heads, targets])
        graph = csr_array(
            (np.ones(indices.size, dtype=np.int8), indices, indptr),
            shape=(n_states + 1, n_states + 1),
        )
        _, pred = breadth_first_order(graph, n_states, directed=True, return_predecessors=True)
        parent = pred[:n_states].astype(np.int64)
        root = (parent == n_states) | (parent < 0)
        up = np.where(root, np.arange(n_states), parent)
        depth = (~root).astype(np.int64)
        while True:  # pointer jumping: depth = steps to the destination the search came from
            hop = up[up]
            if np.array_equal(hop, up):
                break
            depth += depth[up]
            up = hop
        dist = np.where((parent >= 0), depth, np.inf).astype(np.float64)
        return Field(dist, np.where(root, -9999, parent))

    def slot_doors(self, shelf_at: np.ndarray) -> np.ndarray:
        """States (cell, heading) of a highway cell facing a free slot beside it."""
        cells = np.flatnonzero(self.highway)
        step = self.ahead[cells]
        free = ~self.highway[step] & (shelf_at[step] < 0)
        door_cell, door_heading = np.nonzero(free)
        return cells[door_cell] * 4 + door_heading

    def to_slots(self, shelf_at: np.ndarray) -> Field:
        """The loaded robots' field towards the doors of the free slots (see ``slot_doors``)."""
        return self.field(self.slot_doors(shelf_at))

    def follow(self, field: Field, cells: np.ndarray, headings: np.ndarray) -> list[list[int]]:
        """Each robot's plan along ``field`` from (cell, heading) to its destination (robots
        must be able to reach one: ``field.dist`` finite)."""
        state = np.asarray(cells) * 4 + np.asarray(headings)
        dist = field.dist[state]
        length = np.where(np.isfinite(dist), dist, 0).astype(np.int64)
        steps = np.zeros((state.size, int(length.max(initial=0))), dtype=np.int64)
        active = np.flatnonzero(length > 0)
        for k in range(steps.shape[1]):
            active = active[length[active] > k]
            now = state[active]
            nxt = field.next_state[now]
            right = (nxt - now) % 4 == 1
            steps[active, k] = np.where(
                nxt // 4 != now // 4, FORWARD, np.where(right, TURN_RIGHT, TURN_LEFT)
            )
            state[active] = nxt
        return [row[:n].tolist() for row, n in zip(steps, length.tolist(), strict=True)]

    # ------------------------------------------------------------------ unloaded robots
    def free_cost(self, cells: np.ndarray, headings: np.ndarray, to: np.ndarray) -> np.ndarray:
        """Steps of the shortest open-grid way from (cells, headings) [B] to cells ``to``
        [B, K] (moves and turns; broadcasting as numpy does)."""
        w = self.width
        x0, y0 = (cells % w)[:, None], (cells // w)[:, None]
        h = np.asarray(headings)[:, None]
        dx, dy = to % w - x0, to // w - y0
        across = np.where(dx > 0, RIGHT, LEFT)
        along = np.where(dy > 0, DOWN, UP)
        t_across, t_along = turns_between(h, across), turns_between(h, along)
        turns = np.where(
            dx == 0,
            np.where(dy == 0, 0, t_along),
            np.where(dy == 0, t_across, 1 + np.minimum(t_across, t_along)),
        )
        return np.abs(dx) + np.abs(dy) + turns

    def free_plan(self, cell: int, heading: int, to: int) -> list[int]:
        """The shortest open-grid plan from (cell, heading) to cell ``to`` (see ``free_cost``)."""
        w = self.width
        dx, dy = to % w - cell % w, to // w - cell // w
        across = RIGHT if dx > 0 else LEFT
        along = DOWN if dy > 0 else UP
        legs = [(across, abs(dx)), (along, abs(dy))]
        if dx != 0 and dy != 0 and turns_between(heading, along) < turns_between(heading, across):
            legs.reverse()
        plan: list[int] = []
        for direction, length in legs:
            if length:
                plan += TURNS[(direction - heading) % 4]
                plan += [FORWARD] * length
                heading = direction
        return plan

    def aside(
        self, cell: int, heading: int, order: np.ndarray, free: np.ndarray
    ) -> tuple[list[int], int, int]:
        """Turn towards and step into the first free neighbour cell in ``order`` (headings),
        ``free`` [C] marking the cells the robot may enter: (plan, cell, heading) after it; a
        no-op when none is free."""
        for direction in order.tolist():
            nxt = int(self.ahead[cell, direction])
            if nxt != cell and free[nxt]:
                return [*TURNS[(direction - heading) % 4], FORWARD], nxt, direction
        return [NOOP], cell, heading
