"""Coverage computed for a whole batch of UAVs gives what one UAV at a time gives."""

import copy

import numpy as np
import pytest

from dmarl_des.scenario import load_scenario
from dmarl_des.study.run import frames_digest
from dmarl_des.worlds.coverage import CoverageWorld
from dmarl_des.worlds.coverage_grid import CoverageGrid
from dmarl_des.worlds.point_memory import FAR
from dmarl_des.worlds.uav_waypoints import FOOTPRINT_SAMPLES, candidates, known_coverage


def test_sensing_a_batch_equals_sensing_one_point_after_another():
    rng = np.random.default_rng(0)
    for _ in range(40):
        size, cells, radius = rng.uniform(30, 300), int(rng.integers(4, 90)), rng.uniform(1, 25)
        one, many = CoverageGrid(size, cells, radius), CoverageGrid(size, cells, radius)
        for _ in range(12):
            a = int(rng.integers(1, 40))
            points = rng.uniform(0, size, size=(a, 2))
            if rng.random() < 0.4:
                points[: a // 2] = points[0]  # several UAVs on one spot: the first one finds
            if rng.random() < 0.3:
                points[:, int(rng.integers(2))] = size if rng.random() < 0.5 else 0.0
            want = [one.sense(x, y) for x, y in points.tolist()]
            new, sensed = many.sense_many(points)
            assert new.tolist() == [w[0] for w in want]
            assert sensed.tolist() == [w[1] for w in want]
            assert many.covered == one.covered
            assert np.array_equal(many.visits(), one.visits())
    assert one.covered > 0
    new, sensed = many.sense_many(np.zeros((0, 2)))
    assert new.shape == sensed.shape == (0,) and many.covered == one.covered


def reference_known_coverage(position, targets, known, radius, step, size):
    """One UAV at a time, every remembered point within reach (float32 distances relative to
    the UAV, as documented)."""
    b, c = targets.shape[:2]
    share, nearest = np.empty((b, c)), np.full((b, c), np.inf)
    r2 = np.float32(radius * radius)
    for u in range(b):
        samples = targets[u][:, None, :] + radius * FOOTPRINT_SAMPLES  # [C, S, 2]
        outside = ((samples < 0.0) | (samples > size)).any(axis=2)
        rel = known[u] - position[u]
        q = rel[(rel * rel).sum(axis=1) <= (step + 2.0 * radius) ** 2].astype(np.float32)
        if not len(q):
            share[u] = outside.mean(axis=1)
            continue
        pts = (samples - position[u]).astype(np.float32)
        d = (pts[:, :, None, 0] - q[:, 0]) ** 2 + (pts[:, :, None, 1] - q[:, 1]) ** 2
        dmin = d.min(axis=2)
        share[u] = ((dmin <= r2) | outside).mean(axis=1)
        nearest[u] = np.sqrt(dmin[:, 0].astype(np.float64))
    return share, nearest


@pytest.mark.parametrize("seed", range(4))
def test_known_coverage_equals_one_uav_at_a_time(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    size, radius, step = 200.0, rng.uniform(2.0, 8.0), rng.uniform(5.0, 15.0)
    b, k = 300, 40
    position = rng.uniform(0, size, size=(b, 2))
    position[:20] = rng.uniform(0, 3, size=(20, 2))  # at the border: samples leave the area
    known = position[:, None, :] + rng.normal(scale=2 * step, size=(b, k, 2))
    known[rng.random((b, k)) < 0.3] = FAR  # empty memory slots
    known[:10] = FAR  # UAVs that know nothing
    targets, _ = candidates(position, step, size)
    # small blocks: several blocks and groups, split groups
    monkeypatch.setattr("dmarl_des.worlds.uav_waypoints.CHUNK", 97)
    monkeypatch.setattr("dmarl_des.worlds.uav_waypoints.PAIRS", 5000)
    share, nearest = known_coverage(position, targets, known, radius, step, size)
    want_share, want_nearest = reference_known_coverage(
        position, targets, known, radius, step, size
    )
    assert np.array_equal(share, want_share)
    cap = 2.0 * radius  # exact up to 2·sensor_radius
    assert np.array_equal(np.minimum(nearest, cap), np.minimum(want_nearest, cap))
    assert 0 < (share > 0).mean() < 1 and np.isfinite(nearest).any()


class OneAtATime(CoverageWorld):
    """The coverage world ending flights and computing candidates one UAV at a time."""

    def end_many(self, idx: np.ndarray) -> None:
        arriving = idx[self.flying[idx]]
        if not len(arriving):
            return
        dests = self.target[arriving].copy()
        for k, (i, (x, y)) in enumerate(zip(arriving.tolist(), dests.tolist(), strict=True)):
            self._stop(i, dests[k])
            new, sensed = self.grid.sense(x, y)
            self.sensings += sensed
            self.trail.add_one(i, x, y)
            if new:
                agents = [self.sim_agents[i]] if self._private else None
                self.give_reward(new * self.cell_value, agents=agents)
            else:
                self.wasted_arrivals += 1
        self.arrivals += len(arriving)
        if self.network is not None:
            self.network.broadcast_many(arriving, "covered", dests.astype(np.float32))
        if self.params.stop_at_target and self.grid.covered >= self._target_cells:
            self.terminate()

    def _candidates(self, idx):
        return candidates(self.pos[idx], self.params.step, self.size)


def digest(cls, overrides: dict) -> str:
    world = cls(load_scenario("scenarios/coverage.py", overrides))
    world.policy = world.scripted_policy()
    world.run()
    frames = {k: f for k, f in world.recorder.frames().items() if k != "runs"}
    frames["episodes"] = frames["episodes"].drop("wall_s")
    return frames_digest(frames)


@pytest.mark.parametrize(
    "overrides",
    [
        {"n_agents": 120, "horizon": 15.0, "record.transitions": True},
        {
            "n_agents": 60,
            "horizon": 15.0,
            "world.reward_scope": "private",
            "world.reward": "area",
            "decision_period": 0.0,
            "net.resolution": 0.0,
            "faults.crash.fraction": 0.2,
            "faults.crash.start": "poisson",
            "faults.crash.rate": 0.2,
            "faults.recover.enabled": True,
            "faults.recover.mean": 2.0,
        },
    ],
)
def test_the_world_in_batches_gives_the_tables_of_one_uav_at_a_time(overrides):
    assert digest(CoverageWorld, overrides) == digest(OneAtATime, overrides)


def test_candidates_are_computed_once_per_batch_and_never_stale(monkeypatch):
    world = CoverageWorld(load_scenario("scenarios/coverage.py", {"n_agents": 20, "horizon": 3.0}))
    world.policy = world.scripted_policy()
    calls = []
    real = candidates

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr("dmarl_des.worlds.coverage.candidates", counted)
    world.run()
    batches = len(world.batcher.batch_sizes)
    assert 0 < len(calls) <= batches + 2  # observation, mask and start share one computation
    idx = np.arange(5)
    first = copy.deepcopy(world._candidates(idx))
    world.place(world.pos[idx] + 1.0, idx)  # a move: the cached candidates are stale
    moved = world._candidates(idx)
    assert not np.array_equal(moved[0], first[0])
    assert np.array_equal(moved[0], real(world.pos[idx], world.params.step, world.size)[0])
