"""Link faults: links cut for the whole episode and timed partitions, as the network's link filter."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def partition_groups(n: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """A group label in [0, groups) per agent: a uniformly random balanced split.

    Group sizes differ by at most one (the first ``n % groups`` groups get the extra agent).
    """
    labels = np.arange(n, dtype=np.int64) % groups
    return labels[rng.permutation(n)]


class LinkFaults:
    """``fn(src, dsts) -> allowed``: False on a cut link or across groups of an active partition.

    A link ``(i, j)`` of ``cut`` is cut in both directions for the whole episode. A partition with
    labels ``groups`` is active for messages sent at ``start <= now < end``; it cuts every link
    whose ends carry different labels. The network counts messages on cut links as
    ``dropped_cut``. Slots, not agents: a newcomer in a slot inherits its links' faults.
    """

    def __init__(
        self,
        n: int,
        now: Callable[[], float],
        cut: Sequence[tuple[int, int]] = (),
        groups: np.ndarray | None = None,
        window: tuple[float, float] = (0.0, math.inf),
    ) -> None:
        self.n = n
        self.now = now
        pairs = np.asarray(list(cut), dtype=np.int64).reshape(-1, 2)
        keys = np.concatenate([pairs[:, 0] * n + pairs[:, 1], pairs[:, 1] * n + pairs[:, 0]])
        self.cut_keys = np.unique(keys)
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.start, self.end = float(window[0]), float(window[1])

    def partitioned(self, t: float) -> bool:
        """Whether the partition is active at time ``t``."""
        return self.groups is not None and self.start <= t < self.end

    def __call__(self, src: int, dsts: np.ndarray) -> np.ndarray:
        allowed = np.ones(dsts.size, dtype=bool)
        if self.cut_keys.size:
            allowed &= ~np.isin(src * self.n + dsts, self.cut_keys)
        if self.groups is not None and self.partitioned(self.now()):
            allowed &= self.groups[dsts] == self.groups[src]
        return allowed
