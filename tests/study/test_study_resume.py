"""A study killed with SIGKILL mid-way resumes to exactly the tables of an uninterrupted run."""

import os
import signal
import subprocess
import time

from polars.testing import assert_frame_equal
from study_testkit import TINY, cli_command, read_study_tables, run_files

from dmarl_des.report import write_report
from dmarl_des.study import Study, run_study

GRID = {"world.crash_fraction": [0.0, 0.25, 0.5, 0.75]}
BASE = {"horizon": 250.0}  # about 0.3 s per run: slow enough to land the kill mid-way
SEEDS = 2


def _kill_mid_way(out, at_least: int, total: int) -> int:
    """Start `dmarl study` with 2 workers, SIGKILL its process group once some runs are done."""
    args = [
        "study",
        str(TINY),
        "--grid",
        "world.crash_fraction=0,0.25,0.5,0.75",
        "--set",
        "horizon=250.0",
        "--seeds",
        str(SEEDS),
        "--workers",
        "2",
        "--out",
        str(out),
        "--no-report",
        "--quiet",
    ]
    proc = subprocess.Popen(
        cli_command(*args),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while len(run_files(out)) < at_least:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the study made no progress"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = len(run_files(out))
    assert done < total, "the kill landed after the study had finished"
    return done


def test_killed_study_resumes_with_nothing_lost_or_duplicated(tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    total = len(GRID["world.crash_fraction"]) * SEEDS
    done_at_kill = _kill_mid_way(killed, at_least=2, total=total)
    marker_times = {p: p.stat().st_mtime_ns for p in run_files(killed)}
    # what a killed writer may leave: a temporary file, and tables of a run without its runs file
    partition = next((killed / "episodes").iterdir())
    (partition / ".tmp-killedwriter.parquet").write_bytes(b"PAR1 half written")

    # a study folder is readable at any moment: only complete runs, no temporary file
    partial = write_report(killed, plots=False)
    assert partial.n_ok == done_at_kill and partial.per_run.height == done_at_kill

    study = Study(TINY, grid=GRID, seeds=SEEDS, base_overrides=BASE, name="tiny_scenario")
    resumed = run_study(study, killed, workers=1, progress=False)
    assert resumed.ok
    assert len(resumed.skipped) == done_at_kill
    assert len(resumed.done) == total - done_at_kill
    # completed runs were not redone
    assert {p: p.stat().st_mtime_ns for p in marker_times} == marker_times
    assert not [p for p in killed.rglob(".tmp-*")]

    uninterrupted = run_study(study, reference, workers=1, progress=False)
    assert uninterrupted.ok and len(uninterrupted.done) == total
    got, want = read_study_tables(killed), read_study_tables(reference)
    assert set(got) == set(want) == {"runs", "episodes", "agents"}
    for table in want:
        assert_frame_equal(got[table], want[table], check_exact=True)
    runs = got["runs"]
    assert runs.height == total and runs["run_id"].n_unique() == total
    assert got["episodes"].height == 2 * total
    assert got["episodes"].select("run_id", "episode").is_unique().all()
