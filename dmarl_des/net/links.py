"""Link models: what happens to a message on a directed link (loss, delay, bandwidth, ARQ)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dmarl_des.errors import ConfigError

__all__ = ["Arq", "Bandwidth", "DelayModel", "LinkModel", "LossModel"]

LOSS_MODELS = ("none", "bernoulli", "gilbert_elliott")
DELAY_MODELS = ("constant", "exponential", "lognormal", "distance")


def _number(
    field_name: str,
    value: object,
    *,
    low: float,
    low_open: bool = False,
    high: float = math.inf,
    finite: bool = True,
) -> float:
    """Check a real number in [low, high] (or (low, high] when ``low_open``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and v <= high and (math.isfinite(v) or not finite)
    if not ok:
        lo = "(" if low_open else "["
        hi = "]" if math.isfinite(high) else ")"
        kind = "a finite number" if finite else "a number"
        raise ConfigError(field_name, value, f"{kind} in {lo}{low}, {high}{hi}")
    return float(value)  # type: ignore[arg-type]


def _choice(field_name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(field_name, value, " | ".join(allowed))


@dataclass(frozen=True)
class LossModel:
    """Whether a transmission attempt gets through.

    ``bernoulli``: each attempt is lost independently with probability ``p``.
    ``gilbert_elliott``: each directed link carries a two-state Markov chain (Good/Bad). An attempt
    is delivered with probability ``k`` in Good and ``h`` in Bad; after each attempt on the link the
    chain steps once: Good->Bad with probability ``p``, Bad->Good with probability ``r``. The chain
    of a new link starts in its stationary law (Bad with probability p / (p + r)).
    ``symmetric``: attempts on (i, j) and (j, i) of the same round share one loss draw (and, for
    Gilbert-Elliott, one chain per unordered pair that steps once per round in which the pair
    carries traffic). A message's round is ``floor(t_sent / period + 1e-9)`` when
    ``period > 0``, and its exact send instant when ``period == 0``. Attempt ``a`` of a round
    shares the draw of attempt ``a`` in the opposite direction.
    """

    model: str = "none"
    p: float = 0.0
    r: float = 1.0
    k: float = 1.0
    h: float = 0.0
    symmetric: bool = False
    period: float = 0.0

    def __post_init__(self) -> None:
        _choice("loss.model", self.model, LOSS_MODELS)
        for name in ("p", "r", "k", "h"):
            _number(f"loss.{name}", getattr(self, name), low=0.0, high=1.0)
        if not isinstance(self.symmetric, bool):
            raise ConfigError("loss.symmetric", self.symmetric, "true | false")
        _number("loss.period", self.period, low=0.0)

    @property
    def stationary_bad(self) -> float:
        """Stationary probability of the Bad state, p / (p + r) (0 when both are 0)."""
        total = self.p + self.r
        return self.p / total if total > 0 else 0.0

    @property
    def stationary_loss(self) -> float:
        """Long-run fraction of attempts lost."""
        if self.model == "none":
            return 0.0
        if self.model == "bernoulli":
            return self.p
        bad = self.stationary_bad
        return (1.0 - bad) * (1.0 - self.k) + bad * (1.0 - self.h)


@dataclass(frozen=True)
class DelayModel:
    """Propagation delay of the successful attempt, drawn once per message.

    ``constant``: ``mean``. ``exponential``: exponential with mean ``mean``. ``lognormal``:
    lognormal with mean ``mean`` and log-standard-deviation ``sigma``
    (mu = ln(mean) - sigma**2 / 2).
    ``distance``: Euclidean distance between sender and receiver at send time divided by ``speed``.
    Every model then adds a uniform jitter in [0, ``jitter``].
    """

    model: str = "constant"
    mean: float = 0.0
    sigma: float = 0.5
    speed: float = 1.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        _choice("delay.model", self.model, DELAY_MODELS)
        positive = self.model in ("exponential", "lognormal")
        _number("delay.mean", self.mean, low=0.0, low_open=positive)
        _number("delay.sigma", self.sigma, low=0.0)
        _number("delay.speed", self.speed, low=0.0, low_open=True)
        _number("delay.jitter", self.jitter, low=0.0)


@dataclass(frozen=True)
class Bandwidth:
    """A FIFO per directed link: serialization takes bytes / ``capacity`` time units.

    A message starts transmitting when the link is free. At most ``queue_limit`` messages wait
    behind the one being transmitted; a message arriving to a full queue is dropped (overflow).
    """

    capacity: float = math.inf
    queue_limit: float = math.inf

    def __post_init__(self) -> None:
        _number("bandwidth.capacity", self.capacity, low=0.0, low_open=True, finite=False)
        q = self.queue_limit
        if not (
            (isinstance(q, int) and not isinstance(q, bool) and q >= 0)
            or (isinstance(q, float) and (q == math.inf or (q.is_integer() and q >= 0)))
        ):
            raise ConfigError("bandwidth.queue_limit", q, "an integer >= 0 or inf")

    @property
    def finite_queue(self) -> int | None:
        """The queue limit as an int, or None when unlimited."""
        return None if self.queue_limit == math.inf else int(self.queue_limit)


@dataclass(frozen=True)
class Arq:
    """Stop-and-wait retransmission: up to ``max_tries`` attempts, the next one ``timeout`` later.

    The message is delivered at its first successful attempt; the link stays busy with it until its
    last attempt has been serialized, so later messages on that link wait behind retransmissions.
    """

    max_tries: int = 1
    timeout: float = 1.0

    def __post_init__(self) -> None:
        m = self.max_tries
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ConfigError("arq.max_tries", m, "an integer >= 1")
        _number("arq.timeout", self.timeout, low=0.0, low_open=True)


@dataclass(frozen=True)
class LinkModel:
    """Everything that shapes delivery on one directed link."""

    loss: LossModel = field(default_factory=LossModel)
    delay: DelayModel = field(default_factory=DelayModel)
    bandwidth: Bandwidth = field(default_factory=Bandwidth)
    arq: Arq = field(default_factory=Arq)

    def __post_init__(self) -> None:
        for name, cls in (
            ("loss", LossModel),
            ("delay", DelayModel),
            ("bandwidth", Bandwidth),
            ("arq", Arq),
        ):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"link.{name}", getattr(self, name), f"a {cls.__name__}")
