"""Train/valid/test splits with a cold-item holdout, deterministic under a seed.

Cold items are held out before anything else so that no trace of them (not even a validation
interaction) reaches training: `test_cold` measures how a model ranks items it has never seen used.
The rest is split per user, so every user with enough history is evaluated and none loses all of
their training data.
"""

from __future__ import annotations

import logging

import numpy as np

from kgrec.data.dataset import SPLITS, Interactions
from kgrec.errors import KgrecError

log = logging.getLogger(__name__)

STRATEGIES = ("random", "temporal")
TRAIN, VALID, TEST, TEST_COLD = (SPLITS.index(name) for name in ("train", "valid", "test", "test_cold"))


def split_interactions(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray | None = None,
    *,
    strategy: str,
    valid_share: float = 0.1,
    test_share: float = 0.1,
    cold_item_share: float = 0.1,
    seed: int = 2026,
) -> tuple[dict[str, Interactions], np.ndarray]:
    """Split positive (user, item) pairs into train/valid/test/test_cold; returns the splits and the cold items.

    "random" holds out a random `test_share` and `valid_share` of each user's interactions (rounded
    half up, at least one left in train); "temporal" holds out each user's latest interaction for
    test and the one before for valid (shares unused). Every split keeps the input order.
    """
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    _check(users, items, timestamps, strategy, valid_share, test_share, cold_item_share)
    rng = np.random.default_rng(seed)
    cold_items = _pick_cold_items(items, cold_item_share, rng)
    is_cold = _member_mask(items, cold_items)
    warm = np.flatnonzero(~is_cold)
    if strategy == "random":
        # One integer key (user, random rank) sorts as lexsort would, ten times faster at 1e6 rows.
        order = warm[np.argsort(users[warm] * len(warm) + rng.permutation(len(warm)))]
    else:  # latest first; of equal timestamps the later row counts as later
        order = warm[np.lexsort((-warm, -np.asarray(timestamps)[warm], users[warm]))]
    sorted_users = users[order]
    starts, sizes = _groups(sorted_users)
    held_test, held_valid = _held_out_counts(sizes, strategy, valid_share, test_share)
    split_of = np.full(len(users), -1, dtype=np.int8)
    split_of[warm] = TRAIN
    split_of[order[_ranges(starts, held_test)]] = TEST  # each user's first rows in `order`, then valid
    split_of[order[_ranges(starts + held_test, held_valid)]] = VALID
    cold_rows = np.flatnonzero(is_cold)
    cold_kept = cold_rows[_member_mask(users[cold_rows], sorted_users[starts])]  # users with train rows
    split_of[cold_kept] = TEST_COLD
    if dropped := len(cold_rows) - len(cold_kept):
        log.info("split: %d interactions with cold items dropped: their users have no train interactions", dropped)

    def take(code: int) -> Interactions:
        rows = np.flatnonzero(split_of == code)
        return Interactions(users[rows], items[rows], None if timestamps is None else np.asarray(timestamps)[rows])

    return {name: take(code) for code, name in enumerate(SPLITS)}, cold_items


def _check(users, items, timestamps, strategy, valid_share, test_share, cold_item_share) -> None:
    if strategy not in STRATEGIES:
        raise KgrecError(f"split.strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "temporal" and timestamps is None:
        raise KgrecError("split.strategy=temporal needs timestamps; the interactions have none (use random)")
    if len(users) != len(items) or (timestamps is not None and len(timestamps) != len(users)):
        raise ValueError("users, items and timestamps must have the same length")
    for key, share in (("valid_share", valid_share), ("test_share", test_share), ("cold_item_share", cold_item_share)):
        if not 0 <= share < 1:
            raise KgrecError(f"split.{key} must be in [0, 1), got {share}")
    if valid_share + test_share >= 1:
        raise KgrecError(f"split.valid_share + split.test_share must be below 1, got {valid_share + test_share}")


def _round_half_up(values: np.ndarray) -> np.ndarray:
    """Python's round() rounds 2.5 to 2; shares of small histories should not depend on parity."""
    return np.floor(values + 0.5).astype(np.int64)


def _pick_cold_items(items: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    candidates = np.flatnonzero(np.bincount(items))  # np.unique, without its slow sort of every row
    count = int(_round_half_up(np.array(share * len(candidates))))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def _member_mask(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """np.isin for indices (non-negative) by a lookup table: one gather, where isin makes several passes."""
    table = np.zeros(max(values.max(initial=-1), members.max(initial=-1)) + 1, dtype=bool)
    table[members] = True
    return table[values]


def _groups(sorted_users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by user: where each user's rows start, and how many there are."""
    is_start = np.ones(len(sorted_users), dtype=bool)
    is_start[1:] = sorted_users[1:] != sorted_users[:-1]
    starts = np.flatnonzero(is_start)
    return starts, np.diff(np.r_[starts, len(sorted_users)])


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """np.arange(start, start + length) of every pair, concatenated."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if len(ends) else 0) + np.repeat(starts - ends + lengths, lengths)


def _held_out_counts(count: np.ndarray, strategy: str, valid_share: float, test_share: float):
    """How many of each user's `count` rows go to test and to valid; at least one always stays in train."""
    if strategy == "temporal":
        return (count >= 2).astype(np.int64), (count >= 3).astype(np.int64)
    test, valid = _round_half_up(test_share * count), _round_half_up(valid_share * count)
    excess = np.maximum(test + valid - (count - 1), 0)
    valid_cut = np.minimum(excess, valid)
    return test - (excess - valid_cut), valid - valid_cut
