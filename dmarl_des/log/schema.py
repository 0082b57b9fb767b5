"""Column names and dtypes of every table (the contract with notebooks); bump the version to rename."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import polars as pl

from dmarl_des.errors import ConfigError
from dmarl_des.log.manifest import FILE_ENTRY

SCHEMA_VERSION = 3
"""3: ``train`` has one typed column per learner metric (no JSON ``metrics``); 2: ``runs.files``
(the run's file manifest) added; 1: the first tables."""

_Q = {"latency_p50": pl.Float64, "latency_p90": pl.Float64, "latency_p99": pl.Float64}

RUNS = {
    "run_id": pl.Utf8,
    "study": pl.Utf8,
    "scenario": pl.Utf8,
    "world": pl.Utf8,
    "learner": pl.Utf8,
    "policy": pl.Utf8,
    "n_agents": pl.Int64,
    "seed": pl.Int64,
    "params": pl.Utf8,
    "status": pl.Utf8,
    "error": pl.Utf8,
    "wall_s": pl.Float64,
    "started_at": pl.Datetime("us", "UTC"),
    "versions": pl.Utf8,
    "schema_version": pl.Int64,
    "files": pl.List(FILE_ENTRY),
}

EPISODES = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "phase": pl.Utf8,
    "sim_time": pl.Float64,
    "team_return": pl.Float64,
    "discounted_return": pl.Float64,
    "success": pl.Boolean,
    "n_decisions": pl.Int64,
    "mean_batch": pl.Float64,
    "n_alive_end": pl.Int64,
    "n_crashed": pl.Int64,
    "n_byzantine": pl.Int64,
    "msgs_sent": pl.Int64,
    "msgs_delivered": pl.Int64,
    "msgs_dropped": pl.Int64,
    "mean_latency": pl.Float64,
    "wall_s": pl.Float64,
    "learn_rounds": pl.Int64,
    "learn_msgs_sent": pl.Int64,
    "learn_msgs_delivered": pl.Int64,
    "learn_bytes_sent": pl.Int64,
    "learn_bytes_delivered": pl.Int64,
}
"""``msgs_*`` and ``mean_latency`` count every message of the network (world and learning traffic);
``learn_*`` the learning traffic alone (rounds, messages and bytes of exchanged vectors)."""

AGENTS = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "agent_id": pl.Int64,
    "role": pl.Utf8,
    "return": pl.Float64,
    "n_decisions": pl.Int64,
    "mean_macro_duration": pl.Float64,
    "downtime": pl.Float64,
}

_COUNTS = {
    "sent": pl.Int64,
    "delivered": pl.Int64,
    "dropped_loss": pl.Int64,
    "dropped_crash": pl.Int64,
    "dropped_overflow": pl.Int64,
    "dropped_inbox": pl.Int64,
    "dropped_cut": pl.Int64,
    "dropped_pending": pl.Int64,
    "rejected_invalid": pl.Int64,
    "omitted": pl.Int64,
    "in_flight": pl.Int64,
    "retransmissions": pl.Int64,
}
"""The message counters of the `network` table and of each kind in `network_kinds`."""

NETWORK = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    **_COUNTS,
    "latency_mean": pl.Float64,
    **_Q,
    "bytes_sent": pl.Int64,
    "bytes_delivered": pl.Int64,
}

NETWORK_KINDS = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "kind": pl.Utf8,
    "traffic": pl.Utf8,
    **_COUNTS,
    "bytes_sent": pl.Int64,
    "bytes_delivered": pl.Int64,
    "latency_mean": pl.Float64,
}
"""The `network` counters split by message kind, one row per kind × episode; ``traffic`` is
``world`` (the world's own kinds) or ``learning`` (vectors a learner exchanges)."""

ROUNDS = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "round": pl.Int64,
    "time": pl.Float64,
    "exchange": pl.Utf8,
    "senders": pl.Int64,
    "sent": pl.Int64,
    "agents": pl.Int64,
    "used": pl.Int64,
    "fresh": pl.Int64,
    "stale": pl.Int64,
    "missing": pl.Int64,
    "superseded": pl.Int64,
    "unlinked": pl.Int64,
    "mean_age": pl.Float64,
}
"""One row per learning round × exchange (see ``dmarl_des.comm.rounds``); the learner's round
metrics (``round_metrics``) are added as Float64 columns."""

COMM = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "kind": pl.Utf8,
    "offered": pl.Int64,
    "transmissions": pl.Int64,
    "held_rule": pl.Int64,
    "held_budget": pl.Int64,
    "requests": pl.Int64,
    "bytes_on_air": pl.Int64,
    "used": pl.Int64,
    "stale": pl.Int64,
    "missing": pl.Int64,
    "silent": pl.Int64,
    "mean_age": pl.Float64,
}
"""One row per episode of a policy that sends learned messages (see ``dmarl_des.comm.speech``):
messages offered, transmitted and held back (by the sending rule, by the byte budget), vbc
requests, bytes put on the air (once per transmission), and what the deciding agents heard."""

FAULTS = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "time": pl.Float64,
    "kind": pl.Utf8,
    "agent_id": pl.Int64,
    "detail": pl.Utf8,
}

TRAIN_METRICS = (
    "loss",
    "grad_norm",
    "q_loss",
    "q_mean",
    "epsilon",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
)
"""The built-in learners' update metrics, one Float64 column each (null where a learner has none);
a learner declares others in ``train_metrics``."""

TRAIN = {
    "run_id": pl.Utf8,
    "update": pl.Int64,
    "episode": pl.Int64,
    "sim_time": pl.Float64,
    "samples": pl.Int64,
    **dict.fromkeys(TRAIN_METRICS, pl.Float64),
    "wall_s": pl.Float64,
}

CHECKPOINTS = {
    "run_id": pl.Utf8,
    "path": pl.Utf8,
    "digest": pl.Utf8,
}
"""One row per checkpoint a study's training run saved: its folder (relative to the study folder)
and the SHA-256 of its content (``checkpoint_digest``), checked when the study resumes."""

TRANSITIONS = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "agent_id": pl.Int64,
    "t_start": pl.Float64,
    "t_end": pl.Float64,
    "tau": pl.Float64,
    "action": pl.Int64,
    "reward": pl.Float64,
    "done": pl.Boolean,
    "terminal": pl.Boolean,
    "obs": pl.List(pl.Float32),
    "obs_next": pl.List(pl.Float32),
}

MESSAGES = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "t_sent": pl.Float64,
    "src": pl.Int64,
    "dst": pl.Int64,
    "kind": pl.Utf8,
    "bytes": pl.Int64,
    "attempts": pl.Int64,
    "delivered": pl.Boolean,
    "t_delivered": pl.Float64,
    "drop_cause": pl.Utf8,
}

TRACE = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "time": pl.Float64,
    "agent_id": pl.Int64,
    "role": pl.Utf8,
    "x": pl.Float64,
    "y": pl.Float64,
    "action": pl.Int64,
}
"""Optional (``record.trace_every``): one row per agent slot every Δt; worlds append columns."""

TRACE_MAP = {
    "run_id": pl.Utf8,
    "episode": pl.Int64,
    "time": pl.Float64,
    "x0": pl.Float64,
    "y0": pl.Float64,
    "x1": pl.Float64,
    "y1": pl.Float64,
    "height": pl.Int64,
    "width": pl.Int64,
    "label": pl.Utf8,
    "values": pl.Binary,
}
"""Optional, with `trace` for worlds with a map: the map every Δt (``values``: uint8 [height,
width] row-major, row 0 at ``y0``, over the rectangle (x0, y0)–(x1, y1))."""

TABLES: MappingProxyType[str, dict[str, pl.DataType]] = MappingProxyType(
    {
        "runs": RUNS,
        "episodes": EPISODES,
        "agents": AGENTS,
        "network": NETWORK,
        "network_kinds": NETWORK_KINDS,
        "rounds": ROUNDS,
        "comm": COMM,
        "faults": FAULTS,
        "train": TRAIN,
        "checkpoints": CHECKPOINTS,
        "transitions": TRANSITIONS,
        "messages": MESSAGES,
        "trace": TRACE,
        "trace_map": TRACE_MAP,
    }
)
"""The built-in tables. Worlds declare their own (e.g. `consensus`) on the recorder."""


def train_row(metrics: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The ``train`` columns of one update's metrics: ``samples`` as an integer, every other
    metric as a float; a metric without a column of the table is a ConfigError naming it."""
    unknown = sorted(k for k in metrics if k not in columns)
    if unknown:
        raise ConfigError(
            "train metric",
            unknown,
            f"columns of the train table ({', '.join(columns)}); a learner declares its own "
            "metrics in train_metrics",
        )
    row: dict[str, Any] = {}
    for key, value in metrics.items():
        if key == "samples":
            row[key] = int(value or 0)
        else:
            row[key] = None if value is None else float(value)
    return row
