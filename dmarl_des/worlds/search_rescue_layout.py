"""Macro-actions and observation layout of search and rescue, and its message.

Macro-actions (11): ``fly_n`` … ``fly_nw`` (0–7, the compass waypoints of
``dmarl_des.worlds.uav_waypoints``), ``hover`` (8), ``confirm`` (9: fly to the nearest report of
a target found by another UAV, then loiter ``hover_time``), ``frontier`` (10: fly to the centre
of the sector the UAV knows least searched).

The observation (float32 [40]) starts with the coverage world's layout (columns 0–29, about the
searched area) and adds what is particular to search and rescue (columns 30–39).

One message kind, ``sar``: float32 [5] = (code, x, y, target, t_found) with code ``SEARCHED``
(an arrival point; target and time unused, −1), ``FOUND`` (a report: target found at (x, y) at
``t_found``) or ``CONFIRMED`` (the target was confirmed at (x, y)).
"""

from __future__ import annotations

from dmarl_des.worlds.uav_waypoints import OBS_DIM as WAYPOINT_OBS_DIM
from dmarl_des.worlds.uav_waypoints import WAYPOINT_NAMES

CONFIRM = 9
FRONTIER = 10
N_ACTIONS = 11
ACTION_NAMES: tuple[str, ...] = (
    *(f"fly_{name}" for name in WAYPOINT_NAMES),
    "hover",
    "confirm",
    "frontier",
)

# Observation layout (float32 [OBS_DIM]); columns 0–29 as in uav_waypoints:
# POSITION [0:2], KNOWN [2:11], NEAREST [11:20], LENGTH [20:29], FILL [29].
HAS_REPORT = WAYPOINT_OBS_DIM
"""1 when the UAV holds a report of a target found by another UAV, else 0."""
REPORT = slice(WAYPOINT_OBS_DIM + 1, WAYPOINT_OBS_DIM + 3)
"""(dx, dy) to the nearest such report / (2·radio_range), clipped to [−1, 1]; 0 if none."""
REPORT_DISTANCE = WAYPOINT_OBS_DIM + 3
"""Distance to it / (2·radio_range), capped at 1 (1 if none)."""
REPORT_AGE = WAYPOINT_OBS_DIM + 4
"""Its age (now − t_found) / report_ttl, in [0, 1] (1 if none)."""
OWN_FINDS = WAYPOINT_OBS_DIM + 5
"""Own finds still announced / report_slots."""
FRONTIER_DIR = slice(WAYPOINT_OBS_DIM + 6, WAYPOINT_OBS_DIM + 8)
"""(dx, dy) to the frontier sector's centre / size (0 with a single sector)."""
FRONTIER_KNOWN = WAYPOINT_OBS_DIM + 8
"""Searched points known in the frontier sector / sector quota, capped at 1."""
OWN_SECTOR_KNOWN = WAYPOINT_OBS_DIM + 9
"""Searched points known in the UAV's own sector / sector quota, capped at 1."""
OBS_DIM = WAYPOINT_OBS_DIM + 10

# The message.
SEARCHED, FOUND, CONFIRMED = 0, 1, 2
MESSAGE_WIDTH = 5
