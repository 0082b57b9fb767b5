"""Policies side by side: paired differences against a reference, named keys kept in every mode,
Wilson intervals for rates, lower-is-better metrics, and what a report writes (and removes)."""

import json
import math

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.log import Metric
from dmarl_des.report import (
    compare_levels,
    degradation_curves,
    interaction_grid,
    mean_ci,
    reference_level,
    relative_level,
    wilson_interval,
    write_report,
)

T_975_2 = 4.302652729749464  # t quantile 0.975 with 2 degrees of freedom

# metric m for two policies at two levels of x, seeds 0, 1, 2
M = {
    ("scripted", 0.0): [10.0, 12.0, 14.0],
    ("scripted", 0.5): [8.0, 9.0, 13.0],
    ("models/x", 0.0): [11.0, 15.0, 14.0],
    ("models/x", 0.5): [5.0, 9.0, 10.0],
}
TABLE = pl.DataFrame(
    [
        {"run_id": f"{p}-{x}-{s}", "seed": s, "policy": p, "x": x, "m": v}
        for (p, x), values in M.items()
        for s, v in enumerate(values)
    ]
)


def test_paired_differences_against_the_reference_by_hand():
    out = compare_levels(TABLE, ["policy", "x"], ["m"], "policy", "scripted")
    row0 = out.filter((pl.col("level") == "models/x") & (pl.col("x") == 0.0)).row(0, named=True)
    # seed by seed: 11-10, 15-12, 14-14 = 1, 3, 0
    assert row0["n_pairs"] == 3 and row0["diff_mean"] == pytest.approx(4 / 3)
    sd = float(np.std([1.0, 3.0, 0.0], ddof=1))
    assert row0["diff_half_width"] == pytest.approx(T_975_2 * sd / math.sqrt(3))
    assert row0["diff_rel"] == pytest.approx((4 / 3) / 12.0)  # relative to the reference mean
    assert row0["mean"] == pytest.approx(40 / 3) and row0["reference"] == "scripted"
    row1 = out.filter((pl.col("level") == "models/x") & (pl.col("x") == 0.5)).row(0, named=True)
    assert row1["diff_mean"] == pytest.approx(-2.0)  # -3, 0, -3
    assert row1["diff_low"] == pytest.approx(-2.0 - T_975_2 * math.sqrt(3) / math.sqrt(3))
    ref = out.filter(pl.col("level") == "scripted")
    assert ref.height == 2 and ref["diff_mean"].is_null().all()


def test_only_seeds_run_with_both_policies_are_paired():
    partial = TABLE.filter(~((pl.col("policy") == "scripted") & (pl.col("seed") == 2)))
    out = compare_levels(partial, ["policy", "x"], ["m"], "policy", "scripted")
    row = out.filter((pl.col("level") == "models/x") & (pl.col("x") == 0.0)).row(0, named=True)
    assert row["n_pairs"] == 2 and row["diff_mean"] == pytest.approx(2.0)  # 1 and 3


def test_reference_defaults_to_scripted_and_must_be_a_level():
    assert reference_level(["models/x", "scripted"]) == "scripted"
    assert reference_level(["b", "a"]) == "b"
    assert reference_level(["b", "a"], "a") == "a"
    with pytest.raises(ConfigError) as info:
        reference_level(["b", "a"], "c")
    assert "['b', 'a']" in info.value.allowed


@pytest.mark.parametrize("others", ["hold", "group"])
def test_a_named_policy_key_survives_every_mode(others):
    both = pl.concat(
        [TABLE.with_columns(pl.lit(0).alias("y")), TABLE.with_columns(pl.lit(1).alias("y"))]
    )
    curves = degradation_curves(both, ["policy", "x", "y"], ["m"], others=others)
    for key in ("x", "y"):
        groups = set(curves.filter(pl.col("key") == key)["group"].to_list())
        assert groups == {"policy=scripted", "policy=models/x"}
    held = set(curves.filter(pl.col("key") == "x")["held"].to_list())
    assert held == ({"y=0"} if others == "hold" else {"y=0", "y=1"})
    scripted = curves.filter((pl.col("key") == "x") & (pl.col("others") == "policy=scripted, y=0"))
    assert scripted["mean"].to_list() == pytest.approx([12.0, 10.0])


def test_wilson_intervals_by_hand_and_inside_the_unit_interval():
    low, high = wilson_interval(np.array([0, 5, 3, 1]), np.array([5, 5, 10, 1]))
    assert low[0] == 0.0 and high[0] == pytest.approx(0.43448, abs=1e-4)
    assert low[1] == pytest.approx(0.56552, abs=1e-4) and high[1] == 1.0
    assert (low[2], high[2]) == pytest.approx((0.10779, 0.60324), abs=1e-4)
    k = np.arange(0, 21)
    lo, hi = wilson_interval(k, np.full(21, 20))
    assert np.all(lo >= 0) and np.all(hi <= 1) and np.all(lo <= k / 20) and np.all(k / 20 <= hi)
    assert np.isnan(wilson_interval(np.array([0]), np.array([0]))[0]).all()


def test_a_rate_is_pooled_over_episodes_with_a_wilson_interval():
    # 4 of 5 seeds succeeded: a t-interval would reach 1.355, Wilson stays inside [0, 1]
    frame = pl.DataFrame({"x": [0.0] * 5, "seed": range(5), "s": [1.0, 1.0, 0.0, 1.0, 1.0]})
    t = mean_ci(frame, ["x"], "s")
    assert t["ci_high"][0] > 1.0
    rate = mean_ci(frame, ["x"], "s", rate=True)
    lo, hi = wilson_interval(np.array([4]), np.array([5]))
    assert rate["mean"][0] == pytest.approx(0.8)
    assert (rate["ci_low"][0], rate["ci_high"][0]) == pytest.approx((lo[0], hi[0]))
    # runs of 2 and 4 episodes: pooled share (1·2 + 0.5·4) / 6
    weighted = pl.DataFrame({"x": [0.0, 0.0], "seed": [0, 1], "s": [1.0, 0.5], "n": [2, 4]})
    pooled = mean_ci(weighted, ["x"], "s", rate=True, weight="n")
    assert pooled["mean"][0] == pytest.approx(4 / 6)


def test_a_lower_is_better_metric_reads_a_rise_as_degradation():
    assert relative_level(np.array([10.0, 15.0]), 10.0, higher_is_better=False) == pytest.approx(
        [1.0, 0.5]
    )
    frame = TABLE.filter(pl.col("policy") == "scripted").drop("policy")
    declared = {"m": Metric("m", "disagreement", "", higher_is_better=False)}
    curves = degradation_curves(frame, ["x"], ["m"], declared=declared)
    assert curves["relative"].to_list() == pytest.approx([1.0, 1 + 2 / 12])


def test_interaction_grid_pairs_each_cell_with_the_lowest_corner():
    rows = []
    for s, base in enumerate([10.0, 20.0]):
        for x in (0.0, 1.0):
            for y in (0.0, 1.0):
                rows.append({"seed": s, "x": x, "y": y, "m": base * (1 - 0.1 * x) * (1 - 0.2 * y)})
    grid = interaction_grid(pl.DataFrame(rows), "x", "y", "m")
    cell = grid.filter((pl.col("x") == 1.0) & (pl.col("y") == 1.0)).row(0, named=True)
    assert cell["n_pairs"] == 2 and cell["change"] == pytest.approx(0.9 * 0.8 - 1)
    assert cell["mean"] == pytest.approx(15.0 * 0.72)


def _write(root, table, parts, run_id, frame):
    folder = root / table
    for part in parts:
        folder = folder / part
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / f"{run_id}.parquet")


def _hand_made_study(root):
    """policy × x × y × 3 seeds: one eval episode each, success when m > 10."""
    for (policy, x), values in M.items():
        for y in (0, 1):
            for seed, value in enumerate(values):
                run_id = f"r-{policy.replace('/', '')}-{x}-{y}-{seed}"
                parts = [f"policy={policy.replace('/', '_')}", f"x={x}", f"y={y}"]
                params = json.dumps({"policy": policy, "x": x, "y": y})
                runs = pl.DataFrame(
                    {"run_id": [run_id], "seed": [seed], "status": ["ok"], "params": [params]}
                )
                _write(root, "runs", parts, run_id, runs)
                episodes = pl.DataFrame(
                    {
                        "run_id": [run_id],
                        "episode": [0],
                        "phase": ["eval"],
                        "team_return": [value - y],
                        "discounted_return": [0.9 * (value - y)],
                        "success": [value - y > 10],
                    }
                )
                _write(root, "episodes", parts, run_id, episodes)
    description = {
        "name": "hand",
        "grid": {"policy": ["scripted", "models/x"], "x": [0.0, 0.5], "y": [0, 1]},
        "seeds": [0, 1, 2],
        "command": "dmarl study hand.py --grid policy=scripted,models/x",
        "facts": {
            "scenario": "hand",
            "world": "tiny",
            "n_agents": [4],
            "horizon": [6.0],
            "episodes": [1],
            "eval_episodes": [0],
            "policies": ["scripted", "models/x"],
            "learner": None,
            "faults": ["crash: a swept share of the agents, at an exponential time of rate 0.1"],
            "metrics": [Metric("episodes.team_return", "work done by the team", "units").to_dict()],
        },
    }
    (root / "study.json").write_text(json.dumps(description))


@pytest.mark.parametrize("others", ["hold", "group"])
def test_report_of_a_policy_study_leads_with_the_comparison(tmp_path, others):
    _hand_made_study(tmp_path)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "old_metric__gone.png").write_bytes(b"png")
    report = write_report(tmp_path, others=others, command="dmarl report hand")
    assert report.compare == "policy" and report.reference == "scripted"
    assert report.levels == ["scripted", "models/x"]  # the names given, in grid order
    assert set(report.comparison["level"].to_list()) == {"scripted", "models/x"}
    assert set(report.summary["others"].str.extract(r"policy=([^,]+)").to_list()) == {
        "scripted",
        "models/x",
    }
    text = report.markdown
    assert text.index("## policy side by side") < text.index("## Degradation summary")
    assert "models_x" not in text and "`models/x`" in text
    assert "work done by the team" in text and "exponential time of rate 0.1" in text
    assert "`dmarl study hand.py --grid policy=scripted,models/x`" in text
    assert "`dmarl report hand`" in text
    # success is a rate: its intervals are inside [0, 1], its changes in percentage points
    rates = report.comparison.filter(pl.col("metric") == "episodes.success")
    assert rates["ci_low"].min() >= 0.0 and rates["ci_high"].max() <= 1.0
    assert (report.curves.filter(pl.col("metric") == "episodes.success")["ci_high"] <= 1).all()
    assert " pp" in report.comparison_table("episodes.success")
    names = {p.name for p in report.files}
    assert "compare__episodes.team_return__x.png" in names
    assert "heatmap__episodes.team_return__x__y.png" in names
    assert not (tmp_path / "report" / "old_metric__gone.png").exists()
    assert {p.name for p in (tmp_path / "report").glob("*.png")} <= names


def test_report_with_another_reference_and_unknown_ones(tmp_path):
    _hand_made_study(tmp_path)
    report = write_report(tmp_path, plots=False, reference="models/x")
    row = report.comparison.filter(
        (pl.col("level") == "scripted") & (pl.col("x") == 0.0) & (pl.col("y") == 0)
    ).row(0, named=True)
    assert row["diff_mean"] == pytest.approx(-4 / 3)
    with pytest.raises(ConfigError):
        write_report(tmp_path, plots=False, reference="random")
    with pytest.raises(ConfigError):
        write_report(tmp_path, plots=False, compare="x")  # numeric: not a comparison key
