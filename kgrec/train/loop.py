"""The gradient-training loop: shuffled (user, positive item) batches, Adam, early stopping on validation.

Models own their loss (BPR, softmax, ...); this loop owns epochs, the optimiser, progress reporting
and keeping the best validation state.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from kgrec.data.dataset import Dataset
from kgrec.models.base import Recommender

log = logging.getLogger(__name__)


@dataclass
class TrainerConfig:
    epochs: int = 50
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5          # evaluations without improvement before stopping
    eval_every: int = 1        # epochs between validations
    seed: int = 2026
    device: str = "cpu"


@dataclass
class TrainingLog:
    """What happened during training, for the results table and the benchmark reports."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: float = float("-inf")
    seconds: float = 0.0

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(len(self.epochs), 1)


def train(
    model: Recommender,
    data: Dataset,
    config: TrainerConfig,
    validate: Callable[[], float],
    monitor: str = "valid",
) -> TrainingLog:
    """Train `model` by gradient steps; `validate()` returns the metric to maximise (higher is better).

    The model ends in its best-validation state.
    """
    generator = torch.Generator().manual_seed(config.seed)
    users = torch.as_tensor(data.train.users, dtype=torch.long)
    items = torch.as_tensor(data.train.items, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history = TrainingLog()
    best_state = copy.deepcopy(model.state_dict())
    stale = 0
    start = time.perf_counter()
    progress = tqdm(range(1, config.epochs + 1), desc=f"train {type(model).__name__}", unit="epoch")
    for epoch in progress:
        model.train()
        order = torch.randperm(len(users), generator=generator)
        total, batches = 0.0, 0
        for batch in order.split(config.batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss(users[batch].to(config.device), items[batch].to(config.device))
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        record = {"epoch": epoch, "loss": total / max(batches, 1)}
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            model.eval()
            with torch.no_grad():
                model.prepare_scoring()
                record[monitor] = value = validate()
            if value > history.best_valid:
                history.best_valid, history.best_epoch, stale = value, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        record["seconds"] = time.perf_counter() - start
        history.epochs.append(record)
        progress.set_postfix({key: f"{value:.4f}" for key, value in record.items() if key not in ("epoch", "seconds")})
        if stale >= config.patience:
            log.info("early stopping at epoch %d (best %s %.4f at epoch %d)", epoch, monitor, history.best_valid,
                     history.best_epoch)
            break
    history.seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    model.eval()
    return history
