"""Mutual aid: 4 agents on a ring with private rewards; the networked actor-critic learns to help.

The file's policy is the team-optimal scripted rule (1.75 a step and agent with the defaults);
its learner is the networked actor-critic with the recipe below (critics over the global state
and joint action, plain SGD, a consensus round every 5 steps over the ring). Train it, the
centralized baseline and the no-consensus ablation with the same recipe:

    dmarl train scenarios/mutual_aid.py
    dmarl train scenarios/mutual_aid.py --learner central_ac $(python scenarios/mutual_aid.py)
    dmarl train scenarios/mutual_aid.py --learner independent_ac $(python scenarios/mutual_aid.py)

(the last two print the recipe as --set options; central and independent learners have no
consensus keys). docs/world_mutual_aid.md has the figures.

Its ``study()`` sweeps link loss × Byzantine count × aggregation rule for the networked and the
resilient actor-critics, on six agents with four neighbours each (docs/declearn.md has the
report)::

    dmarl study scenarios/mutual_aid.py --workers 2 --quiet --no-report
    python scenarios/mutual_aid.py --summary data/studies/declearn   # return and learning bytes
"""

from pathlib import Path

from dmarl_des.learn import learner_config
from dmarl_des.scenario import Scenario
from dmarl_des.worlds.mutual_aid import MutualAidParams

RECIPE = {
    "critic_input": "global",
    "update_every": 20,
    "critic_lr": 0.2,
    "ent_coef": 0.03,
}
"""Hyperparameters shared by the three actor-critics on this task (networked_ac adds a consensus
period of 5 steps)."""

CONSENSUS = {"consensus_period": 5.0}


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="mutual_aid",
        world=MutualAidParams(),
        n_agents=4,
        episodes=100,
        eval_episodes=10,
        horizon=20.0,
        gamma=0.5,
        policy="scripted",
        learner=learner_config("networked_ac", {**RECIPE, **CONSENSUS}),
        seed=0,
    )
    return base.with_overrides(overrides)


STUDY_SETTING = {
    "n_agents": 6,
    "world.ring_k": 2,
    "faults.byzantine.messages": ["sign_flip"],
    "policy": "learner",
}
"""The study's setting: six agents with four neighbours each (one liar leaves three honest ones),
a Byzantine agent sends sign-flipped parameters, every run trains its learner."""


def study():
    """Link loss 0 / 0.3 × no liar / one liar × learner (networked_ac: parameters combined;
    resilient_ac: values combined, then projected) × rule (mean, clipped_mean with H = 1) × 2
    seeds: 32 training runs of 100 episodes (4.5 to 11 minutes on 2 cores shared with other jobs).
    Both learners get the recipe (a learner named by the grid starts from its defaults)."""
    from dmarl_des.study import Study

    recipe = {f"learner.{k}": v for k, v in {**RECIPE, **CONSENSUS}.items()}
    return Study(
        Path(__file__),
        grid={
            "net.loss.p": [0.0, 0.3],
            "faults.byzantine.count": [0, 1],
            "learner.name": ["networked_ac", "resilient_ac"],
            "learner.rule": ["mean", "clipped_mean"],
        },
        seeds=2,
        base_overrides={**STUDY_SETTING, **recipe},
        name="declearn",
    )


def summary(out: str | Path) -> str:
    """A Markdown table of a finished study: per cell, the greedy return per agent and step
    (evaluation episodes; mean over seeds, then each seed) beside the learning traffic per
    training episode (kB sent and delivered)."""
    import polars as pl

    from dmarl_des.report import read_table

    episodes, _ = read_table(out, "episodes")
    runs, _ = read_table(out, "runs")
    keys = ["net.loss.p", "faults.byzantine.count", "learner.name", "learner.rule"]
    steps = pl.col("n_agents") * 20  # agent-steps per episode (horizon 20, one step a time unit)
    episodes = episodes.join(runs.select("run_id", "seed", "n_agents"), on="run_id")
    evaluated = episodes.filter(pl.col("phase") == "eval").group_by([*keys, "seed"])
    trained = episodes.filter(pl.col("phase") != "eval").group_by([*keys, "seed"])
    per_run = evaluated.agg((pl.col("team_return") / steps).mean().alias("value")).join(
        trained.agg(
            (pl.col("learn_bytes_sent").mean() / 1e3).alias("sent"),
            (pl.col("learn_bytes_delivered").mean() / 1e3).alias("delivered"),
        ),
        on=[*keys, "seed"],
    )
    cells = (
        per_run.group_by(keys)
        .agg(
            pl.col("value").mean().alias("mean"),
            pl.col("value").sort_by("seed").alias("seeds"),
            pl.col("sent").mean(),
            pl.col("delivered").mean(),
        )
        .sort(keys)
    )
    lines = [
        "| net.loss.p | Byzantine | learner | rule | return / agent / step (per seed) "
        "| learning kB sent / episode | delivered |",
        "| ---: | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for row in cells.iter_rows(named=True):
        seeds = ", ".join(f"{v:.2f}" for v in row["seeds"])
        lines.append(
            f"| {row['net.loss.p']:g} | {row['faults.byzantine.count']} | `{row['learner.name']}` "
            f"| `{row['learner.rule']}` | {row['mean']:.2f} ({seeds}) | {row['sent']:,.0f} "
            f"| {row['delivered']:,.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--summary":
        print(summary(sys.argv[2]))
    else:
        print(" ".join(f"--set learner.{k}={v}" for k, v in RECIPE.items()))
