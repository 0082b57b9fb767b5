"""One glimpse of every UAV: which targets within sensor range it detects (k-d tree, keyed draws).

A glimpse of UAV ``i`` at scan ``k`` detects target ``j`` at distance ``d ≤ R`` when a uniform
``u(k, i, j)`` falls below ``g(d)`` (``search_rescue_sensor.glimpse_probability``). The uniforms
are Philox draws keyed by the episode's sensor key and the counter (k, UAV slot, target, 0), so
a detection does not depend on which other UAVs or targets exist, were scanned, or crashed: common
random numbers per (UAV, target, scan). With ``p_detect = 1`` and the definite sensor no draw is
made.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from dmarl_des.net.philox import philox_uniform
from dmarl_des.worlds.search_rescue_sensor import Sensor, glimpse_probability


class Scanner:
    """Detections of one scan, for a sensor model and an episode's key."""

    def __init__(
        self, sensor: Sensor, sensor_range: float, p_detect: float, key: tuple[int, int]
    ) -> None:
        self.sensor = sensor
        self.sensor_range = float(sensor_range)
        self.p_detect = float(p_detect)
        self.key = key
        self.certain = sensor == "definite" and p_detect >= 1.0
        self._tree: cKDTree | None = None
        self._tree_key = -1

    def detect(
        self,
        k: int,
        uav_pos: np.ndarray,
        uav_slots: np.ndarray,
        target_pos: np.ndarray,
        target_key: int = -1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections of scan ``k`` by UAVs ``uav_slots`` at ``uav_pos`` [U, 2] of the targets at
        ``target_pos`` [M, 2]: (UAV slot [D], target [D], distance [D]), ordered by target, then
        distance, then UAV slot. ``target_key`` (>= 0) names the targets' positions: the k-d
        tree over them is reused while it stays the same (static targets)."""
        empty = np.zeros(0, dtype=np.int64)
        if len(uav_slots) == 0 or len(target_pos) == 0:
            return empty, empty, np.zeros(0)
        if target_key < 0 or target_key != self._tree_key or self._tree is None:
            self._tree = cKDTree(target_pos, balanced_tree=False, compact_nodes=False)
            self._tree_key = target_key
        pairs = cKDTree(uav_pos, balanced_tree=False, compact_nodes=False).sparse_distance_matrix(
            self._tree, self.sensor_range, output_type="ndarray"
        )
        if pairs.size == 0:
            return empty, empty, np.zeros(0)
        uav = uav_slots[pairs["i"].astype(np.int64)]
        target = pairs["j"].astype(np.int64)
        dist = np.asarray(pairs["v"], dtype=np.float64)
        if not self.certain:
            g = glimpse_probability(dist, self.sensor, self.sensor_range, self.p_detect)
            u = philox_uniform(self.key, k, uav, target, 0)
            hit = u < g
            uav, target, dist = uav[hit], target[hit], dist[hit]
        order = np.lexsort((uav, dist, target))
        return uav[order], target[order], dist[order]
