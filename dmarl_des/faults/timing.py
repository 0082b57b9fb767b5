"""When faults strike and how long crashed agents stay down, drawn from the fault stream."""

from __future__ import annotations

import numpy as np

from dmarl_des.scenario.faults import RecoverSpec, TimingSpec


def strike_times(timing: TimingSpec, count: int, rng: np.random.Generator) -> np.ndarray:
    """The strike time of each of ``count`` targeted agents.

    ``begin``: 0 for all; ``at``: ``timing.at`` for all; ``poisson``: independent exponential
    times of rate ``timing.rate`` (mean ``1 / rate``), one per agent, drawn in target order.
    """
    if timing.start == "poisson":
        return rng.exponential(1.0 / timing.rate, size=count)
    t = 0.0 if timing.start == "begin" else float(timing.at)
    return np.full(count, t, dtype=np.float64)


def downtime(recover: RecoverSpec, rng: np.random.Generator) -> float:
    """One downtime: ``mean`` (constant) or an exponential draw with mean ``mean``."""
    if recover.downtime == "constant":
        return float(recover.mean)
    return float(rng.exponential(recover.mean))
