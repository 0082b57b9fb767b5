"""Traffic world throughput: decisions and vehicles per second of wall time, by grid size and controller.

Run: ``python benchmarks/bench_traffic.py`` (N = 16, 1,000 and 10,000 signals; ``--quick``: 16 and
1,000, shorter horizons). Every configuration runs ``scenarios/traffic.py`` (Poisson demand of
0.13 veh/s per entry, 1 s control tick, queue reports every 5 s) in its own process with one
torch and one BLAS thread, after a short warm-up run in that process; the figures are the
episode's simulation (``episodes.wall_s``, tables and imports excluded). Controllers: fixed-time,
max-pressure (decentralized, from the reported queues), random, and the Mac-IPPO checkpoint
``models/traffic-ippo`` (an MLP actor of 64 × 64 shared by all signals, trained on 4 × 4; one
batched greedy forward pass per decision batch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAFFIC = ROOT / "scenarios" / "traffic.py"
CONTROLLERS = {
    "fixed-time": {"world.controller": "fixed_time"},
    "max-pressure": {},
    "random": {"policy": "random"},
    "Mac-IPPO": {"policy": str(ROOT / "models" / "traffic-ippo")},
}


def _one(n: int, horizon: float, controller: str) -> dict[str, float]:
    """Run in a child process: one configuration, its figures as a dict."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from dmarl_des.scenario import load_scenario
    from dmarl_des.study import run_scenario

    overrides = {"n_agents": n, "horizon": horizon, **CONTROLLERS[controller]}
    scenario = load_scenario(TRAFFIC).with_overrides(overrides)
    run_scenario(scenario.with_overrides({"horizon": min(horizon, 60.0)}))
    frames = run_scenario(scenario).frames
    row = frames["episodes"].tail(1).row(0, named=True)
    traffic = frames["traffic"].tail(1).row(0, named=True)
    wall = row["wall_s"]
    return {
        "decisions": row["n_decisions"],
        "wall_s": wall,
        "decisions_per_s": row["n_decisions"] / wall,
        "crossings_per_s": traffic["crossings"] / wall,
        "mean_batch": row["mean_batch"],
        "delay_per_vehicle": traffic["delay_per_vehicle"],
        "sim_s_per_s": horizon / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 16 and 1,000, shorter runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, horizon, controller = json.loads(args.child)
        print(json.dumps(_one(n, horizon, controller)))
        return
    sizes = [(16, 3600.0), (1000, 600.0 if args.quick else 3600.0)]
    if not args.quick:
        sizes.append((10_000, 600.0))
    print(
        f"{'N':>6} {'controller':<13} {'horizon':>7} {'decisions':>10} {'wall s':>7} "
        f"{'decisions/s':>11} {'crossings/s':>11} {'batch':>6} {'sim s/s':>8} {'delay/veh':>9}"
    )
    for n, horizon in sizes:
        for controller in CONTROLLERS:
            child = json.dumps([n, horizon, controller])
            out = subprocess.run(
                [sys.executable, __file__, "--child", child],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{n:>6} {controller:<13} {horizon:>7.0f} {r['decisions']:>10,} "
                f"{r['wall_s']:>7.2f} {r['decisions_per_s']:>11,.0f} {r['crossings_per_s']:>11,.0f} "
                f"{r['mean_batch']:>6.1f} {r['sim_s_per_s']:>8.0f} {r['delay_per_vehicle']:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
