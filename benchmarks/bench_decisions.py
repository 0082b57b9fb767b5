"""Agent decisions and delivered messages per second: the framework vs a hand-written baseline.

Run: ``python benchmarks/bench_decisions.py`` (add ``--quick`` for N ≤ 10,000). Every configuration
runs in its own process (one torch/BLAS thread) so peak memory is measured per configuration.
Prints one table: decisions/s, delivered messages/s, peak memory per agent, recording's share of
the run time, and the ratio to the hand-written baseline in the same decision mode.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODES = {"lockstep": (True, 0.0), "tick 0.1": (False, 0.1), "continuous": (False, 0.0)}
NET = {
    "net.loss.model": "bernoulli",
    "net.loss.p": 0.2,
    "net.delay.model": "exponential",
    "net.delay.mean": 0.05,
}
RESOLUTION = {"lockstep": 0.1, "tick 0.1": 0.1, "continuous": 0.01}
"""Delivery buckets: the control tick where there is one, 0.01 in continuous time."""


def horizon_for(n: int, budget: float) -> float:
    return max(2.0, min(20.0, budget / n))


def run_framework(n: int, mode: str, budget: float) -> dict:
    import torch

    from dmarl_des.learn.mlp_policy import MLPPolicy
    from dmarl_des.log import Recorder
    from dmarl_des.scenario import Scenario
    from dmarl_des.worlds.swarm import SwarmParams, SwarmWorld

    torch.set_num_threads(1)
    lockstep, period = MODES[mode]
    scenario = Scenario.build(
        name="bench",
        world=SwarmParams(lockstep=lockstep),
        n_agents=n,
        horizon=horizon_for(n, budget),
        decision_period=period,
        seed=1,
    ).with_overrides({**NET, "net.resolution": RESOLUTION[mode]})
    spent = [0.0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t0

        return wrapper

    for name in ("add", "extend", "frame", "write"):
        setattr(Recorder, name, timed(getattr(Recorder, name)))
    t0 = time.perf_counter()
    world = SwarmWorld(scenario)
    world.policy = MLPPolicy(world.obs_dim, world.n_actions, (64, 64), n_agents=n, seed=1)
    world.run()
    world.recorder.frames()
    wall = time.perf_counter() - t0
    ep = world.recorder.frame("episodes")
    net = world.recorder.frame("network")
    return {
        "decisions": int(ep["n_decisions"].sum()),
        "delivered": int(net["delivered"].sum()),
        "wall": wall,
        "record_s": spent[0],
        "mean_batch": float(ep["mean_batch"].mean()),
    }


def run_baseline(n: int, mode: str, budget: float) -> dict:
    import torch
    from handwritten_swarm import Swarm

    torch.set_num_threads(1)
    lockstep, period = MODES[mode]
    t0 = time.perf_counter()
    model = Swarm(n, lockstep=lockstep, period=period, seed=1)
    model.run(horizon_for(n, budget))
    wall = time.perf_counter() - t0
    return {
        "decisions": model.decisions,
        "delivered": model.delivered,
        "wall": wall,
        "record_s": 0.0,
        "mean_batch": 1.0,
    }


def one(kind: str, n: int, mode: str, budget: float) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = (run_framework if kind == "framework" else run_baseline)(n, mode, budget)
    out["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["base_kb"] = before
    print(json.dumps(out))


def spawn(kind: str, n: int, mode: str, budget: float) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--one", kind, str(n), mode, str(budget)]
    res = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(os.path.abspath(__file__)),
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N up to 10,000 only")
    parser.add_argument("--budget", type=float, default=200_000, help="agent-time units per run")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, n, mode, budget = args.one
        one(kind, int(n), mode, float(budget))
        return
    sizes = [100, 1_000, 10_000] + ([] if args.quick else [100_000])
    header = (
        f"{'mode':<11}{'N':>8} {'who':<10}{'decisions/s':>13}{'msgs/s':>12}{'batch':>8}"
        f"{'KB/agent':>10}{'record%':>9}{'x baseline':>11}"
    )
    print(header)
    print("-" * len(header))
    for mode in MODES:
        base = {}
        for n in (100, 1_000):
            base[n] = spawn("baseline", n, mode, min(args.budget, 5_000))
            r = base[n]
            print(
                f"{mode:<11}{n:>8} {'baseline':<10}{r['decisions'] / r['wall']:>13,.0f}"
                f"{r['delivered'] / r['wall']:>12,.0f}{1:>8.1f}"
                f"{(r['peak_kb'] - r['base_kb']) / n:>10.2f}{'':>9}{1:>11.1f}"
            )
        for n in sizes:
            # continuous time has batches of ~1: a tenth of the work keeps the run short
            budget = args.budget / 10 if mode == "continuous" else args.budget
            r = spawn("framework", n, mode, budget)
            rate = r["decisions"] / r["wall"]
            ref = base.get(n, base[1_000])
            ratio = rate / (ref["decisions"] / ref["wall"])
            print(
                f"{mode:<11}{n:>8} {'framework':<10}{rate:>13,.0f}"
                f"{r['delivered'] / r['wall']:>12,.0f}{r['mean_batch']:>8.1f}"
                f"{(r['peak_kb'] - r['base_kb']) / n:>10.2f}"
                f"{100 * r['record_s'] / r['wall']:>8.1f}%{ratio:>11.1f}"
            )


if __name__ == "__main__":
    main()
