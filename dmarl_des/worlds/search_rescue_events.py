"""What a scan of search and rescue does: first detections find targets, others' detections confirm
them; rewards, the `detections` table and the announcements follow.

At every scan instant (place ``URGENT``, before the macro-action ends and decisions of that
instant) the targets are moved to now and every UAV that is up glimpses (``Scanner``). For each
target detected at this scan: if nobody had found it, the nearest detecting UAV (ties: the lowest
slot) finds it; if it is found but not confirmed, the nearest detecting UAV other than its finder
confirms it — at the same scan as the find, too, when two UAVs see it at once. Each find and each
confirmation is one row of the `detections` table and one reward (the team's, or with
``reward_scope = private`` the detecting UAV's own), stamped just before the scan's instant so
that it belongs to the macro-actions that brought the UAVs there (they are running up to this
instant; the ones chosen at it do not own it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dmarl_des.worlds.search_rescue_radio import announce_detections
from dmarl_des.worlds.search_rescue_tables import log_detections


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
    log_detections(world, "found", found_uav, found_tgt, dist[new])
    log_detections(world, "confirmed", conf_uav, conf_tgt, dist[confirm])
    _reward(world, found_uav, conf_uav)
    # finders announce; confirmers, and UAVs that saw a found target they held a report of,
    # announce the confirmation
    seen_again = ~new & (uav != t.finder[tgt])
    tells = confirm | (seen_again & world.book.knows(uav, tgt))
    announce_detections(world, found_uav, found_tgt, uav[tells], tgt[tells])
    if world.params.stop_when_confirmed and t.n_confirmed == t.m:
        world.terminate()


def _reward(world: Any, finders: np.ndarray, confirmers: np.ndarray) -> None:
    """Rewards of a scan's finds and confirmations: the team's, or each detecting UAV's own
    (``reward_scope``); stamped just before now (earned by the macro-actions that brought them
    here)."""
    p = world.params
    stamp = math.nextafter(world.now, -math.inf)
    if p.reward_scope == "team":
        amount = len(finders) * p.reward_found + len(confirmers) * p.reward_confirmed
        if amount:
            world.give_reward(amount, stamp=stamp)
        return
    for uavs, amount in ((finders, p.reward_found), (confirmers, p.reward_confirmed)):
        for i in uavs.tolist():
            world.give_reward(amount, stamp=stamp, agents=[world.sim_agents[i]])


def reward_search(world: Any, arriving: np.ndarray, dests: np.ndarray) -> None:
    """Shaping (``reward_searched`` > 0), from ``end_many``: each arrival senses the footprint of
    its point on the ground-truth map (``CoverageGrid``) and earns ``reward_searched`` times the
    share of the area newly searched — the team's, or the UAV's own (``reward_scope``); it belongs
    to the arriving flight."""
    p, grid = world.params, world.searched
    value = p.reward_searched / grid.n_cells
    total = 0.0
    for i, (x, y) in zip(arriving.tolist(), dests.tolist(), strict=True):
        new, _ = grid.sense(x, y)
        if new and p.reward_scope == "private":
            world.give_reward(new * value, agents=[world.sim_agents[i]])
        total += new * value
    if total and p.reward_scope == "team":
        world.give_reward(total)
