"""The evaluator against hand-computed values on a tiny catalogue, and against plain Python on ml-100k."""

import math

import numpy as np
import pytest
import torch

from kgrec.data.dataset import Dataset, Interactions
from kgrec.errors import KgrecError
from kgrec.evaluate.metrics import evaluate, item_groups

INF = math.inf


def pairs(*user_items):
    users, items = zip(*user_items)
    return Interactions(np.array(users), np.array(items))


@pytest.fixture
def tiny():
    """4 users, items 0..5 in the catalogue, 6 and 7 cold.

    Train counts: item 0 -> 3, item 1 -> 2, item 2 -> 2, item 3 -> 1, items 4, 5 -> 0. Four items occur in train.
    """
    train = pairs((0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 2), (3, 2), (3, 3))
    splits = {
        "train": train,
        "valid": pairs((0, 4), (1, 2)),
        "test": pairs((0, 2), (0, 5), (1, 3), (2, 1), (2, 4)),
        "test_cold": pairs((0, 6), (3, 7), (3, 6)),
    }
    ids = [f"i{i}" for i in range(8)]
    return Dataset("tiny", ["u0", "u1", "u2", "u3"], ids, ids, ids, splits, cold_items=np.array([6, 7]))


SCORES = torch.tensor(
    [
        [9, 8, 1, 5, 7, 3, 6, 2],  # u0: the best items 0, 1 (train) and 4 (valid) must be masked on test
        [5, 5, 5, 2, 6, 4, 3, -INF],  # u1: the model itself rules out item 7
        [0, 9, 9, 2, 1, 8, 3, 4],
        [1, 2, 3, 4, 5, 9, 7, 8],  # u3: item 5 is its best, but not a cold candidate
    ]
)


def fixed_scores(users):
    return SCORES[users]


def test_head_tail_cold_groups_break_popularity_ties_by_index(tiny):
    # ceil(0.5 * 4 items in train) = 2 head items: item 0 (3), then item 1 wins the 2-2 tie with item 2.
    head, tail, cold = item_groups(tiny, head_share=0.5)
    assert np.flatnonzero(head).tolist() == [0, 1]
    assert np.flatnonzero(tail).tolist() == [2, 3, 4, 5]
    assert np.flatnonzero(cold).tolist() == [6, 7]
    # ceil(0.2 * 4) = 1 head item.
    assert np.flatnonzero(item_groups(tiny)[0]).tolist() == [0]


def test_test_split_masks_train_and_valid_and_shortens_lists(tiny):
    result = evaluate(fixed_scores, tiny, "test", ks=(2, 5), head_share=0.5, n_recs=6)
    # Eligible items, best first (train and valid items and the model's -inf left out):
    # u0: excluded {0, 1, 4} -> 6, 3, 5, 7, 2 (only 5); u1: excluded {0, 1, 2} and 7 -> 4, 5, 6, 3 (only 4);
    # u2: excluded {0, 2} -> 1, 5, 7, 6, 3, 4. u3 has no test items and is not evaluated.
    assert result.users.tolist() == [0, 1, 2]
    assert result.top_items.tolist() == [[6, 3, 5, 7, 2, -1], [4, 5, 6, 3, -1, -1], [1, 5, 7, 6, 3, 4]]
    m = result.metrics
    assert m["users"] == 3.0

    # Test items: u0 {2, 5}, u1 {3}, u2 {1, 4}.
    # @2: u0 [6, 3] no hit; u1 [4, 5] no hit; u2 [1, 5] hit at rank 1.
    assert m["recall@2"] == pytest.approx((0 + 0 + 1 / 2) / 3)
    assert m["ndcg@2"] == pytest.approx((0 + 0 + 1 / (1 + 1 / math.log2(3))) / 3)
    assert m["hit@2"] == pytest.approx(1 / 3)
    assert m["mrr@2"] == pytest.approx(1 / 3)
    assert m["precision@2"] == pytest.approx((0 + 0 + 1 / 2) / 3)
    # @5: u0 hits at ranks 3, 5 (2 of 2); u1 at rank 4 of its 4-item list (1 of 1); u2 at rank 1 only (1 of 2).
    assert m["recall@5"] == pytest.approx((1 + 1 + 1 / 2) / 3)
    ndcg_u0 = (1 / math.log2(4) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    ndcg_u1 = (1 / math.log2(5)) / 1
    ndcg_u2 = 1 / (1 + 1 / math.log2(3))
    assert m["ndcg@5"] == pytest.approx((ndcg_u0 + ndcg_u1 + ndcg_u2) / 3)
    assert m["hit@5"] == 1.0
    assert m["mrr@5"] == pytest.approx((1 / 3 + 1 / 4 + 1) / 3)
    assert m["precision@5"] == pytest.approx((2 / 5 + 1 / 5 + 1 / 5) / 3)  # hits / K even for the short list


def test_head_tail_recall_and_catalogue_metrics(tiny):
    m = evaluate(fixed_scores, tiny, "test", ks=(2, 5), head_share=0.5).metrics
    # Head {0, 1}; test items: u0 {2 tail, 5 tail}, u1 {3 tail}, u2 {1 head, 4 tail}. Only u2 has a head item.
    assert m["head_recall@2"] == 1.0  # u2: item 1 at rank 1
    assert m["tail_recall@2"] == 0.0
    assert m["head_recall@5"] == 1.0
    assert m["tail_recall@5"] == pytest.approx((2 / 2 + 1 / 1 + 0 / 1) / 3)
    # Top 2 lists [6, 3], [4, 5], [1, 5]: items {1, 3, 4, 5, 6} of the 8 in the pool; 5 of 6 slots non-head.
    assert m["coverage@2"] == pytest.approx(5 / 8)
    assert m["tail_share@2"] == pytest.approx(5 / 6)
    # Counts over items 0..7: [0, 1, 0, 1, 1, 2, 1, 0] (n = 8, mean 6 / 8). Gini = sum_ij |x_i - x_j| / (2 n^2 mean):
    # pairs (0, 1): 3 zeros x 4 ones x 2 orders = 24; (0, 2): 3 x 1 x 2 x 2 = 12; (1, 2): 4 x 1 x 2 x 1 = 8.
    assert m["gini@2"] == pytest.approx((24 + 12 + 8) / (2 * 64 * 6 / 8))
    # Top 5 lists [6, 3, 5, 7, 2], [4, 5, 6, 3], [1, 5, 7, 6, 3]: 7 of 8 items (not 0); 13 of 14 slots non-head.
    assert m["coverage@5"] == pytest.approx(7 / 8)
    assert m["tail_share@5"] == pytest.approx(13 / 14)


def test_popularity_deciles(tiny):
    result = evaluate(fixed_scores, tiny, "test", ks=(2, 5))
    # Non-cold items by count then index: 0, 1, 2, 3, 4, 5; array_split into 10 puts one item in each of
    # deciles 1..6 and none in 7..10. Decile 1 (item 0) is nobody's test item.
    # @5: item 1 (u2) hit, 2 (u0) hit, 3 (u1) hit, 4 (u2) missed, 5 (u0) hit.
    np.testing.assert_array_equal(result.decile_recall[5], [np.nan, 1, 1, 1, 0, 1] + [np.nan] * 4)
    # @2: only u2's item 1 is hit.
    np.testing.assert_array_equal(result.decile_recall[2], [np.nan, 1, 0, 0, 0, 0] + [np.nan] * 4)


def test_valid_split_masks_only_train(tiny):
    result = evaluate(fixed_scores, tiny, "valid", ks=(2,))
    # Valid items: u0 {4}, u1 {2}. u0 without train {0, 1}: 4, 6, ... (rank 1); u1: 4, 2, ... (rank 2).
    assert result.users.tolist() == [0, 1]
    assert result.top_items[:, :2].tolist() == [[4, 6], [4, 2]]
    assert result.metrics["recall@2"] == 1.0
    assert result.metrics["mrr@2"] == pytest.approx((1 + 1 / 2) / 2)


def test_cold_split_ranks_only_cold_items(tiny):
    result = evaluate(fixed_scores, tiny, "test_cold", ks=(1, 5), n_recs=6)
    # Pool {6, 7}: u0 6 (6) > 7 (2); u3 7 (8) > 6 (7), although its best item overall is 5 (9).
    assert result.users.tolist() == [0, 3]
    assert result.top_items.tolist() == [[6, 7], [7, 6]]  # two columns: only two candidates exist
    m = result.metrics
    # Cold test items: u0 {6}, u3 {6, 7}. @1: u0 1/1, u3 1/2; NDCG@1 ideal over min(1, n) = 1 item.
    assert m["recall@1"] == pytest.approx((1 + 1 / 2) / 2)
    assert m["ndcg@1"] == 1.0
    assert m["precision@5"] == pytest.approx((1 / 5 + 2 / 5) / 2)  # hits / K although only 2 items can be listed
    assert m["coverage@1"] == 1.0  # both cold items are someone's top 1
    assert m["gini@1"] == 0.0  # counts [1, 1] are perfectly even
    assert not any(key.startswith(("head_", "tail_")) for key in m)
    assert all(math.isnan(value) for value in result.decile_recall[5])


def test_tail_split_ranks_test_tail_items_among_tail_items_only(tiny):
    # head_share 0.5: head {0, 1}, tail {2, 3, 4, 5}, cold {6, 7}. u2's test item 1 is head and drops out.
    result = evaluate(fixed_scores, tiny, "test_tail", ks=(1, 2), head_share=0.5, n_recs=6)
    # Tail items left after train and valid, best first: u0 (4 is valid) 3 (5), 5 (3), 2 (1);
    # u1 (2 is valid) 4 (6), 5 (4), 3 (2); u2 (2 is train) 5 (8), 3 (2), 4 (1). Head item 1 would top u2's.
    assert result.users.tolist() == [0, 1, 2]
    assert result.top_items.tolist() == [[3, 5, 2, -1], [4, 5, 3, -1], [5, 3, 4, -1]]
    m = result.metrics
    # Tail test items: u0 {2, 5}, u1 {3}, u2 {4}. @2: u0 hits 5 (1 of 2), u1 and u2 none.
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert m["coverage@1"] == pytest.approx(3 / 4)  # 3, 4 and 5 of the four tail candidates
    assert not any(key.startswith(("head_", "tail_")) for key in m)
    # valid_tail: valid's tail pairs (u0 item 4; u1's item 2 is tail too), train items alone excluded.
    valid = evaluate(fixed_scores, tiny, "valid_tail", ks=(1,), head_share=0.5, n_recs=6)
    # u0 (train 0, 1): 4 (7), 3 (5), 5 (3), 2 (1); u1 (train 0, 1): 4 (6), 2 (5), 5 (4), 3 (2).
    assert valid.top_items.tolist() == [[4, 3, 5, 2], [4, 2, 5, 3]]
    assert valid.metrics["recall@1"] == pytest.approx((1 + 0) / 2)


def test_result_does_not_depend_on_batch_size():
    rng = np.random.default_rng(0)
    num_users, num_items = 37, 60
    train_pairs = np.unique(rng.integers(0, [num_users, num_items], size=(400, 2)), axis=0)
    held_out = rng.permutation(len(train_pairs))
    split = {"train": held_out[:300], "valid": held_out[300:340], "test": held_out[340:]}
    splits = {name: Interactions(train_pairs[rows, 0], train_pairs[rows, 1]) for name, rows in split.items()}
    ids = [str(i) for i in range(num_items)]
    data = Dataset("random", [str(u) for u in range(num_users)], ids, ids, ids, splits)
    scores = torch.from_numpy(rng.standard_normal((num_users, num_items)).astype(np.float32))

    one, seven, all_at_once = (evaluate(lambda u: scores[u], data, "test", batch_size=b) for b in (1, 7, 1024))
    for other in (seven, all_at_once):
        assert other.metrics == one.metrics
        np.testing.assert_array_equal(other.top_items, one.top_items)
        np.testing.assert_array_equal(other.users, one.users)
        assert other.decile_recall.keys() == one.decile_recall.keys()
        for k in one.decile_recall:
            np.testing.assert_array_equal(other.decile_recall[k], one.decile_recall[k])


def test_bad_requests_are_clear_errors(tiny):
    with pytest.raises(KgrecError, match="'train'"):
        evaluate(fixed_scores, tiny, "train")
    with pytest.raises(KgrecError, match=r"shape \(3, 7\)"):
        evaluate(lambda users: SCORES[users, :7], tiny, "test")
    with pytest.raises(KgrecError, match="NaN"):
        evaluate(lambda users: torch.full((len(users), 8), math.nan), tiny, "test")


def test_most_popular_on_ml100k_matches_plain_python(ml100k_bundle):
    bundle = pytest.importorskip("kgrec.data.bundle")
    data = bundle.load_bundle(ml100k_bundle)
    popularity = data.item_popularity()
    # Distinct scores: the popularity order with ties broken by index, so the ranking is unambiguous.
    cold = set(data.cold_items.tolist())
    order = [i for i in sorted(range(data.num_items), key=lambda i: (-popularity[i], i)) if i not in cold]
    score = np.zeros(data.num_items, dtype=np.float32)
    score[order] = np.arange(len(order), 0, -1)
    result = evaluate(lambda users: torch.from_numpy(score).expand(len(users), -1), data, "test", ks=(20,))

    n_head = math.ceil(0.2 * sum(1 for count in popularity if count > 0))
    head = set(order[:n_head])
    seen, test = {}, {}
    for name, target in (("train", seen), ("valid", seen), ("test", test)):
        for user, item in zip(data.splits[name].users.tolist(), data.splits[name].items.tolist()):
            target.setdefault(user, set()).add(item)
    ranked_everything = order + sorted(cold)  # cold items score 0, below every other item
    recalls, head_recalls, tail_recalls = [], [], []
    for user, relevant in test.items():
        top = [i for i in ranked_everything if i not in seen.get(user, set())][:20]
        recalls.append(len(relevant & set(top)) / len(relevant))
        for group, out in ((relevant & head, head_recalls), (relevant - head - cold, tail_recalls)):
            if group:
                out.append(len(group & set(top)) / len(group))
    m = result.metrics
    assert m["users"] == len(test)
    assert m["recall@20"] == pytest.approx(np.mean(recalls))
    assert m["head_recall@20"] == pytest.approx(np.mean(head_recalls))
    assert m["tail_recall@20"] == pytest.approx(np.mean(tail_recalls))
    # The README's reference for most popular on this bundle: recall 0.198, head 0.271, tail 0.000.
    assert m["recall@20"] == pytest.approx(0.198, abs=0.002)


@pytest.mark.parametrize("split", ["test", "test_cold"])
def test_chunks_of_seven_users_equal_all_users_at_once_on_ml100k(ml100k_bundle, split):
    from kgrec.data.bundle import load_bundle
    from kgrec.models.ease import EASE

    data = load_bundle(ml100k_bundle)
    model = EASE(data, reg=250.0)
    model.fit(data)
    # Scores computed once, so that only the evaluator's chunking differs between the two runs.
    scores = model.score(torch.arange(data.num_users))
    chunked, whole = (evaluate(lambda users: scores[users], data, split, batch_size=size)
                      for size in (7, data.num_users))
    assert len(whole.users) > 7 * 100
    assert chunked.metrics == whole.metrics
    np.testing.assert_array_equal(chunked.users, whole.users)
    np.testing.assert_array_equal(chunked.top_items, whole.top_items)
    assert chunked.decile_recall.keys() == whole.decile_recall.keys()
    for k, values in whole.decile_recall.items():
        np.testing.assert_array_equal(chunked.decile_recall[k], values)


@pytest.fixture(scope="module")
def ml100k_ease_scores(ml100k_bundle):
    from kgrec.data.bundle import load_bundle
    from kgrec.models.ease import EASE

    data = load_bundle(ml100k_bundle)
    model = EASE(data, reg=250.0)
    model.fit(data)
    return data, model.score(torch.arange(data.num_users))


@pytest.mark.parametrize("every", [0, 4])
def test_a_lists_tail_recall_is_tail_only_recall_at_its_tail_positions(ml100k_ease_scores, every):
    # What benchmarks/tail_ceiling.py rests on: a list by score, or with tail slots, holds the model's best tail
    # items, so each user's tail recall@20 is recall@m on test_tail, m = the tail items in that user's list.
    from kgrec.models.tail_slots import interleave_tail

    data, scores = ml100k_ease_scores
    tail = item_groups(data)[1]
    lists = evaluate(lambda users: scores[users], data, "test", ks=(20,), n_recs=20,
                     top_lists=lambda masked, width: interleave_tail(masked, torch.from_numpy(tail), every, width))
    alone = evaluate(lambda users: scores[users], data, "test_tail", ks=tuple(range(1, 21)), n_recs=20)
    row_of = {user: row for row, user in enumerate(alone.users)}
    compared = 0
    for row, user in enumerate(lists.users):
        if user not in row_of:
            continue
        listed = lists.top_items[row][:20]
        m = int(tail[listed[listed >= 0]].sum())
        expected = alone.per_user["recall", m][row_of[user]] if m else 0.0
        assert lists.per_user["tail_recall", 20][row] == pytest.approx(expected, abs=1e-12)
        compared += 1
    assert compared == len(alone.users) > 500
    if every:  # the slots put 5 tail items in every list
        assert lists.metrics["tail_share@20"] >= 5 / 20
