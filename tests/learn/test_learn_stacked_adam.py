"""Per-agent training: StackedAdam equals one torch Adam per agent; updates leave other agents alone."""

import numpy as np
import pytest
import torch

from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.networks import AgentNet, select_sets
from dmarl_des.learn.stacked_adam import StackedAdam, step_sets, torch_adam_parts


@pytest.mark.parametrize(("lr", "eps"), [(1e-2, 1e-8), (3e-4, 1e-5)])
def test_stacked_adam_equals_a_torch_adam_per_row_and_leaves_absent_rows_exactly(lr, eps):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(5, 12, generator=generator)
    param = start.clone()
    optimizer = StackedAdam(param, lr=lr, eps=eps)
    reference = [torch.nn.Parameter(start[i].clone()) for i in range(5)]
    torch_adams = [torch.optim.Adam([p], lr=lr, eps=eps) for p in reference]
    schedule = [[0, 1, 2, 3, 4], [1, 3], [0, 3, 4], [3], [0, 1, 2], [2, 4], [1, 3], [0, 4]] * 3
    for rows in schedule:
        grad = torch.randn(len(rows), 12, generator=generator)
        before = param.clone(), optimizer.exp_avg.clone(), optimizer.exp_avg_sq.clone()
        optimizer.step(torch.tensor(rows), grad)
        for k, i in enumerate(rows):
            reference[i].grad = grad[k].clone()
            torch_adams[i].step()
        absent = [i for i in range(5) if i not in rows]
        for now, then in zip((param, optimizer.exp_avg, optimizer.exp_avg_sq), before, strict=True):
            assert torch.equal(now[absent], then[absent])  # bit for bit
        for i in range(5):
            torch.testing.assert_close(param[i], reference[i].detach(), rtol=1e-5, atol=1e-7)
            state = torch_adams[i].state[reference[i]]
            torch.testing.assert_close(optimizer.exp_avg[i], state["exp_avg"])
            assert optimizer.steps[i].item() == state["step"].item()
    assert optimizer.steps.tolist() == [sum(i in rows for rows in schedule) for i in range(5)]


def test_torch_adam_state_over_per_layer_tensors_loads_into_rows():
    # the optimizer state a torch Adam keeps over a net's per-layer tensors [P, ...]
    net = AgentNet(3, 2, (4,), recurrent=False, n_sets=3, generator=torch.Generator())
    tensors = [v.clone().requires_grad_() for v in net.state_dict().values()]
    extra = torch.nn.Parameter(torch.zeros(7))  # a second network's tensor in the same optimizer
    reference = torch.optim.Adam([*tensors, extra], lr=0.1)
    for _ in range(3):
        for t in [*tensors, extra]:
            t.grad = torch.randn_like(t)
        reference.step()
    state = reference.state_dict()
    agents_part, extra_part = torch_adam_parts(state, [len(tensors), 1])
    optimizer = StackedAdam(net.flat.detach().clone(), lr=0.1)
    optimizer.load_state_dict(agents_part)
    expected = torch.cat([reference.state[t]["exp_avg"].reshape(3, -1) for t in tensors], dim=1)
    torch.testing.assert_close(optimizer.exp_avg, expected, rtol=0, atol=0)
    assert optimizer.steps.tolist() == [3.0, 3.0, 3.0]
    assert list(extra_part["state"]) == [0] and extra_part["param_groups"][0]["params"] == [0]


def test_one_agents_loss_does_not_reach_another_agents_parameters():
    net = AgentNet(4, 3, (8, 8), recurrent=False, n_sets=5, generator=torch.Generator())
    agents = torch.tensor([0, 3, 3, 1, 4, 0, 3])
    x = torch.randn(7, 4)
    sets = net.gather(select_sets(agents, 5))
    assert sets.sets.tolist() == [0, 1, 3, 4]
    out, _ = sets(x)
    out[agents == 3].sum().backward()  # agent 3's loss only
    grad = sets.theta.grad
    assert grad[2].abs().sum() > 0  # row 2 of the gathered sets is agent 3
    assert torch.count_nonzero(grad[[0, 1, 3]]) == 0
    before = net.flat.detach().clone()
    step_sets(StackedAdam(net.flat, lr=0.1), sets, max_norm=10.0)
    changed = (net.flat.detach() != before).any(dim=1)
    assert changed.tolist() == [False, False, False, True, False]
    assert sets.theta.grad is None


def _transitions(rng, agents, obs_dim=4, n_actions=3):
    n = len(agents)
    mask = np.ones((n, n_actions), dtype=bool)
    return TransitionBatch(
        agent_idx=np.asarray(agents, dtype=np.int64),
        obs=rng.normal(size=(n, obs_dim)).astype(np.float32),
        action=rng.integers(0, n_actions, n),
        mask=mask,
        reward=rng.normal(size=n),
        obs_next=rng.normal(size=(n, obs_dim)).astype(np.float32),
        mask_next=mask,
        tau=np.ones(n),
        done=np.zeros(n, dtype=bool),
        terminal=np.zeros(n, dtype=bool),
        t_start=np.zeros(n),
        t_end=np.ones(n),
    )


def test_an_iql_update_leaves_agents_outside_its_minibatch_exactly_unchanged():
    learner = make_learner(
        learner_config(
            "iql",
            {"params": "per_agent", "hidden": 8, "learning_starts": 0, "batch_size": 8},
        ),
        obs_dim=4,
        n_actions=3,
        n_agents=4,
        gamma=0.9,
        seed=3,
    )
    rng = np.random.default_rng(0)
    for _ in range(6):  # every agent learns for a while: all have momentum
        learner.observe(_transitions(rng, [0, 1, 2, 3]))
        while learner.ready():
            learner.update()
    assert (learner.optimizer.steps > 0).all()
    sample = learner.replay.sample
    learner.replay.sample = lambda n, r: _only_agents(sample(4 * n, r), (0, 2), n)
    flat = learner.agents.online.flat.detach().clone()
    steps = learner.optimizer.steps.clone()
    moments = learner.optimizer.exp_avg.clone()
    learner.observe(_transitions(rng, [0, 1, 2, 3]))
    assert learner.ready()
    learner.update()
    now = learner.agents.online.flat.detach()
    assert torch.equal(now[[1, 3]], flat[[1, 3]])
    assert torch.equal(learner.optimizer.exp_avg[[1, 3]], moments[[1, 3]])
    assert learner.optimizer.steps.tolist() == (steps + torch.tensor([1, 0, 1, 0])).tolist()
    assert not torch.equal(now[0], flat[0]) and not torch.equal(now[2], flat[2])


def _only_agents(sample, agents, n):
    keep = np.isin(sample["agent"], agents)
    return {k: v[keep][:n] for k, v in sample.items()}
