"""Reading a study folder: typed hive partitions, hidden temp files skipped, per-run metrics."""

import polars as pl
import pytest

from dmarl_des.errors import ConfigError
from dmarl_des.report import partition_schema, run_metrics, scan_table, write_report


def _write(root, table, parts, run_id, frame):
    folder = root / table
    for part in parts:
        folder = folder / part
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / f"{run_id}.parquet")


def _runs(run_id, seed, status="ok"):
    return pl.DataFrame({"run_id": [run_id], "seed": [seed], "status": [status]})


def test_partition_dtypes_and_hidden_files(tmp_path):
    layout = [
        (["p=0", "k=1", "name=ring", "flag=True"], "a"),
        (["p=0.5", "k=2", "name=grid", "flag=False"], "b"),
    ]
    for parts, run_id in layout:
        _write(tmp_path, "runs", parts, run_id, _runs(run_id, 0))
    (tmp_path / "runs" / "p=0" / "k=1" / "name=ring" / "flag=True" / ".tmp-x.parquet").write_text(
        ""
    )
    schema = partition_schema(tmp_path)
    assert schema == {"p": pl.Float64, "k": pl.Int64, "name": pl.Utf8, "flag": pl.Boolean}
    frame = scan_table(tmp_path, "runs").collect().sort("run_id")
    assert frame["p"].to_list() == [0.0, 0.5] and frame["k"].to_list() == [1, 2]
    assert frame["flag"].to_list() == [True, False] and frame["name"].to_list() == ["ring", "grid"]
    with pytest.raises(ConfigError) as info:
        scan_table(tmp_path, "nothing")
    assert "runs" in info.value.allowed


def test_mixed_layouts_and_missing_folders_are_config_errors(tmp_path):
    with pytest.raises(ConfigError):
        partition_schema(tmp_path)
    _write(tmp_path, "runs", ["p=0"], "a", _runs("a", 0))
    _write(tmp_path, "runs", ["q=0"], "b", _runs("b", 0))
    with pytest.raises(ConfigError) as info:
        partition_schema(tmp_path)
    assert "one grid layout" in info.value.allowed


def test_run_metrics_use_eval_episodes_when_present_and_skip_failed_runs():
    runs = pl.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "seed": [0, 1, 2],
            "status": ["ok", "ok", "error"],
            "x": [0.0, 0.0, 0.0],
        }
    )
    episodes = pl.DataFrame(
        {
            "run_id": ["a", "a", "a", "b", "b", "c"],
            "episode": [0, 1, 2, 0, 1, 0],
            "phase": ["train", "eval", "eval", "train", "train", "eval"],
            "team_return": [100.0, 4.0, 6.0, 1.0, 3.0, 50.0],
            "success": [True, False, True, True, True, True],
        }
    )
    agents = pl.DataFrame(
        {"run_id": ["a"] * 4, "episode": [0, 0, 1, 1], "downtime": [9.0, 9.0, 1.0, 3.0]}
    )
    out = run_metrics(
        runs,
        {"episodes": episodes, "agents": agents},
        ["episodes.team_return", "episodes.success", "agents.downtime"],
        ["x"],
    )
    assert out["run_id"].to_list() == ["a", "b"]
    assert out["episodes.team_return"].to_list() == [5.0, 2.0]  # a: eval only; b: all
    assert out["episodes.success"].to_list() == [0.5, 1.0]
    assert out["agents.downtime"][0] == 2.0  # agents of a's eval episode 1 only
    assert out["agents.downtime"][1] is None
    with pytest.raises(ConfigError):
        run_metrics(runs, {"episodes": episodes}, ["episodes.nope"], ["x"])
    with pytest.raises(ConfigError):
        run_metrics(runs, {"episodes": episodes}, ["team_return"], ["x"])


def test_write_report_on_a_hand_made_folder(tmp_path):
    rows = [(0.0, 0, 10.0), (0.0, 1, 12.0), (1.0, 0, 4.0), (1.0, 1, 8.0)]
    for i, (p, seed, ret) in enumerate(rows):
        run_id = f"r{i}"
        _write(tmp_path, "runs", [f"p={p}"], run_id, _runs(run_id, seed))
        episodes = pl.DataFrame(
            {
                "run_id": [run_id] * 2,
                "episode": [0, 1],
                "phase": ["eval"] * 2,
                "team_return": [ret - 1, ret + 1],
            }
        )
        _write(tmp_path, "episodes", [f"p={p}"], run_id, episodes)
    _write(tmp_path, "runs", ["p=1.0"], "broken", _runs("broken", 2, "error"))
    report = write_report(tmp_path, metrics=["episodes.team_return"], fraction=0.6)
    assert (report.n_ok, report.n_failed) == (4, 1)
    row = report.summary.row(0, named=True)
    assert (row["mean_x0"], row["mean_x_max"]) == (11.0, 6.0)
    assert row["score"] == pytest.approx((1 + 6 / 11) / 2)
    assert row["breakdown"] == 1.0  # 6/11 < 0.6
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| runs | 4 ok, 1 failed (left out) |" in text and "| episodes.team_return | p |" in text
    assert (tmp_path / "report" / "episodes.team_return__p.png").stat().st_size > 1000


def test_report_of_a_folder_where_every_run_failed(tmp_path):
    _write(tmp_path, "runs", ["p=0.0"], "a", _runs("a", 0, "error"))
    report = write_report(tmp_path)
    assert (report.n_ok, report.n_failed) == (0, 1)
    assert report.summary.height == 0 and report.per_run.height == 0
    assert "No curve" in (tmp_path / "report" / "report.md").read_text()


def test_a_run_evaluated_during_training_counts_its_final_evaluation():
    runs = pl.DataFrame({"run_id": ["a", "b"], "seed": [0, 1], "status": ["ok", "ok"]})
    episodes = pl.DataFrame(
        {
            "run_id": ["a"] * 6 + ["b"] * 2,
            "episode": [0, 1, 2, 3, 4, 5, 0, 1],
            "phase": ["train", "eval", "train", "train", "eval", "eval", "eval", "eval"],
            "team_return": [0.0, 1.0, 0.0, 0.0, 7.0, 9.0, 3.0, 5.0],
        }
    )
    out = run_metrics(runs, {"episodes": episodes}, ["episodes.team_return"], [])
    # a: the evaluation at episode 1 is a learning-curve point; the final one is episodes 4, 5
    assert out["episodes.team_return"].to_list() == [8.0, 4.0]
    assert out["n_episodes"].to_list() == [2, 2]
