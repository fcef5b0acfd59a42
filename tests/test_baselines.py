"""The ID baselines on the first 200 users of the ml-100k bundle (skips without it) and on hand-made matrices."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from kgrec.data.dataset import Dataset, Interactions
from kgrec.evaluate.metrics import evaluate
from kgrec.models.bpr import BPRMF
from kgrec.models.ease import EASE
from kgrec.models.lightgcn import LightGCN
from kgrec.models.pop import MostPopular
from kgrec.train.loop import TrainerConfig, train

SLICE_USERS = 200
FAST_TRAINING = TrainerConfig(epochs=6, batch_size=512, lr=0.01, patience=6)


@pytest.fixture(autouse=True)
def one_thread():
    """These problems are tiny: on a busy 2-core machine, hand-offs between torch threads cost more than
    the arithmetic (the LightGCN test takes ~45 s with 2 threads under load, ~2 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ml100k_slice(ml100k_bundle) -> Dataset:
    """The first users of the bundle with all their interactions, over the full catalogue."""
    from kgrec.data.bundle import load_bundle

    data = load_bundle(ml100k_bundle)
    splits = {}
    for name, split in data.splits.items():
        keep = split.users < SLICE_USERS
        timestamps = None if split.timestamps is None else split.timestamps[keep]
        splits[name] = Interactions(split.users[keep], split.items[keep], timestamps)
    return dataclasses.replace(data, user_ids=data.user_ids[:SLICE_USERS], splits=splits)


@pytest.fixture(scope="module")
def random_recall(ml100k_slice) -> float:
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(SLICE_USERS, ml100k_slice.num_items, generator=generator)
    return valid_recall(lambda users: scores[users], ml100k_slice)


def valid_recall(score_fn, data: Dataset) -> float:
    return evaluate(score_fn, data, "valid", ks=(20,)).metrics["recall@20"]


def tiny_dataset(train_pairs: list[tuple[int, int]], num_users: int, num_items: int) -> Dataset:
    users, items = np.array(train_pairs).T
    return Dataset(
        name="tiny",
        user_ids=[f"u{u}" for u in range(num_users)],
        item_ids=[f"i{i}" for i in range(num_items)],
        item_titles=[""] * num_items,
        item_texts=[""] * num_items,
        splits={"train": Interactions(users, items)},
    )


def test_most_popular_scores_are_train_counts(ml100k_slice, random_recall):
    model = MostPopular(ml100k_slice)
    model.fit(ml100k_slice)
    scores = model.score(torch.tensor([0, 7, 199]))
    counts = np.bincount(ml100k_slice.train.items, minlength=ml100k_slice.num_items)
    for row in scores:
        np.testing.assert_array_equal(row.numpy(), counts)
    assert valid_recall(model.score, ml100k_slice) > random_recall + 0.1


def test_ease_matches_dense_closed_form():
    pairs = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (2, 3), (3, 3), (3, 4), (4, 0), (4, 4)]
    data = tiny_dataset(pairs, num_users=5, num_items=5)
    model = EASE(data, reg=0.5)
    model.fit(data)

    matrix = np.zeros((5, 5))
    for user, item in pairs:
        matrix[user, item] = 1.0
    inverse = np.linalg.inv(matrix.T @ matrix + 0.5 * np.eye(5))
    expected = np.eye(5) - inverse / np.diag(inverse)
    np.testing.assert_allclose(model.weights.numpy(), expected, atol=1e-6)
    assert not model.weights.diagonal().any()
    np.testing.assert_allclose(model.score(torch.tensor([1, 3])).numpy(), matrix[[1, 3]] @ expected, atol=1e-6)


def test_ease_beats_random(ml100k_slice, random_recall):
    model = EASE(ml100k_slice)
    model.fit(ml100k_slice)
    assert not model.weights.diagonal().any()
    assert valid_recall(model.score, ml100k_slice) > random_recall + 0.1


@pytest.mark.parametrize("model_class", [BPRMF, LightGCN])
def test_gradient_baselines_learn(model_class, ml100k_slice, random_recall):
    model = model_class(ml100k_slice, dim=32)
    history = train(model, ml100k_slice, FAST_TRAINING, lambda: valid_recall(model.score, ml100k_slice))
    losses = [epoch["loss"] for epoch in history.epochs]
    assert losses[-1] < losses[0]
    assert valid_recall(model.score, ml100k_slice) > random_recall + 0.1


def test_training_without_validation_runs_every_epoch_and_keeps_the_last_state(ml100k_slice):
    model = BPRMF(ml100k_slice, dim=32)
    initial = copy.deepcopy(model.state_dict())
    history = train(model, ml100k_slice, dataclasses.replace(FAST_TRAINING, epochs=3, patience=1), None)
    assert [epoch["epoch"] for epoch in history.epochs] == [1, 2, 3]
    assert all(set(epoch) == {"epoch", "loss", "seconds"} for epoch in history.epochs)
    assert all(not torch.equal(initial[name], value) for name, value in model.state_dict().items())


def test_lightgcn_scores_follow_restored_weights():
    data = tiny_dataset([(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)], num_users=3, num_items=3)
    model = LightGCN(data, dim=8, layers=2)
    users = torch.arange(3)
    model.prepare_scoring()
    before, saved = model.score(users).clone(), copy.deepcopy(model.state_dict())

    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model.loss(users, torch.tensor([0, 1, 2])).backward()
    optimizer.step()
    assert not torch.allclose(model.score(users), before)

    model.load_state_dict(saved)
    torch.testing.assert_close(model.score(users), before)
