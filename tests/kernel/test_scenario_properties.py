"""Generated overrides of every built-in scenario: each set builds or is a ConfigError naming a field,
and a scenario that builds, shrunk to a few agents and a short horizon, runs to a finite end."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import simpy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dmarl_des.errors import ConfigError
from dmarl_des.scenario import Scenario, budget, load_scenario
from dmarl_des.study.run import run_scenario

SCENARIO_FILES = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.py"))

RUN_STEPS = 2_000
"""Shrunk runs: at most this many periods of any periodic process per episode."""

RUN_EVENTS = 300_000
"""Shrunk runs: a run past this many SimPy events does not have a bounded number of events."""

WORDS = (
    *("", " ", "x", "none", "inf", "-inf", "nan", "null", "true", "auto", "1e400", "../x"),
    *("world", "complete", "ring", "grid", "small_world", "scale_free", "random_geometric"),
    *("proximity", "bernoulli", "gilbert_elliott", "constant", "exponential", "lognormal"),
    *("distance", "begin", "at", "poisson", "random", "scripted", "learner", "adversarial"),
    *("noise", "sign_flip", "bias", "stale", "garbage", "equivocate", "uniform", "normal"),
    *("metropolis", "mean", "median", "trimmed_mean", "wmsr", "krum", "clipped_gossip"),
    *("weights", "cluster", "fraction", "area", "cells", "shared", "per_agent"),
)
EXTREMES = (
    *(0, 1, -1, 2, 3, 7, 2**31 - 1, 2**31, 2**53, 2**63, 10**30, -(10**20)),
    *(0.0, -0.0, 0.5, 1.0, 1e-300, 5e-324, 1e-9, 1e-6, 1e6, 1e12, 1e13, 1e300, 1.79e308),
    *(math.nan, math.inf, -math.inf),
)


@functools.cache
def base_scenario(path: Path) -> Scenario:
    return load_scenario(path)


@functools.cache
def leaves(path: Path) -> tuple[tuple[str, Any], ...]:
    """Every dotted key of the scenario's canonical form with its value (lists are leaves)."""
    out: list[tuple[str, Any]] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out.append((f"{prefix}{key}", value))

    walk(base_scenario(path).canonical(), "")
    return tuple(out)


def known_keys(path: Path) -> set[str]:
    keys = {key for key, _ in leaves(path)}
    return keys | {key.rsplit(".", i)[0] for key in keys for i in (1, 2) if "." in key}


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(EXTREMES),
        st.integers(min_value=-5, max_value=500),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.sampled_from(WORDS),
        st.text(max_size=6),
        st.none(),
    )


def values() -> st.SearchStrategy[Any]:
    """Wrong types, NaN/inf, huge and tiny numbers, bools, empty strings, lists and mappings."""
    return st.one_of(
        scalars(),
        st.lists(scalars(), max_size=3).map(tuple),
        st.lists(st.tuples(st.integers(-1, 60), st.integers(-1, 60)), max_size=2).map(tuple),
        st.dictionaries(st.sampled_from(("p", "k", "model", "dim", "x")), scalars(), max_size=2),
    )


def scaled(value: int | float, exponent: int) -> int | float:
    """``value`` times ten to the ``exponent`` (an int stays an int; a float may become inf)."""
    if isinstance(value, int) and exponent >= 0:
        return (value or 1) * 10**exponent
    return (value or 1.0) * float(f"1e{exponent}")


def near(value: Any, decades: int = 320) -> st.SearchStrategy[Any]:
    """Plausible but extreme values of a key: its value scaled by powers of ten, negated, ..."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        powers = st.integers(-decades, decades).map(lambda e: scaled(value, e))
        return st.one_of(powers, st.sampled_from(EXTREMES), st.just(-value))
    if isinstance(value, str):
        return st.sampled_from(WORDS)
    return values()


@st.composite
def override_sets(draw: st.DrawFn, path: Path, plausible: bool) -> dict[str, Any]:
    """1–4 overrides of keys of the scenario (some misspelt, some given as nested mappings)."""
    pairs = leaves(path)
    out: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 4))):
        key, current = draw(st.sampled_from(pairs))
        value = draw(near(current, 3) if plausible else st.one_of(near(current), values()))
        form = draw(st.sampled_from(("dotted", "dotted", "nested", "typo")))
        if form == "typo" and not plausible:
            cut = draw(st.integers(0, len(key) - 1))
            key = draw(st.sampled_from((key + "s", key[:cut] + key[cut + 1 :], key.upper())))
        if form == "nested" and "." in key:
            head, tail = key.split(".", 1)
            nested: dict[str, Any] = out.get(head) if isinstance(out.get(head), dict) else {}
            nested[tail] = value
            out[head] = nested
        else:
            out[key] = value
    return out


def flat(overrides: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in overrides.items():
        keys.append(prefix + str(key))
        if isinstance(value, dict):
            keys += flat(value, f"{prefix}{key}.")
    return keys


def assert_names_a_field(error: ConfigError, overrides: dict[str, Any], path: Path) -> None:
    """The error names a key it was given, or a key of the scenario (a cross-field check)."""
    text = str(error)
    field = error.field.removeprefix("unknown key ").strip("'")
    for key in flat(overrides):
        if key and (key in text or key.rsplit(".", 1)[-1] in text or key.startswith(field + ".")):
            return
    last_parts = {k.rsplit(".", 1)[-1] for k in known_keys(path)}
    assert field in known_keys(path) or field.rsplit(".", 1)[-1] in last_parts, text


@contextmanager
def event_budget(limit: int) -> Iterator[list[int]]:
    """Count SimPy events of every environment; fail past ``limit``."""
    count = [0]
    step = simpy.Environment.step

    def counted(env: simpy.Environment) -> None:
        count[0] += 1
        if count[0] > limit:
            raise AssertionError(f"more than {limit} events: the run does not end")
        step(env)

    simpy.Environment.step = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        simpy.Environment.step = step  # type: ignore[method-assign]


def assert_finite_tables(frames: dict[str, pl.DataFrame]) -> None:
    """Every float of every table is finite (a latency or delivery time is NaN only where
    nothing was delivered)."""
    for name, frame in frames.items():
        delivered = next((c for c in ("msgs_delivered", "delivered") if c in frame.columns), None)
        for column, dtype in frame.schema.items():
            if not dtype.is_float():
                continue
            values = frame[column]
            if delivered is not None and ("latency" in column or column == "t_delivered"):
                got = frame[delivered]
                values = values.filter(got if got.dtype == pl.Boolean else got > 0)
            values = values.drop_nulls()
            assert values.is_finite().all(), f"{name}.{column} has NaN or inf: {values}"


def shrunk(scenario: Scenario) -> Scenario:
    """A few agents, a short horizon, one episode (raises ConfigError when that cannot fit)."""
    n = scenario.n_agents if scenario.world.name == "box_pushing" else min(scenario.n_agents, 6)
    return scenario.with_overrides(
        {
            "n_agents": n,
            "horizon": min(scenario.horizon, 10.0),
            "episodes": 1,
            "eval_episodes": min(scenario.eval_episodes, 1),
        }
    )


BUILD = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
RUN = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@BUILD
@given(data=st.data())
def test_overrides_build_or_name_a_field(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(SCENARIO_FILES))
    overrides = data.draw(override_sets(path, plausible=False))
    try:
        base_scenario(path).with_overrides(overrides)
    except ConfigError as error:
        assert_names_a_field(error, overrides, path)


@RUN
@given(data=st.data())
def test_what_builds_runs_to_a_finite_end(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(SCENARIO_FILES))
    overrides = data.draw(override_sets(path, plausible=True))
    try:
        scenario = base_scenario(path).with_overrides(overrides)
    except ConfigError as error:
        assert_names_a_field(error, overrides, path)
        assume(False)
    # shrink under a tighter step bound, so that every run of the sample is short
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(budget, "MAX_STEPS", RUN_STEPS)
        patch.setattr(budget, "machine_memory", lambda: 2**30)
        try:
            small = shrunk(scenario)
        except ConfigError:
            assume(False)
    with event_budget(RUN_EVENTS):
        try:
            result = run_scenario(small, catch=False)
        except ConfigError as error:  # found as the world starts (e.g. faults on no messages)
            assert_names_a_field(error, overrides, path)
            assume(False)
    assert result.status == "ok", result.error
    assert result.frames["episodes"].height == 1 + small.eval_episodes
    assert_finite_tables(result.frames)
