"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

A closed-form item-item linear model: the best ridge regression of each item column of the train
matrix X on all *other* items. It is the strongest cheap ID baseline on MovieLens-sized data.
"""

from __future__ import annotations

import torch

from kgrec.data.dataset import Dataset
from kgrec.models.base import Recommender


class EASE(Recommender):
    """B = I - P diag(1/diag(P)) with P = (X^T X + reg I)^-1, so diag(B) = 0; scores are X_u B."""

    def __init__(self, data: Dataset, reg: float = 250.0):
        super().__init__(data)
        self.reg = reg
        self.register_buffer("history", torch.zeros(self.num_users, self.num_items))
        self.register_buffer("weights", torch.zeros(self.num_items, self.num_items))

    def fit(self, data: Dataset) -> None:
        history = torch.zeros(self.num_users, self.num_items, dtype=torch.float64)
        users = torch.as_tensor(data.train.users, dtype=torch.long)
        items = torch.as_tensor(data.train.items, dtype=torch.long)
        history[users, items] = 1.0  # implicit feedback: a repeated pair is still one positive
        # An item without train interactions has a Gram row of reg * I, so its weights are all zero: solving for
        # the seen items alone gives the same B (18k-item catalogues are mostly unseen in train).
        seen = torch.unique(items)
        gram = history[:, seen].T @ history[:, seen]
        gram.diagonal().add_(self.reg)
        # float64: the Gram matrix of a few thousand items is ill-conditioned; it is positive definite.
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(gram))
        block = -inverse / inverse.diagonal()
        block.diagonal().zero_()
        self.history.copy_(history)
        self.weights.zero_()
        self.weights[seen.unsqueeze(1), seen] = block.float()

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.history[users] @ self.weights
