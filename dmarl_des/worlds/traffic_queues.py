"""Vehicles of the traffic world: a network of point queues with exact crossing times, kept in arrays.

**Model.** Each approach of each intersection is a point queue at its stop line (a vertical
queue: no length, no spill-back). Vehicles join it at their stop-line arrival time and cross
the stop line in arrival order (FIFO) at

``crossing = max(arrival, previous crossing + h, green start + h/2)``, provided ``crossing <
green end``,

with ``h = 1 / saturation_flow`` the saturation headway. A vehicle that finds no queue during
green crosses as it arrives (no delay); a standing queue discharges at the saturation flow, its
first vehicle half a headway after the green starts. Read as cumulative curves, the crossings
are the fluid discharge curve ``s · (t − green start)`` rounded to the nearest vehicle, which is
why the deterministic-queueing delay of a fixed-time signal comes out exactly (up to the
instant the queue clears). A vehicle's *delay* at a stop line is ``crossing − arrival``.

After crossing, a vehicle turns (straight, left, right with the world's probabilities), drives
the link to the next intersection in ``travel_time`` and joins its approach; where there is none
it leaves the network, ending its trip. Vehicles enter at the entry approaches: deterministic
arrivals at ``(k + 1/2) / q`` (the fluid arrival curve ``q · t`` rounded to the nearest vehicle)
or a Poisson process of rate ``q``.

**Draws.** Entries and turns come from ``traffic_demand`` (counter-based draws): the demand and
every vehicle's route do not depend on what the signals do, nor on how the simulation is cut
into steps.

**Time.** ``advance(t)`` moves the network to time ``t``: it processes every crossing before
``t`` (a crossing at ``t`` itself happens under the signal settings chosen at ``t``). It works in
chunks no longer than ``travel_time``, so a vehicle crossing within a chunk reaches its next
stop line after the chunk: the result does not depend on how often it is called. Signals
change only between calls (``open``, ``close``, ``set_headway`` at the current time).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from dmarl_des.worlds.traffic_demand import EntrySources, turns
from dmarl_des.worlds.traffic_grid import PHASE_SIDES, SIDES, STRAIGHT, RoadGrid

PHASE_SIDE_ARRAY = np.array(PHASE_SIDES)


class QueueNetwork:
    """The vehicles of one episode: FIFO rings per approach, entry sources, signal windows."""

    def __init__(
        self,
        grid: RoadGrid,
        *,
        saturation_flow: float,
        travel_time: float,
        p_left: float,
        p_right: float,
        arrivals: Literal["poisson", "deterministic"],
        rates: np.ndarray,
        flash_headway: float,
        key: tuple[int, int],
        capacity: int = 16,
    ) -> None:
        a = grid.n_approaches
        self.grid = grid
        self.travel_time = float(travel_time)
        self.p_left, self.p_right = float(p_left), float(p_right)
        self.key = key
        self.downstream = grid.downstream()
        self.saturation_headway = 1.0 / saturation_flow
        self.flash_headway = float(flash_headway)
        self.headway = np.full(a, self.saturation_headway)
        self.until = np.zeros(a)  # end of the open green window (0: closed from the start)
        self.earliest = np.zeros(a)  # earliest time the next vehicle may cross
        self.now = 0.0
        # FIFO rings [A, cap]: stop-line arrival, vehicle id, links driven, trip start
        self.cap = capacity
        self.t_arr = np.zeros((a, capacity))
        self.vid = np.zeros((a, capacity), dtype=np.int64)
        self.hop = np.zeros((a, capacity), dtype=np.int64)
        self.t_in = np.zeros((a, capacity))
        self.head = np.zeros(a, dtype=np.int64)
        self.size = np.zeros(a, dtype=np.int64)
        self.known_here = np.zeros(a, dtype=np.int64)
        """Leading vehicles of each FIFO known to have reached the stop line (see ``halting``)."""
        self.sources = EntrySources(grid.entry, rates, arrivals, key)
        # statistics
        self.entered = 0
        self.exited = 0
        self.trip_time = 0.0
        self.trip_delay = 0.0
        self.crossings = np.zeros(a, dtype=np.int64)
        self.delay = np.zeros(a)
        """[A] summed delay of the vehicles that crossed each stop line."""
        self.log_passages = False
        """Set True to keep every crossing for ``passages()``."""
        self._passages: list[tuple[np.ndarray, ...]] = []

    # ------------------------------------------------------------------ signals
    def open(self, approaches: np.ndarray, start: np.ndarray | float) -> None:
        """Green from ``start`` (>= now) on ``approaches`` until closed again."""
        self.until[approaches] = math.inf
        self.earliest[approaches] = np.maximum(
            self.earliest[approaches], start + self.headway[approaches] / 2
        )

    def close(self, approaches: np.ndarray) -> None:
        """Red from now on ``approaches``."""
        self.until[approaches] = self.now

    def switch(self, idx: np.ndarray, old: np.ndarray, new: np.ndarray, green: np.ndarray) -> None:
        """Intersections ``idx`` end phase ``old`` now (red on its approaches) and give green to
        phase ``new`` from ``green`` on (see ``SignalHardware``)."""
        had = old >= 0
        if had.any():
            self.close((idx[had, None] * SIDES + PHASE_SIDE_ARRAY[old[had]]).ravel())
        self.open((idx[:, None] * SIDES + PHASE_SIDE_ARRAY[new]).ravel(), np.repeat(green, 2))

    def flash(self, i: int) -> None:
        """Intersection ``i`` works as an all-way stop: every approach open, ``flash_headway``."""
        approaches = np.arange(SIDES) + SIDES * i
        self.headway[approaches] = self.flash_headway
        self.open(approaches, self.now)

    def dark(self, i: int) -> None:
        """Intersection ``i`` shows all red (saturation headway again for its next green)."""
        approaches = np.arange(SIDES) + SIDES * i
        self.headway[approaches] = self.saturation_headway
        self.close(approaches)

    # ------------------------------------------------------------------ time
    def advance(self, t: float) -> None:
        """Process every arrival and crossing before ``t``."""
        while self.now < t:
            end = min(t, self.now + self.travel_time)
            self._admit(end)
            self._discharge(end)
            self.now = end

    def _admit(self, end: float) -> None:
        """Vehicles of the entry sources arriving before ``end`` join their approaches."""
        approach, t, ids = self.sources.before(end)
        if approach.size:
            self._push(approach, t, ids, np.zeros(approach.size, dtype=np.int64), t)
            self.entered += int(approach.size)

    def _discharge(self, end: float) -> None:
        """Every crossing before ``end``; crossing vehicles turn and drive on (or leave)."""
        act = np.flatnonzero(self.size > 0)
        out: list[tuple[np.ndarray, ...]] = []
        cap = self.cap
        while act.size:
            h = self.head[act]
            arrive = self.t_arr[act, h]
            cross = np.maximum(arrive, self.earliest[act])
            ok = (cross < end) & (cross < self.until[act])
            if not ok.all():
                act, h, arrive, cross = act[ok], h[ok], arrive[ok], cross[ok]
                if not act.size:
                    break
            out.append((act, arrive, cross, self.vid[act, h], self.hop[act, h], self.t_in[act, h]))
            self.known_here[act] = np.maximum(self.known_here[act] - 1, 0)
            self.earliest[act] = cross + self.headway[act]
            self.head[act] = (h + 1) % cap
            self.size[act] -= 1
            act = act[self.size[act] > 0]
        if out:
            self._route(*(np.concatenate(col) for col in zip(*out)))

    def _route(self, approach, arrive, cross, vid, hop, t_in) -> None:
        np.add.at(self.crossings, approach, 1)
        np.add.at(self.delay, approach, cross - arrive)
        if self.log_passages:
            self._passages.append((approach, arrive, cross, vid, hop))
        choices = self.downstream[approach]
        if (choices < 0).all():  # every turn leaves the network: no draw needed
            dest = choices[:, STRAIGHT]
        else:
            turn = turns(self.key, vid, hop, self.p_left, self.p_right)
            dest = choices[np.arange(turn.size), turn]
        leave = dest < 0
        if leave.any():
            trip = cross[leave] - t_in[leave]
            self.exited += int(leave.sum())
            self.trip_time += float(trip.sum())
            self.trip_delay += float((trip - hop[leave] * self.travel_time).sum())
        stay = ~leave
        if stay.any():
            self._push(
                dest[stay], cross[stay] + self.travel_time, vid[stay], hop[stay] + 1, t_in[stay]
            )

    def _push(self, approach, t, vid, hop, t_in) -> None:
        """Append vehicles to the rings of ``approach`` in time order (later than any there)."""
        order = np.lexsort((t, approach))
        approach, t, vid, hop, t_in = approach[order], t[order], vid[order], hop[order], t_in[order]
        first = np.flatnonzero(np.r_[True, approach[1:] != approach[:-1]])
        group = np.diff(np.r_[first, approach.size])
        rank = np.arange(approach.size) - np.repeat(first, group)
        targets = approach[first]
        need = int((self.size[targets] + group).max())
        if need > self.cap:
            self._grow(max(need, 2 * self.cap))
        pos = (self.head[approach] + self.size[approach] + rank) % self.cap
        self.t_arr[approach, pos] = t
        self.vid[approach, pos] = vid
        self.hop[approach, pos] = hop
        self.t_in[approach, pos] = t_in
        self.size[targets] += group

    def _grow(self, cap: int) -> None:
        """Larger rings, each approach's vehicles moved to the front in FIFO order."""
        cols = (self.head[:, None] + np.arange(self.cap)) % self.cap
        rows = np.arange(self.size.size)[:, None]
        for name in ("t_arr", "vid", "hop", "t_in"):
            old = getattr(self, name)
            new = np.zeros((old.shape[0], cap), dtype=old.dtype)
            new[:, : self.cap] = old[rows, cols]
            setattr(self, name, new)
        self.head[:] = 0
        self.cap = cap

    # ------------------------------------------------------------------ measures (at self.now)
    def halting(self, approaches: np.ndarray) -> np.ndarray:
        """Halting vehicles on ``approaches`` now: the vehicles that reached the stop line
        (arrival <= now) and have not crossed it — a prefix of each FIFO, counted from where the
        last count stopped."""
        approaches = np.asarray(approaches, dtype=np.int64)
        known = self.known_here
        act = approaches[known[approaches] < self.size[approaches]]
        while act.size:
            pos = (self.head[act] + known[act]) % self.cap
            act = act[self.t_arr[act, pos] <= self.now]
            known[act] += 1
            act = act[known[act] < self.size[act]]
        return known[approaches]

    def waiting(self, approaches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(halting vehicles, their summed waiting so far) on ``approaches`` now."""
        approaches = np.asarray(approaches, dtype=np.int64)
        count = self.halting(approaches)
        width = int(count.max()) if count.size else 0
        if width == 0:
            return count, np.zeros(approaches.size)
        j = np.arange(width)
        times = self.t_arr[approaches[:, None], (self.head[approaches][:, None] + j) % self.cap]
        # summed left to right (cumsum): a row's sum does not depend on the batch it is in
        summed = np.cumsum(times, axis=1)[np.arange(approaches.size), np.maximum(count - 1, 0)]
        waited = np.where(count > 0, self.now * count - summed, 0.0).clip(min=0.0)
        return count, waited

    def queue_integral(self, approaches: np.ndarray) -> np.ndarray:
        """∫ halting dt from time 0 to now on ``approaches``: the delay of the vehicles that
        crossed plus the waiting of those still there (vehicle-seconds)."""
        _, waited = self.waiting(approaches)
        return self.delay[approaches] + waited

    def present(self, approaches: np.ndarray) -> np.ndarray:
        """Vehicles on the links into ``approaches``: driving to the stop line or halting there."""
        return self.size[approaches]

    def summary(self) -> dict[str, float]:
        """Network-wide counts and delays now (see the `traffic` table)."""
        halting, waited = self.waiting(np.arange(self.size.size))
        return {
            "entered": self.entered,
            "exited": self.exited,
            "in_network": int(self.size.sum()),
            "halting": int(halting.sum()),
            "crossings": int(self.crossings.sum()),
            "total_delay": float(self.delay.sum() + waited.sum()),
            "crossing_delay": float(self.delay.sum()),
            "trip_time": self.trip_time,
            "trip_delay": self.trip_delay,
        }

    def close_episode(self) -> None:
        """Nothing to release (a co-simulation closes its simulator here)."""

    def on_links(self) -> dict[str, np.ndarray]:
        """The vehicles in the network now, by approach in FIFO order: approach, stop-line
        arrival (maybe still ahead), vehicle id, links driven."""
        rows, j = np.nonzero(np.arange(self.cap)[None, :] < self.size[:, None])
        cols = (self.head[rows] + j) % self.cap
        return {
            "approach": rows,
            "arrival": self.t_arr[rows, cols],
            "vehicle": self.vid[rows, cols],
            "hop": self.hop[rows, cols],
        }

    def passages(self) -> dict[str, np.ndarray]:
        """Every crossing since ``log_passages`` was set: approach, arrival, crossing, vehicle id
        and links driven before (``hop``), in the order they were processed."""
        names = ("approach", "arrival", "crossing", "vehicle", "hop")
        if not self._passages:
            return {name: np.zeros(0) for name in names}
        return {name: np.concatenate(col) for name, col in zip(names, zip(*self._passages))}
