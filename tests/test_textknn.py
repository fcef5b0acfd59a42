"""Text-only kNN on a hand-made movie catalogue and, when the loader and data are there, on ml-100k's cold items."""

import numpy as np
import pytest
import torch

from kgrec.data.dataset import Dataset, Interactions
from kgrec.errors import KgrecError
from kgrec.models.textknn import TextKNN
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_text_features

CATALOGUE = {
    "Alien (1979)": "Alien (1979). Genres: Horror, Sci-Fi. The crew of a spaceship is hunted by a deadly extraterrestrial creature.",
    "Star Wars (1977)": "Star Wars (1977). Genres: Action, Adventure, Sci-Fi. Rebels fight a galactic empire's space station.",
    "Blade Runner (1982)": "Blade Runner (1982). Genres: Sci-Fi, Thriller. A detective hunts rogue androids in a futuristic city.",
    "Sleepless in Seattle (1993)": "Sleepless in Seattle (1993). Genres: Comedy, Romance. A widower and a journalist fall in love over the radio.",
    "Pretty Woman (1990)": "Pretty Woman (1990). Genres: Comedy, Romance. A businessman falls in love with a woman he hires.",
    "Untitled": "",
}
ALIEN, STAR_WARS, BLADE_RUNNER, SLEEPLESS, PRETTY_WOMAN, UNTITLED = range(len(CATALOGUE))


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def _catalogue(train_users, train_items, num_users=3) -> Dataset:
    return Dataset(
        name="movies",
        user_ids=[f"u{u}" for u in range(num_users)],
        item_ids=[f"i{i}" for i in range(len(CATALOGUE))],
        item_titles=["", "", "", "", "", ""],
        item_texts=list(CATALOGUE.values()),
        splits={"train": Interactions(users=np.array(train_users), items=np.array(train_items))},
    )


def test_sci_fi_fan_ranks_unseen_sci_fi_above_romance(encoder):
    # User 0 liked two sci-fi films, user 1 a romance, user 2 nothing.
    data = _catalogue([0, 0, 1], [ALIEN, STAR_WARS, PRETTY_WOMAN])
    model = TextKNN(data, node_text_features(data, encoder))
    model.fit(data)
    scores = model.score(torch.tensor([0, 1, 2]))
    assert scores.shape == (3, len(CATALOGUE))
    assert scores[0, BLADE_RUNNER] > scores[0, SLEEPLESS]
    assert scores[1, SLEEPLESS] > scores[1, BLADE_RUNNER]
    assert torch.all(scores[2] == 0)
    assert torch.all(scores[:, UNTITLED] == 0)
    assert torch.all(scores.abs() <= 1 + 1e-5)
    # A one-film profile is that film's direction: the film itself is a perfect cosine match.
    torch.testing.assert_close(scores[1, PRETTY_WOMAN], torch.tensor(1.0))


def test_rejects_text_features_of_another_catalogue(encoder):
    data = _catalogue([0], [ALIEN])
    features = node_text_features(data, encoder)
    features["item"] = tuple(tensor[:-1] for tensor in features["item"])
    with pytest.raises(KgrecError, match="5 items but movies has 6"):
        TextKNN(data, features)


def test_ml100k_cold_items_liked_by_a_user_outrank_other_cold_items(ml100k_bundle, encoder):
    """Text is the only signal on cold items; on the 100 lightest cold-test users it must beat chance clearly."""
    load_bundle = pytest.importorskip("kgrec.data.bundle").load_bundle
    data = load_bundle(ml100k_bundle)
    train, cold_test = data.train, data.splits["test_cold"]
    train_counts = np.bincount(train.users, minlength=data.num_users)
    test_users = np.unique(cold_test.users)
    users = test_users[np.argsort(train_counts[test_users], kind="stable")[:100]]
    # Encode only what these users need, to stay fast: their train items and the cold candidates.
    needed = np.union1d(train.items[np.isin(train.users, users)], data.cold_items)
    features = torch.zeros(data.num_items, encoder.dim)
    features[needed] = torch.from_numpy(encoder.encode([data.item_texts[i] for i in needed]))
    mask = torch.zeros(data.num_items, dtype=torch.bool)
    mask[needed] = True
    model = TextKNN(data, {"item": (features, mask)})
    model.fit(data)
    scores = model.score(torch.from_numpy(users))[:, data.cold_items].numpy()

    aucs, recalls = [], []
    for user_scores, user in zip(scores, users):
        liked = np.isin(data.cold_items, cold_test.items[cold_test.users == user])
        aucs.extend((user_scores[~liked] < score).mean() for score in user_scores[liked])
        recalls.append(liked[np.argsort(-user_scores)[:20]].sum() / liked.sum())
    assert np.mean(aucs) > 0.6  # chance is 0.5
    assert np.mean(recalls) > 2 * 20 / len(data.cold_items)  # twice the recall@20 of a random ranking
