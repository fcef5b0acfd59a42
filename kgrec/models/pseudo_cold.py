"""Pseudo-cold validation: how much cold items should lean on their text, chosen without any cold pair.

The validation split holds no cold item (they have no interactions at all), so a choice that only moves cold
items, such as kgrec's `cold_text_weight`, cannot be made on it directly. Here a random share of the warm
items is made cold after training: their user and interest edges and their ID inputs are removed, the graph
is propagated again, the users' text profiles lose them, and their valid pairs are ranked among them alone,
as test_cold ranks the real cold items. The model was trained with these items warm, so the recall it
measures is far above the real cold recall (ml-100k: about 0.8 against 0.43), but where it peaks followed
test_cold on the benchmark bundles (README, "The long-tail model").
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from torch import Tensor

from kgrec.data.dataset import Dataset
from kgrec.evaluate.metrics import evaluate

#: The share of warm items made cold: the bundles hold out 10% of their items as cold.
SHARE = 0.1


def pseudo_cold_items(data: Dataset, seed: int, share: float = SHARE) -> np.ndarray:
    """A seeded random `share` of the items with train interactions, sorted."""
    warm = np.nonzero(data.item_popularity() > 0)[0]
    count = max(1, round(share * len(warm)))
    return np.sort(np.random.default_rng(seed).choice(warm, size=min(count, len(warm)), replace=False))


def pseudo_cold_split(data: Dataset, items: np.ndarray) -> Dataset:
    """`data` whose cold items are `items` and whose test_cold split is the valid pairs on them (left out of
    valid, so the evaluator does not exclude them as seen); train is unchanged, so a user's train items stay
    excluded."""
    valid = data.splits["valid"]
    on_items = np.isin(valid.items, items)
    splits = {"train": data.train, "valid": valid.take(~on_items), "test_cold": valid.take(on_items)}
    return dataclasses.replace(data, splits=splits, cold_items=items)


def pseudo_cold_recalls(data: Dataset, items: np.ndarray, scores_for: Callable[[float], Callable[[Tensor], Tensor]],
                        factors: tuple[float, ...], k: int = 20) -> list[float]:
    """recall@k of the valid pairs on `items`, ranked among `items` alone, for each factor's score function
    (users -> scores over the catalogue)."""
    split = pseudo_cold_split(data, items)
    if not len(split.splits["test_cold"]):
        return [0.0] * len(factors)
    return [evaluate(scores_for(factor), split, "test_cold", ks=(k,), n_recs=k).metrics[f"recall@{k}"]
            for factor in factors]
