"""The symmetric-normalised adjacency D^-1/2 A D^-1/2 that LightGCN-style models propagate over.

It is built once as a sparse CSR matrix, and `propagate` multiplies by it with a backward pass that
reuses the same matrix (it is symmetric). A 3-layer LightGCN step on ml-100k (1 CPU thread) takes 17 ms
this way, 69 ms with torch's own sparse backward and 258 ms with PyG message passing over an edge_index.
The same matrix serves any graph whose nodes are numbered 0..num_nodes-1 (user-item, user-item-entity).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from kgrec.data.dataset import Interactions


def normalized_adjacency(rows, cols, num_nodes: int) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of an undirected graph as a float32 `torch.sparse_csr` (num_nodes x num_nodes).

    Give each undirected edge ONCE, in either direction (rows[k], cols[k]); the reverse direction is
    added here. A pair given more than once counts as parallel edges (its weight adds up). Isolated
    nodes (e.g. cold items) get an all-zero row instead of a division by zero.
    """
    rows = torch.as_tensor(np.asarray(rows), dtype=torch.long)
    cols = torch.as_tensor(np.asarray(cols), dtype=torch.long)
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols differ in length: {rows.numel()} vs {cols.numel()}")
    if rows.numel() and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must lie in 0..{num_nodes - 1}")
    index = torch.stack([torch.cat([rows, cols]), torch.cat([cols, rows])])
    shape = (num_nodes, num_nodes)
    adjacency = torch.sparse_coo_tensor(index, torch.ones(index.shape[1]), shape, check_invariants=True).coalesce()
    source, target = adjacency.indices()
    degree = torch.zeros(num_nodes).index_add_(0, source, adjacency.values())
    inv_sqrt = degree.pow(-0.5).masked_fill(degree == 0, 0.0)
    weights = inv_sqrt[source] * adjacency.values() * inv_sqrt[target]
    normalized = torch.sparse_coo_tensor(adjacency.indices(), weights, shape, check_invariants=True)
    with warnings.catch_warnings():  # torch flags every CSR tensor as "beta"; the product we need is stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return normalized.to_sparse_csr()


def user_item_edges(interactions: Interactions, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges of the user-item bipartite graph, each once: users are nodes 0..U-1, items U..U+I-1."""
    return interactions.users, interactions.items + num_users


class _SymmetricProduct(torch.autograd.Function):
    """adjacency @ x whose gradient is adjacency @ grad: torch's own backward multiplies by the transpose,
    a CSC matrix, which on CPU is about 15x slower than the CSR product."""

    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(adjacency)
        return adjacency @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        (adjacency,) = ctx.saved_tensors
        return None, adjacency @ grad


def propagate(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """adjacency @ x for a constant symmetric `adjacency` (as `normalized_adjacency` returns)."""
    return _SymmetricProduct.apply(adjacency, x)
