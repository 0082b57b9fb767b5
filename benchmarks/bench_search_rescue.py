"""Search and rescue: decisions per second at N = 1,000, policies compared, and the theory figures.

Run ``python benchmarks/bench_search_rescue.py PART`` with PART one of

* ``decisions`` — ``scenarios/search_rescue.py`` at N UAVs (``--n``, default 1,000; horizon
  ``--horizon``, default 100) with the scripted, random and (when it exists) the committed Mac-IPPO
  policy: decisions, simulation wall time (warm-up run first, fastest of ``--repeat``), decisions/s;
* ``policies`` — the default scenario (50 UAVs, horizon 200) over ``--seeds`` seeds with the
  random, scripted frontier, scripted lawnmower and Mac-IPPO policies: targets found, confirmed,
  team return (mean ± sd); writes ``docs/figures/search_rescue_policies.png`` (found and confirmed
  fractions over time) unless ``--no-plots``;
* ``theory`` — Koopman's random-search law against simulated random tracks (definite and gaussian
  sensors, 8,000 UAVs over 3 time units, the setting of the tests, over ``--seeds`` seeds) and the
  detection times of one lawnmower sweep against the uniform law, with the exact distribution of
  the sweep (swept area over time, Monte Carlo over 400,000 points); writes
  ``docs/figures/search_rescue_theory.png``.

Every figure printed is from this run; compare only figures of the same run.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "search_rescue.py"
CHECKPOINT = ROOT / "models" / "search_rescue_ippo"
FIGURES = ROOT / "docs" / "figures"


def _world(overrides: dict, cls=None):
    from dmarl_des.scenario import load_scenario
    from dmarl_des.study.policies import build_policy
    from dmarl_des.worlds.search_rescue import SearchRescueWorld

    scenario = load_scenario(SCENARIO, overrides)
    world = (cls or SearchRescueWorld)(scenario)
    world.policy = build_policy(scenario, world)
    return world


def _policies() -> dict[str, dict]:
    out = {
        "random": {"policy": "random"},
        "scripted (frontier)": {"policy": "scripted"},
        "scripted (lawnmower)": {
            "policy": "scripted",
            "world.scripted": "lawnmower",
            "world.start": "lanes",
        },
    }
    if (CHECKPOINT / "card.json").is_file():
        out["Mac-IPPO"] = {"policy": str(CHECKPOINT)}
    return out


# ---------------------------------------------------------------------------------- decisions
def decisions(n: int, horizon: float, repeat: int) -> None:
    import torch

    torch.set_num_threads(1)
    print(f"N = {n}, horizon {horizon:g}, decision tick 0.1 (fastest of {repeat} after a warm-up)")
    print("| policy | decisions | simulation s | decisions/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, keys in _policies().items():
        if name == "scripted (lawnmower)":
            continue
        best, count = math.inf, 0
        for k in range(repeat + 1):
            world = _world({"n_agents": n, "horizon": horizon, **keys})
            t0 = time.perf_counter()
            row = world.run()[0]
            wall = time.perf_counter() - t0
            count = row["n_decisions"]
            if k:
                best = min(best, wall)
        print(f"| {name} | {count:,} | {best:.2f} | {count / best:,.0f} |")


# ---------------------------------------------------------------------------------- policies
def policies(seeds: int, plots: bool) -> None:
    rows, curves = [], {}
    for name, keys in _policies().items():
        found, confirmed, ret, series = [], [], [], []
        for seed in range(seeds):
            world = _world({"seed": seed, **keys})
            row = world.run()[0]
            found.append(world.targets.n_found)
            confirmed.append(world.targets.n_confirmed)
            ret.append(row["team_return"])
            series.append(world.recorder.frame("search").sort("time"))
        rows.append((name, found, confirmed, ret))
        curves[name] = (
            pl.concat(series)
            .group_by("time")
            .agg(pl.col("found_fraction").mean(), pl.col("confirmed_fraction").mean())
            .sort("time")
        )
    m = world.targets.m
    print(f"default scenario (50 UAVs, {m} targets, horizon 200), {seeds} seeds, mean ± sd")
    print("| policy | found | confirmed | team return |")
    print("| --- | ---: | ---: | ---: |")
    for name, found, confirmed, ret in rows:
        cells = [f"{np.mean(v):.1f} ± {np.std(v, ddof=1):.1f}" for v in (found, confirmed, ret)]
        print(f"| {name} | {' | '.join(cells)} |")
    if plots:
        _plot_policies(curves)


def _plot_policies(curves: dict[str, pl.DataFrame]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, title in zip(
        axes, ("found_fraction", "confirmed_fraction"), ("found", "confirmed"), strict=True
    ):
        for name, frame in curves.items():
            ax.plot(frame["time"], frame[column], label=name)
        ax.set_title(f"targets {title}")
        ax.set_xlabel("time")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of the targets")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / "search_rescue_policies.png", dpi=100)
    print(f"wrote {FIGURES / 'search_rescue_policies.png'}")


# ---------------------------------------------------------------------------------- theory
S, R, V, T, N, M, SCAN = 400.0, 0.5, 10.0, 3.0, 8000, 8000, 0.01
MARGIN = 2 * V * T + R


def _random_tracks(sensor: str, seed: int) -> np.ndarray:
    from dmarl_des.worlds.search_rescue import SearchRescueWorld

    class Inner(SearchRescueWorld):
        def reset_episode(self, episode):
            super().reset_episode(episode)
            rng = np.random.default_rng([7, self.scenario.seed, episode])
            self.place_targets(rng.uniform(MARGIN, S - MARGIN, size=(self.targets.m, 2)))

    keys = {
        "n_agents": N,
        "horizon": T + 1e-6,
        "decision_period": 0.0,
        "net.resolution": 0.0,
        "net.topology.kind": "ring",
        "world.size": S,
        "world.n_targets": M,
        "world.target_speed": 0.0,
        "world.sensor": sensor,
        "world.sensor_range": R,
        "world.scan_period": SCAN,
        "world.speed": V,
        "world.speed_jitter": 0.0,
        "world.start": "uniform",
        "world.scripted": "random_tracks",
        "seed": seed,
    }
    world = _world(keys, Inner)
    world.run_episode(0, "eval")
    found = world.recorder.frame("detections").filter(pl.col("event") == "found")
    return np.sort(found["time"].to_numpy())


def _lawnmower_sweep() -> tuple[np.ndarray, float, np.ndarray]:
    """Detection times of one lawnmower sweep (2,000 targets), the sweep time, and the exact
    first-glimpse times of 400,000 uniform points (Monte Carlo)."""
    from scipy.spatial import cKDTree

    size, lanes, step, r, scan = 200.0, 20, 10.0, 5.05, 0.05
    sweep = (lanes * size + (lanes - 1) * step) / V
    keys = {
        "n_agents": 1,
        "horizon": sweep + 1.0,
        "decision_period": 0.0,
        "net.resolution": 0.0,
        "world.size": size,
        "world.n_targets": 2000,
        "world.target_speed": 0.0,
        "world.sensor": "definite",
        "world.sensor_range": r,
        "world.scan_period": scan,
        "world.speed_jitter": 0.0,
        "world.start": "lanes",
        "world.scripted": "lawnmower",
        "world.sector_size": 400.0,
        "seed": 4,
    }
    world = _world(keys)
    world.run_episode(0, "eval")
    times = np.sort(world.recorder.frame("detections")["time"].to_numpy())
    # the same path by hand: lanes east/west, one step north at each wall; a glimpse every scan
    corners = []
    for k in range(lanes):
        y = (k + 0.5) * step
        xs = (0.0, size) if k % 2 == 0 else (size, 0.0)
        corners += [(xs[0], y), (xs[1], y)]
    corners = np.array(corners)
    path = [corners[0]]
    for a, b in itertools.pairwise(corners):
        n = round(np.linalg.norm(b - a) / (V * scan))
        path.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
    glimpses = np.vstack([p.reshape(-1, 2) for p in path])[1:]  # the first look is at t = scan
    pts = np.random.default_rng(0).uniform(0, size, size=(400_000, 2))
    first = np.full(len(pts), np.inf)
    tree = cKDTree(pts)
    for j, hits in enumerate(tree.query_ball_point(glimpses, r)):
        if hits:
            idx = np.asarray(hits)
            first[idx] = np.minimum(first[idx], (j + 1) * scan)
    return times, sweep, np.sort(first)


def theory(seeds: int, plots: bool) -> None:
    from scipy import stats

    from dmarl_des.worlds.search_rescue_sensor import (
        definite_sweep_width,
        random_search_fraction,
        sweep_width,
    )

    t = np.arange(1.0, T + 0.5)
    sims = {}
    print(f"random tracks: N = {N}, A = {S:g}², R = {R}, v = {V}, glimpses {V * SCAN:g} apart")
    for sensor in ("definite", "gaussian"):
        width = sweep_width(sensor, R, 1.0, V * SCAN)
        law = random_search_fraction(t, width, V, S * S, N)
        runs = np.array(
            [np.searchsorted(_random_tracks(sensor, s), t + 1e-9) / M for s in range(seeds)]
        )
        sims[sensor] = (runs, width)
        print(f"{sensor}: W = {width:.4f} (2R = {2 * R:g})")
        print("| t | law | simulated, mean | sd over seeds | max abs. deviation |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for k, tk in enumerate(t):
            dev = np.abs(runs[:, k] - law[k]).max()
            print(
                f"| {tk:g} | {law[k]:.4f} | {runs[:, k].mean():.4f} | "
                f"{runs[:, k].std(ddof=1):.4f} | {dev:.4f} |"
            )
    print(f"definite W closed form: {definite_sweep_width(R, V * SCAN):.4f}")
    times, sweep, exact = _lawnmower_sweep()
    ks = stats.kstest(times / sweep, "uniform")
    grid = np.linspace(0, sweep, 2001)
    d_exact = np.abs(np.searchsorted(exact, grid, side="right") / len(exact) - grid / sweep).max()
    two = stats.ks_2samp(times, exact[np.isfinite(exact)])
    print(
        f"lawnmower: {len(times)} of 2000 found over a {sweep:g} sweep; KS against the uniform "
        f"D = {ks.statistic:.4f}, p = {ks.pvalue:.3f}; exact sweep distribution vs uniform "
        f"sup |F − U| = {d_exact:.4f}; simulated vs exact (two-sample) p = {two.pvalue:.3f}; "
        f"points never swept {np.isinf(exact).mean():.5f}"
    )
    if plots:
        _plot_theory(t, sims, times, sweep, exact)


def _plot_theory(t, sims, times, sweep, exact) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dmarl_des.worlds.search_rescue_sensor import random_search_fraction

    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    tt = np.linspace(0, T, 200)
    for (sensor, (runs, width)), colour in zip(sims.items(), ("C0", "C1"), strict=True):
        left.plot(
            tt, random_search_fraction(tt, width, V, S * S, N), colour, label=f"law, {sensor}"
        )
        left.errorbar(
            t,
            runs.mean(0),
            yerr=runs.std(0, ddof=1),
            fmt="o",
            color=colour,
            ms=4,
            label=f"simulated, {sensor}",
        )
    left.set_xlabel("time")
    left.set_ylabel("fraction found")
    left.set_title("random tracks: Koopman's law")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.plot(np.sort(times) / sweep, np.arange(1, len(times) + 1) / len(times), label="simulated")
    finite = exact[np.isfinite(exact)]
    right.plot(
        finite / sweep, np.arange(1, len(finite) + 1) / len(exact), "--", label="exact sweep"
    )
    right.plot([0, 1], [0, 1], ":k", label="uniform")
    right.set_xlabel("detection time / sweep time")
    right.set_ylabel("cumulative fraction")
    right.set_title("one lawnmower sweep, definite range")
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / "search_rescue_theory.png", dpi=100)
    print(f"wrote {FIGURES / 'search_rescue_theory.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=("decisions", "policies", "theory"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--horizon", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args()
    if args.part == "decisions":
        decisions(args.n, args.horizon, args.repeat)
    elif args.part == "policies":
        policies(args.seeds, not args.no_plots)
    else:
        theory(args.seeds, not args.no_plots)


if __name__ == "__main__":
    main()
