"""Agent decisions and delivered messages per second: the framework vs a hand-written baseline.

Run: ``python benchmarks/bench_decisions.py`` (add ``--quick`` for N ≤ 10,000; ``--trace 1`` records
the `trace` table every time unit in the framework's runs, to measure its cost). Every configuration
runs in its own process (one torch/BLAS thread) so peak memory is measured per configuration.
Prints one table: decisions/s, delivered messages/s, peak memory per agent, recording's share of
the run time, and the ratio to the hand-written baseline in the same decision mode (``baseline``
samples actions as RL code usually does, ``tuned`` with a cheaper hand-tuned call; see
``handwritten_swarm.py``). Each configuration gets a warm-up run, then the fastest of
``--repeat`` timed runs counts (for baseline and framework alike). ``--clock process`` counts each
run's CPU time instead of wall time (on a machine shared with other jobs). In every mode a
``faulty`` row at N = 1,000 runs the framework with 20 % of the agents Byzantine (noise on
every message they send) and 20 % omitting (each message dropped with probability 0.5), its
decisions/s also given as a share of the fault-free run (``x no faults``). The swarm is a local
world, so in continuous time its exact instants are served in windows (docs/concepts.md): the
``batch`` column is the mean window.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from functools import partial

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
    """Simulated time for ``budget`` agent-time units: 2 to 200 (small swarms run longer)."""
    return max(2.0, min(200.0, budget / n))


class RecordingClock:
    """Adds up the time spent in the Recorder's table-building methods (wrapped once)."""

    def __init__(self) -> None:
        from dmarl_des.log import Recorder

        self.spent = 0.0
        for name in ("add", "extend", "frame", "write"):
            setattr(Recorder, name, self._timed(getattr(Recorder, name)))

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - t0

        return wrapper


FAULTS = {
    "faults.byzantine.fraction": 0.2,
    "faults.byzantine.messages": ["noise"],
    "faults.omission.fraction": 0.2,
}
"""The faulty-sender rows: 20 % Byzantine senders (noise on every message) and 20 % omission."""


def run_framework(
    n: int,
    mode: str,
    budget: float,
    clock: RecordingClock,
    trace_every: float = 0.0,
    faults: bool = False,
) -> dict:
    import torch

    from dmarl_des.learn.mlp_policy import MLPPolicy
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
    ).with_overrides(
        {
            **NET,
            "net.resolution": RESOLUTION[mode],
            "record.trace_every": trace_every,
            **(FAULTS if faults else {}),
        }
    )
    clock.spent = 0.0
    c0, t0 = time.process_time(), time.perf_counter()
    world = SwarmWorld(scenario)
    world.policy = MLPPolicy(world.obs_dim, world.n_actions, (64, 64), n_agents=n, seed=1)
    world.run()
    world.recorder.frames()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ep = world.recorder.frame("episodes")
    net = world.recorder.frame("network")
    return {
        "decisions": int(ep["n_decisions"].sum()),
        "delivered": int(net["delivered"].sum()),
        "wall": wall,
        "cpu": cpu,
        "record_s": clock.spent,
        "mean_batch": float(ep["mean_batch"].mean()),
    }


def run_baseline(
    n: int, mode: str, budget: float, clock: None = None, sampling: str = "categorical"
) -> dict:
    import torch
    from handwritten_swarm import Swarm

    torch.set_num_threads(1)
    lockstep, period = MODES[mode]
    c0, t0 = time.process_time(), time.perf_counter()
    model = Swarm(n, lockstep=lockstep, period=period, seed=1, sampling=sampling)
    model.run(horizon_for(n, budget))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "decisions": model.decisions,
        "delivered": model.delivered,
        "wall": wall,
        "cpu": cpu,
        "record_s": 0.0,
        "mean_batch": 1.0,
    }


def one(
    kind: str, n: int, mode: str, budget: float, repeat: int, trace_every: float, clock_name: str
) -> None:
    """Time one configuration in this process: a short warm-up run (first calls into torch and
    numpy, lazy imports), then ``repeat`` timed runs; prints the fastest."""
    run = {
        "framework": partial(run_framework, trace_every=trace_every),
        "faulty": partial(run_framework, trace_every=trace_every, faults=True),
        "baseline": run_baseline,
        "tuned": partial(run_baseline, sampling="multinomial"),
    }[kind]
    clock = RecordingClock() if kind in ("framework", "faulty") else None
    import handwritten_swarm  # noqa: F401  (imports out of the memory figure)

    import dmarl_des.worlds.swarm  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(n, mode, 2.0 * n, clock)  # warm-up: horizon 2
    key = "cpu" if clock_name == "process" else "wall"
    out = min((run(n, mode, budget, clock) for _ in range(repeat)), key=lambda r: r[key])
    out["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["base_kb"] = before
    print(json.dumps(out))


def spawn(
    kind: str,
    n: int,
    mode: str,
    budget: float,
    repeat: int,
    trace_every: float = 0.0,
    clock_name: str = "wall",
) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--one", kind, str(n), mode, str(budget), str(repeat)]
    cmd += ["--trace", str(trace_every), "--clock", clock_name]
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
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per configuration (the fastest counts)"
    )
    parser.add_argument(
        "--trace",
        type=float,
        default=0.0,
        help="record.trace_every of the framework's runs (0: off)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "process"),
        default="wall",
        help="count wall time, or each run's CPU time (on a machine shared with other jobs)",
    )
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, n, mode, budget, repeat = args.one
        one(kind, int(n), mode, float(budget), int(repeat), args.trace, args.clock)
        return
    t = "cpu" if args.clock == "process" else "wall"
    sizes = [100, 1_000, 10_000] + ([] if args.quick else [100_000])
    header = (
        f"{'mode':<11}{'N':>8} {'who':<10}{'decisions/s':>13}{'msgs/s':>12}{'batch':>8}"
        f"{'KB/agent':>10}{'record%':>9}{'x baseline':>11}{'x tuned':>9}{'x no faults':>12}"
    )
    print(header)
    print("-" * len(header))
    for mode in MODES:
        base: dict[tuple[str, int], float] = {}
        fault_free = float("nan")
        for who in ("baseline", "tuned"):
            for n in (100, 1_000):
                r = spawn(who, n, mode, min(args.budget, 5_000), args.repeat, 0.0, args.clock)
                rate = base[who, n] = r["decisions"] / r[t]
                print(
                    f"{mode:<11}{n:>8} {who:<10}{rate:>13,.0f}"
                    f"{r['delivered'] / r[t]:>12,.0f}{1:>8.1f}"
                    f"{(r['peak_kb'] - r['base_kb']) / n:>10.2f}{'':>9}"
                    f"{rate / base['baseline', n]:>11.1f}{'':>9}"
                )
        for n in sizes:
            # continuous time has batches of ~1: a tenth of the work keeps the run short
            budget = args.budget / 10 if mode == "continuous" else args.budget
            repeat = args.repeat if n <= 10_000 else 1
            r = spawn("framework", n, mode, budget, repeat, args.trace, args.clock)
            rate = r["decisions"] / r[t]
            ref = min(n, 1_000)
            print(
                f"{mode:<11}{n:>8} {'framework':<10}{rate:>13,.0f}"
                f"{r['delivered'] / r[t]:>12,.0f}{r['mean_batch']:>8.1f}"
                f"{(r['peak_kb'] - r['base_kb']) / n:>10.2f}"
                f"{100 * r['record_s'] / r[t]:>8.1f}%"
                f"{rate / base['baseline', ref]:>11.1f}{rate / base['tuned', ref]:>9.1f}"
                f"{'':>12}"
            )
            if n == 1_000:
                fault_free = rate
        # faulty senders: 20 % Byzantine (noise), 20 % omission
        budget = args.budget / 10 if mode == "continuous" else args.budget
        r = spawn("faulty", 1_000, mode, budget, args.repeat, args.trace, args.clock)
        rate = r["decisions"] / r[t]
        print(
            f"{mode:<11}{1_000:>8} {'faulty':<10}{rate:>13,.0f}"
            f"{r['delivered'] / r[t]:>12,.0f}{r['mean_batch']:>8.1f}"
            f"{(r['peak_kb'] - r['base_kb']) / 1_000:>10.2f}"
            f"{100 * r['record_s'] / r[t]:>8.1f}%"
            f"{rate / base['baseline', 1_000]:>11.1f}{rate / base['tuned', 1_000]:>9.1f}"
            f"{rate / fault_free:>12.2f}"
        )


if __name__ == "__main__":
    main()
