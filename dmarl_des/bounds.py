"""Value bounds of configuration fields: finite reals, counts a machine holds, episodes of bounded length.

Every configuration model (scenario sections, world parameters, learner configs) declares its
fields with these types, so that a value that validates can run:

* ``Real``: a finite number with ``|x| <= MAX_MAGNITUDE`` (sums over the longest episode stay
  finite); ``RealOrInf``: the same or ``inf`` where the field documents what ``inf`` means;
  ``Finite``: any finite number (a Byzantine lie may be as large as a float allows).
* ``Count``: an ``int`` in ``[0, MAX_COUNT]`` (an index every array of the machine can hold).
* ``Period`` / ``Rate``: a time span (or a rate) that sets how many events an episode has; the
  scenario checks each one against its horizon (``steps_per_episode``): at most ``MAX_STEPS``
  periods (or expected events) per episode.

The bounds are validators, not ``ge``/``le`` constraints, so a field adds its own range with
``Field(gt=..., le=...)`` without the two overriding each other (pydantic keeps only the last
constraint of a kind).

Bools are never numbers: ``reject_bool_numbers`` (used by every configuration base class as a
wrap validator of all its fields) refuses ``True``/``False`` wherever a field turned it into 1/0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, ValidatorFunctionWrapHandler

MAX_MAGNITUDE = 1e12
"""Largest magnitude of a real-valued field (rewards, lengths, times, rates, learning rates)."""

MAX_COUNT = 2**31 - 1
"""Largest count (agents, neighbours, buffer entries, ...); larger ones are refused."""

MAX_STEPS = 10**7
"""Most periods of a periodic process (or expected events of a Poisson process) in one episode."""

MAX_EPISODES = 10**6
"""Most episodes of one run (training and evaluation counted separately)."""


@dataclass(frozen=True, slots=True)
class StepBound:
    """Marks a field that sets how many events an episode has: ``period`` (about horizon / value
    events; 0 = off) or ``rate`` (about horizon · value events)."""

    kind: Literal["period", "rate"]


def _real(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"a finite number with |x| <= {MAX_MAGNITUDE:g}")
    return value


def _real_or_inf(value: float) -> float:
    if value != math.inf:
        try:
            _real(value)
        except ValueError:
            raise ValueError(f"a finite number with |x| <= {MAX_MAGNITUDE:g}, or inf") from None
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("a finite number")
    return value


def _count(value: int) -> int:
    if not 0 <= value <= MAX_COUNT:
        raise ValueError(f"an integer in [0, {MAX_COUNT}]")
    return value


Real = Annotated[float, AfterValidator(_real)]
"""A finite number with ``|x| <= MAX_MAGNITUDE``."""

RealOrInf = Annotated[float, AfterValidator(_real_or_inf)]
"""A ``Real`` or ``inf``, for fields that document what ``inf`` means (no limit, forever)."""

Finite = Annotated[float, AfterValidator(_finite)]
"""Any finite number."""

Period = Annotated[float, AfterValidator(_real), StepBound("period")]
"""A ``Real`` time span that repeats within an episode (0 may mean off): at most ``MAX_STEPS`` of
them per horizon. The field states its sign with ``Field(gt=0)`` or ``Field(ge=0)``."""

Rate = Annotated[float, AfterValidator(_real), StepBound("rate")]
"""A ``Real`` number of events per time unit: at most ``MAX_STEPS`` expected events per horizon."""

Count = Annotated[int, AfterValidator(_count)]
"""An integer in ``[0, MAX_COUNT]`` (add ``Field(ge=1)`` or a tighter ``le`` per field)."""


def steps_per_episode(bound: StepBound, value: float, horizon: float) -> float:
    """How many periods (or expected events) ``value`` makes in an episode of ``horizon``."""
    if value <= 0:
        return 0.0
    return horizon / value if bound.kind == "period" else horizon * value


def _bool_became_number(given: Any, kept: Any) -> bool:
    """True when a bool in ``given`` was validated into a non-bool (a number) in ``kept``."""
    if isinstance(given, bool | np.bool_):
        return not isinstance(kept, bool)
    if isinstance(given, list | tuple) and isinstance(kept, list | tuple):
        return len(given) == len(kept) and any(map(_bool_became_number, given, kept))
    if isinstance(given, dict) and isinstance(kept, dict):
        return any(k in kept and _bool_became_number(v, kept[k]) for k, v in given.items())
    return False


def reject_bool_numbers(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate ``value`` with ``handler``; refuse it when a bool became a number on the way.

    Pydantic's lax mode reads ``True`` as 1 for an ``int`` or ``float`` field; a configuration
    never means that, so every configuration base class wraps all its fields with this check.
    """
    kept = handler(value)
    if _bool_became_number(value, kept):
        raise ValueError("a number, not a bool")
    return kept
