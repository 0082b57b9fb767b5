"""Observations and initiation sets of search and rescue, for a whole decision batch at once.

Columns 0–29 are the coverage world's candidate-waypoint observation (``uav_waypoints``) over
what the UAV knows was searched (its last ``trail`` arrivals and the ``memory`` arrival points it
heard), with the sensor range as footprint radius; columns 30–39 say what it knows of found
targets and of the sectors (``search_rescue_layout``). Masks: a compass waypoint that clipping
makes degenerate is not allowed; hover always is; ``confirm`` when the UAV holds a report of
another UAV's find; ``frontier`` when the area has more than one sector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dmarl_des.worlds.search_rescue_layout import (
    CONFIRM,
    FRONTIER,
    FRONTIER_DIR,
    FRONTIER_KNOWN,
    HAS_REPORT,
    N_ACTIONS,
    OBS_DIM,
    OWN_FINDS,
    OWN_SECTOR_KNOWN,
    REPORT,
    REPORT_AGE,
    REPORT_DISTANCE,
)
from dmarl_des.worlds.search_rescue_radio import read_inboxes
from dmarl_des.worlds.uav_waypoints import (
    FILL,
    HOVER,
    KNOWN,
    LENGTH,
    NEAREST,
    POSITION,
    candidates,
    known_coverage,
)


def observe_many(world: Any, idx: np.ndarray) -> np.ndarray:
    """Observations float32 [B, OBS_DIM] of UAVs ``idx`` (after reading their inboxes); also
    sets ``world.report_distance[idx]``."""
    read_inboxes(world, idx)
    p, size = world.params, world.size
    here = world.pos[idx]
    targets, lengths = candidates(here, p.step, size)
    known = np.concatenate([world.trail.points[idx], world.heard.points[idx]], axis=1)
    share, nearest = known_coverage(here, targets, known, p.sensor_range, p.step, size)
    obs = np.zeros((len(idx), OBS_DIM), dtype=np.float32)
    obs[:, POSITION] = here / size
    obs[:, KNOWN] = share
    obs[:, NEAREST] = np.minimum(nearest / (2.0 * p.sensor_range), 1.0)
    obs[:, LENGTH] = lengths / p.step
    obs[:, FILL] = np.minimum(world.heard.count[idx], p.memory) / p.memory

    exists, _, where, when = world.book.nearest_other(idx, here)
    offset = where - here
    dist = np.sqrt((offset * offset).sum(axis=1))
    world.report_distance[idx] = np.where(exists, dist, np.inf)
    scale = 2.0 * p.radio_range
    obs[:, HAS_REPORT] = exists
    obs[:, REPORT] = np.clip(offset / scale, -1.0, 1.0)
    obs[:, REPORT_DISTANCE] = np.where(exists, np.minimum(dist / scale, 1.0), 1.0)
    age = np.clip((world.now - np.nan_to_num(when)) / p.report_ttl, 0.0, 1.0)
    obs[:, REPORT_AGE] = np.where(exists, age, 1.0)
    obs[:, OWN_FINDS] = world.book.own_count(idx) / p.report_slots

    sectors = world.sectors
    quota = world.sector_quota
    own = sectors.count[idx, sectors.sector_of(here)]
    obs[:, OWN_SECTOR_KNOWN] = np.minimum(own / quota, 1.0)
    if sectors.k > 1:
        sector, count = sectors.frontier(idx, here)
        obs[:, FRONTIER_DIR] = (sectors.centres[sector] - here) / size
        obs[:, FRONTIER_KNOWN] = np.minimum(count / quota, 1.0)
    return obs


def mask_many(world: Any, idx: np.ndarray) -> np.ndarray:
    """Initiation sets bool [B, 11] of UAVs ``idx`` (right after ``observe_many`` of them)."""
    _, lengths = candidates(world.pos[idx], world.params.step, world.size)
    mask = np.zeros((len(idx), N_ACTIONS), dtype=bool)
    mask[:, :HOVER] = lengths[:, :HOVER] > world.min_flight
    mask[:, HOVER] = True
    mask[:, CONFIRM] = np.isfinite(world.report_distance[idx])
    mask[:, FRONTIER] = world.sectors.k > 1
    return mask
