"""Study throughput: the same ~8-run study with 1 worker and with N worker processes, side by side.

This file is also the study's scenario file (a small world of agents working for team reward),
so the benchmark needs nothing else. Run: ``python benchmarks/bench_study.py [--workers 2]``.

Rows: ``1 worker`` runs in this process (imports already loaded); ``N workers, cold`` includes
starting the pool (spawned processes import torch, Mesa, Polars); ``N workers, warm`` reuses a
started pool, which is the steady state of a long study.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Literal

import numpy as np
from pydantic import Field

from dmarl_des.macro import MacroAction, wait
from dmarl_des.scenario import Scenario, WorldParams
from dmarl_des.world import World


class WorkParams(WorldParams):
    """Keys of the benchmark world."""

    name: Literal["bench_work"] = "bench_work"
    noise: float = Field(0.0, ge=0.0, le=1.0)


def _work(agent):
    world = agent.model
    rng = world.rngs[agent.idx]
    yield world.env.timeout(float(rng.exponential(1.0)))
    if rng.random() >= world.params.noise:
        world.give_reward(1.0)


class WorkWorld(World):
    """Agents alternate between working (a random duration, then team reward) and resting."""

    Params = WorkParams
    obs_dim = 2

    def setup(self) -> None:
        self.macro_actions = [MacroAction("work", _work), MacroAction("rest", wait(0.5))]

    def reset_episode(self, episode: int) -> None:
        self.rngs = [self.streams.for_agent("world", episode, a.agent_id) for a in self.sim_agents]

    def observe(self, agent) -> np.ndarray:
        return np.array([agent.idx, self.now], dtype=np.float32)


WORLD = WorkWorld


def scenario(**overrides) -> Scenario:
    """40 agents, 2 episodes of 50 time units (the benchmark uses 250: about 1.5 s of CPU per run)."""
    base = Scenario.build(
        name="bench_work", world=WorkParams(), n_agents=40, horizon=50.0, episodes=2
    )
    return base.with_overrides(overrides)


def _timed(study, executor, workers) -> tuple[float, float]:
    from dmarl_des.study import run_study

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = run_study(study, out, executor=executor, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    assert result.ok and len(result.done) == len(study.runs()), result.failure_report()
    return wall, result.run_wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--horizon", type=float, default=250.0)
    parser.add_argument("--dask", action="store_true", help="add a Dask LocalCluster row")
    args = parser.parse_args()

    from dmarl_des.study import LocalProcessExecutor, Study

    study = Study(
        __file__,
        grid={"world.noise": [0.0, 0.1, 0.2, 0.3]},
        seeds=2,
        base_overrides={"n_agents": args.agents, "horizon": args.horizon},
        name="bench_study",
    )
    n = len(study.runs())
    print(
        f"study: {n} runs of {args.agents} agents × 2 episodes × {args.horizon:g} time units; "
        f"{os.cpu_count()} CPUs visible"
    )
    rows = [("1 worker (in process)", *_timed(study, "local", 1))]
    rows.append((f"{args.workers} workers, cold pool", *_timed(study, "local", args.workers)))
    pool = LocalProcessExecutor(args.workers)
    try:
        pool.start()
        rows.append((f"{args.workers} workers, warm pool", *_timed(study, pool, args.workers)))
    finally:
        pool.close()
    if args.dask:
        rows.append((f"{args.workers} workers, dask cold", *_timed(study, "dask", args.workers)))
    base = rows[0][1]
    print(f"{'configuration':<28}{'wall s':>9}{'s per run':>11}{'speed-up':>10}")
    for label, wall, run_s in rows:
        print(f"{label:<28}{wall:>9.2f}{run_s / n:>11.2f}{base / wall:>9.2f}×")
    print("(s per run: a run's own wall time; larger with N workers means the cores were shared)")


if __name__ == "__main__":
    main()
