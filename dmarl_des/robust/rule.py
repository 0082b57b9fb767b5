"""The aggregation-rule contract: a named rule combining each agent's candidates, block by block."""

from __future__ import annotations

import abc
import numbers
from typing import Any, ClassVar

import torch

from dmarl_des.errors import ConfigError
from dmarl_des.robust.neighbourhood import Array, NeighbourBlock, Neighbourhoods


class AggregationRule(abc.ABC):
    """A rule by which every agent combines its own value with the values it received.

    Calling a rule aggregates one synchronous round for all agents at once::

        new_x = rule(x, indptr, indices, received=None, valid=None)

    ``x`` is ``[N, d]`` (or ``[N]``), numpy or torch; the result has the same kind, dtype and
    device. Agent ``i``'s neighbours are ``indices[indptr[i]:indptr[i + 1]]``. ``received[k]``
    (default ``x[indices[k]]``) is the value agent ``i`` received from ``indices[k]``, which lets
    each recipient see a different value (lossy or tampered links). ``valid[k] = False`` means
    that value did not arrive this round; it is left out, as is any received row holding a NaN or
    an infinity. An agent's candidates are its own value plus the values that arrived.

    Finite candidates give a finite result, however large they are: where the plain arithmetic
    would overflow, a rule redoes it on candidates scaled by powers of two (``robust.magnitude``).
    """

    name: ClassVar[str]

    @property
    def min_candidates(self) -> int:
        """Candidates (own value included) an agent needs for the rule's definition to apply.

        With fewer, the rule falls back to what its documentation says (krum: the own value or a
        refusal, trimmed_mean: the median); 1 for rules that never fall back.
        """
        return 1

    def __call__(
        self,
        x: Array,
        indptr: Any,
        indices: Any,
        *,
        received: Array | None = None,
        valid: Any = None,
    ) -> Array:
        hood = Neighbourhoods.check(x, indptr, indices, received=received, valid=valid)
        out = torch.empty_like(hood.x)
        for block in hood.blocks():
            out[block.agents] = self.combine(block)
        return hood.restore(out)

    @abc.abstractmethod
    def combine(self, block: NeighbourBlock) -> torch.Tensor:
        """Return the new value of every agent of ``block``, shape ``[B, d]``."""


def check_count(rule: str, field: str, value: Any) -> int:
    """Return ``value`` as an int if it is a non-negative integer, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{rule}.{field}", value, "a non-negative integer")
    return int(value)
