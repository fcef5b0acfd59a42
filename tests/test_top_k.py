"""top_k through block maxima against torch.topk on wide rows."""

import pytest
import torch

from kgrec.evaluate.top_k import top_k

INF = float("-inf")


@pytest.mark.parametrize("width", [30_000, 30_017])  # a whole number of blocks, and a partial last block
@pytest.mark.parametrize("k", [1, 20, 100])
def test_top_k_equals_torch_topk_on_distinct_scores(width, k):
    generator = torch.Generator().manual_seed(width + k)
    # Distinct values (a permutation), so the k best items are unique and the indices must match too.
    scores = torch.stack([torch.randperm(width, generator=generator).float() for _ in range(64)])
    scores[:, ::3] = INF  # masked items, as the evaluator leaves them
    scores[5, -1] = 2.0 * width  # the best item of row 5 sits in the partial block (or the last block)
    scores[7, : width - 10] = INF  # row 7 has fewer than 10 eligible items: its list runs short
    expected, got = scores.topk(k, dim=1), top_k(scores, k)
    assert torch.equal(got.values, expected.values)
    eligible = expected.values > INF
    assert torch.equal(got.indices[eligible], expected.indices[eligible])
    assert got.indices[5, 0] == width - 1
    assert int(eligible[7].sum()) == min(k, int((scores[7] > INF).sum()))


def test_ties_keep_values_and_point_at_tied_items():
    scores = torch.zeros(4, 30_000)
    scores[:, 1000:1050] = 1.0  # 50 items tie at the top, more than k
    got = top_k(scores, 20)
    assert torch.equal(got.values, torch.ones(4, 20))
    assert bool(((got.indices >= 1000) & (got.indices < 1050)).all())
    assert all(len(set(row.tolist())) == 20 for row in got.indices)
