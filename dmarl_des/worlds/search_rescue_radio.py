"""The radio of search and rescue: what UAVs announce (arrivals, finds, confirmations) and how they
read what they hear.

Every message is of kind ``sar``, float32 [5] = (code, x, y, target, t_found)
(``search_rescue_layout``):

* on arrival a UAV sends SEARCHED (its arrival point), then FOUND for each own find it still holds
  (it keeps announcing a find until it hears the confirmation or the find is ``report_ttl`` old);
* at the scan that finds a target the finder sends FOUND; a UAV that detects a found target it
  holds a report of (the confirmer among them) sends CONFIRMED and forgets the report.

A UAV reads its inbox when it decides. A message is used only if its code is one of the three,
its point lies inside the area (up to float32 rounding) and, for FOUND and CONFIRMED, its target
is an index of a target and its time no later than now; other messages are counted as
``reports_ignored`` (a lie of the right form is believed). SEARCHED points enter the UAV's memory
of heard points and its sector counts; FOUND enters its report book (an own find stays its own);
CONFIRMED removes the target from its book. Then reports older than ``report_ttl`` are forgotten.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dmarl_des.worlds.search_rescue_layout import CONFIRMED, FOUND, MESSAGE_WIDTH, SEARCHED

FLOAT32_SLACK = 1e-6
"""Points within this share of the side outside the area are rounding (float32), not lies."""


def _rows(code: int, points: np.ndarray, target: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = np.empty((len(points), MESSAGE_WIDTH), dtype=np.float32)
    out[:, 0] = code
    out[:, 1:3] = points
    out[:, 3] = target
    out[:, 4] = t
    return out


def announce_arrivals(world: Any, arriving: np.ndarray, dests: np.ndarray) -> None:
    """UAVs ``arriving`` at ``dests`` [B, 2] report them, then announce their own finds again."""
    if world.network is None:
        return
    book = world.book
    book.expire(arriving, world.now - world.params.report_ttl)
    none = np.full(len(arriving), -1.0)
    senders = [arriving]
    rows = [_rows(SEARCHED, dests, none, none)]
    owner, target, where, when = book.own_finds(arriving)
    if len(owner):
        senders.append(owner)
        rows.append(_rows(FOUND, where, target, when))
    world.network.broadcast_many(np.concatenate(senders), "sar", np.concatenate(rows))


def announce_detections(
    world: Any,
    finders: np.ndarray,
    found: np.ndarray,
    tellers: np.ndarray,
    confirmed: np.ndarray,
) -> None:
    """At a scan: ``finders`` hold and announce the targets ``found`` they just found; ``tellers``
    announce (and forget) the confirmation of the targets ``confirmed``."""
    t = world.targets
    now = world.now
    book = world.book
    book.hear(
        finders, found, t.pos[found], np.full(len(found), now), np.ones(len(found), bool), True
    )
    book.hear(
        tellers, confirmed, t.pos[confirmed], t.t_found[confirmed], np.zeros(len(tellers), bool)
    )
    if world.network is None or not (len(finders) or len(tellers)):
        return
    senders = np.concatenate([finders, tellers])
    rows = np.concatenate(
        [
            _rows(FOUND, t.pos[found], found, t.t_found[found]),
            _rows(CONFIRMED, t.pos[confirmed], confirmed, t.t_found[confirmed]),
        ]
    )
    world.network.broadcast_many(senders, "sar", rows)


def read_inboxes(world: Any, idx: np.ndarray) -> None:
    """UAVs ``idx`` take in what they heard (see the module docstring)."""
    book = world.book
    if world.network is not None:
        got = world.network.drain_many(idx)
        if len(got.receiver):
            _take_in(world, got.receiver, np.asarray(got.payloads, dtype=np.float64))
    book.expire(idx, world.now - world.params.report_ttl)


def _take_in(world: Any, receiver: np.ndarray, msg: np.ndarray) -> None:
    msg = msg.reshape(-1, MESSAGE_WIDTH)
    size, m, now = world.size, world.targets.m, world.now
    slack = FLOAT32_SLACK * size
    code, pts, target, t_found = msg[:, 0], msg[:, 1:3], msg[:, 3], msg[:, 4]
    inside = ((pts >= -slack) & (pts <= size + slack)).all(axis=1)
    searched = inside & (code == SEARCHED)
    named = (target == np.floor(target)) & (target >= 0) & (target < m)
    timely = (t_found >= 0) & (t_found <= now + FLOAT32_SLACK * max(now, 1.0))
    report = inside & named & timely & ((code == FOUND) | (code == CONFIRMED))
    ok = searched | report
    world.reports_ignored += int(len(ok) - np.count_nonzero(ok))
    world.reports_received += int(np.count_nonzero(ok))
    pts = np.clip(pts, 0.0, size)
    if searched.any():
        world.heard.add_many(receiver[searched], pts[searched])
        world.sectors.add(receiver[searched], pts[searched])
    r = np.flatnonzero(report)
    world.book.hear(receiver[r], target[r].astype(np.int64), pts[r], t_found[r], code[r] == FOUND)
