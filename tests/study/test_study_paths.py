"""Every output path lies inside the output folder; an existing file as --out is refused up front."""

import polars as pl
import pytest
from study_testkit import TINY

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.log import Recorder, table_path
from dmarl_des.scenario import load_scenario
from dmarl_des.study import Study, run_scenario, run_study


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("run_id", ["../escaped", "a/b", "..", ".", ".hidden", "", "a\\b"])
def test_a_run_id_that_is_not_a_plain_file_name_is_refused(tmp_path, run_id):
    with pytest.raises(ConfigError) as info:
        table_path(tmp_path / "out", "runs", run_id, {})
    assert info.value.field == "run id"


def test_a_table_name_that_would_leave_the_folder_is_refused_before_any_write(tmp_path):
    recorder = Recorder("run-1", tables=("runs",))
    recorder.declare("../../evil", {"x": pl.Int64})
    recorder.add("../../evil", x=1)
    recorder.add("runs", status="ok")
    with pytest.raises(ConfigError) as info:
        recorder.write(tmp_path / "a" / "out")
    assert info.value.field == "table"
    assert _tree(tmp_path) == []


def test_run_scenario_refuses_an_escaping_run_id_before_simulating(tmp_path):
    scenario = load_scenario(TINY, {"horizon": 2.0})
    out = tmp_path / "deep" / "out"
    with pytest.raises(ConfigError) as info:
        run_scenario(scenario, out=out, run_id="../../escaped-1")
    assert info.value.field == "run id"
    assert _tree(tmp_path) == []


def test_cli_name_with_dot_dots_writes_nothing_outside_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "a" / "b" / "out"
    code = main(["run", str(TINY), "--set", "name=../../../escaped", "--out", str(out), "--quiet"])
    assert code == 2
    assert "configuration error" in capsys.readouterr().err
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("command", ["run", "study"])
def test_out_on_an_existing_file_is_a_one_line_error_before_simulating(tmp_path, capsys, command):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    args = [command, str(TINY), "--set", "horizon=2", "--out", str(existing), "--quiet"]
    if command == "study":
        args += ["--workers", "1", "--seeds", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("dmarl: configuration error: --out") and "existing file" in err
    assert existing.read_text() == "keep me" and _tree(tmp_path) == ["results.txt"]
    # a folder below a file is refused the same way
    from dmarl_des.log import check_output_folder

    with pytest.raises(ConfigError, match="lies under"):
        check_output_folder(existing / "sub")


def test_run_study_refuses_an_existing_file_before_planning(tmp_path):
    existing = tmp_path / "file"
    existing.write_text("x")
    study = Study(TINY, grid={"world.noise": [0.0]}, base_overrides={"horizon": 2.0})
    with pytest.raises(ConfigError) as info:
        run_study(study, existing, workers=1, progress=False)
    assert info.value.field == "out" and existing.read_text() == "x"
