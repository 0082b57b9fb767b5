"""The same study gives identical tables in this process, on a 2-process pool and on Dask."""

import os

import pytest
from polars.testing import assert_frame_equal
from study_testkit import TINY, read_study_tables, run_files

from dmarl_des.errors import ConfigError
from dmarl_des.study import Study, make_executor, run_study


def _study():
    grid = {"world.crash_fraction": [0.0, 0.5], "world.noise": [0.0, 0.3]}
    return Study(TINY, grid=grid, seeds=2, base_overrides={"horizon": 15.0}, name="same")


def test_one_worker_two_workers_and_dask_give_identical_tables(tmp_path):
    study = _study()
    outs = {}
    for label, executor, workers in [
        ("inproc", "local", 1),
        ("pool", "local", 2),
        ("dask", "dask", 2),
    ]:
        out = tmp_path / label
        result = run_study(study, out, executor=executor, workers=workers, progress=False)
        assert result.ok and len(result.done) == 8 and not result.skipped, label
        outs[label] = read_study_tables(out)
    reference = outs["inproc"]
    assert set(reference) == {"runs", "episodes", "agents"}
    assert reference["runs"].height == 8 and reference["episodes"].height == 16
    assert reference["runs"]["status"].to_list() == ["ok"] * 8
    # the fault key changes the outcome, so identical tables are not trivially identical
    assert reference["episodes"]["team_return"].n_unique() > 4
    for label in ("pool", "dask"):
        assert set(outs[label]) == set(reference)
        for table, frame in reference.items():
            assert_frame_equal(outs[label][table], frame, check_exact=True)
    # hive layout: OUT/<table>/<key>=<value>/<key>=<value>/<run_id>.parquet
    files = run_files(tmp_path / "pool")
    assert {f.parent.parent.name for f in files} == {
        "world.crash_fraction=0.0",
        "world.crash_fraction=0.5",
    }
    assert {f.parent.name for f in files} == {"world.noise=0.0", "world.noise=0.3"}


def test_rerunning_a_complete_study_skips_every_run_and_rewrites_nothing(tmp_path):
    study = _study()
    first = run_study(study, tmp_path, workers=1, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    second = run_study(study, tmp_path, workers=1, progress=False)
    assert sorted(second.skipped) == sorted(first.done) and not second.done
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")} == stamps


def test_executor_arguments_are_checked():
    with pytest.raises(ConfigError) as info:
        make_executor("slurm")
    assert info.value.field == "executor"
    with pytest.raises(ConfigError):
        make_executor("local", workers=0)
    with pytest.raises(ConfigError) as info:
        make_executor("local", workers=2, address="tcp://localhost:8786")
    assert info.value.field == "address"


def test_a_folder_of_another_grid_is_refused(tmp_path):
    run_study(
        Study(TINY, grid={"world.noise": [0.0]}, base_overrides={"horizon": 2.0}),
        tmp_path,
        workers=1,
        progress=False,
    )
    other = Study(TINY, grid={"world.crash_fraction": [0.0]}, base_overrides={"horizon": 2.0})
    with pytest.raises(ConfigError) as info:
        run_study(other, tmp_path, workers=1, progress=False)
    assert info.value.field == "out"
    assert os.path.isfile(tmp_path / "study.json")
