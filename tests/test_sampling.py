"""Neighbour sampling: exact with large fanouts, unbiased with small ones, seeded; and mini-batch kgrec training
on a real ml-100k slice ranks about as well as full-graph training."""

import numpy as np
import pytest
import torch

from kgrec.errors import KgrecError
from kgrec.evaluate.metrics import evaluate
from kgrec.graph.adjacency import normalized_adjacency
from kgrec.graph.sampling import _append_new, _inclusion_probabilities, sample_neighbourhood
from kgrec.models.kgrec import KGRec
from kgrec.models.pop import MostPopular
from slices import fit_kgrec


@pytest.fixture(scope="module")
def adjacency():
    """A random graph of 60 nodes whose first 3 are hubs (degrees far above the fanouts used below)."""
    rng = np.random.default_rng(0)
    rows = np.concatenate([np.repeat([0, 1, 2], 30), rng.integers(0, 60, 150)])
    cols = np.concatenate([rng.integers(3, 60, 90), rng.integers(0, 60, 150)])
    pairs = np.unique(np.sort(np.stack([rows, cols])[:, rows != cols], axis=0), axis=1)
    return normalized_adjacency(pairs[0], pairs[1], 60)


def sampled_product(adjacency, seeds, x, fanouts, generator, budget=None):
    nodes, products = sample_neighbourhood(adjacency, seeds, fanouts, generator, budget)
    assert torch.equal(nodes[: len(seeds)], seeds) and len(torch.unique(nodes)) == len(nodes)
    y = x[nodes]
    for product in products:
        y = product @ y
    return y


def test_exact_when_the_fanout_covers_every_degree(adjacency):
    seeds, x = torch.tensor([0, 7, 41, 3]), torch.randn(60, 5)
    max_degree = int(adjacency.crow_indices().diff().max())
    estimate = sampled_product(adjacency, seeds, x, [max_degree] * 2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, (adjacency @ (adjacency @ x))[seeds])


def test_draws_distinct_true_neighbours_up_to_the_fanout(adjacency):
    seeds = torch.tensor([0, 1, 2, 10])
    nodes, (product,) = sample_neighbourhood(adjacency, seeds, [4], torch.Generator().manual_seed(0))
    dense, full = product.to_dense(), adjacency.to_dense()
    for row, seed in enumerate(seeds.tolist()):
        picked = nodes[dense[row] != 0]
        degree = int((full[seed] != 0).sum())
        assert len(picked) == min(4, degree) and torch.all(full[seed, picked] != 0)
        # Each picked neighbour carries its full-graph weight scaled by degree / picked.
        torch.testing.assert_close(dense[row][dense[row] != 0], full[seed, picked] * degree / len(picked))


def test_unbiased_on_average_with_small_fanouts(adjacency):
    seeds, x = torch.tensor([0, 1, 5, 33]), torch.randn(60, 4)
    generator = torch.Generator().manual_seed(1)
    draws = torch.stack([sampled_product(adjacency, seeds, x, [2, 3], generator) for _ in range(3000)])
    exact = (adjacency @ (adjacency @ x))[seeds]
    assert (draws[0] - exact).abs().max() > 0.05  # a single draw is noisy...
    standard_error = draws.std(0) / len(draws) ** 0.5
    assert torch.all((draws.mean(0) - exact).abs() < 5 * standard_error + 1e-6)  # ...their mean is not biased


def test_past_the_budget_a_rows_kept_entries_share_its_whole_weight():
    """A ratio estimator: biased towards the heavier neighbours, which are kept more often, but far less noisy
    than dividing each entry by its probability (see kgrec.graph.sampling)."""
    generator = torch.Generator().manual_seed(1)
    nodes, reliance = torch.arange(4), torch.ones(4, dtype=torch.float64)
    rows, reached = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3]), torch.tensor([10, 11, 12, 12, 13, 14, 1, 15])
    weights = torch.tensor([0.5, 0.2, 0.1, 0.3, 0.3, 0.4, 0.2, 0.6])
    total = torch.zeros(4).index_add_(0, rows, weights)
    for _ in range(50):
        new_nodes, kept_rows, _, kept_weights, _ = _append_new(nodes, rows, reached, weights, reliance, 2, generator)
        assert len(new_nodes) < 4 + 6  # the budget dropped some of the 6 new nodes
        row_total = torch.zeros(4).index_add_(0, kept_rows, kept_weights)
        has_entries = torch.zeros(4, dtype=torch.bool).index_fill_(0, kept_rows, True)
        torch.testing.assert_close(row_total[has_entries], total[has_entries])
        assert has_entries[2]  # row 2's entry into node 1 (already a node) always stays


def test_a_budget_bounds_the_new_nodes_of_each_hop(adjacency):
    seeds, generator = torch.tensor([0, 1, 2, 10, 20]), torch.Generator().manual_seed(2)

    def new_nodes(budget):
        counts = [len(sample_neighbourhood(adjacency, seeds, [6, 6], generator, budget)[0]) - len(seeds)
                  for _ in range(400)]
        return sum(counts) / len(counts)

    assert new_nodes(None) > 30  # unbounded, the two hops reach most of the 60 nodes
    assert 2 * 4 * 0.8 < new_nodes(4) <= 2 * 4 * 1.1  # about 4 per hop: the budget is met in expectation


def test_inclusion_probabilities_sum_to_the_budget_and_cap_heavy_nodes_at_one():
    probability = _inclusion_probabilities(torch.tensor([100.0, 50.0, 1.0, 1.0, 1.0, 1.0]), 3)
    torch.testing.assert_close(probability, torch.tensor([1, 1, 0.25, 0.25, 0.25, 0.25], dtype=torch.float64))
    probability = _inclusion_probabilities(torch.rand(50, generator=torch.Generator().manual_seed(0)) + 0.1, 10)
    assert abs(float(probability.sum()) - 10) < 1e-9 and float(probability.max()) < 1


def test_a_budget_keeps_nodes_by_how_much_the_seeds_rely_on_them():
    """Two frontier nodes reach one new node each with the same weight, but the seeds rely on node 0 a hundred
    times more than on node 1: with room for one new node, node 2 (behind node 0) takes nearly all of it."""
    nodes, reliance = torch.tensor([0, 1]), torch.tensor([1.0, 0.01], dtype=torch.float64)
    rows, reached, weights = torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([0.5, 0.5])
    generator, kept = torch.Generator().manual_seed(0), {2: 0, 3: 0}
    for _ in range(2000):
        new_nodes, kept_rows, columns, scaled, new_reliance = _append_new(nodes, rows, reached, weights, reliance,
                                                                          1, generator)
        for node in new_nodes[2:].tolist():
            kept[node] += 1
        torch.testing.assert_close(new_reliance[:2], reliance)  # frontier nodes keep theirs (no entries into them)
        # a kept node's reliance is what the seeds' estimates put on it, through its rescaled entry
        torch.testing.assert_close(new_reliance[columns], reliance[kept_rows] * scaled.double())
    assert kept[2] > 1900 and 0 < kept[3] < 60  # pi = 1 / 1.01 and 0.01 / 1.01


def test_a_seed_fixes_the_draw(adjacency):
    seeds = torch.tensor([0, 1, 2])

    def draw(seed):
        nodes, products = sample_neighbourhood(adjacency, seeds, [3, 3], torch.Generator().manual_seed(seed))
        return nodes, [product.to_dense() for product in products]

    (nodes, products), (again, products_again), (other, _) = draw(4), draw(4), draw(5)
    assert torch.equal(nodes, again) and all(torch.equal(a, b) for a, b in zip(products, products_again))
    assert not torch.equal(nodes, other)


def test_repeated_seeds_are_refused(adjacency):
    with pytest.raises(ValueError, match="distinct"):
        sample_neighbourhood(adjacency, torch.tensor([1, 1]), [2], torch.Generator())


def test_fanouts_need_one_per_layer(ml100k_500, ml100k_500_text):
    with pytest.raises(KgrecError, match="one positive fanout per layer"):
        KGRec(ml100k_500, ml100k_500_text, layers=2, neighbour_fanouts=[10])


def test_a_budget_needs_sampled_steps(ml100k_500, ml100k_500_text):
    with pytest.raises(KgrecError, match="neighbour_budget=100 needs neighbour_fanouts"):
        KGRec(ml100k_500, ml100k_500_text, neighbour_budget=100)
    with pytest.raises(KgrecError, match="neighbour_budget=0 needs"):
        KGRec(ml100k_500, ml100k_500_text, neighbour_fanouts=[2, 2], neighbour_budget=0)


def test_layer_inputs_of_a_subset_are_those_of_the_whole_graph(ml100k_500, ml100k_500_text):
    model = KGRec(ml100k_500, ml100k_500_text).eval()
    nodes = torch.tensor([model.offsets["user"], model.offsets["item"] + 3, model.num_nodes - 1])
    torch.testing.assert_close(model.layer_inputs(nodes), model.layer_inputs()[nodes])


def test_mini_batch_training_ranks_like_full_graph_training(ml100k_500, ml100k_500_text):
    full = fit_kgrec(ml100k_500, ml100k_500_text, 8)
    # 512 sampled negatives: the slice's softmax has about 500 columns.
    mini_batch = fit_kgrec(ml100k_500, ml100k_500_text, 8, neighbour_fanouts=[10, 10], sampled_negatives=512)
    # A budget that binds on every step of the slice (about 1,500 and 2,200 new nodes at hops 1 and 2 without it).
    budgeted = fit_kgrec(ml100k_500, ml100k_500_text, 8, neighbour_fanouts=[10, 10], sampled_negatives=512,
                         neighbour_budget=500)
    popular = MostPopular(ml100k_500)
    popular.fit(ml100k_500)
    baseline = evaluate(popular.score, ml100k_500, "test", ks=(20,), n_recs=20).metrics
    reference = {split: evaluate(full.score, ml100k_500, split, ks=(20,), n_recs=20).metrics
                 for split in ("valid", "test")}
    for model in (mini_batch, budgeted):
        for split in ("valid", "test"):
            ours = evaluate(model.score, ml100k_500, split, ks=(20,), n_recs=20).metrics
            assert ours["recall@20"] >= 0.85 * reference[split]["recall@20"], split
        assert ours["tail_recall@20"] > baseline["tail_recall@20"] + 0.02


def test_a_sampled_step_updates_only_the_id_rows_it_sampled(ml100k_500, ml100k_500_text):
    """Sampled steps give the ID table a sparse gradient and SparseAdam, so a step's cost follows the batch."""
    from kgrec.train.loop import TrainerConfig, _optimizers

    model = KGRec(ml100k_500, ml100k_500_text, neighbour_fanouts=[2, 2], sampled_negatives=8).train()
    optimizers = _optimizers(model, TrainerConfig(lr=1e-2))
    assert [type(optimizer).__name__ for optimizer in optimizers] == ["Adam", "SparseAdam"]
    before = model.id_embedding.detach().clone()
    model.loss(torch.tensor([0, 1]), torch.tensor([int(ml100k_500.train.items[0])] * 2)).backward()
    gradient = model.id_embedding.grad.coalesce()
    assert gradient.is_sparse and 0 < len(gradient.indices()[0]) < model.num_nodes // 2
    for optimizer in optimizers:
        optimizer.step()
    changed = (model.id_embedding.detach() != before).any(1)
    sampled = torch.zeros(model.num_nodes, dtype=torch.bool).index_fill_(0, gradient.indices()[0], True)
    assert changed.any() and not (changed & ~sampled).any()  # gated-off rows (cold items) get a zero step
    with pytest.raises(KgrecError, match="weight_decay"):
        _optimizers(model, TrainerConfig(weight_decay=1e-4))
    assert len(_optimizers(KGRec(ml100k_500, ml100k_500_text), TrainerConfig())) == 1  # full graph: dense Adam


def test_a_sampled_step_trains_on_its_neighbours_text(ml100k_500, ml100k_500_text):
    """A neighbour's text is an input of its seeds' embeddings, so it sends gradient like a seed's: a step that
    read the neighbours' MLP(t) from a table of stored projections trained nothing on 1e6 interactions (see
    `KGRec.layer_inputs`). Here the texts are the items': a step's 4 users reach items beyond its seeds."""
    negatives = 8
    model = KGRec(ml100k_500, ml100k_500_text, neighbour_fanouts=[3, 3], sampled_negatives=negatives).train()
    model.text.requires_grad_(True)
    items = torch.tensor([int(item) for item in ml100k_500.train.items[:4]])
    model.loss(torch.tensor([0, 1, 2, 3]), items).backward()
    trained_rows = int(model.text.grad.any(1).sum())
    assert trained_rows > len(items) + negatives  # more than the seed items could account for
