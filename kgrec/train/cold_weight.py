"""The cold text weight m of kgrec (`cold_text_weight: auto`), chosen on items held out of training.

Cold items have no pair in the validation split, so m cannot be chosen there. A twin of the model is
trained on the same data with a random 10% of the warm items made cold (their train pairs and tag
applications removed), for as many epochs as the model's best; m is the factor with which the twin ranks
those items' train and valid pairs best among them. The twin is used for nothing else.

Items made cold only after training were no stand-in: the model had learned them warm, and such a proxy
chose 2 and 4 on ml-latest-small and the synthetic bundle where items held out of training wanted 8 and 16
(benchmarks/results/cold_weight_proxy.md).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

import numpy as np
import torch

from kgrec.data.dataset import Dataset, Interactions, Tags
from kgrec.models.base import Recommender
from kgrec.train.distributed import Processes
from kgrec.train.loop import TrainerConfig, train

log = logging.getLogger(__name__)

#: The share of warm items held out: the bundles hold out 10% of their items as cold.
SHARE = 0.1
#: The factors m to choose from.
FACTORS = (1, 2, 4, 8, 16)


def held_out_items(data: Dataset, seed: int, share: float = SHARE) -> np.ndarray:
    """A seeded random `share` of the items with train interactions, sorted."""
    warm = np.nonzero(data.item_popularity() > 0)[0]
    count = min(max(1, round(share * len(warm))), len(warm))
    return np.sort(np.random.default_rng(seed).choice(warm, size=count, replace=False))


def without_items(data: Dataset, items: np.ndarray) -> Dataset:
    """`data` as if `items` had never been interacted with: their train and valid pairs leave those splits and
    become test_cold (for users who keep train pairs), their tag applications are dropped, and they are the
    cold items (the real cold items stay in the catalogue, unseen, and are not ranked). No test split: the
    twin is never tested."""
    train, valid = data.splits["train"], data.splits["valid"]
    on_train, on_valid = np.isin(train.items, items), np.isin(valid.items, items)
    held = Interactions(np.concatenate([train.users[on_train], valid.users[on_valid]]),
                        np.concatenate([train.items[on_train], valid.items[on_valid]]))
    kept_train = train.take(~on_train)
    held = held.take(np.isin(held.users, kept_train.users))
    splits = {"train": kept_train, "valid": valid.take(~on_valid), "test_cold": held}
    tags = data.tags
    keep = ~np.isin(tags.items, items)
    tags = Tags(tags.users[keep], tags.items[keep], tags.tags[keep], tags.names)
    return dataclasses.replace(data, splits=splits, cold_items=items, tags=tags)


def choose_cold_text_weight(build: Callable[[Dataset], Recommender], data: Dataset, trainer: TrainerConfig,
                            epochs: int, processes: Processes, eval_config: dict, k: int = 20) -> float:
    """The factor m whose twin (built by `build` on the held-out data, trained `epochs` epochs with `trainer`'s
    other settings) gives the held-out items' pairs the best recall@k, ranked among those items."""
    started = time.perf_counter()
    held = without_items(data, held_out_items(data, trainer.seed))
    twin = build(held)
    twin_trainer = dataclasses.replace(trainer, epochs=max(epochs, 1), resume=False)
    train(twin, held, twin_trainer, validate=None, processes=processes)  # leaves it in eval mode
    recalls = []
    with torch.no_grad():
        twin.prepare_scoring()
        for factor in FACTORS:
            twin.cold_text_weight = factor
            recalls.append(processes.evaluate(twin.score, held, "test_cold", ks=(k,), n_recs=k,
                                              head_share=eval_config["head_share"],
                                              batch_size=eval_config["batch_size"]).metrics[f"recall@{k}"])
    best = FACTORS[int(np.argmax(recalls))]
    log.info("cold_text_weight=auto chose %s on %d items held out of a %d-epoch twin (recall@%d of their %d pairs: "
             "%s; %.1f s)", best, len(held.cold_items), twin_trainer.epochs, k, len(held.splits["test_cold"]),
             ", ".join(f"{factor}: {recall:.4f}" for factor, recall in zip(FACTORS, recalls)),
             time.perf_counter() - started)
    return best
