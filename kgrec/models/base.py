"""What every recommender in kgrec is: something that scores the whole catalogue for a batch of users.

Closed-form models (most-popular, EASE, text kNN) do their work in `fit`; gradient-trained models
(BPR, LightGCN, kgrec) implement `loss` and are driven by `kgrec.train.loop`. The evaluator and the
inference API only ever call `score`.
"""

from __future__ import annotations

from typing import Callable

import torch

from kgrec.data.dataset import Dataset
from kgrec.evaluate.top_k import top_k


class Recommender(torch.nn.Module):
    """Base class. Subclasses are built as `Model(data, **hyperparameters)` from `conf/model/*.yaml`."""

    #: True when the model is trained by gradient steps on (user, positive item) batches.
    trainable: bool = False
    #: True when the model needs the text encoder's node features (see kgrec.text.features).
    needs_text: bool = False
    #: False for ID-only models: items without train interactions all score alike, so their
    #: test_cold numbers only reflect how ties are broken.
    scores_unseen_items: bool = False

    def __init__(self, data: Dataset):
        super().__init__()
        self.num_users = data.num_users
        self.num_items = data.num_items

    def fit(self, data: Dataset) -> None:
        """Closed-form fitting on `data.train`. Gradient-trained models leave this as is."""

    def loss(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Training loss for a batch of positive (user, item) pairs."""
        raise NotImplementedError(f"{type(self).__name__} is not trained by gradient steps")

    def sparse_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters whose gradients are sparse (only the rows a step touched). The training loop gives them
        torch.optim.SparseAdam, so that a step's cost follows the batch, not the size of the table."""
        return []

    def learning_rates(self) -> dict[torch.nn.Parameter, float]:
        """Parameters that train at a learning rate other than the trainer's `lr` (e.g. pretrained layers being
        fine-tuned, which a rate fit for embeddings learned from scratch would wreck). Most models have none."""
        return {}

    def calibrate(self, validate: Callable[[], float], data: Dataset) -> None:
        """After training: settle inference-time choices on the validation split of `data` (`validate()` returns
        the monitored metric). Most models have none."""

    def prepare_scoring(self) -> None:
        """Called once before a round of `score` calls (e.g. to propagate embeddings once)."""

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of shape (len(users), num_items); higher is better. Masking is the evaluator's job: it
        writes into the returned tensor, so return a new tensor or a view, never a tensor the model keeps."""
        raise NotImplementedError

    def top_lists(self, scores: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked scores (-inf = never recommend) -> each row's list: (values, item indices), at most `width`
        wide, best first, values -inf where a row runs short. The evaluator and the inference API call it
        after masking; most models list by score."""
        return tuple(top_k(scores, min(width, scores.shape[1])))
