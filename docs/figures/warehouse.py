"""Figures of docs/world_warehouse.md: the three policies compared, and the Mac-IPPO training curve.

Run from the repository root::

    python docs/figures/warehouse.py policies   # ~3 min on 2 cores: 3 policies × faults × seeds
    python docs/figures/warehouse.py training --train data/train/warehouse-ippo

``policies`` runs ``scenarios/warehouse.py`` (8 robots, RWARE's small layout, 500 steps) with the
greedy fleet controller, random macro-actions and the Mac-IPPO checkpoint
``models/warehouse-ippo`` over 5 seeds, at radio loss 0, 0.5, 1 and at crashed fractions 0, 0.25,
0.5 (crashes from the start; all on the same seeds: common random numbers), prints the table of
deliveries per episode and draws ``warehouse_policies.png``. ``training`` reads the tables that
the training command of the docs page wrote (``dmarl train ... --name warehouse-ippo``) and draws
the deliveries of each training episode (the `warehouse` table) with a moving average, ``warehouse_training.png``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WAREHOUSE = ROOT / "scenarios" / "warehouse.py"
SEEDS = range(5)
POLICIES = {
    "scripted": {},
    "random": {"policy": "random"},
    "Mac-IPPO": {"policy": str(ROOT / "models" / "warehouse-ippo")},
}


def _policy_run(args: tuple[str, str, float, int]) -> tuple[str, str, float, int, float]:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from dmarl_des.scenario import load_scenario
    from dmarl_des.study import run_scenario

    policy, key, level, seed = args
    overrides = {**POLICIES[policy], "seed": seed}
    if key:
        overrides[key] = level
    result = run_scenario(load_scenario(WAREHOUSE).with_overrides(overrides))
    return policy, key, level, seed, float(result.frames["warehouse"]["deliveries"][0])


def policies(workers: int) -> None:
    import matplotlib.pyplot as plt

    sweeps = {"net.loss.p": [0.0, 0.5, 1.0], "faults.crash.fraction": [0.0, 0.25, 0.5]}
    jobs = [(p, "", 0.0, s) for p in POLICIES for s in SEEDS]
    jobs += [
        (p, k, v, s) for p in POLICIES for k, vs in sweeps.items() for v in vs[1:] for s in SEEDS
    ]
    with ProcessPoolExecutor(workers) as pool:
        rows = list(pool.map(_policy_run, jobs))
    got: dict[tuple[str, str, float], list[float]] = {}
    for p, k, v, _, d in rows:
        for key in [k] if k else list(sweeps):
            got.setdefault((p, key, v), []).append(d)
    print("| policy | " + " | ".join(f"{k} = {v}" for k, vs in sweeps.items() for v in vs) + " |")
    print("|---" * (1 + sum(len(v) for v in sweeps.values())) + "|")
    for p in POLICIES:
        cells = []
        for k, vs in sweeps.items():
            for v in vs:
                d = np.array(got[p, k, v])
                cells.append(f"{d.mean():.1f} ± {1.96 * d.std(ddof=1) / math.sqrt(d.size):.1f}")
        print(f"| {p} | " + " | ".join(cells) + " |")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (k, vs) in zip(axes, sweeps.items(), strict=True):
        for i, p in enumerate(POLICIES):
            d = np.array([got[p, k, v] for v in vs])
            ci = 1.96 * d.std(axis=1, ddof=1) / math.sqrt(d.shape[1])
            ax.errorbar(vs, d.mean(axis=1), yerr=ci, marker="os^"[i], capsize=3, label=p)
        ax.set(xlabel=k, title=f"deliveries vs {k}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("deliveries per episode, mean and 95% CI over 5 seeds")
    axes[0].legend(frameon=False)
    fig.suptitle("RWARE small layout, 8 robots, 8 requests, 500 steps")
    fig.tight_layout()
    fig.savefig(HERE / "warehouse_policies.png", dpi=110)


def training(train: Path) -> None:
    import matplotlib.pyplot as plt
    import polars as pl

    train_episodes = (
        pl.scan_parquet(str(train / "episodes" / "**" / "*.parquet"))
        .filter(pl.col("phase") == "train")
        .select("episode")
    )
    fleet = pl.scan_parquet(str(train / "warehouse" / "**" / "*.parquet"))
    y = fleet.join(train_episodes, on="episode").sort("episode").collect()["deliveries"].to_numpy()
    window = 20
    smooth = np.convolve(y, np.ones(window) / window, mode="valid")
    print(f"episodes {y.size}; mean deliveries over the last {window}: {y[-window:].mean():.1f}")
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(np.arange(y.size), y, ".", color="0.7", label="training episode")
    ax.plot(np.arange(window - 1, y.size), smooth, "C2-", label=f"moving average ({window})")
    ax.set(
        xlabel="training episode",
        ylabel="deliveries per training episode",
        title="Mac-IPPO on scenarios/warehouse.py",
    )
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(HERE / "warehouse_training.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["policies", "training"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train", type=Path, default=ROOT / "data" / "train" / "warehouse-ippo")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.what == "policies":
        policies(args.workers)
    else:
        training(args.train)


if __name__ == "__main__":
    main()
