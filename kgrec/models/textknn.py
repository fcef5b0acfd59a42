"""Text-only kNN: a user is the mean text embedding of the items they liked.

It never looks at other users, so it scores cold and long-tail items exactly like popular ones: the
reference point for what item text alone can do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kgrec.data.dataset import Dataset
from kgrec.errors import KgrecError
from kgrec.models.base import Recommender


class TextKNN(Recommender):
    """Cosine similarity between each user's mean liked-item embedding and every item embedding."""

    needs_text = True
    scores_unseen_items = True

    def __init__(self, data: Dataset, text_features: dict[str, tuple[torch.Tensor, torch.Tensor]]):
        super().__init__(data)
        item_features, _ = text_features["item"]
        if len(item_features) != data.num_items:
            raise KgrecError(f"text features cover {len(item_features)} items but {data.name} has {data.num_items}")
        # Items without text have zero rows and stay zero: they score 0 and add nothing to a profile.
        self.register_buffer("item_embeddings", F.normalize(item_features.float(), dim=1))
        self.register_buffer("user_profiles", torch.zeros(data.num_users, item_features.shape[1]))

    def fit(self, data: Dataset) -> None:
        users = torch.from_numpy(data.train.users).long()
        items = torch.from_numpy(data.train.items).long()
        sums = torch.zeros_like(self.user_profiles).index_add_(0, users, self.item_embeddings[items])
        counts = torch.bincount(users, minlength=self.num_users).clamp(min=1).unsqueeze(1)
        # Normalised so that the dot product in `score` is the cosine; users without items stay zero.
        self.user_profiles = F.normalize(sums / counts, dim=1)

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_profiles[users] @ self.item_embeddings.T
