"""The consensus world against gossip theory: W^k x0, spectral rates, E[W] under loss, staleness."""

import math

import networkx as nx
import numpy as np
import polars as pl
import pytest
import torch

from dmarl_des.cli import main
from dmarl_des.errors import ConfigError
from dmarl_des.net import Topology, ring
from dmarl_des.scenario import load_scenario
from dmarl_des.study import run_scenario
from dmarl_des.worlds.consensus import AGGREGATORS, ConsensusWorld

SCENARIO = "scenarios/consensus.py"


def _scenario(**overrides):
    return load_scenario(SCENARIO, overrides)


def _run(world_cls=ConsensusWorld, **overrides) -> ConsensusWorld:
    """One episode with every logged round's values kept in ``world.value_history``."""
    world = world_cls(_scenario(**overrides))
    world.record_values = True
    world.policy = world.scripted_policy()
    world.run_episode(0, "eval")
    return world


def _table(world: ConsensusWorld) -> pl.DataFrame:
    return world.recorder.frame("consensus")


def _gossip_matrix(topology: Topology, weights: str) -> np.ndarray:
    """W of the linear update, built independently from the graph with networkx."""
    g = nx.Graph(topology.to_networkx())
    n = topology.n
    a = nx.to_numpy_array(g, nodelist=range(n))
    deg = a.sum(axis=1)
    uniform = np.broadcast_to(deg[:, None] + 1.0, a.shape)
    denominator = uniform if weights == "uniform" else 1.0 + np.maximum.outer(deg, deg)
    w = a / denominator
    w[np.diag_indices(n)] = 1.0 - w.sum(axis=1)
    return w


def _slem(w: np.ndarray) -> float:
    """Second-largest eigenvalue modulus of a symmetric gossip matrix."""
    moduli = np.sort(np.abs(np.linalg.eigvalsh(w)))
    return float(moduli[-2])


# ------------------------------------------------------------------ static graph, no loss
@pytest.mark.parametrize(
    ("weights", "topology"), [("uniform", "ring"), ("metropolis", "small_world")]
)
def test_static_graph_follows_w_power_and_slem_rate(weights, topology):
    rounds = 60
    world = _run(
        **{
            "n_agents": 30,
            "horizon": rounds + 0.5,
            "world.weights": weights,
            "world.dim": 2,
            "net.topology.kind": topology,
            "net.topology.p": 0.3,
        }
    )
    w = _gossip_matrix(world.network.topology, weights)
    x0 = world.value_history[0]
    # the whole trajectory is x(k) = W^k x(0)
    expected = x0.copy()
    for k, xk in enumerate(world.value_history):
        np.testing.assert_allclose(xk, expected, rtol=0, atol=1e-12, err_msg=f"round {k}")
        expected = w @ expected
    table = _table(world)
    assert table["round"].to_list() == list(range(rounds + 1))
    # the network average is preserved exactly
    np.testing.assert_allclose(table["honest_mean"], x0.mean(), rtol=0, atol=1e-9)
    # log-disagreement falls at the rate ln(SLEM(W)) after a short transient
    d = table["disagreement"].to_numpy()
    ks = np.arange(15, rounds + 1)
    slope = np.polyfit(ks, np.log(d[ks]), 1)[0]
    assert slope == pytest.approx(math.log(_slem(w)), rel=0.02)


def test_uniform_weights_drift_the_average_on_an_irregular_graph():
    """1/(deg_i + 1) is row-stochastic but not symmetric there: the average is not kept."""
    world = _run(
        **{
            "n_agents": 30,
            "horizon": 10.5,
            "net.topology.kind": "scale_free",
            "world.weights": "uniform",
        }
    )
    means = _table(world)["honest_mean"].to_numpy()
    assert np.abs(means - means[0]).max() > 1e-4


# ------------------------------------------------------------------ Bernoulli edge loss
def _lossy(p: float, symmetric: bool) -> dict:
    return {
        "net.loss.model": "bernoulli",
        "net.loss.p": p,
        "net.loss.symmetric": symmetric,
    }


def test_symmetric_loss_preserves_the_average_every_round():
    world = _run(
        **{
            "n_agents": 40,
            "horizon": 30.5,
            "world.weights": "metropolis",
            "net.topology.kind": "small_world",
            "net.topology.p": 0.3,
            **_lossy(0.3, True),
        }
    )
    table = _table(world)
    means = table["honest_mean"].to_numpy()
    np.testing.assert_allclose(means, means[0], rtol=0, atol=1e-9)
    stats = world.network.stats()
    assert stats["dropped_loss"] / stats["sent"] == pytest.approx(0.3, abs=0.03)
    assert table["disagreement"][-1] < 0.05 * table["disagreement"][0]


def test_asymmetric_loss_drifts_the_average():
    world = _run(
        **{
            "n_agents": 40,
            "horizon": 30.5,
            "world.weights": "metropolis",
            "net.topology.kind": "small_world",
            "net.topology.p": 0.3,
            **_lossy(0.3, False),
        }
    )
    means = _table(world)["honest_mean"].to_numpy()
    assert np.abs(means - means[0]).max() > 1e-4


COPIES, RING = 150, 6


class _RingCopies(ConsensusWorld):
    """Many independent trials in one run: disjoint rings, each starting from x(0) = e_0."""

    def build_topology(self, episode):
        one = ring(RING, 1)
        src, dst = one.edges()
        offsets = np.repeat(np.arange(COPIES) * RING, src.size)
        return Topology.from_edges(
            RING * COPIES, np.tile(src, COPIES) + offsets, np.tile(dst, COPIES) + offsets
        )

    def reset_episode(self, episode):
        super().reset_episode(episode)
        self.x0 = np.zeros_like(self.x0)
        self.x0[::RING] = 1.0
        self.x = self.x0.copy()


def test_mean_trajectory_under_symmetric_loss_is_expected_w_power():
    p, rounds = 0.4, 5
    world = _run(
        _RingCopies,
        **{"n_agents": COPIES * RING, "horizon": rounds + 0.5, **_lossy(p, True)},
    )
    w = _gossip_matrix(ring(RING, 1), "uniform")
    ew = np.eye(RING) + (1 - p) * (w - np.eye(RING))  # E[W] with each edge up w.p. 1 - p
    e0 = np.eye(RING)[0]
    rejected_lossless = False
    for k, xk in enumerate(world.value_history):
        trials = xk[:, 0].reshape(COPIES, RING)  # one row per independent trial
        mean = trials.mean(axis=0)
        se = trials.std(axis=0, ddof=1) / math.sqrt(COPIES) + 1e-12
        theory = np.linalg.matrix_power(ew, k) @ e0
        assert np.all(np.abs(mean - theory) < 5 * se + 1e-12), f"round {k}"
        np.testing.assert_allclose(trials.sum(axis=1), 1.0, atol=1e-9)  # symmetric: kept
        lossless = np.linalg.matrix_power(w, k) @ e0
        rejected_lossless |= bool(np.any(np.abs(mean - lossless) > 8 * se))
    assert rejected_lossless  # the test can tell E[W] from W


# ------------------------------------------------------------------ delay: stale values
def _stale_trajectory(w: np.ndarray, x0: np.ndarray, rounds: int) -> list[np.ndarray]:
    """Values sent at round k arrive during round k+2: x(k+1) = x(k) + Σ W_ij (x_j(k-1) − x_i(k))."""
    off = w - np.diag(np.diag(w))
    row = off.sum(axis=1, keepdims=True)
    xs = [x0, x0.copy()]  # nothing has arrived at the first update
    while len(xs) <= rounds:
        xs.append(xs[-1] + off @ xs[-2] - row * xs[-1])
    return xs


@pytest.mark.parametrize("delay", [0.5, 1.0, 1.5, 2.0])
def test_constant_delay_uses_the_value_of_the_round_it_arrives_for(delay):
    rounds = 12
    world = _run(
        **{
            "n_agents": 12,
            "horizon": rounds + 0.5,
            "net.delay.model": "constant",
            "net.delay.mean": delay,
        }
    )
    w = _gossip_matrix(world.network.topology, "metropolis")
    x0 = world.value_history[0]
    if delay <= 1.0:  # arrives by the next update: no staleness
        expected = [np.linalg.matrix_power(w, k) @ x0 for k in range(rounds + 1)]
    else:  # one round late
        expected = _stale_trajectory(w, x0, rounds)
    for k, (got, want) in enumerate(zip(world.value_history, expected, strict=True)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=f"round {k}")


# ------------------------------------------------------------------ hostile payloads
HOSTILE = [
    np.array([np.nan]),
    np.array([np.inf]),
    np.array([1.0, 2.0]),  # too large for one float64
    np.array([0.5], dtype=np.float32),  # wrong dtype
    np.zeros((1,), dtype=np.float64).reshape(1, 1),  # wrong shape
    torch.tensor([float("nan")], dtype=torch.float64),
    "1e9",
]


class _Hostile(ConsensusWorld):
    """Sends invalid payloads to agent 1 mid-round, plus a valid value from a non-neighbour."""

    def start_processes(self):
        super().start_processes()
        self.env.process(self._attack())

    def _attack(self):
        while True:
            yield self.env.timeout(0.5)
            for payload in HOSTILE:
                self.network.send(0, 1, "value", payload)
            self.network.send(0, 1, "chatter", np.array([1e9]))  # unknown kind
            self.network.send(10, 0, "value", np.array([1e9]))  # 10 is not heard by 0
            yield self.env.timeout(0.5)


def test_hostile_payloads_never_reach_agent_state():
    overrides = {"n_agents": 20, "horizon": 10.0}
    clean = _run(**overrides)
    world = _run(_Hostile, **overrides)
    assert np.isfinite(np.stack(world.value_history)).all()
    assert _table(world).equals(_table(clean))  # nothing sent by the attacker had any effect
    stats = world.recorder.frame("network").row(0, named=True)
    clean_stats = clean.recorder.frame("network").row(0, named=True)
    attacks = 10  # t = 0.5, 1.5, ..., 9.5
    assert stats["rejected_invalid"] == attacks * (len(HOSTILE) + 1)
    assert stats["delivered"] == clean_stats["delivered"] + attacks  # the non-neighbour's value
    assert set(world.network.rejections()) == {
        "oversize",
        "not_finite",
        "wrong_shape",
        "wrong_dtype",
        "wrong_type",
        "unknown_kind",
    }


class _SecondWord(ConsensusWorld):
    """Neighbour 1 sends agent 0 a second value (a torch tensor) in the middle of round 0."""

    def start_processes(self):
        super().start_processes()
        self.env.timeout(0.5).callbacks.append(
            lambda _ev: self.network.send(1, 0, "value", torch.tensor([5.0], dtype=torch.float64))
        )


def test_the_value_received_last_from_a_neighbour_counts_once():
    world = _run(_SecondWord, **{"n_agents": 12, "horizon": 1.5})
    w = _gossip_matrix(world.network.topology, "metropolis")
    x0, x1 = world.value_history
    expected = w @ x0
    expected[0] += w[0, 1] * (5.0 - x0[1])  # 5 replaces x_1(0) in agent 0's update
    np.testing.assert_allclose(x1, expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ CLI, tables, determinism
def test_cli_run_with_loss_writes_tables_that_add_up(tmp_path):
    args = ["run", SCENARIO, "--set", "n_agents=30", "--set", "net.loss.model=bernoulli"]
    args += ["--set", "net.loss.p=0.2", "--set", "horizon=30", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    net = pl.read_parquet(tmp_path / "network" / "*.parquet").row(0, named=True)
    parts = [k for k in net if k.startswith("dropped_")] + ["delivered", "rejected_invalid"]
    assert net["sent"] == sum(net[k] for k in parts) + net["in_flight"]
    assert net["sent"] == 30 * 4 * 30  # ring k=2: 4 neighbours, one broadcast per round
    assert net["dropped_loss"] / net["sent"] == pytest.approx(0.2, abs=0.03)
    table = pl.read_parquet(tmp_path / "consensus" / "*.parquet")
    assert table["round"].to_list() == list(range(30))
    episodes = pl.read_parquet(tmp_path / "episodes" / "*.parquet")
    assert episodes["msgs_sent"][0] == net["sent"]


def test_team_return_is_minus_the_disagreement_of_every_round_after_the_first():
    res = run_scenario(_scenario(**{"n_agents": 20, "horizon": 20.5}))
    table = res.frames["consensus"]
    ep = res.frames["episodes"].row(0, named=True)
    assert ep["team_return"] == pytest.approx(-table["disagreement"][1:].sum())
    assert ep["success"] == (table["disagreement"][-1] < 0.1)


def test_same_seed_same_table_other_seed_other_table():
    overrides = {"n_agents": 20, "horizon": 15.0, **_lossy(0.2, False)}
    a = run_scenario(_scenario(**overrides, seed=3)).frames["consensus"].drop("run_id")
    b = run_scenario(_scenario(**overrides, seed=3)).frames["consensus"].drop("run_id")
    c = run_scenario(_scenario(**overrides, seed=4)).frames["consensus"].drop("run_id")
    assert a.equals(b)
    assert not a.equals(c)


def test_agents_as_processes_give_the_same_table():
    scenario = _scenario(**{"n_agents": 15, "horizon": 12.0, **_lossy(0.3, True)})
    tables = []
    for processes in (False, True):
        world = ConsensusWorld(scenario, agents_as_processes=processes)
        world.policy = world.scripted_policy()
        world.run_episode(0, "eval")
        tables.append(_table(world))
    assert tables[0].equals(tables[1])


# ------------------------------------------------------------------ robust aggregators
@pytest.mark.parametrize("rule", [r for r in AGGREGATORS if r != "weights"])
def test_robust_rules_agree_inside_the_initial_range(rule):
    world = _run(
        **{
            "n_agents": 10,
            "horizon": 30.5,
            "net.topology.kind": "complete",
            "world.aggregator": rule,
            "world.aggregator_f": 1,
        }
    )
    table = _table(world)
    lo, hi = table["honest_min"][0], table["honest_max"][0]
    assert (table["honest_min"] >= lo - 1e-12).all() and (table["honest_max"] <= hi + 1e-12).all()
    assert table["honest_max"].diff().drop_nulls().max() <= 1e-12  # the range never widens
    assert table["disagreement"][-1] < 1e-3 * table["disagreement"][0]


class _OneLiar(ConsensusWorld):
    """Agent 0 is Byzantine: it always claims 100."""

    def start_processes(self):
        super().start_processes()
        self.sim_agents[0].role = "byzantine"
        self.network.set_outgoing_filter(
            lambda src, dsts, payloads, kind: (
                dsts,
                [np.array([100.0]) if src == 0 else p for p in payloads],
            )
        )


def test_wmsr_keeps_honest_agents_in_their_range_despite_a_liar():
    overrides = {"n_agents": 10, "horizon": 30.5, "net.topology.kind": "complete"}
    world = _run(_OneLiar, **overrides, **{"world.aggregator": "wmsr", "world.aggregator_f": 1})
    table = _table(world)
    x0 = world.value_history[0][1:]
    assert table["n_honest"].unique().to_list() == [9]
    assert table["honest_min"].min() >= x0.min() and table["honest_max"].max() <= x0.max()
    assert table["disagreement"][-1] < 1e-3
    # the linear update is dragged to the liar's value
    naive = _table(_run(_OneLiar, **overrides))
    assert naive["honest_mean"][-1] > 50.0
    assert naive["mean_all"][0] != naive["honest_mean"][0]


# ------------------------------------------------------------------ configuration errors
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("world.aggregator", "average"),
        ("world.weights", "max_degree"),
        ("world.period", 0.0),
        ("world.period", 500.0),
        ("world.dim", 0),
        ("world.init", "zeros"),
        ("world.aggregator_tau", -1.0),
        ("world.target_disagreement", 0.0),
        ("world.colour", 1),
    ],
)
def test_invalid_consensus_settings(key, value):
    with pytest.raises(ConfigError, match=key.split(".")[-1]):
        _scenario(**{key: value})


def test_krum_needs_enough_neighbours():
    with pytest.raises(ConfigError, match="aggregator_f"):
        _scenario(**{"world.aggregator": "krum", "world.aggregator_f": 2})  # ring: 5 <= 6
    _scenario(**{"world.aggregator": "krum", "world.aggregator_f": 1})  # 5 > 4


# ------------------------------------------------------------------ too few candidates at run time
def _lossy_ring(rule: str, **more) -> ConsensusWorld:
    """12 agents on the ring (degree 4) with 30% loss: often fewer than 2f + 3 = 2b + 1 = 5."""
    overrides = {
        "n_agents": 12,
        "horizon": 15.0,
        "world.aggregator": rule,
        "world.aggregator_f": 1,
        "world.aggregator_b": 2,
        "net.loss.model": "bernoulli",
        "net.loss.p": 0.3,
        "record": {"messages": True},
        **more,
    }
    return _run(**overrides)


def _heard(world: ConsensusWorld) -> dict[tuple[int, int], list[int]]:
    """(round k, agent i) -> senders whose value sent at (k - 1)P reached i (messages table)."""
    delivered = world.recorder.frame("messages").filter(pl.col("delivered"))
    heard: dict[tuple[int, int], list[int]] = {}
    for t_sent, src, dst in delivered.select("t_sent", "src", "dst").iter_rows():
        heard.setdefault((round(t_sent) + 1, dst), []).append(src)
    return heard


@pytest.mark.parametrize("rule", ["krum", "trimmed_mean"])
def test_agents_short_of_candidates_fall_back_and_are_counted(rule):
    world = _lossy_ring(rule)  # krum used to stop the run with a ConfigError here
    table = _table(world)
    heard = _heard(world)
    history = world.value_history
    assert len(history) == 15 and table["n_degraded"][0] == 0
    for k in range(1, len(history)):
        short = 0
        for i in range(12):
            senders = heard.get((k, i), [])
            candidates = history[k - 1][[i, *senders]]
            if len(candidates) < 5:  # 2f + 3 = 2b + 1 = 5
                short += 1
                expected = history[k - 1][i] if rule == "krum" else np.median(candidates, axis=0)
                np.testing.assert_allclose(history[k][i], expected, rtol=0, atol=1e-15)
            elif rule == "krum":  # Krum adopts one of its candidates
                assert (candidates == history[k][i]).all(axis=1).any()
            else:
                kept = np.sort(candidates, axis=0)[2:-2]
                np.testing.assert_allclose(history[k][i], kept.mean(axis=0), rtol=0, atol=1e-15)
        assert table["n_degraded"][k] == short, k
    assert table["n_degraded"].sum() > 20  # the loss leaves many agents short


def test_wmsr_never_falls_back_and_loss_free_rounds_are_not_degraded():
    assert _table(_lossy_ring("wmsr"))["n_degraded"].to_list() == [0] * 15
    krum = _table(_run(**{"n_agents": 12, "horizon": 8.0, "world.aggregator": "krum"}))
    assert krum["n_degraded"].to_list() == [0] * 8  # every agent hears all 4 neighbours


def test_krum_against_garbage_keeps_running_and_counts_short_agents():
    faults = {"byzantine": {"count": 2, "messages": ["garbage"]}}
    world = _lossy_ring("krum", **{"net.loss.p": 0.0, "faults": faults})
    table = _table(world)
    assert table["n_degraded"].sum() > 0  # rejected garbage leaves the liars' neighbours short
    assert np.isfinite(np.stack(world.value_history)).all()
    assert world.network.rejections()
