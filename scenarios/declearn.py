"""Learning over a lossy network with a liar: link loss × Byzantine count × aggregation rule.

Mutual aid (private rewards; docs/world_mutual_aid.md) with 6 agents on a ring where each has
four neighbours (``world.ring_k = 2``): cooperation has to be learned through the critics the
agents exchange. Every run trains the networked actor-critic for 100 episodes (the mutual aid
recipe: critics over the global state and joint action, plain SGD, a round every 5 steps) and
evaluates it greedily for 10. A Byzantine agent sends sign-flipped parameters (critic and reward
model) to its neighbours and otherwise learns and acts like the others.

The study's aggregation axes: ``learner.name`` — ``networked_ac`` (Zhang et al.: parameters are
combined) or ``resilient_ac`` (Figura et al.: the values the candidates compute on the agent's own
inputs are combined, then the agent's nets are fitted to them) — and ``learner.rule`` — ``mean``
(plain average of the own and arrived vectors or values) or ``clipped_mean`` (H = 1: clipped to
the H-th order statistics around the own value, then averaged). docs/declearn.md has the report::

    dmarl study scenarios/declearn.py --workers 2
    python scenarios/declearn.py data/studies/declearn   # return and learning bytes per cell
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
    "consensus_period": 5.0,
}
"""The mutual aid recipe (scenarios/mutual_aid.py): an update every 20 transitions. The
study gives it to both learners (a learner named by the grid starts from its defaults)."""


def scenario(**overrides) -> Scenario:
    base = Scenario.build(
        name="declearn",
        world=MutualAidParams(ring_k=2),
        n_agents=6,
        episodes=100,
        eval_episodes=10,
        horizon=20.0,
        gamma=0.5,
        policy="learner",
        learner=learner_config("networked_ac", RECIPE),
        faults={"byzantine": {"messages": ["sign_flip"]}},
        seed=0,
    )
    return base.with_overrides(overrides)


def study():
    """Link loss 0 / 0.3 × no liar / one liar × (networked_ac, resilient_ac) × (mean,
    clipped_mean) × 2 seeds: 32 training runs of 100 episodes (11 minutes on 2 cores shared
    with other jobs)."""
    from dmarl_des.study import Study

    return Study(
        Path(__file__),
        grid={
            "net.loss.p": [0.0, 0.3],
            "faults.byzantine.count": [0, 1],
            "learner.name": ["networked_ac", "resilient_ac"],
            "learner.rule": ["mean", "clipped_mean"],
        },
        seeds=2,
        base_overrides={f"learner.{key}": value for key, value in RECIPE.items()},
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

    print(summary(sys.argv[1] if len(sys.argv) > 1 else "data/studies/declearn"))
