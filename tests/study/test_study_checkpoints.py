"""Run ids follow a checkpoint's content; `dmarl train` never overwrites one silently."""

import polars as pl
import pytest
import torch
from study_testkit import TINY

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.learn import learner_config, make_learner, save_checkpoint
from dmarl_des.scenario import load_scenario
from dmarl_des.study import Study, run_id_for, run_scenario, run_study

WORK, REST = 0, 1  # the tiny world's macro-actions


def _checkpoint(folder, prefer):
    """An iql checkpoint for the tiny world whose greedy policy always picks ``prefer``."""
    learner = make_learner(
        learner_config("iql", {"hidden": 8}),
        obs_dim=2,
        n_actions=2,
        n_agents=4,
        gamma=0.95,
        seed=0,
    )
    with torch.no_grad():
        for net in (learner.agents.online, learner.agents.target):
            for p in net.parameters():
                p.zero_()
            net.head.bias[:, prefer] = 1.0
    return save_checkpoint(folder, learner, {"world": {"name": "tiny"}})


def _eval_returns(out, run_ids):
    frame = pl.scan_parquet(f"{out}/episodes/**/*.parquet", hidden_file_prefix=".").collect()
    frame = frame.filter(pl.col("run_id").is_in(run_ids) & (pl.col("phase") == "eval"))
    return frame["team_return"].to_list()


def test_new_weights_at_the_same_path_give_new_run_ids_and_new_results(tmp_path):
    ckpt = _checkpoint(tmp_path / "models" / "tiny", WORK)
    base = {"horizon": 6.0, "episodes": 1, "eval_episodes": 1, "policy": str(ckpt)}
    study = Study(TINY, grid={"world.noise": [0.0]}, seeds=2, base_overrides=base)
    out = tmp_path / "study"
    first = run_study(study, out, workers=1, progress=False)
    assert first.ok and len(first.done) == 2
    working = _eval_returns(out, first.done)
    assert working and min(working) > 0

    _checkpoint(ckpt, REST)  # retrained: same path, other weights
    study = Study(TINY, grid={"world.noise": [0.0]}, seeds=2, base_overrides=base)
    second = run_study(study, out, workers=1, progress=False)
    assert second.ok and not second.skipped and len(second.done) == 2
    assert not set(second.done) & set(first.done)
    assert _eval_returns(out, second.done) == [0.0] * len(working)


def test_the_run_id_covers_the_checkpoint_content_not_only_its_path(tmp_path):
    ckpt = _checkpoint(tmp_path / "a", WORK)
    scenario = load_scenario(TINY, {"policy": str(ckpt)})
    before = run_id_for(scenario)
    assert run_id_for(scenario) == before  # stable
    _checkpoint(ckpt, REST)
    after = run_id_for(scenario)
    assert after != before
    card = ckpt / "card.json"
    card.write_text(card.read_text().replace('"tiny"', '"tiny" '))  # the card counts too
    assert run_id_for(scenario) not in (before, after)
    # a scenario without a checkpoint keeps the id it always had: name and scenario digest
    plain = load_scenario(TINY, {})
    assert run_id_for(plain) == f"tiny-{plain.digest()}"


def test_the_card_is_checked_against_the_world_before_the_weights(tmp_path):
    ckpt = _checkpoint(tmp_path / "a", WORK)
    (ckpt / "weights.pt").write_bytes(b"not a weights file")
    card = ckpt / "card.json"  # per-agent parameters: the swarm size must match
    card.write_text(card.read_text().replace('"shared"', '"per_agent"'))
    scenario = load_scenario(TINY, {"policy": str(ckpt), "n_agents": 3, "horizon": 2.0})
    with pytest.raises(ConfigError, match="card.spec.n_agents"):
        run_scenario(scenario)
    scenario = load_scenario(TINY, {"policy": str(ckpt), "horizon": 2.0})
    with pytest.raises(ConfigError, match="weights.pt"):
        run_scenario(scenario)


def test_train_refuses_to_overwrite_a_checkpoint_unless_asked(tmp_path, capsys):
    models = tmp_path / "models"
    args = ["train", str(TINY), "--learner", "iql", "--episodes", "1", "--set", "horizon=3"]
    args += ["--name", "tiny-iql", "--models", str(models), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "first")]) == 0
    weights = models / "tiny-iql" / "weights.pt"
    stamp = weights.stat().st_mtime_ns
    capsys.readouterr()

    assert main([*args, "--out", str(tmp_path / "second")]) == 2
    err = capsys.readouterr().err
    assert "--name" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert weights.stat().st_mtime_ns == stamp
    assert not (tmp_path / "second").exists()  # refused before training

    assert main([*args, "--out", str(tmp_path / "third"), "--overwrite"]) == 0
    assert weights.stat().st_mtime_ns != stamp


def test_train_refuses_a_checkpoint_name_that_is_a_path(tmp_path, capsys):
    args = ["train", str(TINY), "--learner", "iql", "--episodes", "1", "--set", "horizon=3"]
    args += ["--name", "../outside", "--models", str(tmp_path / "models"), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "t")]) == 2
    assert "--name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_same_checkpoint_read_from_another_folder_keeps_its_run_ids(tmp_path):
    first = _checkpoint(tmp_path / "a", WORK)
    second = _checkpoint(tmp_path / "moved" / "b", WORK)  # the same content elsewhere
    ids = [run_id_for(load_scenario(TINY, {"policy": str(p)})) for p in (first, second)]
    assert ids[0] == ids[1]


def test_a_shared_checkpoint_trained_at_n_is_compared_at_2n_in_a_study(tmp_path):
    ckpt = _checkpoint(tmp_path / "models" / "tiny", WORK)  # trained with 4 agents
    study = Study(
        TINY,
        grid={"n_agents": [4, 8], "policy": ["random", str(ckpt)]},
        seeds=2,
        base_overrides={"horizon": 6.0, "episodes": 1},
    )
    out = tmp_path / "study"
    assert run_study(study, out, workers=1, progress=False).ok
    episodes = pl.scan_parquet(f"{out}/episodes/**/*.parquet", hive_partitioning=True).collect()
    at_8 = episodes.filter((pl.col("n_agents") == 8) & (pl.col("policy") != "random"))
    assert at_8.height == 2 and at_8["team_return"].min() > 0
    from dmarl_des.report import write_report

    report = write_report(out, plots=False)
    assert report.levels == ["random", str(ckpt)]  # the path as given, not its folder name
    working = report.comparison.filter((pl.col("level") == str(ckpt)) & (pl.col("n_agents") == 8))
    assert working["metric"].to_list()[0] == "episodes.team_return"
    assert working["diff_mean"][0] > 0  # always working beats random at 8 agents too


def test_run_prints_how_evaluation_differs_from_training(tmp_path, capsys):
    models = tmp_path / "models"
    args = ["train", str(TINY), "--set", "learner.name=iql", "--episodes", "1", "--set"]
    args += ["horizon=3", "--name", "t", "--models", str(models), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "train")]) == 0
    capsys.readouterr()
    run = ["run", str(TINY), "--policy", str(models / "t"), "--set", "n_agents=8"]
    run += ["--set", "horizon=3", "--set", "world.noise=0.25", "--quiet"]
    assert main([*run, "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "n_agents: 4 → 8" in printed and "world.noise: 0.0 → 0.25" in printed
    assert "horizon" not in printed.split("run ")[0]  # same horizon: not listed
