"""Warehouse world throughput: decisions and robot steps per second of wall time, by fleet size and policy.

Run: ``python benchmarks/bench_warehouse.py`` (N = 8 on RWARE's small layout, the scenario file,
and N = 1,000 on a floor of 12 × 25 shelf blocks with 8 goal stations and 250 requests; 500
steps each; ``--quick``: 100 steps at N = 1,000). Every configuration runs
``scenarios/warehouse.py`` in its own process with one torch and one BLAS thread, after a short
warm-up run in that process; the figures are the episode's simulation (``episodes.wall_s``,
tables and imports excluded). Policies: the greedy fleet controller (scripted), random
macro-actions, the Mac-IPPO checkpoint ``models/warehouse-ippo`` (an MLP actor of 64 × 64 shared
by all robots, trained with 8; one batched greedy forward pass per decision batch), and random
primitive actions (``world.actions = primitive``: RWARE itself, every robot decides every step).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAREHOUSE = ROOT / "scenarios" / "warehouse.py"
POLICIES = {
    "scripted": {},
    "random": {"policy": "random"},
    "Mac-IPPO": {"policy": str(ROOT / "models" / "warehouse-ippo")},
    "primitive random": {"policy": "random", "world.actions": "primitive"},
}
LARGE_FLOOR = {
    "world.shelf_rows": 12,
    "world.shelf_columns": 25,
    "world.stations": 8,
    "world.requests": 250,
}
"""The floor of the N = 1,000 runs: 110 × 76 cells, 4,712 shelves, 16 goals."""


def _one(n: int, horizon: float, policy: str) -> dict[str, float]:
    """Run in a child process: one configuration, its figures as a dict."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from dmarl_des.scenario import load_scenario
    from dmarl_des.study import run_scenario

    floor = LARGE_FLOOR if n > 8 else {}
    overrides = {"n_agents": n, "horizon": horizon, **floor, **POLICIES[policy]}
    scenario = load_scenario(WAREHOUSE).with_overrides(overrides)
    run_scenario(scenario.with_overrides({"horizon": min(horizon, 20.0)}))
    frames = run_scenario(scenario).frames
    row = frames["episodes"].tail(1).row(0, named=True)
    fleet = frames["warehouse"].tail(1).row(0, named=True)
    wall = row["wall_s"]
    return {
        "decisions": row["n_decisions"],
        "wall_s": wall,
        "decisions_per_s": row["n_decisions"] / wall,
        "robot_steps_per_s": n * horizon / wall,
        "mean_batch": row["mean_batch"],
        "deliveries": fleet["deliveries"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 steps at N = 1,000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, horizon, policy = json.loads(args.child)
        print(json.dumps(_one(n, horizon, policy)))
        return
    sizes = [(8, 500.0), (1000, 100.0 if args.quick else 500.0)]
    print(
        f"{'N':>6} {'policy':<17} {'steps':>6} {'decisions':>10} {'wall s':>7} "
        f"{'decisions/s':>11} {'robot steps/s':>13} {'batch':>7} {'deliveries':>10}"
    )
    for n, horizon in sizes:
        for policy in POLICIES:
            child = json.dumps([n, horizon, policy])
            out = subprocess.run(
                [sys.executable, __file__, "--child", child],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{n:>6} {policy:<17} {horizon:>6.0f} {r['decisions']:>10,} "
                f"{r['wall_s']:>7.2f} {r['decisions_per_s']:>11,.0f} "
                f"{r['robot_steps_per_s']:>13,.0f} {r['mean_batch']:>7.1f} {r['deliveries']:>10,}",
                flush=True,
            )


if __name__ == "__main__":
    main()
