"""The fate of a batch of transmissions: queueing, loss, ARQ and delay, vectorized over pairs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

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


class _Batch(NamedTuple):
    """The transmissions of one call, aligned."""

    srcs: np.ndarray
    dsts: np.ndarray
    sizes: np.ndarray
    allowed: np.ndarray


@dataclass(slots=True)
class Fate:
    """Per-transmission outcome of a batch, aligned with its (src, dst) pairs."""

    cause: np.ndarray  # int8 fate code
    attempts: np.ndarray  # int64 transmissions made (0 if never transmitted)
    delay: np.ndarray  # float64 propagation delay of the successful attempt (nan otherwise)
    t_due: np.ndarray  # float64 exact delivery time (nan if dropped at send)


def loss_draws(loss: LossModel, max_tries: int) -> int:
    """Uniforms a message takes from the rng for its loss outcome."""
    if loss.model == "none" or loss.symmetric:
        return 0  # symmetric loss is counter-based
    return max_tries if loss.model == "bernoulli" else 2 * max_tries


def delay_draws(delay: DelayModel) -> int:
    """Uniforms a message takes from the rng for its delay."""
    random_part = 1 if delay.model in ("exponential", "lognormal") else 0
    return random_part + (1 if delay.jitter > 0 else 0)


def is_stateless(model: LinkModel) -> bool:
    """True when a link's history never matters: infinite capacity, one attempt, no directed
    Gilbert-Elliott chain. Every message then starts at its send time and no queue can fill."""
    directed_chain = model.loss.model == "gilbert_elliott" and not model.loss.symmetric
    return model.bandwidth.capacity == math.inf and model.arq.max_tries == 1 and not directed_chain


class Channel:
    """Per-link state (FIFO occupancy, Gilbert-Elliott chains) and the draws of each transmission.

    Random draws come from ``rng`` as uniforms, message after message: each message takes a fixed
    number of them given by its link model (loss attempts, then delay), whatever its outcome, and
    turns them into outcomes by inverse transforms. So a batch draws exactly what the same
    transmissions sent one call at a time would draw, in the same order. Symmetric loss draws are
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
        self._loss_width = [loss_draws(m.loss, m.arq.max_tries) for m in models]
        self._width = np.array(
            [lw + delay_draws(m.delay) for lw, m in zip(self._loss_width, models)], dtype=np.int64
        )
        self._stateless = [is_stateless(m) for m in models]
        self.stateless = all(self._stateless)
        """True when no link model keeps state: then a call's passes do not matter."""
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
        now: float | np.ndarray,
        srcs: np.ndarray,
        dsts: np.ndarray,
        sizes: np.ndarray,
        model_index: np.ndarray | None,
        allowed: np.ndarray | None,
        passes: np.ndarray | None = None,
    ) -> Fate:
        """Decide the fate of transmissions ``srcs[k] -> dsts[k]`` at time ``now``, in that order
        (on stateless links ``now`` may be one send time per message).

        ``model_index`` gives each link's model (None: all the default one); ``allowed`` is False
        on cut links. The directed links of one pass (``passes``, None = a single pass) must be
        distinct; a link used in several passes serves them in pass order, as successive send
        calls would.
        """
        m = dsts.size
        if model_index is None and self._stateless[0]:
            # no link state: each message's fate depends on its own draws only, so passes do not
            # matter and the whole call is one vectorized step
            return self._transmit_stateless(now, srcs, dsts, allowed)
        fate = Fate(
            cause=np.zeros(m, dtype=np.int8),
            attempts=np.zeros(m, dtype=np.int64),
            delay=np.full(m, np.nan),
            t_due=np.full(m, np.nan),
        )
        batch = _Batch(srcs, dsts, sizes, np.ones(m, dtype=bool) if allowed is None else allowed)
        # Cut recipients take part in the draws (and are then discarded) so that the number of
        # draws never depends on which links are cut.
        if model_index is None:
            draws = self.rng.random((m, int(self._width[0])))  # message after message
            if passes is None:
                self._transmit_group(0, now, None, batch, draws, fate)
            else:
                for p in range(int(passes.max()) + 1 if m else 0):
                    pos = np.flatnonzero(passes == p)
                    self._transmit_group(0, now, pos, batch, draws[pos], fate)
            return fate
        widths = self._width[model_index]
        offsets = np.cumsum(widths) - widths
        uniforms = self.rng.random(int(widths.sum()))  # message after message
        for p in range(int(passes.max()) + 1 if passes is not None and m else 1):
            in_pass = np.arange(m) if passes is None else np.flatnonzero(passes == p)
            groups = model_index[in_pass]
            for g in np.unique(groups).tolist():
                pos = in_pass[groups == g]
                draws = uniforms[offsets[pos][:, None] + np.arange(int(self._width[g]))]
                self._transmit_group(g, now, pos, batch, draws, fate)
        return fate

    # -- one link model ------------------------------------------------------------------------

    def _transmit_stateless(
        self,
        now: float | np.ndarray,
        srcs: np.ndarray,
        dsts: np.ndarray,
        allowed: np.ndarray | None,
    ) -> Fate:
        """``transmit`` over links of the default model when it is stateless: every message
        starts at ``now`` and makes one attempt; the same draws and outcomes as the general path."""
        m = dsts.size
        model = self.models[0]
        lw = self._loss_width[0]
        draws = self.rng.random((m, int(self._width[0])))  # message after message
        loss = model.loss
        if allowed is None and loss.model == "bernoulli" and not loss.symmetric:
            # the plain lossy link (the common case): lost messages marked in place, no np.where
            lost = draws[:, 0] < loss.p  # the complement of ok = u >= p (uniforms are never NaN)
            delay = self._delays(model.delay, srcs, dsts, draws[:, lw:])
            attempts = np.ones(m, dtype=np.int64)
            if not lost.any():
                return Fate(np.zeros(m, dtype=np.int8), attempts, delay, now + delay)
            if delay.dtype == np.float64:  # a fresh array (a constant delay may be an integer)
                cause = lost.view(np.int8) * np.int8(LOSS)  # IN_FLIGHT (0) where kept
                delay[lost] = np.nan
                return Fate(cause, attempts, delay, now + delay)  # nan + now: nan where lost
            ok = ~lost
        else:
            admit = np.ones(m, dtype=bool) if allowed is None else allowed
            ok, attempts = self._attempts(model, now, srcs, dsts, None, admit, draws[:, :lw])
            delay = self._delays(model.delay, srcs, dsts, draws[:, lw:])
        due = now + delay
        if ok.all():
            return Fate(np.zeros(m, dtype=np.int8), attempts, delay, due)
        cause = np.where(ok, np.int8(IN_FLIGHT), np.int8(LOSS))
        if allowed is not None:
            cause[~allowed] = CUT
        return Fate(cause, attempts, np.where(ok, delay, np.nan), np.where(ok, due, np.nan))

    def _transmit_group(
        self,
        g: int,
        now: float,
        pos: np.ndarray | None,
        batch: _Batch,
        draws: np.ndarray,
        fate: Fate,
    ) -> None:
        """Transmissions at positions ``pos`` of ``batch`` (None: all of them) over links of model
        ``g``, with their uniforms ``draws`` ([len(pos), width])."""
        if pos is None:
            srcs, dsts, sizes, allowed = batch
            pos = np.arange(dsts.size)
            at: slice | np.ndarray = slice(None)
        else:
            srcs, dsts, sizes, allowed = (column[pos] for column in batch)
            at = pos
        model = self.models[g]
        lw = self._loss_width[g]
        u_loss, u_delay = draws[:, :lw], draws[:, lw:]
        stateful = not self._stateless[g]
        rows = slot = room = None
        if stateful:
            rows, created = self.links.rows(srcs * self.n + dsts)
            busy_until = self.links.column("busy_until")
            accepted = self.links.column("accepted")
            busy = busy_until[rows]
            start = np.maximum(now, busy)
            limit = model.bandwidth.finite_queue
            if limit is not None:
                if limit == 0:
                    room = busy <= now
                else:
                    # Starts are non-decreasing on a link, so the queue is full iff the oldest of
                    # the last ``limit`` accepted messages has not started yet.
                    slot = accepted[rows] % limit
                    room = self.links.column("starts")[rows, slot] <= now
            loss = model.loss
            if loss.model == "gilbert_elliott" and not loss.symmetric and created.any():
                # Stationary start, drawn per link from a counter (independent of creation order).
                k0, k1 = self.key
                u0 = philox_uniform((k0, k1 ^ _INIT_LINK), srcs[created], dsts[created], 0, 0)
                self.links.column("bad")[rows[created]] = u0 < loss.stationary_bad
        else:
            start = now  # every message starts when it is sent
        admit = allowed if room is None else allowed & room
        ok, attempts = self._attempts(model, now, srcs, dsts, rows, admit, u_loss)
        delay = self._delays(model.delay, srcs, dsts, u_delay)

        end = np.asarray(start, dtype=np.float64)
        if model.bandwidth.capacity != math.inf:
            end = end + sizes / model.bandwidth.capacity
        if model.arq.max_tries > 1:
            end = end + (attempts - 1) * model.arq.timeout
        every = bool(admit.all())
        if stateful:
            assert rows is not None
            arows = rows if every else rows[admit]
            if slot is not None:
                self.links.column("starts")[arows, slot if every else slot[admit]] = (
                    start if every else start[admit]
                )
            accepted[arows] += 1
            busy_until[arows] = end if every else end[admit]

        fate.attempts[at] = attempts
        due = end + delay
        if every and ok.all():
            fate.delay[at] = delay
            fate.t_due[at] = due
            return
        if not every:
            fate.cause[pos[~allowed]] = CUT
            if room is not None:
                fate.cause[pos[allowed & ~room]] = OVERFLOW
        fate.cause[pos[admit & ~ok]] = LOSS
        good = admit & ok
        fate.delay[pos[good]] = delay[good]
        fate.t_due[pos[good]] = due[good]

    def _attempts(
        self,
        model: LinkModel,
        now: float,
        srcs: np.ndarray,
        dsts: np.ndarray,
        rows: np.ndarray | None,
        admit: np.ndarray,
        u_loss: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(delivered, transmissions made) per message; zero transmissions where not admitted."""
        loss, max_tries = model.loss, model.arq.max_tries
        if loss.model == "none":
            return admit.copy(), admit.astype(np.int64)
        if max_tries == 1 and loss.model == "bernoulli" and not loss.symmetric:
            return (u_loss[:, 0] >= loss.p) & admit, admit.astype(np.int64)
        if loss.symmetric:
            delivered = self._symmetric_outcomes(loss, max_tries, now, srcs, dsts, admit)
        elif loss.model == "bernoulli":
            delivered = np.greater_equal(u_loss.T, loss.p)
        else:
            assert rows is not None
            delivered = self._gilbert_elliott(loss, max_tries, rows, admit, u_loss)
        any_ok = delivered.any(axis=0)
        tries = np.where(any_ok, delivered.argmax(axis=0) + 1, max_tries)
        return any_ok & admit, np.where(admit, tries, 0)

    def _gilbert_elliott(
        self,
        loss: LossModel,
        max_tries: int,
        rows: np.ndarray,
        admit: np.ndarray,
        u_loss: np.ndarray,
    ) -> np.ndarray:
        m = rows.size
        u = u_loss[:, :max_tries].T  # attempt outcome
        v = u_loss[:, max_tries:].T  # chain step after the attempt
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
        srcs: np.ndarray,
        dsts: np.ndarray,
        admit: np.ndarray,
    ) -> np.ndarray:
        # One counter-based draw per (unordered pair, round, purpose): the round goes into the
        # Philox key, (lo, hi, purpose) into the counter. Purposes 0..K-1 are the attempts,
        # K steps a pair's Gilbert-Elliott chain, K + 1 draws its initial state.
        lo = np.minimum(srcs, dsts)
        hi = np.maximum(srcs, dsts)
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
        """Chain state of each unordered pair in round ``rk``; pairs new to the round step once.

        A pair may appear twice (both directions in one batch): it is stepped once, as the
        draws of both occurrences are the same counter-based numbers.
        """
        keys, first, inverse = np.unique(lo * self.n + hi, return_index=True, return_inverse=True)
        u_step, u_init = u_step[first], u_init[first]
        rows, created = self.pairs.rows(keys)
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
        return bad_col[rows][inverse]

    def _delays(
        self, delay: DelayModel, srcs: np.ndarray, dsts: np.ndarray, u: np.ndarray
    ) -> np.ndarray:
        """Delays from the message's delay uniforms ``u`` ([m, 0..2]) by inverse transforms."""
        m = dsts.size
        if delay.model == "constant":
            d = np.full(m, delay.mean)
        elif delay.model == "exponential":
            d = -delay.mean * np.log1p(-u[:, 0])
        elif delay.model == "lognormal":
            mu = math.log(delay.mean) - 0.5 * delay.sigma**2
            d = np.exp(mu + delay.sigma * ndtri(u[:, 0]))
        else:
            if self.positions is None:
                raise ConfigError("positions", None, "a callable returning [N, 2] positions")
            xy = np.asarray(self.positions(), dtype=np.float64)
            if xy.shape != (self.n, 2):
                raise ConfigError("positions()", xy.shape, f"an array of shape [{self.n}, 2]")
            d = np.linalg.norm(xy[dsts] - xy[srcs], axis=1) / delay.speed
        if delay.jitter > 0:
            d = d + delay.jitter * u[:, -1]
        return d
