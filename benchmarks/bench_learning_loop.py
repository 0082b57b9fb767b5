"""Learning in the loop: decisions and agent-transitions per second while a learner trains inside
the coverage world.

Run: ``python benchmarks/bench_learning_loop.py`` (``--quick`` for shorter runs). Each
configuration runs in its own process (one torch and one BLAS thread): ``scenarios/coverage.py``
at N UAVs on its 0.1 control tick with report deliveries bucketed to the tick, trained for one
episode (``phase = "train"``: exploring actions, every squeezed transition handed to the learner,
updates at the learner's own cadence, consensus rounds through the simulated network), after a
short warm-up episode in the same process. Learners (default hyperparameters unless named):

- ``scripted``: the world's greedy rule, nothing learned (the reference: the world's own cost);
- ``Mac-IPPO``: one actor and one critic shared by all UAVs (``learner.params = shared``);
- ``Mac-IPPO per agent``: every UAV its own actor and critic (``learner.params = per_agent``);
- ``networked AC``: the networked actor-critic (per-agent critics exchanged over the network,
  a consensus round every 5 time units; private rewards, as the algorithm assumes).

Prints, per configuration, the simulated time, decisions, agent-transitions received by the
learner, the wall time of the run (world, learner and rounds), decisions/s, agent-transitions/s
and the ratio to the scripted run of the same N in the same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COVERAGE = ROOT / "scenarios" / "coverage.py"
CONFIGS: dict[str, dict[str, Any]] = {
    "scripted": {"policy": "scripted"},
    "Mac-IPPO": {"policy": "learner", "learner.name": "ippo", "learner.params": "shared"},
    "Mac-IPPO per agent": {
        "policy": "learner",
        "learner.name": "ippo",
        "learner.params": "per_agent",
    },
    "networked AC": {
        "policy": "learner",
        "learner.name": "networked_ac",
        "learner.consensus_period": 5.0,
        "world.reward_scope": "private",
    },
}
HORIZON = {100: 100.0, 1_000: 20.0}
"""Simulated time of the timed episode per swarm size (about 20,000 decisions or more)."""


def load_scenario(overrides: dict[str, Any]):
    from dmarl_des.study.scenarios import load_run_scenario

    return load_run_scenario(COVERAGE, overrides)


def run_once(label: str, n: int, horizon: float) -> dict[str, Any]:
    from dmarl_des.study.run import run_scenario

    scenario = load_scenario({**CONFIGS[label], "n_agents": n, "horizon": horizon})
    received = [0]

    def watch(world) -> None:
        world.watch_transitions(
            lambda batch: received.__setitem__(0, received[0] + len(batch.agent_idx))
        )

    t0 = time.perf_counter()
    result = run_scenario(scenario, on_start=watch)
    wall = time.perf_counter() - t0
    if result.status != "ok":
        raise RuntimeError(f"{label} at N = {n}: {result.status}")
    ep = result.frames["episodes"]
    return {
        "decisions": int(ep["n_decisions"].sum()),
        "transitions": received[0],
        "wall": wall,
        "sim_time": float(ep["sim_time"].sum()),
        "rounds": int(ep["learn_rounds"].sum()),
    }


def one(label: str, n: int, horizon: float) -> None:
    import torch

    torch.set_num_threads(1)
    run_once(label, n, min(horizon, 2.0))  # warm-up: imports, first calls into torch
    print(json.dumps(run_once(label, n, horizon)))


def spawn(label: str, n: int, horizon: float) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--one", label, str(n), str(horizon)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the simulated time")
    parser.add_argument("--sizes", default="100,1000", help="comma-separated swarm sizes")
    parser.add_argument("--only", help="comma-separated labels (default: all)")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        label, n, horizon = args.one
        one(label, int(n), float(horizon))
        return
    labels = list(CONFIGS) if not args.only else args.only.split(",")
    header = (
        f"{'learner':<20}{'N':>7}{'sim t':>7}{'decisions':>11}{'transitions':>13}{'rounds':>8}"
        f"{'wall s':>8}{'decisions/s':>13}{'transitions/s':>15}{'x scripted':>12}"
    )
    print(header)
    print("-" * len(header))
    for n in (int(s) for s in args.sizes.split(",")):
        horizon = HORIZON.get(n, 20.0) / (5.0 if args.quick else 1.0)
        reference = None
        for label in ["scripted", *[x for x in labels if x != "scripted"]]:
            r = spawn(label, n, horizon)
            rate = r["decisions"] / r["wall"]
            if label == "scripted":
                reference = rate
            ratio = rate / reference if reference else float("nan")
            print(
                f"{label:<20}{n:>7}{r['sim_time']:>7.0f}{r['decisions']:>11,}"
                f"{r['transitions']:>13,}{r['rounds']:>8}{r['wall']:>8.2f}{rate:>13,.0f}"
                f"{r['transitions'] / r['wall']:>15,.0f}{ratio:>12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
