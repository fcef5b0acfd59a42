"""Split strategies: per-user shares, cold-item holdout, determinism, temporal leave-last-out."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgrec.data.split import split_interactions
from kgrec.errors import KgrecError

HELD_OUT = ("valid", "test", "test_cold")


def random_interactions(seed: int, num_users: int = 120, num_items: int = 400, size: int = 4000):
    """Distinct (user, item) pairs with distinct timestamps, in a shuffled order."""
    rng = np.random.default_rng(seed)
    pairs = np.unique(np.c_[rng.integers(0, num_users, size), rng.integers(0, num_items, size)], axis=0)
    pairs = pairs[rng.permutation(len(pairs))]
    return pairs[:, 0], pairs[:, 1], rng.permutation(len(pairs)) * 7 + 1_000_000


def pairs(interactions) -> set[tuple[int, int]]:
    return set(zip(interactions.users.tolist(), interactions.items.tolist()))


@pytest.mark.parametrize("strategy", ["random", "temporal"])
def test_every_interaction_lands_in_one_split_and_cold_items_only_in_test_cold(strategy):
    users, items, times = random_interactions(1)
    splits, cold = split_interactions(users, items, times, strategy=strategy)
    assert len(cold) == round(0.1 * len(np.unique(items)))
    for name in ("train", "valid", "test"):
        assert not np.isin(splits[name].items, cold).any(), name
    assert np.isin(splits["test_cold"].items, cold).all()
    train_users = set(splits["train"].users.tolist())
    assert set(splits["test_cold"].users.tolist()) <= train_users
    kept = Counter(pair for split in splits.values() for pair in pairs(split))
    assert max(kept.values()) == 1
    lost = set(zip(users.tolist(), items.tolist())) - set(kept)
    assert all(item in cold and user not in train_users for user, item in lost)
    time_of = dict(zip(zip(users.tolist(), items.tolist()), times.tolist()))
    for split in splits.values():
        assert [time_of[pair] for pair in zip(split.users.tolist(), split.items.tolist())] == split.timestamps.tolist()


def test_random_shares_are_per_user_and_keep_a_train_item():
    # user 0: 20 interactions, user 1: a single one, user 2: two
    users = np.array([0] * 20 + [1] + [2, 2])
    items = np.r_[np.arange(20), 0, 1, 2]
    splits, cold = split_interactions(users, items, strategy="random", cold_item_share=0.0)
    assert len(cold) == 0 and len(splits["test_cold"]) == 0
    per_user = {name: Counter(splits[name].users.tolist()) for name in ("train", "valid", "test")}
    assert [per_user[name][0] for name in ("train", "valid", "test")] == [16, 2, 2]
    assert [per_user[name][1] for name in ("train", "valid", "test")] == [1, 0, 0]
    heavy, _ = split_interactions(users, items, strategy="random", valid_share=0.5, test_share=0.4,
                                  cold_item_share=0.0)
    assert Counter(heavy["train"].users.tolist())[2] == 1
    assert Counter(heavy["train"].users.tolist())[1] == 1


def test_random_split_shares_over_a_larger_sample():
    users, items, times = random_interactions(2)
    splits, _ = split_interactions(users, items, times, strategy="random", valid_share=0.15, test_share=0.05)
    warm = sum(len(splits[name]) for name in ("train", "valid", "test"))
    assert len(splits["valid"]) / warm == pytest.approx(0.15, abs=0.01)
    assert len(splits["test"]) / warm == pytest.approx(0.05, abs=0.01)


def test_same_seed_same_split_other_seed_differs():
    users, items, times = random_interactions(3)
    first, cold_first = split_interactions(users, items, times, strategy="random", seed=7)
    again, cold_again = split_interactions(users, items, times, strategy="random", seed=7)
    other, cold_other = split_interactions(users, items, times, strategy="random", seed=8)
    np.testing.assert_array_equal(cold_first, cold_again)
    for name in first:
        np.testing.assert_array_equal(first[name].users, again[name].users)
        np.testing.assert_array_equal(first[name].items, again[name].items)
    assert not np.array_equal(cold_first, cold_other)
    assert pairs(first["test"]) != pairs(other["test"])


def test_temporal_holds_out_each_users_latest_then_second_latest():
    users, items, times = random_interactions(4)
    splits, cold = split_interactions(users, items, times, strategy="temporal")
    warm = ~np.isin(items, cold)
    for user in np.unique(users[warm]):
        mine = warm & (users == user)
        history = items[mine][np.argsort(times[mine])]
        test_items = splits["test"].items[splits["test"].users == user].tolist()
        valid_items = splits["valid"].items[splits["valid"].users == user].tolist()
        if len(history) == 1:
            assert test_items == [] and valid_items == []
        else:
            assert test_items == [history[-1]]
            assert valid_items == ([history[-2]] if len(history) >= 3 else [])


def test_bad_arguments_are_clear_errors():
    users, items = np.array([0, 0]), np.array([0, 1])
    with pytest.raises(KgrecError, match="strategy"):
        split_interactions(users, items, strategy="leave-one-out")
    with pytest.raises(KgrecError, match="timestamps"):
        split_interactions(users, items, strategy="temporal")
    with pytest.raises(KgrecError, match="test_share"):
        split_interactions(users, items, strategy="random", valid_share=0.6, test_share=0.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 30)), min_size=1, max_size=120, unique=True),
       st.sampled_from(["random", "temporal"]), st.integers(0, 2**16))
def test_users_with_warm_history_always_keep_train_items(interactions, strategy, seed):
    users, items = (np.array(column) for column in zip(*interactions))
    splits, cold = split_interactions(users, items, np.arange(len(users)), strategy=strategy, seed=seed)
    warm_users = set(users[~np.isin(items, cold)].tolist())
    assert set(splits["train"].users.tolist()) == warm_users
    for name in HELD_OUT:
        assert set(splits[name].users.tolist()) <= warm_users
