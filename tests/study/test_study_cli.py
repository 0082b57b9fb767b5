"""`dmarl study FILE` runs the file's default study() grid; `dmarl report` analyses a folder."""

import pytest
from study_testkit import TINY, read_study_tables

from dmarl_des.cli import main
from dmarl_des.cli.study import parse_grids, parse_seeds
from dmarl_des.errors import ConfigError


def test_default_study_grid_runs_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["study", str(TINY), "--workers", "1", "--quiet", "--set", "horizon=8"]) == 0
    out = tmp_path / "data" / "studies" / "tiny_scenario"
    runs = read_study_tables(out)["runs"]
    # study(): crash_fraction 0, 0.25, 0.5 × 2 seeds
    assert runs.height == 6 and set(runs["status"]) == {"ok"}
    assert sorted(runs["seed"].unique().to_list()) == [0, 1]
    assert {p.name for p in (out / "runs").iterdir()} == {
        "world.crash_fraction=0.0",
        "world.crash_fraction=0.25",
        "world.crash_fraction=0.5",
    }
    assert (out / "report" / "report.md").is_file()
    pngs = sorted(p.name for p in (out / "report").glob("*.png"))
    assert pngs == [
        "episodes.discounted_return__world.crash_fraction.png",
        "episodes.success__world.crash_fraction.png",
        "episodes.team_return__world.crash_fraction.png",
    ]
    printed = capsys.readouterr().out
    assert "6 runs = world.crash_fraction [0.0, 0.25, 0.5] × 2 seeds" in printed
    assert "| episodes.team_return | world.crash_fraction |" in printed

    # dmarl report on the same folder, with an agents metric and grouping
    assert main(["report", str(out), "--metric", "agents.downtime", "--no-plots"]) == 0
    printed = capsys.readouterr().out
    row = next(x for x in printed.splitlines() if x.startswith("| agents.downtime"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # no agent is down without crashes, so the relative curve (and its score) is undefined
    assert cells[3:6] == ["2", "0", "0"] and float(cells[7]) > 0 and cells[9] == "n/a"


def test_grid_and_seed_parsing():
    assert parse_seeds("4") == 4 and parse_seeds("0,3,7") == [0, 3, 7] and parse_seeds(None) is None
    assert parse_grids(["a.b=0,0.5", "c=x,y"]) == {"a.b": (0, 0.5), "c": ("x", "y")}
    assert parse_grids(None) is None
    with pytest.raises(ConfigError):
        parse_seeds("many")
    with pytest.raises(ConfigError):
        parse_grids(["a=1", "a=2"])


def test_bad_grid_is_a_configuration_error_before_any_run(tmp_path, capsys):
    code = main(["study", str(TINY), "--grid", "world.noise=0,7", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "world.noise" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_main_job_compares_scripted_and_the_committed_learned_policy(monkeypatch):
    from pathlib import Path

    from dmarl_des.study import load_study

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    study = load_study(root / "scenarios" / "quickstart.py")
    assert study.check() == (0, 90)  # 2 policies × 3 crash fractions × 3 loss rates × 5 seeds
    assert study.levels()["policy"] == ["scripted", "models/coverage_ippo/best"]
    facts = study.describe()["facts"]
    assert "exponential time of rate 0.02" in facts["faults"][0]  # crashes during the mission
    assert "`ippo` (shared parameters)" in facts["learner"]
    card = (root / "models" / "coverage_ippo" / "best" / "card.json").read_text()
    assert '"n_agents": 200' in card  # trained with 200 UAVs, evaluated with 400
