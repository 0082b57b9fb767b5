"""Resume verifies the files it trusts: damaged runs are redone; the report names and skips them."""

import hashlib

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from study_testkit import TINY, read_study_tables, run_files

from dmarl_des.cli import main
from dmarl_des.log import SCHEMA_VERSION
from dmarl_des.report import write_report
from dmarl_des.study import Study, run_study

GRID = {"world.noise": [0.0, 0.5]}
BASE = {"horizon": 6.0}


def _study():
    return Study(TINY, grid=GRID, seeds=2, base_overrides=BASE, name="intact")


def _file(out, table, run_id):
    (path,) = (out / table).rglob(f"{run_id}.parquet")
    return path


def _damage(out, run_ids):
    """Truncate an episodes file to half, empty an agents file, delete an episodes file."""
    a, b, c = run_ids
    half = _file(out, "episodes", a)
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    empty = _file(out, "agents", b)
    empty.write_bytes(b"")
    gone = _file(out, "episodes", c)
    gone.unlink()
    return {a: half, b: empty, c: gone}


def test_the_runs_row_lists_every_file_with_size_rows_and_checksum(tmp_path):
    assert run_study(_study(), tmp_path, workers=1, progress=False).ok
    runs = pl.read_parquet(run_files(tmp_path)[0])
    assert runs["schema_version"].to_list() == [SCHEMA_VERSION] == [3]
    entries = runs["files"][0].to_list()
    assert sorted(e["table"] for e in entries) == ["agents", "episodes"]
    for entry in entries:
        path = tmp_path / entry["path"]
        assert path.is_file() and path.stem == runs["run_id"][0]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["rows"] == pl.read_parquet(path).height
    # 4 agents x 2 episodes, 2 episodes
    assert {e["table"]: e["rows"] for e in entries} == {"agents": 8, "episodes": 2}


def test_resume_redoes_exactly_the_damaged_runs_and_ends_as_a_clean_study(tmp_path):
    damaged_out, clean_out = tmp_path / "damaged", tmp_path / "clean"
    study = _study()
    first = run_study(study, damaged_out, workers=1, progress=False)
    assert first.ok and len(first.done) == 4
    victims = first.done[:3]
    _damage(damaged_out, victims)
    intact = first.done[3]
    stamp = _file(damaged_out, "runs", intact).stat().st_mtime_ns

    resumed = run_study(study, damaged_out, workers=1, progress=False)
    assert resumed.ok
    assert sorted(resumed.done) == sorted(victims) and resumed.skipped == [intact]
    assert set(resumed.damaged) == set(victims)
    assert "episodes/" in resumed.damaged[victims[0]] and "bytes" in resumed.damaged[victims[0]]
    assert "agents/" in resumed.damaged[victims[1]]
    assert "missing" in resumed.damaged[victims[2]]
    assert _file(damaged_out, "runs", intact).stat().st_mtime_ns == stamp

    assert run_study(study, clean_out, workers=1, progress=False).ok
    got, want = read_study_tables(damaged_out), read_study_tables(clean_out)
    assert set(got) == set(want) == {"runs", "episodes", "agents"}
    for table in want:
        assert_frame_equal(got[table], want[table], check_exact=True)
    # and a third pass trusts everything
    again = run_study(study, damaged_out, workers=1, progress=False)
    assert not again.done and len(again.skipped) == 4 and not again.damaged


def test_an_altered_file_of_the_same_size_is_caught_by_its_checksum(tmp_path):
    study = _study()
    first = run_study(study, tmp_path, workers=1, progress=False)
    path = _file(tmp_path, "episodes", first.done[0])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    resumed = run_study(study, tmp_path, workers=1, progress=False)
    assert resumed.done == [first.done[0]] and "SHA-256" in resumed.damaged[first.done[0]]


def test_a_runs_file_without_a_manifest_is_not_trusted(tmp_path):
    study = _study()
    first = run_study(study, tmp_path, workers=1, progress=False)
    marker = _file(tmp_path, "runs", first.done[0])
    pl.read_parquet(marker).drop("files").write_parquet(marker)  # as an older version wrote it
    resumed = run_study(study, tmp_path, workers=1, progress=False)
    assert resumed.done == [first.done[0]] and "manifest" in resumed.damaged[first.done[0]]


def test_report_names_each_damaged_file_and_skips_its_run(tmp_path, capsys):
    first = run_study(_study(), tmp_path, workers=1, progress=False)
    files = _damage(tmp_path, first.done[:3])
    report = write_report(tmp_path, plots=False)
    assert report.n_ok == 1 and report.n_failed == 0 and len(report.skipped) == 3
    assert report.per_run["run_id"].to_list() == [first.done[3]]
    for path in files.values():
        name = path.relative_to(tmp_path).as_posix()
        assert sum(name in line for line in report.skipped) == 1, (name, report.skipped)
        assert name in report.markdown

    assert main(["report", str(tmp_path), "--no-plots"]) == 0
    captured = capsys.readouterr()
    for path in files.values():
        assert path.relative_to(tmp_path).as_posix() in captured.err
    assert "1 runs ok, 0 failed, 3 skipped (damaged)" in captured.out


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_report_skips_a_damaged_runs_file(tmp_path, damage):
    first = run_study(_study(), tmp_path, workers=1, progress=False)
    marker = _file(tmp_path, "runs", first.done[0])
    data = marker.read_bytes()
    marker.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"PAR1" + data[8:])
    report = write_report(tmp_path, plots=False)
    assert report.n_ok == 3
    assert len(report.skipped) == 1 and marker.relative_to(tmp_path).as_posix() in report.skipped[0]
    assert first.done[0] not in report.per_run["run_id"].to_list()
