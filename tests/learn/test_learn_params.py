"""Parameter modes: stacked kernels match a per-row reference; per-agent/per-group reduce to shared."""

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.networks import AgentNet, SetPlan, StackedLinear, plan_sets
from dmarl_des.learn.params import build_layout, clip_grad_per_set

N_AGENTS, OBS_DIM, N_ACTIONS, GAMMA = 3, 4, 3, 0.9


def test_both_batch_layouts_match_a_per_row_reference():
    generator = torch.Generator().manual_seed(0)
    layer = StackedLinear(5, 6, 4, generator)
    with torch.no_grad():
        layer.bias.normal_(generator=generator)
    sets = torch.tensor([3, 0, 3, 4, 3, 1, 0, 3, 2, 4, 4, 0]).repeat(3)
    x = torch.randn(len(sets), 6, generator=generator)
    reference = torch.stack([x[j] @ layer.weight[s] + layer.bias[s] for j, s in enumerate(sets)])
    bucket = plan_sets(sets, 5)
    assert bucket is not None and bucket.rank is not None  # dense rows: bucket layout
    gather = SetPlan(sets, None, 0)
    grads = []
    for plan in (bucket, gather):
        out = (
            bucket.from_block(layer(bucket.to_block(x, 5), plan))
            if plan is bucket
            else layer(x, plan)
        )
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
        layer.zero_grad()
        (out * torch.arange(out.numel()).view_as(out)).sum().backward()
        grads.append((layer.weight.grad.clone(), layer.bias.grad.clone()))
    torch.testing.assert_close(grads[0], grads[1])
    sparse = plan_sets(torch.tensor([7]), 40)  # one row among many sets: gather layout
    assert sparse is not None and sparse.rank is None


@pytest.mark.parametrize("recurrent", [False, True])
def test_agent_net_layouts_match_running_each_set_alone(recurrent):
    generator = torch.Generator().manual_seed(1)
    net = AgentNet(5, 3, (8, 8), recurrent=recurrent, n_sets=4, generator=generator)
    sets = torch.randint(0, 4, (48,), generator=generator)
    x = torch.randn(48, 5, generator=generator)
    h = torch.randn(48, 8, generator=generator) if recurrent else None
    outs = [net(x, plan_sets(sets, 4), h), net(x, SetPlan(sets, None, 0), h)]
    assert plan_sets(sets, 4).rank is not None
    for p in range(4):  # reference: a one-set net holding set p's parameters, on set p's rows
        alone = AgentNet(5, 3, (8, 8), recurrent=recurrent, n_sets=1, generator=generator)
        alone.load_state_dict({k: v[p : p + 1] for k, v in net.state_dict().items()})
        rows = sets == p
        ref_out, ref_h = alone(x[rows], None, None if h is None else h[rows])
        for out, h_next in outs:
            torch.testing.assert_close(out[rows], ref_out, rtol=1e-5, atol=1e-6)
            if recurrent:
                torch.testing.assert_close(h_next[rows], ref_h, rtol=1e-5, atol=1e-6)


def test_clip_grad_per_set_clips_each_agent_separately():
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    weight.grad = torch.tensor([[3.0, 0.0], [0.3, 0.4]])
    total = clip_grad_per_set([weight], 1.0, 2)
    assert total == pytest.approx(np.sqrt(9 + 0.25))
    torch.testing.assert_close(
        weight.grad, torch.tensor([[1.0, 0.0], [0.3, 0.4]]), atol=1e-5, rtol=0
    )


def _pair(name, extra, mode="per_agent", groups=None):
    base = {"hidden": 16, **extra}
    kwargs = {
        "obs_dim": OBS_DIM,
        "n_actions": N_ACTIONS,
        "n_agents": N_AGENTS,
        "gamma": GAMMA,
        "seed": 5,
    }
    shared = make_learner(learner_config(name, base), **kwargs)
    other = make_learner(learner_config(name, {**base, "params": mode}), groups=groups, **kwargs)
    return shared, other


def _nets(learner):
    return (
        [learner.net] if hasattr(learner, "net") else [learner.agents.online, learner.agents.target]
    )


def _tie(per_agent, shared):
    """Give every agent of ``per_agent`` the shared learner's parameters."""
    for mine, theirs in zip(_nets(per_agent), _nets(shared), strict=True):
        state = {
            k: v.expand(N_AGENTS, *v.shape[1:]).clone() for k, v in theirs.state_dict().items()
        }
        mine.load_state_dict(state)


def _batch(rng, rows):
    obs = rng.normal(size=(rows, OBS_DIM)).astype(np.float32)
    mask = rng.random((rows, N_ACTIONS)) < 0.7
    mask[np.arange(rows), rng.integers(0, N_ACTIONS, rows)] = True
    return obs, mask


ALGOS = [
    ("iql", {"learning_starts": 0, "batch_size": 6, "train_every": 1}),
    ("ippo", {"minibatches": 2, "epochs": 2}),
    ("iql", {"learning_starts": 0, "batch_size": 6, "train_every": 1, "network": "gru"}),
]


@pytest.mark.parametrize(("name", "extra"), ALGOS)
def test_per_agent_with_identical_parameters_acts_like_shared(name, extra):
    shared, per_agent = _pair(name, extra)
    _tie(per_agent, shared)
    rng = np.random.default_rng(0)
    for explore in (False, True, True, False):
        obs, mask = _batch(rng, 7)
        idx = rng.integers(0, N_AGENTS, 7)
        np.testing.assert_array_equal(
            per_agent.act(obs, idx, mask, explore=explore),
            shared.act(obs, idx, mask, explore=explore),
        )


def _feed_one_agent(learner, rng, agent, steps):
    """``steps`` macro-transitions of one agent, chosen by the learner's own act."""
    obs, mask = _batch(rng, steps + 1)
    for k in range(steps):
        action = learner.act(obs[k : k + 1], np.array([agent]), mask[k : k + 1])
        learner.observe(
            TransitionBatch(
                agent_idx=np.array([agent]),
                obs=obs[k : k + 1],
                action=action,
                mask=mask[k : k + 1],
                reward=rng.normal(size=1),
                obs_next=obs[k + 1 : k + 2],
                mask_next=mask[k + 1 : k + 2],
                tau=rng.uniform(0.5, 2.0, 1),
                done=np.array([k == steps - 1]),
                terminal=np.array([False]),
                t_start=np.array([float(k)]),
                t_end=np.array([k + 1.0]),
                episode=0,
            )
        )
    learner.end_episode(0)


@pytest.mark.parametrize(("name", "extra"), ALGOS)
def test_per_agent_first_update_equals_shared_update_for_that_agent(name, extra):
    shared, per_agent = _pair(name, extra)
    _tie(per_agent, shared)
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in _nets(per_agent)]
    for learner in (shared, per_agent):
        _feed_one_agent(learner, np.random.default_rng(1), agent=2, steps=6)
        assert learner.ready()
    m_shared, m_agent = shared.update(), per_agent.update()
    assert m_agent["loss"] == pytest.approx(m_shared["loss"], rel=1e-5)
    online_shared, online_agent = _nets(shared)[0], _nets(per_agent)[0]
    changed = False
    for key, value in online_shared.state_dict().items():
        mine = online_agent.state_dict()[key]
        torch.testing.assert_close(mine[2], value[0], rtol=1e-5, atol=1e-6)  # agent 2 learned
        torch.testing.assert_close(mine[:2], before[0][key][:2], rtol=0, atol=0)  # others did not
        changed |= not torch.equal(mine[2], before[0][key][2])
    assert changed


@pytest.mark.parametrize(("name", "extra"), ALGOS[:2])
def test_per_group_with_one_group_is_shared(name, extra):
    shared, grouped = _pair(name, extra, mode="per_group", groups=[0, 0, 0])
    rng = np.random.default_rng(2)
    obs, mask = _batch(rng, 5)
    idx = np.array([0, 2, 1, 1, 0])
    np.testing.assert_array_equal(grouped.act(obs, idx, mask), shared.act(obs, idx, mask))
    for learner in (shared, grouped):
        _feed_one_agent(learner, np.random.default_rng(3), agent=1, steps=6)
    assert grouped.update() == shared.update()
    for mine, theirs in zip(_nets(grouped), _nets(shared), strict=True):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_per_group_shares_within_groups_only():
    learner = make_learner(
        learner_config("iql", {"hidden": 16, "params": "per_group"}),
        obs_dim=OBS_DIM,
        n_actions=N_ACTIONS,
        n_agents=4,
        gamma=GAMMA,
        seed=0,
        groups=[0, 1, 0, 1],
    )
    obs = torch.ones(4, OBS_DIM)
    q, _ = learner.agents.q_values(learner.agents.online, obs, torch.arange(4), None)
    torch.testing.assert_close(q[0], q[2])
    torch.testing.assert_close(q[1], q[3])
    assert not torch.allclose(q[0], q[1])
    assert learner.agents.online.head.weight.shape[0] == 2


def test_agent_id_feature_distinguishes_agents_under_shared_parameters():
    learner = make_learner(
        learner_config("iql", {"hidden": 16, "agent_feature": "agent_id"}),
        obs_dim=OBS_DIM,
        n_actions=N_ACTIONS,
        n_agents=N_AGENTS,
        gamma=GAMMA,
        seed=0,
    )
    assert learner.agents.online.layers[0].weight.shape == (1, OBS_DIM + N_AGENTS, 16)
    q, _ = learner.agents.q_values(
        learner.agents.online, torch.ones(2, OBS_DIM), torch.tensor([0, 1]), None
    )
    assert not torch.allclose(q[0], q[1])


@pytest.mark.parametrize(
    ("mode", "feature", "groups"),
    [
        ("per_group", "none", None),
        ("shared", "group", None),
        ("per_group", "none", [0, 2, 2]),
        ("per_group", "none", [0, 1]),
        ("per_group", "none", [0, -1, 1]),
        ("per_batch", "none", None),
    ],
)
def test_bad_parameter_layouts_are_config_errors(mode, feature, groups):
    with pytest.raises(ConfigError, match="groups|params"):
        build_layout(mode, feature, N_AGENTS, groups, torch.device("cpu"))


def test_mlp_policy_shared_dense_path_acts_like_the_stacked_net_of_any_mode():
    from dmarl_des.learn import MLPPolicy

    shared = MLPPolicy(5, 4, (8, 8), params_mode="shared", n_agents=6, seed=2)
    per_agent = MLPPolicy(5, 4, (8, 8), params_mode="per_agent", n_agents=6, seed=2)
    state = {k: v.expand(6, *v.shape[1:]).clone() for k, v in shared.net.state_dict().items()}
    per_agent.load_state_dict({"net": state})
    rng = np.random.default_rng(4)
    obs = rng.normal(size=(9, 5)).astype(np.float32)
    idx = rng.integers(0, 6, 9)
    mask = np.ones((9, 4), bool)
    logits, _ = shared.net(torch.from_numpy(obs), None)
    greedy = shared.act(obs, idx, mask, explore=False)
    np.testing.assert_array_equal(greedy, logits.argmax(dim=1).numpy())
    np.testing.assert_array_equal(per_agent.act(obs, idx, mask, explore=False), greedy)
    np.testing.assert_array_equal(per_agent.act(obs, idx, mask), shared.act(obs, idx, mask))


def test_layer_views_read_and_write_the_parameter_matrix():
    net = AgentNet(3, 2, (4,), recurrent=True, n_sets=5, generator=torch.Generator())
    assert net.flat.shape == (5, net.n_params)
    assert net.n_params == (3 * 4 + 4) + 2 * (4 * 12 + 12) + (4 * 2 + 2)
    assert net.layers[0].weight.shape == (5, 3, 4) and net.gru.size == 4
    assert net.gru.recurrent.weight.shape == (5, 4, 12)
    with torch.no_grad():
        net.head.bias[:, 1] = 7.0
        net.layers[0].weight[2].zero_()
    assert (net.flat[:, -1] == 7.0).all() and (net.flat[:, -2] == 0.0).all()
    assert (net.flat[2, :12] == 0.0).all() and (net.flat[1, :12] != 0.0).any()
    state = net.state_dict()
    assert list(state) == [
        "layers.0.weight",
        "layers.0.bias",
        "gru.input.weight",
        "gru.input.bias",
        "gru.recurrent.weight",
        "gru.recurrent.bias",
        "head.weight",
        "head.bias",
    ]
    other = AgentNet(3, 2, (4,), recurrent=True, n_sets=5, generator=torch.Generator())
    other.load_state_dict(state)
    assert torch.equal(other.flat, net.flat)
    with pytest.raises(RuntimeError, match="head.bias"):
        other.load_state_dict({**state, "head.bias": torch.zeros(5, 3)})
    with pytest.raises(RuntimeError, match="Unexpected"):
        other.load_state_dict({**state, "head.scale": torch.zeros(1)})
