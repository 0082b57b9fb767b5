"""`dmarl train` as a user would trust it: evaluation every K episodes (phase = eval rows), a
wall-clock budget, the best and the last checkpoint, optional TensorBoard scalars."""

import json
from pathlib import Path

import polars as pl
import pytest
from study_testkit import TINY

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.scenario import load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.study.scenarios import with_learner_named
from dmarl_des.study.schedule import TrainingSchedule, run_schedule

LEARNER = ["--learner", "iql", "--set", "learner.learning_starts=8", "--set", "learner.hidden=8"]


def _world(**overrides):
    scenario = load_scenario(TINY, {"horizon": 4.0, **overrides})
    scenario = with_learner_named(scenario, "iql", {"hidden": 8}).with_overrides(
        {"policy": "learner"}
    )
    result = run_scenario(scenario.with_overrides({"episodes": 1}), keep_world=True)
    return result.world, scenario


def test_evaluation_rounds_every_k_episodes_then_the_final_one():
    world, scenario = _world()
    world.scenario = scenario.with_overrides({"episodes": 5, "eval_episodes": 2})
    rounds = []
    rows = run_schedule(world, TrainingSchedule(eval_every=2, eval_episodes=1), None, rounds.append)
    phases = [r["phase"] for r in rows]
    # train, train, eval, train, train, eval, train (the last), then the final round of 2
    assert phases == ["train"] * 2 + ["eval"] + ["train"] * 2 + ["eval", "train", "eval", "eval"]
    assert [r["episode"] for r in rows] == list(range(9))  # numbered in the order they ran
    assert [(e.trained_episodes, len(e.rows), e.final) for e in rounds] == [
        (2, 1, False),
        (4, 1, False),
        (5, 2, True),
    ]


def test_a_wall_clock_budget_stops_training_then_evaluates():
    world, scenario = _world()
    world.scenario = scenario.with_overrides({"episodes": 100, "eval_episodes": 1})
    ticks = iter(range(1000))  # a clock that advances one second per reading
    rows = run_schedule(world, TrainingSchedule(time_budget=3.0), clock=lambda: next(ticks))
    assert [r["phase"] for r in rows] == ["train"] * 3 + ["eval"]
    with pytest.raises(ConfigError):
        TrainingSchedule(time_budget=0.0)
    with pytest.raises(ConfigError):
        TrainingSchedule(eval_every=-1)


def test_train_keeps_the_last_and_the_best_checkpoint(tmp_path, capsys):
    models = tmp_path / "models"
    args = ["train", str(TINY), *LEARNER, "--episodes", "6", "--eval-every", "2"]
    args += ["--eval-episodes", "2", "--set", "horizon=6", "--name", "t", "--models", str(models)]
    assert main([*args, "--out", str(tmp_path / "out"), "--quiet"]) == 0
    episodes = pl.read_parquet(next((tmp_path / "out" / "episodes").rglob("*.parquet")))
    evals = episodes.filter(pl.col("phase") == "eval")
    assert evals.height == 6  # rounds after 2 and 4 episodes, and the final one
    rounds = [evals["team_return"][i : i + 2].mean() for i in (0, 2, 4)]
    last = json.loads((models / "t" / "card.json").read_text())
    best = json.loads((models / "t" / "best" / "card.json").read_text())
    assert last["metrics"]["mean_return"] == pytest.approx(rounds[-1])  # the final round
    assert best["metrics"]["mean_return"] == pytest.approx(max(rounds))
    assert best["metrics"]["trained_episodes"] == [2, 4, 6][rounds.index(max(rounds))]
    assert last["episodes"] == 6 and "training_scenario" in last
    printed = capsys.readouterr().out
    assert "best evaluation: mean return" in printed
    # the best checkpoint evaluates like any other
    run = ["run", str(TINY), "--policy", str(models / "t" / "best"), "--set", "horizon=6"]
    assert main([*run, "--out", str(tmp_path / "run"), "--quiet"]) == 0


def test_train_for_a_wall_clock_budget(tmp_path, capsys):
    models = tmp_path / "models"
    args = ["train", str(TINY), *LEARNER, "--time", "0.5", "--set", "horizon=3", "--name", "t"]
    args += ["--eval-episodes", "1"]
    assert main([*args, "--models", str(models), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    card = json.loads((models / "t" / "card.json").read_text())
    episodes = pl.read_parquet(next((tmp_path / "out" / "episodes").rglob("*.parquet")))
    trained = episodes.filter(pl.col("phase") == "train").height
    assert trained >= 1 and card["episodes"] == trained and trained < 10**6
    assert episodes.filter(pl.col("phase") == "eval").height == 1  # the final evaluation


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = tmp_path / "board"
    args = ["train", str(TINY), *LEARNER, "--episodes", "4", "--eval-every", "2"]
    args += ["--set", "horizon=6", "--name", "t", "--models", str(tmp_path / "models")]
    args += ["--tensorboard", str(board), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 0
    events = EventAccumulator(str(board))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"episode/team_return/train", "episode/team_return/eval", "eval/mean_return"} <= tags
    assert {"train/loss", "train/q_mean", "train/epsilon"} <= tags
    train = pl.read_parquet(next((tmp_path / "out" / "train").rglob("*.parquet")))
    losses = events.Scalars("train/loss")
    assert len(losses) == train.height  # one point per update
    assert losses[-1].value == pytest.approx(train["loss"][-1], rel=1e-6)
    assert [e.step for e in events.Scalars("eval/mean_return")] == [2, 4]


def test_missing_tensorboard_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    args = ["train", str(TINY), *LEARNER, "--episodes", "1", "--set", "horizon=2", "--name", "t"]
    args += ["--models", str(tmp_path / "m"), "--tensorboard", str(tmp_path / "tb"), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    assert "tensorboard" in capsys.readouterr().err
    assert not Path(tmp_path / "m" / "t" / "card.json").exists()
