"""Rules by name: a factory that builds a checked rule, and the one-call aggregation entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from dmarl_des.errors import ConfigError
from dmarl_des.robust.clipped_gossip import ClippedGossip
from dmarl_des.robust.clipped_mean import ClippedMean
from dmarl_des.robust.coordinatewise import Median, TrimmedMean
from dmarl_des.robust.krum import Krum
from dmarl_des.robust.mean import Mean
from dmarl_des.robust.neighbourhood import Array
from dmarl_des.robust.rule import AggregationRule
from dmarl_des.robust.wmsr import WMSR

RULES: Mapping[str, type[AggregationRule]] = MappingProxyType(
    {
        rule.name: rule
        for rule in (Mean, Median, TrimmedMean, WMSR, Krum, ClippedGossip, ClippedMean)
    }
)
"""Every aggregation rule by its name."""


def make_aggregator(name: str, **params: Any) -> AggregationRule:
    """Build the rule called ``name`` with its parameters, e.g. ``make_aggregator("wmsr", f=1)``."""
    if name not in RULES:
        raise ConfigError("rule", name, f"one of {', '.join(RULES)}")
    rule = RULES[name]
    fields = [field for field in dataclasses.fields(rule) if field.init]  # type: ignore[arg-type]
    allowed = {field.name for field in fields}
    listing = ", ".join(sorted(allowed)) or "none"
    for key, value in params.items():
        if key not in allowed:
            raise ConfigError(f"{name}.{key}", value, f"parameters of {name}: {listing}")
    for field in fields:
        no_default = field.default is dataclasses.MISSING
        if no_default and field.default_factory is dataclasses.MISSING and field.name not in params:
            raise ConfigError(f"{name}.{field.name}", "missing", f"parameters of {name}: {listing}")
    return rule(**params)


def counted_rule(name: str, count: int) -> AggregationRule:
    """The rule ``name`` with its count of tolerated outliers set to ``count``: ``f`` of wmsr
    and krum (Krum then keeps the own value when too few candidates arrive), ``b`` of
    trimmed_mean, ``h`` of clipped_mean; clipped_gossip takes ``tau="auto"`` and mean and
    median take nothing (``count`` is ignored). For learners that name a rule and one H."""
    params: dict[str, Any] = {
        "wmsr": {"f": count},
        "krum": {"f": count, "too_few": "keep"},
        "trimmed_mean": {"b": count},
        "clipped_mean": {"h": count},
        "clipped_gossip": {"tau": "auto"},
    }.get(name, {})
    return make_aggregator(name, **params)


def aggregate(
    rule: str | AggregationRule,
    x: Array,
    indptr: Any,
    indices: Any,
    *,
    received: Array | None = None,
    valid: Any = None,
    **params: Any,
) -> Array:
    """Aggregate one round for all agents with ``rule`` (a name plus ``params``, or a built rule).

    See :class:`AggregationRule` for the meaning of the arrays.
    """
    if isinstance(rule, AggregationRule):
        if params:
            raise ConfigError(
                "params", sorted(params), f"none when passing the built rule {rule!r}"
            )
        built = rule
    elif isinstance(rule, str):
        built = make_aggregator(rule, **params)
    else:
        raise ConfigError("rule", rule, f"a rule name ({', '.join(RULES)}) or an AggregationRule")
    return built(x, indptr, indices, received=received, valid=valid)
