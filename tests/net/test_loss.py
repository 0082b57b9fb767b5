"""Loss and retransmission statistics against closed forms (fixed seeds, a few standard errors)."""

import numpy as np
import pytest
from net_testkit import advance, make_network, payload, star

from dmarl_des.net import Arq, DelayModel, LinkModel, LossModel, complete


def broadcast_rounds(env, net, rounds, period=1.0, src=0):
    for r in range(rounds):
        advance(env, r * period)
        net.broadcast(src, "vec", payload())
    advance(env, rounds * period + 100)


def per_link_outcomes(cols, n_links):
    """[rounds, links] delivered matrix for a star whose hub broadcast once per round."""
    delivered = np.asarray(cols["delivered"]).reshape(-1, n_links)
    dst = np.asarray(cols["dst"]).reshape(-1, n_links)
    assert np.all(dst == dst[0])
    return delivered


def test_bernoulli_count_is_binomial():
    n, p, rounds = 400, 0.3, 300
    link = LinkModel(loss=LossModel("bernoulli", p=p))
    env, net = make_network(star(n), link, seed=1, inbox_limit=1000)
    broadcast_rounds(env, net, rounds)
    counts = per_link_outcomes(net.trace_columns(), n).sum(axis=1)
    mean, var = n * (1 - p), n * p * (1 - p)
    assert abs(counts.mean() - mean) < 4 * np.sqrt(var / rounds)
    assert abs(counts.var(ddof=1) - var) < 4 * var * np.sqrt(2 / (rounds - 1))
    s = net.stats()
    assert s["delivered"] == counts.sum() and s["dropped_loss"] == n * rounds - counts.sum()


def ge_mean_se(loss: LossModel, steps: int) -> float:
    """Standard error of the loss fraction over ``steps`` attempts of stationary chains."""
    pb = loss.stationary_bad
    pg = 1 - pb
    a, b = 1 - loss.k, 1 - loss.h
    lam = 1 - loss.p - loss.r
    var = pg * a * (1 - a) + pb * b * (1 - b) + pg * pb * (a - b) ** 2 * (1 + lam) / (1 - lam)
    return np.sqrt(var / steps)


def test_gilbert_elliott_stationary_loss():
    loss = LossModel("gilbert_elliott", p=0.05, r=0.2, k=0.95, h=0.3)
    n, rounds = 200, 500
    env, net = make_network(star(n), LinkModel(loss=loss), seed=2, inbox_limit=1000)
    broadcast_rounds(env, net, rounds)
    delivered = per_link_outcomes(net.trace_columns(), n)
    expected = (1 - 0.2) * (1 - 0.95) + 0.2 * (1 - 0.3)  # pi_G (1 - k) + pi_B (1 - h)
    assert loss.stationary_loss == pytest.approx(expected)
    measured = 1 - delivered.mean()
    assert abs(measured - expected) < 5 * ge_mean_se(loss, delivered.size)
    # losses are bursty: a loss is more likely right after a loss than on average
    after_loss = (~delivered[1:])[~delivered[:-1]].mean()
    assert after_loss > expected + 0.1


def run_lengths(bits: np.ndarray, value: bool) -> list[int]:
    """Lengths of complete runs of ``value`` (runs touching either end are left out)."""
    out, run, started = [], 0, False
    for b in bits:
        if b == value:
            run += 1
        else:
            if run and started:
                out.append(run)
            run, started = 0, True
    return out


def test_gilbert_elliott_burst_lengths():
    # k = 1, h = 0: an attempt is lost exactly when the chain is Bad, so loss runs are Bad runs.
    p, r = 0.1, 0.25
    loss = LossModel("gilbert_elliott", p=p, r=r, k=1.0, h=0.0)
    n, rounds = 150, 500
    env, net = make_network(star(n), LinkModel(loss=loss), seed=3, inbox_limit=1000)
    broadcast_rounds(env, net, rounds)
    delivered = per_link_outcomes(net.trace_columns(), n)
    bad_runs = [x for j in range(n) for x in run_lengths(~delivered[:, j], True)]
    good_runs = [x for j in range(n) for x in run_lengths(~delivered[:, j], False)]
    bad_mean, good_mean = np.mean(bad_runs), np.mean(good_runs)
    assert abs(bad_mean - 1 / r) < 5 * np.sqrt((1 - r) / r**2 / len(bad_runs))
    assert abs(good_mean - 1 / p) < 5 * np.sqrt((1 - p) / p**2 / len(good_runs))
    assert abs((~delivered).mean() - p / (p + r)) < 0.02


@pytest.mark.parametrize("model", ["bernoulli", "gilbert_elliott"])
def test_arq_transmissions_and_delivery(model):
    k_tries, p = 3, 0.4
    if model == "bernoulli":
        loss = LossModel("bernoulli", p=p)
    else:  # a memoryless chain (p + r = 1) that loses with probability 0.4 in both states
        loss = LossModel("gilbert_elliott", p=0.5, r=0.5, k=0.6, h=0.6)
    link = LinkModel(loss=loss, delay=DelayModel(mean=0.1), arq=Arq(max_tries=k_tries, timeout=1.0))
    n, rounds = 400, 100
    env, net = make_network(star(n), link, seed=4, inbox_limit=1000)
    broadcast_rounds(env, net, rounds, period=10.0)
    cols = net.trace_columns()
    attempts = np.asarray(cols["attempts"])
    delivered = np.asarray(cols["delivered"])
    probs = np.array([p ** (a - 1) * (1 - p) for a in range(1, k_tries)] + [p ** (k_tries - 1)])
    values = np.arange(1, k_tries + 1)
    mean = (1 - p**k_tries) / (1 - p)
    assert (probs * values).sum() == pytest.approx(mean)
    var = (probs * values**2).sum() - mean**2
    m = attempts.size
    assert abs(attempts.mean() - mean) < 5 * np.sqrt(var / m)
    q = 1 - p**k_tries
    assert abs(delivered.mean() - q) < 5 * np.sqrt(q * (1 - q) / m)
    s = net.stats()
    assert s["retransmissions"] == (attempts - 1).sum()
    assert s["dropped_loss"] == (~delivered).sum()
    assert np.all(attempts[~delivered] == k_tries)
    # delivered at the first success: t_sent + (attempts - 1) * timeout + delay
    t_sent, t_del = np.asarray(cols["t_sent"]), np.asarray(cols["t_delivered"])
    np.testing.assert_allclose(
        t_del[delivered], t_sent[delivered] + (attempts[delivered] - 1) * 1.0 + 0.1, atol=1e-9
    )


def pair_outcomes(cols):
    """{(round, lo, hi): [delivered i->j, delivered j->i]} from a trace."""
    out: dict = {}
    for t, s, d, ok in zip(cols["t_sent"], cols["src"], cols["dst"], cols["delivered"]):
        out.setdefault((round(t), min(s, d), max(s, d)), []).append(ok)
    return out


@pytest.mark.parametrize(
    "loss",
    [
        LossModel("bernoulli", p=0.5, symmetric=True),
        LossModel("gilbert_elliott", p=0.2, r=0.3, k=0.9, h=0.2, symmetric=True),
    ],
)
def test_symmetric_loss_same_instant(loss):
    n, rounds = 6, 200
    env, net = make_network(complete(n), LinkModel(loss=loss), seed=5, inbox_limit=10_000)
    for r in range(rounds):
        advance(env, r)
        for i in range(n):
            net.broadcast(i, "vec", payload())
    advance(env, rounds + 1)
    pairs = pair_outcomes(net.trace_columns())
    assert len(pairs) == rounds * n * (n - 1) // 2
    assert all(len(v) == 2 and v[0] == v[1] for v in pairs.values())
    # each pair and round is one draw (both directions share it)
    lost = 1 - np.mean(net.trace_columns()["delivered"])
    draws = rounds * n * (n - 1) // 2
    bernoulli_se = np.sqrt(loss.p * (1 - loss.p) / draws)
    # a pair's Gilbert-Elliott chain steps once per round
    se = bernoulli_se if loss.model == "bernoulli" else ge_mean_se(loss, draws)
    assert abs(lost - loss.stationary_loss) < 5 * se


def test_symmetric_loss_rounds_by_period_with_arq():
    loss = LossModel("gilbert_elliott", p=0.3, r=0.3, k=0.7, h=0.1, symmetric=True, period=1.0)
    link = LinkModel(loss=loss, arq=Arq(max_tries=2, timeout=0.05))
    env, net = make_network(complete(2), link, seed=6, inbox_limit=10_000)
    rng = np.random.default_rng(0)
    for r in range(400):
        t0, t1 = np.sort(r + rng.uniform(0.0, 0.9, size=2))
        advance(env, t0)
        net.send(0, 1, "vec", payload())
        advance(env, t1)
        net.send(1, 0, "vec", payload())
    advance(env, 500)
    cols = net.trace_columns()
    ok = np.asarray(cols["delivered"]).reshape(-1, 2)
    att = np.asarray(cols["attempts"]).reshape(-1, 2)
    assert np.array_equal(ok[:, 0], ok[:, 1]) and np.array_equal(att[:, 0], att[:, 1])
    assert 0.1 < 1 - ok.mean() < 0.7


def test_asymmetric_loss_is_independent():
    link = LinkModel(loss=LossModel("bernoulli", p=0.5))
    env, net = make_network(complete(2), link, seed=7, inbox_limit=10_000)
    for r in range(300):
        advance(env, r)
        net.send(0, 1, "vec", payload())
        net.send(1, 0, "vec", payload())
    advance(env, 400)
    ok = np.asarray(net.trace_columns()["delivered"]).reshape(-1, 2)
    agree = np.mean(ok[:, 0] == ok[:, 1])
    assert abs(agree - 0.5) < 5 * np.sqrt(0.25 / 300)


def test_loss_rate_does_not_shift_delay_draws():
    delays = []
    for p in (0.0, 0.2, 0.6):
        link = LinkModel(
            loss=LossModel("bernoulli", p=p), delay=DelayModel("exponential", mean=1.0)
        )
        env, net = make_network(star(50), link, seed=8, inbox_limit=1000)
        for r in range(20):
            advance(env, r)
            net.broadcast(0, "vec", payload())
        advance(env, 100)
        cols = net.trace_columns()
        d = np.asarray(cols["delay"])
        delays.append((np.asarray(cols["delivered"]), d))
    ok0, d0 = delays[0]
    assert ok0.all()
    for ok, d in delays[1:]:
        assert 0 < ok.sum() < ok.size
        np.testing.assert_array_equal(d[ok], d0[ok])
