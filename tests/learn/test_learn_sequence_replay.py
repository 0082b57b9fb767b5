"""Sequence replay: segments of one agent's decisions, and Mac-IQL trained through them (BPTT)."""

import numpy as np
import pytest
import torch

from dmarl_des.errors import ConfigError
from dmarl_des.learn import TransitionBatch, learner_config, make_learner
from dmarl_des.learn.sequence_replay import SequenceReplay

COLUMNS = {"step": ((), np.int64)}


def _add(replay, episode, agents, steps, done):
    replay.add(
        episode,
        np.asarray(agents),
        np.asarray(done, dtype=bool),
        step=np.asarray(steps, dtype=np.int64),
    )


def _segments(replay, length, n=400, seed=0):
    got = replay.sample(n, length, np.random.default_rng(seed))
    return [
        [(int(a), int(s)) for a, s, v in zip(agent, step, valid, strict=True) if v]
        for agent, step, valid in zip(got["agent"], got["step"], got["valid"], strict=True)
    ]


def test_segments_follow_one_agent_in_time_order_and_stop_at_its_episode_end():
    replay = SequenceReplay(100, COLUMNS, n_agents=2)
    # episode 0: agent 0 decides at steps 0, 1, 2 (done); agent 1 at steps 10, 11 (cut by the
    # episode change); steps interleave across calls, two agents in one call
    _add(replay, 0, [0, 1], [0, 10], [False, False])
    _add(replay, 0, [0], [1], [False])
    _add(replay, 0, [1, 0], [11, 2], [False, True])
    _add(replay, 1, [1, 0], [20, 30], [False, False])
    _add(replay, 1, [1], [21], [True])
    chains = {0: [0, 1, 2], 1: [10, 11], 2: [20, 21], 3: [30]}
    seen = set()
    for seg in _segments(replay, length=4):
        agent = seg[0][0]
        assert all(a == agent for a, _ in seg)
        steps = [s for _, s in seg]
        chain = next(c for c in chains.values() if steps[0] in c)
        start = chain.index(steps[0])
        assert steps == chain[start : start + 4]  # consecutive, and as long as the chain allows
        seen.add(tuple(steps))
    assert (0, 1, 2) in seen and (10, 11) in seen and (20, 21) in seen and (30,) in seen
    assert all(len(seg) <= 2 for seg in _segments(replay, length=2))


def test_a_transition_never_links_to_a_row_that_was_overwritten():
    replay = SequenceReplay(3, COLUMNS, n_agents=2)
    _add(replay, 0, [0], [0], [False])  # agent 0's open row 0 ...
    for step in (50, 51, 52):  # ... is overwritten by agent 1's step 52
        _add(replay, 0, [1], [step], [False])
    _add(replay, 0, [0], [1], [False])  # agent 0's next decision must not follow step 52
    segments = {tuple(s for _, s in seg) for seg in _segments(replay, length=4)}
    assert segments == {(51, 52), (52,), (1,)}


def _iql(trace_len, **extra):
    settings = {"network": "gru", "hidden": 16, "trace_len": trace_len, **extra}
    return make_learner(
        learner_config("iql", settings), obs_dim=3, n_actions=2, n_agents=2, gamma=0.9, seed=3
    )


def test_trace_len_needs_a_recurrent_network():
    with pytest.raises(ConfigError, match="learner.trace_len"):
        make_learner(
            learner_config("iql", {"network": "mlp", "trace_len": 4}),
            obs_dim=3,
            n_actions=2,
            n_agents=2,
            gamma=0.9,
            seed=0,
        )


def _transition(agent, obs, k, action, reward, last, tau=1.0):
    """Agent ``agent``'s k-th macro-transition, from ``obs[k]`` to ``obs[k + 1]``."""
    mask = np.ones((1, 2), dtype=bool)
    return TransitionBatch(
        agent_idx=np.array([agent]),
        obs=obs[k : k + 1],
        action=action,
        mask=mask,
        reward=np.array([reward]),
        obs_next=obs[k + 1 : k + 2],
        mask_next=mask,
        tau=np.array([tau]),
        done=np.array([last]),
        terminal=np.array([last]),
        t_start=np.array([float(k)]),
        t_end=np.array([k + tau]),
    )


def _play(learner, obs, agent, rewards):
    """One agent's decisions over ``obs`` [T+1, D] (the last one ends the episode, terminal)."""
    mask = np.ones((1, 2), dtype=bool)
    for k in range(len(obs) - 1):
        action = learner.act(obs[k : k + 1], np.array([agent]), mask)
        last = k == len(obs) - 2
        learner.observe(_transition(agent, obs, k, action, rewards[k], last, tau=1.0 + k))


def test_sequence_targets_equal_stored_state_targets_while_parameters_are_unchanged():
    # stepping the cell along a segment from its stored first state reproduces the states the
    # agent had when it acted, so before any update both replays give the same Q and targets
    seq, step = _iql(4), _iql(0)
    obs = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    rewards = [0.5, -1.0, 2.0]
    for learner in (seq, step):
        learner.reset(None)
        _play(learner, obs, agent=1, rewards=rewards)
    for learner in (seq, step):
        learner.replay.sample = _whole_buffer(learner.replay)
    q_seq, target_seq, _ = seq._sequence_targets()
    q_step, target_step, _ = step._step_targets()
    assert q_seq.shape == (3,)
    torch.testing.assert_close(q_seq, q_step)
    torch.testing.assert_close(target_seq, target_step)
    assert target_seq[-1].item() == pytest.approx(2.0)  # terminal: no bootstrap


def _whole_buffer(replay):
    """A sampler returning the buffer's rows in order: one segment (sequence replay) or rows."""
    original = replay.sample
    if isinstance(replay, SequenceReplay):

        def sample(n, length, rng):
            got = original(64, length, np.random.default_rng(0))
            full = int(np.argmax(got["valid"].sum(axis=1)))
            return {k: v[full : full + 1] for k, v in got.items()}

        return sample

    def sample(n, rng):
        return {k: v[: len(replay)] for k, v in replay.columns.items()}

    return sample


def _cue_episode(learner, cue, explore=True):
    """Cue recall: the first observation shows the cue, the second is blank; the second decision
    earns 1 when it names the cue. Returns that reward."""
    obs = np.zeros((3, 3), dtype=np.float32)
    obs[0, cue] = 1.0
    obs[1, 2] = 1.0
    obs[2, 2] = 1.0
    learner.reset(None)
    mask = np.ones((1, 2), dtype=bool)
    first = learner.act(obs[:1], np.array([0]), mask, explore=explore)
    second = learner.act(obs[1:2], np.array([0]), mask, explore=explore)
    reward = float(second[0] == cue)
    if explore:
        for k, (action, r) in enumerate(((first, 0.0), (second, reward))):
            learner.observe(_transition(0, obs, k, action, r, last=k == 1))
            while learner.ready():
                learner.update()
    return reward


def test_the_gradient_of_a_later_decision_reaches_an_earlier_observation():
    # feature 0 is on only in the first observation: the Q of the second decision depends on the
    # weights reading feature 0 only through the recurrent state, i.e. only when trained through
    # time (stored-state replay treats the stored state as a constant)
    obs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    grads = {}
    for trace_len in (2, 0):
        learner = _iql(trace_len)
        learner.reset(None)
        _play(learner, obs, agent=0, rewards=[0.0, 1.0])
        learner.replay.sample = _whole_buffer(learner.replay)
        targets = learner._sequence_targets if trace_len else learner._step_targets
        q_taken, _, online = targets()
        q_taken[1].backward()
        first_weight, _ = learner.agents.online.linears(online.theta.grad)[0]  # [sets, in, out]
        grads[trace_len] = first_weight[0, 0].abs().sum().item()
    assert grads[2] > 1e-6
    assert grads[0] == 0.0


def test_sequence_replay_learns_to_recall_a_cue():
    learner = _iql(
        2, learning_starts=64, batch_size=32, train_every=2, eps_decay=300, lr=3e-3, loss="mse"
    )
    rng = np.random.default_rng(0)
    for _ in range(700):
        _cue_episode(learner, int(rng.integers(2)))
    score = np.mean([_cue_episode(learner, cue, explore=False) for cue in (0, 1)])
    assert score == 1.0  # a random policy scores 0.5


def test_a_batch_larger_than_the_buffer_keeps_its_newest_rows_linked():
    replay = SequenceReplay(3, COLUMNS, n_agents=3)
    _add(replay, 0, [0, 1, 2], [0, 10, 20], [False, False, False])
    # five rows for a buffer of three: agent 0's two rows and agent 1's first row do not fit
    _add(replay, 0, [0, 1, 0, 1, 2], [1, 11, 2, 12, 21], [False] * 5)
    segments = {tuple(s for _, s in seg) for seg in _segments(replay, length=3)}
    assert segments == {(12,), (21,), (2,)}
    assert len(replay) == 3


def test_an_agent_twice_in_one_batch_is_linked_in_time_order():
    replay = SequenceReplay(10, COLUMNS, n_agents=2)
    _add(replay, 0, [0, 1, 0], [0, 10, 1], [False, False, True])
    segments = {tuple(s for _, s in seg) for seg in _segments(replay, length=3)}
    assert segments == {(0, 1), (1,), (10,)}
