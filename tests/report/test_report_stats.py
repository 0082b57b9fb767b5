"""The report's statistics on hand-made tables, against values computed by hand."""

import math

import numpy as np
import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.report import (
    breakdown_point,
    curve,
    degradation_curves,
    degradation_score,
    degradation_summary,
    mean_ci,
    paired_changes,
    relative_level,
    t_half_width,
)

T_975_2 = 4.302652729749464  # t quantile 0.975 with 2 degrees of freedom (tables: 4.3027)
T_975_1 = 12.706204736174707  # ... with 1 degree of freedom (tables: 12.706)

# metric m at fault level x for seeds 0, 1, 2
TABLE = pl.DataFrame(
    {
        "run_id": [f"r{i}" for i in range(9)],
        "seed": [0, 1, 2] * 3,
        "x": [0.0] * 3 + [0.5] * 3 + [1.0] * 3,
        "m": [10.0, 12.0, 14.0, 8.0, 9.0, 13.0, 5.0, 6.0, 4.0],
    }
)


def test_t_interval_half_width_matches_tables():
    half = t_half_width(np.array([2.0, 1.0, 3.0]), np.array([3, 2, 1]))
    assert half[0] == pytest.approx(T_975_2 * 2.0 / math.sqrt(3), rel=1e-4)
    assert half[1] == pytest.approx(T_975_1 * 1.0 / math.sqrt(2), rel=1e-4)
    assert math.isnan(half[2])  # n = 1: no interval


def test_curve_mean_and_ci_over_seeds():
    c = curve(TABLE, "x", "m")
    assert c["x"].to_list() == [0.0, 0.5, 1.0]
    assert c["n"].to_list() == [3, 3, 3]
    assert c["mean"].to_list() == pytest.approx([12.0, 10.0, 5.0])
    assert c["std"].to_list() == pytest.approx([2.0, math.sqrt(7.0), 1.0])
    hw = [T_975_2 * s / math.sqrt(3) for s in (2.0, math.sqrt(7.0), 1.0)]
    assert c["half_width"].to_list() == pytest.approx(hw, rel=1e-4)
    assert c["ci_low"][0] == pytest.approx(12.0 - hw[0], rel=1e-4)


def test_mean_ci_drops_missing_and_gives_nan_for_one_value():
    frame = pl.DataFrame({"g": [1, 1, 2], "v": [3.0, None, float("nan")]})
    out = mean_ci(frame, ["g"], "v")
    assert out["g"].to_list() == [1] and out["n"].to_list() == [1]
    assert math.isnan(out["half_width"][0])


def test_paired_differences_by_seed():
    p = paired_changes(TABLE, "x", "m")
    assert p["x"].to_list() == [0.0, 0.5, 1.0]
    assert p["n_pairs"].to_list() == [3, 3, 3]
    # x = 0.5: m − m0 per seed = [-2, -3, -1]; relative [-0.2, -0.25, -1/14]
    assert p["abs_mean"].to_list() == pytest.approx([0.0, -2.0, -7.0])
    assert p["abs_half_width"][1] == pytest.approx(T_975_2 * 1.0 / math.sqrt(3), rel=1e-4)
    assert p["rel_mean"][1] == pytest.approx(-(0.2 + 0.25 + 1 / 14) / 3)
    # x = 1: relative per seed [-0.5, -0.5, -10/14]
    rel = np.array([-0.5, -0.5, -10 / 14])
    assert p["rel_mean"][2] == pytest.approx(rel.mean())
    hw = T_975_2 * rel.std(ddof=1) / math.sqrt(3)
    assert p["rel_half_width"][2] == pytest.approx(hw, rel=1e-4)
    assert p["abs_half_width"][0] == 0.0


def test_pairing_uses_only_seeds_present_at_both_levels_and_skips_zero_bases():
    frame = pl.DataFrame(
        {"seed": [0, 1, 0, 1, 2], "x": [0, 0, 1, 1, 1], "m": [0.0, 4.0, 1.0, 2.0, 100.0]}
    )
    p = paired_changes(frame, "x", "m")
    assert p.filter(pl.col("x") == 1)["n_pairs"].to_list() == [2]  # seed 2 has no base
    assert p.filter(pl.col("x") == 1)["abs_mean"].to_list() == [pytest.approx((1.0 - 2.0) / 2)]
    # seed 0's base is 0: its relative change is undefined, only seed 1 counts
    row = p.filter(pl.col("x") == 1)
    assert row["n_rel"].to_list() == [1] and row["rel_mean"].to_list() == [pytest.approx(-0.5)]


def test_relative_level_score_and_breakdown_by_hand():
    means = np.array([12.0, 10.0, 5.0])
    r = relative_level(means, 12.0)
    assert r == pytest.approx([1.0, 10 / 12, 5 / 12])
    x = np.array([0.0, 0.5, 1.0])
    # trapezoids: 0.5·(1 + 10/12)/2 + 0.5·(10/12 + 5/12)/2 over a range of 1
    assert degradation_score(x, r) == pytest.approx(0.25 * (1 + 10 / 12) + 0.25 * (15 / 12))
    assert degradation_score(x, np.ones(3)) == 1.0  # no degradation
    assert breakdown_point(x, r, 0.5) == 1.0
    assert breakdown_point(x, r, 0.9) == 0.5
    assert breakdown_point(x, r, 0.4) is None
    # unsorted input is sorted by level first; the range normalizes
    assert degradation_score(x[::-1] * 4, r[::-1]) == pytest.approx(degradation_score(x, r))
    assert math.isnan(degradation_score(np.array([0.0]), np.array([1.0])))


def test_relative_level_with_negative_or_zero_base():
    assert relative_level(np.array([-15.0, -5.0]), -10.0) == pytest.approx([0.5, 1.5])
    assert np.isnan(relative_level(np.array([1.0]), 0.0)).all()


def test_degradation_curves_and_summary():
    curves = degradation_curves(TABLE, ["x"], ["m"])
    assert curves["relative"].to_list() == pytest.approx([1.0, 10 / 12, 5 / 12])
    assert curves["others"].to_list() == ["-"] * 3
    summary = degradation_summary(curves, fraction=0.5)
    row = summary.row(0, named=True)
    assert row["metric"] == "m" and row["key"] == "x" and row["seeds"] == 3
    assert (row["x0"], row["mean_x0"], row["x_max"], row["mean_x_max"]) == (0.0, 12.0, 1.0, 5.0)
    assert row["score"] == pytest.approx(0.25 * (1 + 10 / 12) + 0.25 * (15 / 12))
    assert row["breakdown"] == 1.0
    assert row["rel_change_x_max"] == pytest.approx(np.mean([-0.5, -0.5, -10 / 14]))
    with pytest.raises(ConfigError):
        degradation_summary(curves, fraction=0.0)


def test_other_keys_are_held_at_their_lowest_level_or_grouped():
    # y = 0 is the table above; at y = 1 everything is halved
    both = pl.concat(
        [
            TABLE.with_columns(pl.lit(0).alias("y")),
            TABLE.with_columns(pl.lit(1).alias("y"), pl.col("m") / 2, pl.col("run_id") + "b"),
        ]
    )
    held = degradation_curves(both, ["x", "y"], ["m"], others="hold")
    along_x = held.filter(pl.col("key") == "x")
    assert along_x["others"].unique().to_list() == ["y=0"]
    assert along_x["mean"].to_list() == pytest.approx([12.0, 10.0, 5.0])
    along_y = held.filter(pl.col("key") == "y")
    assert along_y["others"].unique().to_list() == ["x=0.0"]
    assert along_y["mean"].to_list() == pytest.approx([12.0, 6.0])
    grouped = degradation_curves(both, ["x", "y"], ["m"], others="group")
    x_groups = grouped.filter(pl.col("key") == "x")
    assert sorted(x_groups["others"].unique().to_list()) == ["y=0", "y=1"]
    # halving every value keeps the relative curve
    for _, g in x_groups.group_by("others"):
        assert g.sort("level")["relative"].to_list() == pytest.approx([1.0, 10 / 12, 5 / 12])
    assert grouped.filter(pl.col("key") == "y").height == 6  # 3 x-levels × 2 y-levels
    with pytest.raises(ConfigError):
        degradation_curves(both, ["x", "y"], ["m"], others="average")


def test_text_keys_are_not_curves():
    frame = TABLE.with_columns(pl.lit("ring").alias("topology"))
    curves = degradation_curves(frame, ["topology", "x"], ["m"])
    assert curves["key"].unique().to_list() == ["x"]
    assert curves["others"].unique().to_list() == ["topology=ring"]
