"""The normalised adjacency against a dense hand computation, and the user-item numbering."""

import numpy as np
import pytest
import torch

from kgrec.data.dataset import Interactions
from kgrec.graph.adjacency import entry_groups, normalized_adjacency, propagate, propagate_weighted, user_item_edges


def dense_normalized(rows, cols, num_nodes):
    """D^-1/2 A D^-1/2 written out with numpy: A counts each listed edge in both directions."""
    adjacency = np.zeros((num_nodes, num_nodes))
    for row, col in zip(rows, cols):
        adjacency[row, col] += 1
        adjacency[col, row] += 1
    degree = adjacency.sum(1)
    inv_sqrt = np.divide(1.0, np.sqrt(degree), out=np.zeros(num_nodes), where=degree > 0)
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


def test_matches_dense_computation_with_isolated_node_and_parallel_edge():
    # A star 0-{1,2,3}, a path 3-4, a parallel edge 1-2 listed twice, node 5 isolated.
    rows, cols = [0, 0, 0, 3, 1, 2], [1, 2, 3, 4, 2, 1]
    result = normalized_adjacency(np.array(rows), np.array(cols), 6)
    assert result.layout == torch.sparse_csr and result.dtype == torch.float32
    expected = dense_normalized(rows, cols, 6)
    np.testing.assert_allclose(result.to_dense().numpy(), expected, rtol=1e-6)
    assert expected[1, 2] == pytest.approx(2 / 3)  # weight 2 over sqrt(3 * 3): the pair counts twice
    assert not result.to_dense()[5].any()


def test_each_edge_given_once_gives_a_symmetric_matrix():
    result = normalized_adjacency(torch.tensor([0, 1]), torch.tensor([2, 2]), 3).to_dense()
    assert torch.equal(result, result.T)
    assert result[2, 0] == pytest.approx(1 / np.sqrt(2))


def test_rejects_out_of_range_and_mismatched_edges():
    with pytest.raises(ValueError, match="0..2"):
        normalized_adjacency(np.array([0]), np.array([3]), 3)
    with pytest.raises(ValueError, match="differ in length"):
        normalized_adjacency(np.array([0, 1]), np.array([1]), 3)


def test_user_item_edges_put_items_after_users():
    interactions = Interactions(users=np.array([0, 2, 2]), items=np.array([1, 0, 3]))
    rows, cols = user_item_edges(interactions, num_users=3)
    np.testing.assert_array_equal(rows, [0, 2, 2])
    np.testing.assert_array_equal(cols, [4, 3, 6])
    propagated = normalized_adjacency(rows, cols, 3 + 4) @ torch.eye(7)
    assert propagated[0, 4] > 0 and propagated[0, 1] == 0  # users only reach items


def test_propagate_gradient_matches_torch_sparse_product():
    generator = torch.Generator().manual_seed(0)
    rows, cols = torch.randint(0, 30, (80,), generator=generator), torch.randint(0, 30, (80,), generator=generator)
    adjacency = normalized_adjacency(rows, cols, 30)
    x = torch.randn(30, 4, generator=generator, requires_grad=True)
    weights = torch.randn(30, 4, generator=generator)  # a loss whose gradient is not symmetric in x

    ours = propagate(adjacency, x)
    (expected_grad,) = torch.autograd.grad((torch.sparse.mm(adjacency, x) * weights).sum(), x)
    (grad,) = torch.autograd.grad((ours * weights).sum(), x)
    torch.testing.assert_close(ours, adjacency.to_dense() @ x)
    torch.testing.assert_close(grad, expected_grad)


def test_relation_weighted_propagation_matches_dense_weights_and_gradients():
    # Edges of three relations; a relation's weight scales both directions of its edges.
    rows, cols, relations = np.array([0, 0, 1, 2, 3]), np.array([4, 5, 4, 5, 5]), np.array([0, 1, 1, 0, 2])
    adjacency = normalized_adjacency(rows, cols, 6)
    groups = entry_groups(adjacency, rows, cols, relations)
    entry_rows = torch.repeat_interleave(torch.arange(6), adjacency.crow_indices().diff())
    generator = torch.Generator().manual_seed(0)
    weights = torch.tensor([0.5, 2.0, 1.5], requires_grad=True)
    x = torch.randn(6, 3, generator=generator, requires_grad=True)
    target = torch.randn(6, 3, generator=generator)

    ours = propagate_weighted(adjacency, entry_rows, groups, weights, x)
    relation_of = np.full((6, 6), -1)
    relation_of[rows, cols] = relation_of[cols, rows] = relations
    dense_weights = torch.where(torch.as_tensor(relation_of) >= 0,
                                weights[torch.as_tensor(relation_of).clamp(min=0)], torch.tensor(0.0))
    expected = (adjacency.to_dense() * dense_weights) @ x
    torch.testing.assert_close(ours, expected)
    grads = torch.autograd.grad((ours * target).sum(), (weights, x))
    expected_grads = torch.autograd.grad((expected * target).sum(), (weights, x))
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


def test_entry_groups_refuses_edges_listed_twice():
    rows, cols = np.array([0, 1]), np.array([1, 0])  # the same undirected edge twice
    with pytest.raises(ValueError, match="once"):
        entry_groups(normalized_adjacency(rows, cols, 2), rows, cols, np.array([0, 1]))
