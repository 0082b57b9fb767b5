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
    clipped_mean) × 2 seeds: 32 training runs of 100 episodes (about 6 minutes on 2 cores)."""
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
