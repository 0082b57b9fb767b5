"""A run that kills its worker process fails alone, with the exit cause; the study goes on."""

import signal

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from study_testkit import TINY, read_study_tables

from dmarl_des.study import Study, run_study


def _tables_of(out, run_ids):
    tables = read_study_tables(out)
    return {t: f.filter(pl.col("run_id").is_in(run_ids)) for t, f in tables.items()}


@pytest.mark.slow
def test_a_run_calling_os_exit_fails_only_itself_on_the_local_pool(tmp_path):
    study = Study(TINY, grid={"world.exit_code": [0, 7]}, seeds=2, base_overrides={"horizon": 5.0})
    result = run_study(study, tmp_path / "pool", workers=2, progress=False)
    dying = [s.run_id for s in study.runs() if s.partition["world.exit_code"] == 7]
    healthy = [s.run_id for s in study.runs() if s.partition["world.exit_code"] == 0]
    assert sorted(f.run_id for f in result.failed) == sorted(dying)
    assert sorted(result.done) == sorted(healthy)
    for failed in result.failed:
        assert failed.last_line.endswith("exited with code 7")
        assert "WorkerDied" in failed.last_line
    # the dead runs are recorded in runs (status error, with the cause) and redone on resume
    runs = read_study_tables(tmp_path / "pool")["runs"]
    errors = runs.filter(pl.col("status") == "error")
    assert sorted(errors["run_id"].to_list()) == sorted(dying)
    assert all("exited with code 7" in e for e in errors["error"])
    # the runs that went on are exactly those of a run in this process
    reference = run_study(
        Study(TINY, grid={"world.exit_code": [0]}, seeds=2, base_overrides={"horizon": 5.0}),
        tmp_path / "inproc",
        workers=1,
        progress=False,
    )
    assert reference.ok and sorted(reference.done) == sorted(healthy)
    got, want = _tables_of(tmp_path / "pool", healthy), _tables_of(tmp_path / "inproc", healthy)
    for table in ("runs", "episodes", "agents"):
        assert_frame_equal(got[table].drop("world.exit_code"), want[table].drop("world.exit_code"))


@pytest.mark.slow
def test_runs_killed_by_signals_name_the_signal(tmp_path):
    kills = [0, int(signal.SIGKILL), int(signal.SIGSEGV)]
    study = Study(TINY, grid={"world.kill_signal": kills}, seeds=1, base_overrides={"horizon": 5.0})
    result = run_study(study, tmp_path, workers=2, progress=False)
    assert len(result.done) == 1
    causes = {f.partition["world.kill_signal"]: f.last_line for f in result.failed}
    assert set(causes) == {int(signal.SIGKILL), int(signal.SIGSEGV)}
    assert "killed by signal SIGKILL (9)" in causes[int(signal.SIGKILL)]
    assert "killed by signal SIGSEGV (11)" in causes[int(signal.SIGSEGV)]


def test_exit_causes_read_well():
    from dmarl_des.study.pool import exit_cause

    assert exit_cause(3) == "exited with code 3"
    assert exit_cause(-9) == "was killed by signal SIGKILL (9) (e.g. the out-of-memory killer)"
    assert exit_cause(-15) == "was killed by signal SIGTERM (15)"
    assert exit_cause(None) == "ended with no exit status"


@pytest.mark.slow
def test_dask_still_fails_only_the_run_whose_worker_died(tmp_path):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")  # its defaults are in dask's config before we set one
    study = Study(TINY, grid={"world.exit_code": [0, 7]}, seeds=1, base_overrides={"horizon": 5.0})
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        result = run_study(study, tmp_path, executor="dask", workers=2, progress=False)
    dying = [s.run_id for s in study.runs() if s.partition["world.exit_code"] == 7]
    assert [f.run_id for f in result.failed] == dying and len(result.done) == 1
    assert "KilledWorker" in result.failed[0].last_line
    runs = read_study_tables(tmp_path)["runs"]
    assert runs.filter(pl.col("status") == "error")["run_id"].to_list() == dying


def test_the_pool_returns_results_exceptions_and_deaths_and_stays_usable():
    from pool_tasks import double_or_fail

    from dmarl_des.study.pool import RemoteTraceback, WorkerDied, WorkerPool

    pool = WorkerPool(2)
    try:
        got = dict(pool.run_each(double_or_fail, [0, 1, 2, 3, 4]))
        assert (got[0], got[3], got[4]) == (0, 6, 8)
        assert isinstance(got[1], ValueError) and str(got[1]) == "bad task 1"
        assert isinstance(got[1].__cause__, RemoteTraceback)
        assert "in double_or_fail" in str(got[1].__cause__)
        assert isinstance(got[2], WorkerDied) and "exited with code 3" in str(got[2])
        # the pool replaced its dead worker and goes on
        assert dict(pool.run_each(double_or_fail, [5, 6])) == {5: 10, 6: 12}
    finally:
        pool.close()
