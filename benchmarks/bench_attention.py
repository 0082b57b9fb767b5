"""Graph attention at 1,000 agents with ~8 neighbours: plain torch scatter vs torch_geometric vs padded.

The same multi-head attention of ``dmarl_des.learn.attention`` (a softmax over each receiver's
messages, then a weighted sum), computed three ways on the same inputs:

* ``scatter`` — ``scatter_reduce`` (segment max) and ``index_add`` over the message rows
  (``dmarl_des.learn.attention.attend``: what the library uses);
* ``torch_geometric`` — ``torch_geometric.utils.softmax`` and ``scatter`` (the PyG primitives
  its attention layers are built from); skipped when the package is not installed;
* ``padded`` — messages padded to the largest neighbourhood, a masked dense softmax.

Rows: a forward pass without gradient (one decision batch: every agent decides at a tick) and a
forward plus backward pass (a training minibatch), median of ``--repeat`` timed calls after a
warm-up; the ratio is to ``scatter``. Every variant's output is checked against ``scatter``.
Receivers have Poisson(8) neighbours (some none), 2 heads of 16 dimensions, 1 torch thread.

Run: ``python benchmarks/bench_attention.py [--agents 1000] [--degree 8] [--repeat 200]``
(``pip install torch-geometric`` beside torch for its row).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from dmarl_des.learn.attention import attend

torch.set_num_threads(1)


def geometric_variant() -> Callable | None:
    """The torch_geometric computation, or None when the package is missing."""
    try:
        from torch_geometric.utils import scatter, softmax
    except ImportError:
        return None

    def run(query, key, value, row):
        n, _heads, dim = query.shape
        scores = (query[row] * key).sum(dim=2) / dim**0.5
        alpha = softmax(scores, row, num_nodes=n)
        return scatter(alpha.unsqueeze(2) * value, row, dim=0, dim_size=n, reduce="sum")

    return run


def padded(query, key, value, row):
    """Masked dense attention over messages padded to the largest neighbourhood."""
    n, heads, dim = query.shape
    count = torch.bincount(row, minlength=n)
    width = int(count.max()) if row.numel() else 0
    start = torch.cumsum(count, 0) - count
    slot = torch.arange(row.numel()) - start[row]
    keys = key.new_zeros((n, width, heads, dim))
    values = value.new_zeros((n, width, heads, value.shape[2]))
    keys[row, slot] = key
    values[row, slot] = value
    valid = torch.arange(width).unsqueeze(0) < count.unsqueeze(1)
    scores = (query.unsqueeze(1) * keys).sum(dim=3) / dim**0.5
    scores = scores.masked_fill(~valid.unsqueeze(2), float("-inf"))
    alpha = torch.nan_to_num(torch.softmax(scores, dim=1))
    return (alpha.unsqueeze(3) * values).sum(dim=1)


def inputs(agents: int, degree: float, heads: int, dim: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.poisson(torch.full((agents,), float(degree)), generator=g).long()
    row = torch.repeat_interleave(torch.arange(agents), counts)
    m = row.numel()
    query = torch.randn(agents, heads, dim, generator=g)
    key = torch.randn(m, heads, dim, generator=g)
    value = torch.randn(m, heads, dim, generator=g)
    return query, key, value, row


def timed(fn: Callable, args, repeat: int, backward: bool) -> float:
    """Median seconds of one call (with a backward pass when asked)."""
    samples = []
    for i in range(repeat + 5):
        leaves = [a.detach().requires_grad_(backward) if a.is_floating_point() else a for a in args]
        t0 = time.perf_counter()
        if backward:
            fn(*leaves).square().sum().backward()
        else:
            with torch.no_grad():
                fn(*leaves)
        if i >= 5:
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1000])
    parser.add_argument("--degree", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    variants: dict[str, Callable | None] = {
        "scatter": attend,
        "torch_geometric": geometric_variant(),
        "padded": padded,
    }
    for n in args.agents:
        data = inputs(n, args.degree, 2, 16)
        reference = attend(*data)
        print(f"\n{n} receivers, {data[3].numel()} messages (~{args.degree:g} each), 2 heads × 16")
        print(f"{'variant':<16} {'forward µs':>11} {'ratio':>6} {'fwd+bwd µs':>11} {'ratio':>6}")
        base: dict[bool, float] = {}
        for name, fn in variants.items():
            if fn is None:
                print(f"{name:<16} {'(not installed)':>11}")
                continue
            err = float((fn(*data) - reference).abs().max())
            assert err < 1e-4, f"{name} disagrees with scatter by {err}"
            cells = []
            for backward in (False, True):
                sec = timed(fn, data, args.repeat, backward)
                base.setdefault(backward, sec)
                cells.append(f"{sec * 1e6:>11.0f} {sec / base[backward]:>6.2f}")
            print(f"{name:<16} {' '.join(cells)}")


if __name__ == "__main__":
    main()
