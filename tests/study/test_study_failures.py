"""A run that raises is recorded with its traceback; the others finish; the CLI exits non-zero."""

import sys

import polars as pl
import pytest
from study_testkit import TINY, read_study_tables, run_files

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.log import write_parquet_atomic
from dmarl_des.study import InProcessExecutor, Study, make_executor, run_study
from dmarl_des.study.execute import execute_run


def test_failing_runs_are_isolated_recorded_and_reported(tmp_path, capsys):
    out = tmp_path / "study"
    argv = [
        "study",
        str(TINY),
        "--grid",
        "world.crash_fraction=0,0.5",
        "--seeds",
        "3",
        "--set",
        "world.fail_seed=1",
        "--set",
        "horizon=10",
        "--workers",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 1
    captured = capsys.readouterr()
    runs = read_study_tables(out)["runs"]
    assert runs.height == 6
    failed = runs.filter(pl.col("status") == "error")
    assert sorted(failed["seed"].to_list()) == [1, 1]
    assert runs.filter(pl.col("status") == "ok")["seed"].to_list().count(1) == 0
    for error in failed["error"]:
        assert (
            error.startswith("Traceback") and "RuntimeError: injected failure in episode 1" in error
        )
    # the failures are printed: run id, overrides, last line of the error
    assert "2 run(s) failed" in captured.err
    for run_id in failed["run_id"]:
        line = next(x for x in captured.err.splitlines() if run_id in x)
        assert "world.fail_seed=1" in line and "seed=1" in line
        assert line.endswith("RuntimeError: injected failure in episode 1")
    # the report (printed at the end) leaves the failed runs out
    assert "4 runs ok, 2 failed" in captured.out
    assert "world.crash_fraction" in captured.out

    # errored runs are retried on resume (and fail again: they are deterministic)
    assert main([*argv, "--no-report"]) == 1
    again = capsys.readouterr()
    assert "2 run(s) failed" in again.err
    assert read_study_tables(out)["runs"].height == 6


def test_an_errored_run_is_redone_and_the_complete_ones_are_not(tmp_path):
    study = Study(TINY, grid={"world.noise": [0.0, 0.5]}, seeds=2, base_overrides={"horizon": 5.0})
    first = run_study(study, tmp_path, workers=1, progress=False)
    assert first.ok and len(first.done) == 4
    marker = run_files(tmp_path)[0]
    frame = pl.read_parquet(marker).with_columns(pl.lit("error").alias("status"))
    write_parquet_atomic(frame, marker)
    second = run_study(study, tmp_path, workers=1, progress=False)
    assert second.done == [frame["run_id"][0]] and len(second.skipped) == 3
    assert pl.read_parquet(marker)["status"].to_list() == ["ok"]


class _BrokenWorkerExecutor(InProcessExecutor):
    """Like workers=1, but the worker of one run dies (raises outside the simulation)."""

    def __init__(self, victim: str):
        self.victim = victim

    def map_runs(self, fn, specs):
        for spec in specs:
            if spec.run_id == self.victim:
                yield spec, OSError("worker lost")
            else:
                yield spec, fn(spec)


def test_a_lost_worker_fails_only_its_run(tmp_path):
    study = Study(TINY, grid={"world.noise": [0.0, 0.5]}, seeds=2, base_overrides={"horizon": 5.0})
    victim = study.runs()[2]  # world.noise=0.5, seed 0
    result = run_study(
        study, tmp_path, executor=_BrokenWorkerExecutor(victim.run_id), progress=False
    )
    assert [f.run_id for f in result.failed] == [victim.run_id]
    assert result.failed[0].last_line == "OSError: worker lost"
    assert result.failed[0].overrides == {"horizon": 5.0, "world.noise": 0.5}
    assert len(result.done) == 3 and not result.ok


def test_executors_turn_exceptions_into_results():
    study = Study(TINY, grid={"world.noise": [0.0, 0.5]}, base_overrides={"horizon": 5.0})

    def boom(spec):
        if spec.partition["world.noise"] == 0.0:
            raise ValueError("bad run")
        return spec.run_id

    results = list(InProcessExecutor().map_runs(boom, study.runs()))
    assert isinstance(results[0][1], ValueError) and results[1][1] == study.runs()[1].run_id


def test_changed_scenario_file_is_caught_by_the_worker(tmp_path):
    study = Study(TINY, grid={"world.noise": [0.0]}, base_overrides={"horizon": 5.0})
    spec = study.runs()[0]
    stale = type(spec)(
        spec.scenario_path, spec.overrides, spec.seed, "tiny-0000", spec.params, spec.partition
    )
    outcome = execute_run(stale, out=str(tmp_path), study="x")
    assert outcome.status == "error" and "changed" in outcome.error


def test_missing_dask_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError) as info:
        make_executor("dask", workers=2)
    assert info.value.field == "executor" and "dask" in info.value.allowed
