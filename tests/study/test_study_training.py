"""Training inside studies: a learner trained in each run, and the train-once design — one training
run per (condition, seed), its checkpoint kept in the study folder and reused on resume."""

import polars as pl
import pytest
from study_testkit import TINY

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.report import write_report
from dmarl_des.study import Study, run_study
from dmarl_des.study.plan import Training
from dmarl_des.study.training import CHECKPOINTS_FOLDER, TRAINING_FOLDER

QUICK_IQL = {
    "learner.name": "iql",
    "learner.hidden": 8,
    "learner.learning_starts": 8,
    "learner.batch_size": 8,
}


def _episodes(out):
    frame = pl.scan_parquet(f"{out}/episodes/**/*.parquet", hidden_file_prefix=".").collect()
    return frame.sort("run_id", "episode")


def test_a_study_with_a_learner_trains_and_evaluates_in_each_run(tmp_path, capsys):
    out = tmp_path / "study"
    argv = ["study", str(TINY), "--grid", "world.noise=0,0.5", "--seeds", "2", "--learner"]
    argv += ["iql", "--set", "learner.hidden=8", "--set", "learner.learning_starts=8"]
    argv += ["--set", "episodes=3", "--eval-episodes", "2", "--set", "horizon=6"]
    assert main([*argv, "--workers", "1", "--quiet", "--out", str(out)]) == 0
    episodes = _episodes(out)
    per_run = episodes.group_by("run_id").agg(pl.col("phase"))
    assert per_run.height == 4
    for phases in per_run["phase"].to_list():
        assert phases == ["train"] * 3 + ["eval"] * 2  # trained, then evaluated in its cell
    runs = pl.scan_parquet(f"{out}/runs/**/*.parquet", hidden_file_prefix=".").collect()
    assert set(runs["learner"]) == {"iql"} and set(runs["policy"]) == {"learner"}
    train = pl.scan_parquet(f"{out}/train/**/*.parquet", hidden_file_prefix=".").collect()
    assert train["run_id"].n_unique() == 4 and train.height > 4  # every run updated its learner
    report = write_report(out, plots=False)
    assert report.per_run["n_episodes"].to_list() == [2] * 4  # the evaluation episodes only
    assert "`iql` trained in the run (3 training episodes); hidden = 8" in report.markdown


def _training_study(**more):
    return Study(
        TINY,
        grid={"world.noise": [0.0, 0.5], "policy": ["random", "trained"]},
        seeds=2,
        base_overrides={"horizon": 6.0, "n_agents": 4, **more},
        training=Training(
            grid={"world.crash_fraction": [0.0, 0.5]}, overrides={**QUICK_IQL, "episodes": 3}
        ),
    )


def test_train_once_per_condition_and_seed_then_evaluate_across_the_grid(tmp_path):
    out = tmp_path / "study"
    study = _training_study()
    assert study.check() == (4, 12)  # 2 conditions × 2 seeds; 2 noise levels × 3 policies × 2
    first = run_study(study, out, workers=1, progress=False)
    assert first.ok and len(first.trained) == 4 and not first.reused
    assert len(first.done) == 12
    folders = sorted(p.name for p in (out / CHECKPOINTS_FOLDER).iterdir())
    assert folders == sorted(first.trained)  # one content-checked checkpoint per training run
    training = pl.scan_parquet(
        f"{out}/{TRAINING_FOLDER}/episodes/**/*.parquet", hive_partitioning=True
    ).collect()
    assert training["run_id"].n_unique() == 4 and set(training["phase"]) == {"train"}
    assert sorted(training["world.crash_fraction"].unique().to_list()) == [0.0, 0.5]
    runs = pl.scan_parquet(f"{out}/runs/**/*.parquet", hidden_file_prefix=".").collect()
    labels = {p: set() for p in ("random", "trained world.crash_fraction=0.0")}
    for params, policy in runs.select("params", "policy").iter_rows():
        label = __import__("json").loads(params)["policy"]
        labels.setdefault(label, set()).add(policy)
    assert labels["random"] == {"random"}
    # each trained policy is evaluated from its checkpoints in the study folder (one per seed)
    for name in ("trained world.crash_fraction=0.0", "trained world.crash_fraction=0.5"):
        paths = labels[name]
        assert len(paths) == 2 and all(f"/{CHECKPOINTS_FOLDER}/" in p for p in paths)

    again = run_study(_training_study(), out, workers=1, progress=False)
    assert again.ok and not again.trained and len(again.reused) == 4
    assert not again.done and sorted(again.skipped) == sorted(first.done)

    # a lost evaluation file: that run alone is done again, nothing is retrained
    victim = next(p for p in (out / "episodes").rglob("*.parquet") if "random" not in str(p))
    victim.unlink()
    third = run_study(_training_study(), out, workers=1, progress=False)
    assert not third.trained and len(third.reused) == 4
    assert third.done == [victim.stem]

    # a changed checkpoint is retrained (only that one)
    changed = out / CHECKPOINTS_FOLDER / first.trained[0] / "card.json"
    changed.write_text(changed.read_text().replace('"seed"', '"seed" ', 1))
    fourth = run_study(_training_study(), out, workers=1, progress=False)
    assert fourth.trained == [first.trained[0]] and len(fourth.reused) == 3
    assert "content changed" in fourth.damaged[first.trained[0]]

    report = write_report(out, plots=False)
    assert report.levels == [
        "random",
        "trained world.crash_fraction=0.0",
        "trained world.crash_fraction=0.5",
    ]
    assert "trained once per condition and seed" in report.markdown


def test_a_training_study_is_validated_before_anything_is_trained(tmp_path):
    bad = Study(
        TINY,
        grid={"world.noise": [0.0, 2.0]},  # noise must lie in [0, 1]
        seeds=1,
        training=Training(overrides={**QUICK_IQL, "episodes": 1}),
    )
    with pytest.raises(ConfigError):
        run_study(bad, tmp_path / "study", workers=1, progress=False)
    assert not (tmp_path / "study").exists()
    with pytest.raises(ConfigError):  # no learner to train
        Study(TINY, seeds=1, training=Training(overrides={"episodes": 1})).check()
    with pytest.raises(ConfigError):  # a fixed policy in a study that trains
        Study(TINY, base_overrides={"policy": "random"}, training=Training())
    with pytest.raises(ConfigError):
        _training_study().runs()  # the evaluation runs need the trained checkpoints


def test_cli_trains_once_per_condition_with_train_flags(tmp_path, capsys):
    out = tmp_path / "study"
    argv = ["study", str(TINY), "--grid", "world.noise=0,0.5", "--seeds", "1", "--set"]
    argv += ["horizon=6", "--learner", "iql", "--set", "learner.hidden=8", "--train"]
    argv += ["world.crash_fraction=0,0.5", "--train-episodes", "2", "--reference"]
    argv += ["trained world.crash_fraction=0", "--workers", "1", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 training runs, then 4 runs" in printed
    assert "trained world.crash_fraction=0.5 − trained world.crash_fraction=0 (paired)" in printed
    description = (out / "study.json").read_text()
    assert (
        '"learner.hidden": 8' in description and "--train world.crash_fraction=0,0.5" in description
    )


def test_the_train_table_has_typed_columns_per_learner_metric(tmp_path):
    from dmarl_des.log.schema import TRAIN_METRICS

    frames = []
    for name, settings in (("iql", QUICK_IQL), ("ippo", {"learner.name": "ippo"})):
        base = {**settings, "learner.hidden": 8, "episodes": 2, "horizon": 6.0}
        study = Study(TINY, seeds=1, base_overrides={**base, "policy": "learner"})
        assert run_study(study, tmp_path / name, workers=1, progress=False).ok
        frame = pl.scan_parquet(f"{tmp_path / name}/train/**/*.parquet").collect()
        frames.append(frame.with_columns(pl.lit(name).alias("learner.name")))
    train = pl.concat(frames)
    assert "metrics" not in train.columns
    assert all(train.schema[m] == pl.Float64 for m in TRAIN_METRICS)
    assert train.schema["samples"] == pl.Int64
    iql = train.filter(pl.col("learner.name") == "iql")
    ippo = train.filter(pl.col("learner.name") == "ippo")
    assert iql.height and ippo.height
    assert iql["epsilon"].is_not_null().all() and iql["q_mean"].is_not_null().all()
    assert iql["approx_kl"].is_null().all()  # a policy-gradient term IQL does not have
    assert ippo["approx_kl"].is_not_null().all() and ippo["epsilon"].is_null().all()
