"""Very large candidates: the rules' arithmetic redone on copies scaled by powers of two."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from dmarl_des.robust.neighbourhood import NeighbourBlock


def safe_exponent(block: NeighbourBlock) -> int:
    """The exponent ``t`` below which candidates never overflow any rule's arithmetic.

    The largest intermediate of any rule is Krum's score, a sum of at most ``W`` squared distances
    of ``d`` coordinates: below ``W · d · (2 · 2^t)^2``, which ``t`` keeps under half the block
    dtype's largest finite number (``t ≈ 510`` for float64, whose largest is about ``2^1024``).
    """
    max_exp = math.frexp(torch.finfo(block.values.dtype).max)[1]
    _, width, dim = block.values.shape
    return (max_exp - 3 - math.ceil(math.log2(max(width * dim, 1)))) // 2


def powers_of_two(top: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, unscale)``: powers of two with ``top · scale ∈ [2^(t−1), 2^t)`` and
    ``scale · unscale = 1``, elementwise, both normal numbers of ``top``'s dtype.

    Multiplying by a power of two is exact in binary floating point (short of underflow), so
    scaled candidates keep every bit that the largest of them leaves room for.
    """
    max_exp = math.frexp(torch.finfo(top.dtype).max)[1]
    _, exponent = np.frexp(top.detach().cpu().double().numpy())
    shift = np.clip(exponent.astype(np.int64) - t, 3 - max_exp, max_exp - 3)
    device, dtype = top.device, top.dtype
    scale = torch.from_numpy(np.ldexp(1.0, -shift)).to(device=device, dtype=dtype)
    unscale = torch.from_numpy(np.ldexp(1.0, shift)).to(device=device, dtype=dtype)
    return scale, unscale


def shrunk(block: NeighbourBlock) -> tuple[torch.Tensor, NeighbourBlock, torch.Tensor] | None:
    """The agents whose largest finite candidate magnitude reaches ``2^t`` (:func:`safe_exponent`),
    as ``(rows of block, their candidates scaled just under 2^t, unscale)``; None if there are none.

    The scaled block carries its ``scale``, which a rule with a parameter in value units (clipped
    gossip's ``tau``) applies to that parameter too.
    """
    top = block.values.detach().abs().amax(dim=(1, 2))  # absent slots hold zeros
    t = safe_exponent(block)
    large = (top >= 2.0**t) & torch.isfinite(top)
    if not bool(large.any()):
        return None
    rows = torch.nonzero(large).squeeze(1)
    scale, unscale = powers_of_two(top[rows], t)
    values = block.values[rows] * scale.view(-1, 1, 1)
    return rows, NeighbourBlock(block.agents[rows], values, block.present[rows], scale), unscale


def combine_in_range(
    combine: Callable[[NeighbourBlock], torch.Tensor], block: NeighbourBlock
) -> torch.Tensor:
    """``combine(block)``, with the agents whose candidates are too large (:func:`shrunk`)
    combined on their scaled candidates, scaled back and clamped coordinate by coordinate to the
    range of their candidates (where the exact result of a convex rule lies; this removes rounding
    beyond it, including the bits that coordinates far below the largest lose in the scaled copy).
    The other agents are combined as they are (in a block of their own, so that no overflowing
    computation enters the gradient).
    """
    small = shrunk(block)
    if small is None:
        return combine(block)
    rows, scaled, unscale = small
    mask = scaled.present.unsqueeze(2)
    original = block.values[rows]
    low = original.masked_fill(~mask, torch.inf).amin(dim=1)
    high = original.masked_fill(~mask, -torch.inf).amax(dim=1)
    # clamped after scaling back: coordinates far below the largest one lose bits to underflow
    # in the scaled copy, and the range of the unscaled candidates is where the exact result lies
    got = combine(scaled) * unscale.view(-1, 1)
    out = block.values.new_empty((block.values.shape[0], block.values.shape[2]))
    out[rows] = torch.minimum(torch.maximum(got, low), high)
    rest = torch.ones(out.shape[0], dtype=torch.bool, device=out.device)
    rest[rows] = False
    if bool(rest.any()):
        keep = torch.nonzero(rest).squeeze(1)
        out[keep] = combine(
            NeighbourBlock(block.agents[keep], block.values[keep], block.present[keep])
        )
    return out


def average_where_overflowed(
    fast: torch.Tensor, values: torch.Tensor, kept: torch.Tensor
) -> torch.Tensor:
    """``fast``, an average over ``kept`` entries of ``values`` along dim 1 computed directly,
    with every entry that overflowed to ±inf or NaN recomputed without overflow.

    ``values`` is ``[B, W, d]``, ``kept`` a bool mask broadcastable to it, ``fast`` ``[B, d]``.
    The recomputation scales each agent's coordinate by the power of two that brings its largest
    kept magnitude to ``[2, 4)``, averages, clamps to the kept values' range and scales back, so
    it is finite whenever the kept values are.
    """
    bad = ~torch.isfinite(fast)
    if not bool(bad.any()):
        return fast
    rows = torch.nonzero(bad.any(dim=1)).squeeze(1)
    v = values[rows]
    k = kept[rows].expand_as(v)
    top = torch.where(k, v.detach().abs(), v.new_zeros(())).amax(dim=1)  # [R, d]
    scale, unscale = powers_of_two(top, 2)
    scaled = torch.where(k, v * scale.unsqueeze(1), v.new_zeros(()))
    mean = scaled.sum(dim=1) / k.sum(dim=1).clamp(min=1).to(v.dtype)
    low = scaled.masked_fill(~k, torch.inf).amin(dim=1)
    high = scaled.masked_fill(~k, -torch.inf).amax(dim=1)
    mean = torch.minimum(torch.maximum(mean, low), high) * unscale
    out = fast.clone()
    out[rows] = torch.where(bad[rows], mean, fast[rows])
    return out
