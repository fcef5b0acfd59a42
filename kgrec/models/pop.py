"""Most-popular: every user gets the same ranking by train count (the floor any personalised model must beat)."""

from __future__ import annotations

import torch

from kgrec.data.dataset import Dataset
from kgrec.models.base import Recommender


class MostPopular(Recommender):
    """Scores each item by its number of train interactions."""

    def __init__(self, data: Dataset):
        super().__init__(data)
        self.register_buffer("counts", torch.zeros(self.num_items))

    def fit(self, data: Dataset) -> None:
        self.counts.copy_(torch.as_tensor(data.item_popularity()))

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.counts.expand(len(users), -1)
