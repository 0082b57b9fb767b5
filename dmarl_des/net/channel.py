"""The fate of one sender's batch of transmissions: queueing, loss, ARQ and delay, vectorized."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dmarl_des.errors import ConfigError
from dmarl_des.net.links import DelayModel, LinkModel, LossModel
from dmarl_des.net.linkstate import LinkTable
from dmarl_des.net.philox import philox_uniform, split64

#: Fate codes of a transmission decided at send time (0 = on its way).
IN_FLIGHT, CUT, OVERFLOW, LOSS = 0, 1, 2, 3

# Counter-based draws: the last counter word separates symmetric-loss draws from the initial
# states of directed Gilbert-Elliott chains (whose key also carries a tweak).
_SYMMETRIC = 1
_INIT_LINK = 0x10000000
_ROUND_TOLERANCE = 1e-9

Positions = Callable[[], np.ndarray]


@dataclass(slots=True)
class Fate:
    """Per-recipient outcome of a batch, aligned with its recipients."""

    cause: np.ndarray  # int8 fate code
    attempts: np.ndarray  # int64 transmissions made (0 if never transmitted)
    delay: np.ndarray  # float64 propagation delay of the successful attempt (nan otherwise)
    t_due: np.ndarray  # float64 exact delivery time (nan if dropped at send)


class Channel:
    """Per-link state (FIFO occupancy, Gilbert-Elliott chains) and the draws of each transmission.

    Random draws come from ``rng``, in an amount that depends only on the number of recipients and
    their link models (not on outcomes, queues or cut links). Symmetric loss draws are
    counter-based instead (Philox keyed by ``key`` and the round, counter = unordered pair and
    attempt), and so are the initial states of Gilbert-Elliott chains.
    """

    def __init__(
        self,
        n: int,
        models: list[LinkModel],
        rng: np.random.Generator,
        key: tuple[int, int],
        positions: Positions | None,
    ) -> None:
        self.n = n
        self.models = models
        self.rng = rng
        self.key = key
        self.positions = positions
        queues = [m.bandwidth.finite_queue for m in models]
        self._ring_width = max([q for q in queues if q], default=0)
        self.reset()

    def reset(self) -> None:
        """Forget all link state: free links, empty queues, fresh loss chains."""
        self.links = LinkTable()
        self.links.add_column("busy_until", np.float64, -math.inf)
        self.links.add_column("accepted", np.int64, 0)
        self.links.add_column("bad", np.bool_, False)
        if self._ring_width:
            self.links.add_column("starts", np.float64, -math.inf, width=self._ring_width)
        self.pairs = LinkTable()
        self.pairs.add_column("round", np.int64, 0)
        self.pairs.add_column("bad", np.bool_, False)

    def transmit(
        self,
        now: float,
        src: int,
        dsts: np.ndarray,
        sizes: np.ndarray,
        model_index: np.ndarray | None,
        allowed: np.ndarray | None,
    ) -> Fate:
        """Decide the fate of transmissions src -> dsts (distinct) at time ``now``."""
        m = dsts.size
        fate = Fate(
            cause=np.zeros(m, dtype=np.int8),
            attempts=np.zeros(m, dtype=np.int64),
            delay=np.full(m, np.nan),
            t_due=np.full(m, np.nan),
        )
        if allowed is None:
            allowed = np.ones(m, dtype=bool)
        # Cut recipients take part in the draws (and are then discarded) so that the number of
        # draws never depends on which links are cut.
        rows, created = self.links.rows(src * self.n + dsts)
        pos = np.arange(m)
        if model_index is None:
            self._transmit_group(
                self.models[0], now, src, dsts, sizes, pos, rows, created, allowed, fate
            )
            return fate
        for g in np.unique(model_index):
            sel = model_index == g
            self._transmit_group(
                self.models[g],
                now,
                src,
                dsts,
                sizes,
                pos[sel],
                rows[sel],
                created[sel],
                allowed[sel],
                fate,
            )
        return fate

    # -- one link model ------------------------------------------------------------------------

    def _transmit_group(
        self,
        model: LinkModel,
        now: float,
        src: int,
        dsts_all: np.ndarray,
        sizes_all: np.ndarray,
        pos: np.ndarray,
        rows: np.ndarray,
        created: np.ndarray,
        allowed: np.ndarray,
        fate: Fate,
    ) -> None:
        dsts = dsts_all[pos]
        busy_until = self.links.column("busy_until")
        accepted = self.links.column("accepted")
        busy = busy_until[rows]
        start = np.maximum(now, busy)
        limit = model.bandwidth.finite_queue
        slot = None
        if limit is None:
            room = None
            admit = allowed
        else:
            if limit == 0:
                room = busy <= now
            else:
                # Starts are non-decreasing on a link, so the queue is full iff the oldest of
                # the last ``limit`` accepted messages has not started yet.
                slot = accepted[rows] % limit
                room = self.links.column("starts")[rows, slot] <= now
            admit = allowed & room
        loss = model.loss
        if loss.model == "gilbert_elliott" and not loss.symmetric and created.any():
            # Stationary start, drawn per link from a counter (independent of creation order).
            k0, k1 = self.key
            u0 = philox_uniform((k0, k1 ^ _INIT_LINK), src, dsts[created], 0, 0)
            self.links.column("bad")[rows[created]] = u0 < loss.stationary_bad
        ok, attempts = self._attempts(loss, model.arq.max_tries, now, src, dsts, rows, admit)
        delay = self._delays(model.delay, src, dsts)

        end = start + sizes_all[pos] / model.bandwidth.capacity
        if model.arq.max_tries > 1:
            end += (attempts - 1) * model.arq.timeout
        every = bool(admit.all())
        arows = rows if every else rows[admit]
        if slot is not None:
            self.links.column("starts")[arows, slot if every else slot[admit]] = (
                start if every else start[admit]
            )
        accepted[arows] += 1
        busy_until[arows] = end if every else end[admit]

        fate.attempts[pos] = attempts
        if every and ok.all():
            fate.delay[pos] = delay
            fate.t_due[pos] = end + delay
            return
        if not every:
            fate.cause[pos[~allowed]] = CUT
            if room is not None:
                fate.cause[pos[allowed & ~room]] = OVERFLOW
        fate.cause[pos[admit & ~ok]] = LOSS
        good = admit & ok
        fate.delay[pos[good]] = delay[good]
        fate.t_due[pos[good]] = end[good] + delay[good]

    def _attempts(
        self,
        loss: LossModel,
        max_tries: int,
        now: float,
        src: int,
        dsts: np.ndarray,
        rows: np.ndarray,
        admit: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(delivered, transmissions made) per recipient; zero transmissions where not admitted."""
        m = dsts.size
        if loss.model == "none":
            return admit.copy(), admit.astype(np.int64)
        if max_tries == 1 and loss.model == "bernoulli" and not loss.symmetric:
            return (self.rng.random(m) >= loss.p) & admit, admit.astype(np.int64)
        if loss.symmetric:
            delivered = self._symmetric_outcomes(loss, max_tries, now, src, dsts, admit)
        elif loss.model == "bernoulli":
            delivered = self.rng.random((max_tries, m)) >= loss.p
        else:
            delivered = self._gilbert_elliott(loss, max_tries, rows, admit)
        any_ok = delivered.any(axis=0)
        tries = np.where(any_ok, delivered.argmax(axis=0) + 1, max_tries)
        return any_ok & admit, np.where(admit, tries, 0)

    def _gilbert_elliott(
        self, loss: LossModel, max_tries: int, rows: np.ndarray, admit: np.ndarray
    ) -> np.ndarray:
        m = rows.size
        u = self.rng.random((max_tries, m))
        v = self.rng.random((max_tries, m))
        bad_col = self.links.column("bad")
        bad = bad_col[rows]
        delivered = np.zeros((max_tries, m), dtype=bool)
        active = admit.copy()
        for a in range(max_tries):
            if not active.any():
                break
            hit = active & (u[a] < np.where(bad, loss.h, loss.k))
            delivered[a] = hit
            flip = np.where(bad, v[a] < loss.r, v[a] < loss.p)
            bad = np.where(active, bad ^ flip, bad)
            active &= ~hit
        bad_col[rows] = bad
        return delivered

    def _symmetric_outcomes(
        self,
        loss: LossModel,
        max_tries: int,
        now: float,
        src: int,
        dsts: np.ndarray,
        admit: np.ndarray,
    ) -> np.ndarray:
        # One counter-based draw per (unordered pair, round, purpose): the round goes into the
        # Philox key, (lo, hi, purpose) into the counter. Purposes 0..K-1 are the attempts,
        # K steps a pair's Gilbert-Elliott chain, K + 1 draws its initial state.
        lo = np.minimum(src, dsts)
        hi = np.maximum(src, dsts)
        rk = self.round_of(loss, now)
        r_lo, r_hi = (int(w) for w in split64(rk))
        key = (self.key[0] ^ r_lo, self.key[1] ^ r_hi)
        ge = loss.model == "gilbert_elliott"
        purposes = np.arange(max_tries + (2 if ge else 0))[:, None]
        u = philox_uniform(key, lo[None, :], hi[None, :], purposes, _SYMMETRIC)
        if not ge:
            return u[:max_tries] >= loss.p
        sel = np.flatnonzero(admit)
        bad = self._pair_states(loss, lo[sel], hi[sel], rk, u[max_tries, sel], u[-1, sel])
        prob = np.full(dsts.size, loss.k)
        prob[sel[bad]] = loss.h
        return u[:max_tries] < prob

    @staticmethod
    def round_of(loss: LossModel, now: float) -> int:
        """The symmetric-loss round of a transmission sent at ``now``."""
        if loss.period > 0:
            return math.floor(now / loss.period + _ROUND_TOLERANCE)
        return int(np.float64(now + 0.0).view(np.int64))

    def _pair_states(
        self,
        loss: LossModel,
        lo: np.ndarray,
        hi: np.ndarray,
        rk: int,
        u_step: np.ndarray,
        u_init: np.ndarray,
    ) -> np.ndarray:
        """Chain state of each unordered pair in round ``rk``; pairs new to the round step once."""
        rows, created = self.pairs.rows(lo * self.n + hi)
        rounds = self.pairs.column("round")
        bad_col = self.pairs.column("bad")
        if created.any():
            bad_col[rows[created]] = u_init[created] < loss.stationary_bad
            rounds[rows[created]] = rk
        step = ~created & (rounds[rows] != rk)
        if step.any():
            b = bad_col[rows[step]]
            w = u_step[step]
            bad_col[rows[step]] = np.where(b, w >= loss.r, w < loss.p)
            rounds[rows[step]] = rk
        return bad_col[rows]

    def _delays(self, delay: DelayModel, src: int, dsts: np.ndarray) -> np.ndarray:
        m = dsts.size
        if delay.model == "constant":
            d = np.full(m, delay.mean)
        elif delay.model == "exponential":
            d = self.rng.exponential(delay.mean, m)
        elif delay.model == "lognormal":
            mu = math.log(delay.mean) - 0.5 * delay.sigma**2
            d = self.rng.lognormal(mu, delay.sigma, m)
        else:
            if self.positions is None:
                raise ConfigError("positions", None, "a callable returning [N, 2] positions")
            xy = np.asarray(self.positions(), dtype=np.float64)
            if xy.shape != (self.n, 2):
                raise ConfigError("positions()", xy.shape, f"an array of shape [{self.n}, 2]")
            d = np.linalg.norm(xy[dsts] - xy[src], axis=1) / delay.speed
        if delay.jitter > 0:
            d = d + self.rng.uniform(0.0, delay.jitter, m)
        return d
