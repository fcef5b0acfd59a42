"""BPR-MF (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009).

Matrix factorisation trained to rank each observed item above a uniformly sampled one; the classic
gradient-trained ID baseline, and LightGCN without propagation.
"""

from __future__ import annotations

import torch
from torch_geometric.nn.models.lightgcn import BPRLoss

from kgrec.data.dataset import Dataset
from kgrec.models.base import Recommender


class BPRMF(Recommender):
    """Dot product of user and item embeddings; L2 on the batch's embeddings (`reg`)."""

    trainable = True

    def __init__(self, data: Dataset, dim: int = 64, reg: float = 1e-4, seed: int = 2026):
        super().__init__(data)
        self.generator = torch.Generator().manual_seed(seed)
        self.user_embedding = torch.nn.Embedding(self.num_users, dim)
        self.item_embedding = torch.nn.Embedding(self.num_items, dim)
        torch.nn.init.xavier_uniform_(self.user_embedding.weight, generator=self.generator)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight, generator=self.generator)
        self.bpr = BPRLoss(reg)

    def loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        negatives = torch.randint(self.num_items, users.shape, generator=self.generator).to(users.device)
        user, positive, negative = self.user_embedding(users), self.item_embedding(items), self.item_embedding(negatives)
        return self.bpr((user * positive).sum(-1), (user * negative).sum(-1), torch.cat([user, positive, negative]))

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_embedding(users) @ self.item_embedding.weight.T
