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
"""

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


if __name__ == "__main__":
    print(" ".join(f"--set learner.{k}={v}" for k, v in RECIPE.items()))
