"""What a scan of search and rescue does: first detections find targets, others' detections confirm
them; rewards, the `detections` table and the announcements follow.

At every scan instant (place ``URGENT``, before the macro-action ends and decisions of that
instant) the targets are moved to now and every UAV that is up glimpses (``Scanner``). For each
target detected at this scan: if nobody had found it, the nearest detecting UAV (ties: the lowest
slot) finds it; if it is found but not confirmed, the nearest detecting UAV other than its finder
confirms it — at the same scan as the find, too, when two UAVs see it at once. Each find and each
confirmation is one row of the `detections` table and one team reward, stamped just before the
scan's instant so that it belongs to the macro-actions that brought the UAVs there (they are
running up to this instant; the ones chosen at it do not own it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from dmarl_des.worlds.search_rescue_radio import announce_detections

DETECTIONS_TABLE = {
    "episode": pl.Int64,
    "time": pl.Float64,
    "target": pl.Int64,
    "agent_id": pl.Int64,
    "event": pl.String,
    "distance": pl.Float64,
    "x": pl.Float64,
    "y": pl.Float64,
}
"""One row per first detection (event ``found``) and per confirmation (``confirmed``): the UAV,
its distance to the target and where the target was."""


def _first_of_each(tgt: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Bool [len(tgt)]: the first of ``rows`` (ascending) for each target in ``tgt[rows]``."""
    first = np.zeros(len(tgt), dtype=bool)
    if len(rows):
        t = tgt[rows]
        first[rows[np.r_[True, t[1:] != t[:-1]]]] = True
    return first


def scan(world: Any) -> None:
    """One scan of every UAV that is up, and what follows from it (see the module docstring)."""
    now = world.now
    t = world.targets
    tpos = t.advance(now)
    up = np.flatnonzero(world.up)
    k = round(now / world.params.scan_period)
    uav, tgt, dist = world.scanner.detect(k, world.agent_positions()[up], up, tpos, t.moves)
    if not len(uav):
        return
    world.detections += len(uav)
    new = _first_of_each(tgt, np.flatnonzero(~t.found[tgt]))
    found_uav, found_tgt = uav[new], tgt[new]
    t.found[found_tgt] = True
    t.finder[found_tgt] = found_uav
    t.t_found[found_tgt] = now
    confirm = _first_of_each(tgt, np.flatnonzero((uav != t.finder[tgt]) & ~t.confirmed[tgt]))
    conf_uav, conf_tgt = uav[confirm], tgt[confirm]
    t.confirmed[conf_tgt] = True
    t.confirmer[conf_tgt] = conf_uav
    t.t_confirmed[conf_tgt] = now
    _log(world, "found", found_uav, found_tgt, dist[new])
    _log(world, "confirmed", conf_uav, conf_tgt, dist[confirm])
    p = world.params
    amount = len(found_tgt) * p.reward_found + len(conf_tgt) * p.reward_confirmed
    if amount:  # earned by the macro-actions that brought the UAVs here
        world.give_reward(amount, stamp=math.nextafter(now, -math.inf))
    # finders announce; confirmers, and UAVs that saw a found target they held a report of,
    # announce the confirmation
    seen_again = ~new & (uav != t.finder[tgt])
    tells = confirm | (seen_again & world.book.knows(uav, tgt))
    announce_detections(world, found_uav, found_tgt, uav[tells], tgt[tells])
    if p.stop_when_confirmed and t.n_confirmed == t.m:
        world.terminate()


def _log(world: Any, event: str, uav: np.ndarray, tgt: np.ndarray, dist: np.ndarray) -> None:
    n = len(uav)
    if not n:
        return
    pos = world.targets.pos[tgt]
    world.recorder.extend(
        "detections",
        {
            "episode": [world.episode] * n,
            "time": [world.now] * n,
            "target": tgt.tolist(),
            "agent_id": [world.sim_agents[i].agent_id for i in uav.tolist()],
            "event": [event] * n,
            "distance": dist.tolist(),
            "x": pos[:, 0].tolist(),
            "y": pos[:, 1].tolist(),
        },
    )
