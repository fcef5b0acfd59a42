"""Neighbour sampling (GraphSAGE / PinSage style): L layers of propagation for a few seed nodes, not the graph.

A full-graph step computes x^(l) = A x^(l-1) for every node. A mini-batch only needs x^(L) of its seeds, so
x^(L-1) of their neighbours, and so on outward. Hop k draws, for every node within k-1 hops of the seeds, a
set S(v) of min(fanout, deg v) of its deg(v) neighbours uniformly without replacement, and estimates

    (A x)[v] ~= deg(v) / |S(v)| * sum_{u in S(v)} A[v, u] x[u]

Every neighbour lands in S(v) with probability |S(v)| / deg(v), so the estimate is unbiased, and exact when
deg(v) <= fanout. Hops draw independently, so the product of the L estimates is unbiased too (the mean of a
product of independent matrices is the product of their means). A step then costs about
seeds x prod(1 + fanout), whatever the size of the graph.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sample_neighbourhood(adjacency: Tensor, seeds: Tensor, fanouts: list[int],
                         generator: torch.Generator) -> tuple[Tensor, list[Tensor]]:
    """The sampled nodes and one estimated layer product per entry of `fanouts`.

    `adjacency` is a CSR matrix (`normalized_adjacency`), `seeds` distinct node ids on its device and
    fanouts[k] the neighbours drawn per node at hop k + 1 (fanouts[0]: the seeds' own, as PyG's
    `num_neighbors`). `generator` may live on the CPU whatever the device (its draws are moved).
    Returns `nodes` (global ids: the seeds first, then the nodes first reached at hop 1, 2, ...) and the
    products in the order a forward pass applies them: products[l], a sparse CSR matrix, maps x^(l) of the
    first products[l].shape[1] nodes to x^(l+1) of the first products[l].shape[0] (the last: the seeds).
    """
    if len(torch.unique(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct node ids")
    crow, col, value = adjacency.crow_indices(), adjacency.col_indices(), adjacency.values()
    nodes, products = seeds, []
    for fanout in fanouts:
        rows, positions, scale = _sample_entries(crow, nodes, fanout, generator)
        frontier = len(nodes)
        nodes, columns = _append_new(nodes, col[positions])
        row_starts = torch.zeros(frontier + 1, dtype=torch.long, device=seeds.device)
        row_starts[1:] = torch.bincount(rows, minlength=frontier).cumsum(0)
        products.append(torch.sparse_csr_tensor(row_starts, columns, value[positions] * scale,
                                                (frontier, len(nodes)), check_invariants=False))
    return nodes, products[::-1]


def _sample_entries(crow: Tensor, frontier: Tensor, fanout: int,
                    generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """For up to `fanout` entries of every frontier row, drawn without replacement: the row's index in
    `frontier` (ascending), the entry's position in the CSR arrays and the rescaling deg / drawn.

    Rows with more than `fanout` entries draw by Floyd's algorithm: step s takes a uniform offset t in
    0..j (j = deg - fanout + s), or j itself when t is taken; fanout steps, each vectorised over the rows,
    so the cost does not depend on the degrees."""
    start, degree = crow[frontier], crow[frontier + 1] - crow[frontier]
    drawn = degree.clamp(max=fanout)
    slots = torch.arange(fanout, device=crow.device)
    offsets = slots.expand(len(frontier), fanout).clone()
    large = (degree > fanout).nonzero().squeeze(1)
    chosen = torch.empty(len(large), fanout, dtype=torch.long, device=crow.device)
    for step in range(fanout):
        top = degree[large] - fanout + step
        uniform = torch.rand(len(large), generator=generator, dtype=torch.float64).to(crow.device)
        pick = (uniform * (top + 1)).long()
        taken = (chosen[:, :step] == pick.unsqueeze(1)).any(1)
        chosen[:, step] = torch.where(taken, top, pick)
    offsets[large] = chosen
    rows, slot = (slots < drawn.unsqueeze(1)).nonzero(as_tuple=True)
    return rows, start[rows] + offsets[rows, slot], (degree[rows] / drawn[rows]).float()


def _append_new(nodes: Tensor, reached: Tensor) -> tuple[Tensor, Tensor]:
    """`nodes` (distinct) followed by the nodes of `reached` not yet in it, in order of first appearance,
    and the position of every element of `reached` in that list."""
    candidates = torch.cat([nodes, reached])
    unique, inverse = torch.unique(candidates, return_inverse=True)
    arange = torch.arange(len(candidates), device=candidates.device)
    first = torch.full_like(unique, len(candidates)).scatter_reduce(0, inverse, arange, "amin")
    order = first.argsort()
    position = torch.empty_like(order)
    position[order] = arange[: len(order)]
    return unique[order], position[inverse[len(nodes):]]
