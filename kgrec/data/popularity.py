"""Head, tail and cold: the popularity groups that the benchmark's metrics and kgrec's tail slots share."""

from __future__ import annotations

import math

import numpy as np

from kgrec.data.dataset import Dataset


def popularity_order(data: Dataset) -> np.ndarray:
    """Non-cold items by train count, most popular first; ties go to the lower index so the order is stable."""
    non_cold = np.setdiff1d(np.arange(data.num_items), data.cold_items)
    return non_cold[np.argsort(-data.item_popularity()[non_cold], kind="stable")]


def item_groups(data: Dataset, head_share: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (head, tail, cold) masks over items.

    Head is the top `ceil(head_share * items that occur in train)` by train count, so that it is what a
    model could have learned to be popular; tail is every other non-cold item.
    """
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must lie in [0, 1], got {head_share}")
    cold = np.zeros(data.num_items, dtype=bool)
    cold[data.cold_items] = True
    head = np.zeros(data.num_items, dtype=bool)
    head[popularity_order(data)[: math.ceil(head_share * np.count_nonzero(data.item_popularity()))]] = True
    return head, ~head & ~cold, cold
