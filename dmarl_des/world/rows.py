"""The built-in tables a run keeps, and the rows an episode leaves in `episodes`, `agents`, `network`, `messages`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from dmarl_des.agent import SimAgent
from dmarl_des.comm import LEARNING_TRAFFIC
from dmarl_des.kernel import DecisionBatcher
from dmarl_des.log import TABLES, Recorder
from dmarl_des.net import Network
from dmarl_des.scenario import Scenario
from dmarl_des.world.rewards import Rewards
from dmarl_des.world.slots import Slots

MESSAGE_COLUMNS = ("t_sent", "kind", "bytes", "attempts", "delivered", "t_delivered", "drop_cause")


def agent_stats(agent: SimAgent, slots: Slots) -> tuple[float, int, float, int]:
    """(return, decisions, busy time, finished macro-actions) of an agent this episode."""
    if agent.final_stats is not None:
        return agent.final_stats
    return slots.stats(agent.idx)


NETWORK_TABLES = ("network", "network_kinds")


def declare_network_tables(recorder: Recorder) -> None:
    """Declare the tables of a run with a network (a world's messages or learning traffic)."""
    for name in NETWORK_TABLES:
        recorder.declare(name, TABLES[name])


def network_row(
    recorder: Recorder,
    net: Network,
    episode: int,
    agent_ids: np.ndarray,
    world_kinds: Collection[str],
) -> dict[str, Any]:
    """Drop the messages still in flight, add the `network` row, one `network_kinds` row per
    kind (``traffic``: ``world`` for ``world_kinds``, else ``learning``) and the `messages` rows
    when ``record.messages``; returns the network's statistics, with the learning traffic's sums
    under ``learn_*`` keys."""
    net.drop_pending()
    stats = net.stats()
    row = {k: stats[k] for k in recorder.columns("network") if k in stats}
    row["episode"] = episode
    recorder.add("network", **row)
    learn = dict.fromkeys(("sent", "delivered", "bytes_sent", "bytes_delivered"), 0)
    for kind_row in net.stats_by_kind():
        traffic = "world" if kind_row["kind"] in world_kinds else LEARNING_TRAFFIC
        recorder.add("network_kinds", episode=episode, traffic=traffic, **kind_row)
        if traffic == LEARNING_TRAFFIC:
            for key in learn:
                learn[key] += int(kind_row[key])
    stats = {**stats, **{f"learn_{k}": v for k, v in learn.items()}}
    if recorder.has("messages"):
        trace = net.trace_columns()
        n = len(trace.get("src", []))
        cols = {k: trace[k] for k in MESSAGE_COLUMNS}
        cols["src"] = agent_ids[np.asarray(trace["src"], dtype=np.int64)] if n else []
        cols["dst"] = agent_ids[np.asarray(trace["dst"], dtype=np.int64)] if n else []
        cols["episode"] = [episode] * n
        recorder.extend("messages", cols)
    return stats


def episode_row(
    *,
    episode: int,
    phase: str,
    now: float,
    rewards: Rewards,
    gamma: float,
    success: bool,
    batcher: DecisionBatcher,
    agents: list[SimAgent],
    episode_agents: list[SimAgent],
    net: dict[str, Any] | None,
    wall: float,
    rounds: int = 0,
) -> dict[str, Any]:
    """The `episodes` row (``rounds``: the learning rounds of the episode)."""
    sizes = batcher.batch_sizes
    net_or_none = net or {}
    return {
        "episode": episode,
        "phase": phase,
        "sim_time": now,
        "team_return": rewards.total(),
        "discounted_return": rewards.discounted_total(gamma),
        "success": bool(success),
        "n_decisions": batcher.n_decisions,
        "mean_batch": float(np.mean(sizes)) if sizes else 0.0,
        "n_alive_end": int(sum(a.alive for a in agents)),
        "n_crashed": sum(a.role == "crashed" for a in episode_agents),
        "n_byzantine": sum(a.role == "byzantine" for a in episode_agents),
        "msgs_sent": net.get("sent", 0) if net else 0,
        "msgs_delivered": net.get("delivered", 0) if net else 0,
        "msgs_dropped": (net["sent"] - net["delivered"] - net.get("in_flight", 0)) if net else 0,
        "mean_latency": net.get("latency_mean") if net else None,
        "wall_s": wall,
        "learn_rounds": rounds,
        "learn_msgs_sent": net_or_none.get("learn_sent", 0),
        "learn_msgs_delivered": net_or_none.get("learn_delivered", 0),
        "learn_bytes_sent": net_or_none.get("learn_bytes_sent", 0),
        "learn_bytes_delivered": net_or_none.get("learn_bytes_delivered", 0),
    }


def agent_rows(recorder: Recorder, episode: int, agents: list[SimAgent], slots: Slots) -> None:
    """One `agents` row per agent of the episode (leavers and joiners included)."""
    stats = [agent_stats(a, slots) for a in agents]
    recorder.extend(
        "agents",
        {
            "episode": [episode] * len(agents),
            "agent_id": [a.agent_id for a in agents],
            "role": [a.role for a in agents],
            "return": [st[0] for st in stats],
            "n_decisions": [st[1] for st in stats],
            "mean_macro_duration": [st[2] / st[3] if st[3] else None for st in stats],
            "downtime": [a.downtime for a in agents],
        },
    )


def kept_tables(scenario: Scenario, messages: bool) -> list[str]:
    """The built-in tables a run of ``scenario`` keeps."""
    tables = ["runs", "episodes", "agents", "train"]
    if messages:
        tables.extend(NETWORK_TABLES)
    if scenario.record.transitions:
        tables.append("transitions")
    if scenario.record.messages:
        tables.append("messages")
    if faults_configured(scenario):
        tables.append("faults")
    return tables


def faults_configured(scenario: Scenario) -> bool:
    """True when the scenario's `faults` section asks for anything."""
    return scenario.faults != type(scenario.faults)()
