"""The long-tail model on a real slice of ml-100k: it learns, reaches the tail and ranks cold items."""

import dataclasses

import numpy as np
import pytest
import torch

from kgrec.data.dataset import KnowledgeGraph, Tags
from kgrec.errors import KgrecError
from kgrec.evaluate.metrics import evaluate
from kgrec.graph.build import build_graph
from kgrec.models.kgrec import KGRec
from kgrec.models.pop import MostPopular
from kgrec.text.cache import EmbeddingCache
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_text_features
from kgrec.train.cold_weight import FACTORS, held_out_items, without_items
from slices import fit_kgrec


@pytest.fixture(scope="module")
def model(ml100k_500, ml100k_500_text):
    return fit_kgrec(ml100k_500, ml100k_500_text, 12)


def test_beats_most_popular_overall_and_on_the_tail(ml100k_500, model):
    popular = MostPopular(ml100k_500)
    popular.fit(ml100k_500)
    ours = evaluate(model.score, ml100k_500, "test", ks=(20,), n_recs=20).metrics
    baseline = evaluate(popular.score, ml100k_500, "test", ks=(20,), n_recs=20).metrics
    assert ours["recall@20"] > baseline["recall@20"]
    assert ours["tail_recall@20"] > baseline["tail_recall@20"] + 0.02
    assert ours["coverage@20"] > 2 * baseline["coverage@20"]


def test_cold_items_get_informative_scores(ml100k_500, model):
    # Cold items never interact, yet their scores differ between users and rank held-out cold items
    # far better than chance (a random top 5 of the slice's cold items finds 5/|cold| of them).
    scores = model.score(torch.arange(ml100k_500.num_users))[:, torch.as_tensor(ml100k_500.cold_items)]
    assert scores.std(dim=0).mean() > 0.1
    cold = evaluate(model.score, ml100k_500, "test_cold", ks=(5,), n_recs=5).metrics
    assert cold["recall@5"] > 1.5 * 5 / len(ml100k_500.cold_items)


def test_popularity_knob_trades_head_for_tail(ml100k_500, model):
    before = evaluate(model.score, ml100k_500, "test", ks=(20,), n_recs=20).metrics
    model.popularity_penalty = 1.0
    after = evaluate(model.score, ml100k_500, "test", ks=(20,), n_recs=20).metrics
    model.popularity_penalty = 0.0
    assert after["tail_share@20"] > before["tail_share@20"]
    assert after["head_recall@20"] <= before["head_recall@20"]


def test_ablation_switches_change_graph_and_features(ml100k_500, ml100k_500_text):
    full = KGRec(ml100k_500, ml100k_500_text)
    no_kg = KGRec(ml100k_500, ml100k_500_text, use_kg=False)
    no_interests = KGRec(ml100k_500, ml100k_500_text, use_interests=False)
    no_text = KGRec(ml100k_500, ml100k_500_text, use_text=False, text_match=True)
    assert no_text.text_match_weight is None and no_text.item_text is None  # no text anywhere, the match included
    no_id = KGRec(ml100k_500, ml100k_500_text, use_id=False)
    assert {"category", "entity"} & set(full.node_types) and not {"category", "entity"} & set(no_kg.node_types)
    assert no_kg.adjacency._nnz() < full.adjacency._nnz()
    assert set(no_interests.node_types) == set(build_graph(ml100k_500, use_interests=False).node_types)
    assert no_text.text_projection is None and len(no_text.text_nodes) == 0
    items = slice(full.offsets["item"], full.offsets["item"] + ml100k_500.num_items)
    assert no_id.id_gate[items].abs().sum() == 0 and full.id_gate[items].sum() > 0
    # Without text every node needs its ID embedding; cold items then start from an untrained vector.
    assert torch.all(no_text.id_gate[no_text.offsets["user"]: no_text.offsets["user"] + ml100k_500.num_users] == 1)


def test_the_text_match_adds_w_times_the_profile_item_cosine_and_leaves_the_target_out_in_training(
        ml100k_500, ml100k_500_text):
    model = fit_kgrec(ml100k_500, ml100k_500_text, 6)  # on by default
    users = torch.arange(5)
    with torch.no_grad():
        scores = model.score(users)
        weight, model.text_match_weight.data = model.text_match_weight.data.clone(), torch.tensor(0.0)
        graph_only = model.score(users)
        model.text_match_weight.data = weight
    train = ml100k_500.train
    liked = [torch.as_tensor(train.items[train.users == user]) for user in users.tolist()]
    profiles = torch.nn.functional.normalize(torch.stack([model.item_text[items].sum(0) for items in liked]), dim=-1)
    torch.testing.assert_close(scores - graph_only, weight * profiles @ model.item_text.T)
    assert weight > 0  # trained: the match helps
    # In training the target item is not part of its own profile (it is absent at test time).
    user, first, rest = 0, liked[0][0], liked[0][1:]
    with torch.no_grad():
        trained = model._training_profiles(torch.tensor([user]), first.unsqueeze(0))[0]
    torch.testing.assert_close(trained, torch.nn.functional.normalize(model.item_text[rest].sum(0), dim=0))
    assert KGRec(ml100k_500, ml100k_500_text, text_match=False).text_match_weight is None


@pytest.mark.parametrize("full_softmax", [True, False])
def test_the_text_match_weight_gets_the_gradient_of_the_loss(full_softmax, ml100k_500, ml100k_500_text):
    """w multiplies a product computed without autograd: its gradient must still be the loss's derivative."""
    model = KGRec(ml100k_500, ml100k_500_text, text_match=True,
                  full_softmax_max_items=10_000 if full_softmax else 10)
    users, items = (torch.as_tensor(column[:512]) for column in (ml100k_500.train.users, ml100k_500.train.items))
    state = model.sampler.get_state()

    def loss_at(weight: float) -> torch.Tensor:
        model.text_match_weight.data = torch.tensor(weight)
        model.sampler.set_state(state)  # the same negatives every call
        return model.loss(users, items)

    loss_at(1.0).backward()
    epsilon = 1e-2
    with torch.no_grad():
        numeric = (loss_at(1.0 + epsilon) - loss_at(1.0 - epsilon)) / (2 * epsilon)
    assert model.text_match_weight.grad.abs() > 1e-4
    torch.testing.assert_close(model.text_match_weight.grad, numeric, rtol=1e-2, atol=1e-4)


def test_cold_items_use_text_and_kg_not_their_untrained_id(ml100k_500, model):
    items = model.offsets["item"] + torch.as_tensor(ml100k_500.cold_items)
    assert torch.all(model.id_gate[items] == 0)


def test_auto_knobs_stay_within_tolerance_on_valid_and_tail_slots_lift_the_tail(ml100k_500, model):
    def metrics(split="valid"):
        return evaluate(model.score, ml100k_500, split, ks=(20,), n_recs=20, top_lists=model.top_lists).metrics

    model.popularity_penalty, model.tail_every = 0.0, 0
    plain = metrics()
    model.popularity_penalty, model.tail_every = "auto", "auto"
    model.calibrate(lambda: metrics()["recall@20"], ml100k_500)
    assert model.popularity_penalty in (0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
    assert model.tail_every in (0, 20, 10, 6, 5, 4, 3)
    assert metrics()["recall@20"] >= (1 - model.knob_tolerance) * plain["recall@20"]
    model.popularity_penalty, model.tail_every = 0.0, 5  # four of the top 20 go to the tail
    slotted = metrics("test")
    model.tail_every = 0
    assert slotted["tail_share@20"] >= 4 / 20
    assert slotted["tail_recall@20"] > metrics("test")["tail_recall@20"]


def test_cold_items_lean_on_their_text_among_themselves_and_keep_their_spread(ml100k_500, model):
    users, cold = torch.arange(60), model.unseen_items
    with torch.no_grad():
        model.cold_text_weight = 1
        plain = model.score(users)
        model.cold_text_weight = 4
        leaning = model.score(users)
        match = model.user_profiles(users) @ model.item_text.T
    model.cold_text_weight = 1
    torch.testing.assert_close(leaning[:, ~cold], plain[:, ~cold])  # warm items untouched
    # Cold items in the order of their score plus 3 w cos(p_u, t_i) more text match ...
    expected = plain[:, cold] + 3 * model.text_match_weight.detach() * match[:, cold]
    assert torch.equal(leaning[:, cold].argsort(dim=1), expected.argsort(dim=1))
    assert not torch.equal(leaning[:, cold].argsort(dim=1), plain[:, cold].argsort(dim=1))
    # ... on the row's mean and spread of their own scores, so they reach catalogue-wide lists as often as before.
    torch.testing.assert_close(leaning[:, cold].mean(1), plain[:, cold].mean(1))
    torch.testing.assert_close(leaning[:, cold].std(1), plain[:, cold].std(1))


def test_items_held_out_for_the_twin_lose_every_interaction_and_tag(ml100k_500):
    tags = Tags(ml100k_500.train.users[:50], ml100k_500.train.items[:50], np.zeros(50, dtype=np.int64), ["fun"])
    data = dataclasses.replace(ml100k_500, tags=tags)
    items = held_out_items(data, seed=0)
    assert len(items) == round(0.1 * (data.item_popularity() > 0).sum()) and (data.item_popularity()[items] > 0).all()
    held = without_items(data, items)
    train, valid = data.splits["train"], data.splits["valid"]
    on_train, on_valid = np.isin(train.items, items), np.isin(valid.items, items)
    assert not np.isin(held.train.items, items).any() and len(held.train) == (~on_train).sum()
    assert not np.isin(held.splits["valid"].items, items).any() and len(held.splits["valid"]) == (~on_valid).sum()
    assert not np.isin(held.tags.items, items).any() and len(held.tags) == (~np.isin(tags.items, items)).sum()
    # Their train and valid pairs are what the twin is scored on, for users who keep train pairs.
    cold = held.splits["test_cold"]
    expected = {pair for pair in zip(np.r_[train.users[on_train], valid.users[on_valid]].tolist(),
                                     np.r_[train.items[on_train], valid.items[on_valid]].tolist())
                if pair[0] in set(held.train.users.tolist())}
    assert set(zip(cold.users.tolist(), cold.items.tolist())) == expected and len(cold) == len(expected) > 0
    assert list(held.cold_items) == list(items) and "test" not in held.splits


def test_the_cold_text_weight_is_chosen_on_a_twin_and_saved_with_the_model(ml100k_500, ml100k_500_text, caplog):
    from kgrec.train.experiment import fit
    from kgrec.train.loop import TrainerConfig

    twins = []

    def build_twin(held):
        twins.append((held, KGRec(held, ml100k_500_text, tail_every=0)))
        return twins[-1][1]

    model = KGRec(ml100k_500, ml100k_500_text, tail_every=0)
    eval_config = {"monitor": "recall@20", "ks": [20], "head_share": 0.2, "n_recs": 20, "batch_size": 512}
    trainer = TrainerConfig(epochs=3, batch_size=4096, lr=5e-3, device="cpu")
    with pytest.raises(KgrecError, match="twin"):
        fit(KGRec(ml100k_500, ml100k_500_text, tail_every=0), ml100k_500, trainer, eval_config)
    with caplog.at_level("INFO", logger="kgrec.train.cold_weight"):
        history = fit(model, ml100k_500, trainer, eval_config, build_twin=build_twin)
    assert model.cold_text_weight in FACTORS and "held out of a %d-epoch twin" % history.best_epoch in caplog.text
    # The twin trained without the items it was scored on.
    (held, _), = twins
    assert len(held.cold_items) and not np.isin(held.train.items, held.cold_items).any()
    rebuilt = KGRec(ml100k_500, ml100k_500_text)
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.cold_text_weight == model.cold_text_weight
    assert KGRec(ml100k_500, ml100k_500_text, text_match=False).cold_text_weight == 1  # it scales the text match


def test_a_rebuilt_model_reads_every_text_from_the_cache(ml100k_500, tmp_path, caplog):
    from kgrec.train.experiment import build_model

    config = {"_target_": "kgrec.models.kgrec.KGRec", "layers": 1}
    encoder = {"model": "default"}
    with caplog.at_level("INFO", logger="kgrec.text.cache"):
        build_model(config, ml100k_500, encoder, str(tmp_path))
        build_model(config, ml100k_500, encoder, str(tmp_path))
    encoded = [record.args[2] for record in caplog.records if "newly encoded" in record.getMessage()]
    assert len(encoded) == 6 and sum(encoded[:3]) > 0 and encoded[3:] == [0, 0, 0]


def test_trains_and_ranks_cold_items_without_tags_or_kg(ml100k_500, tmp_path):
    # Item text alone: the graph is users and items, the cold items are reached through their text.
    plain = dataclasses.replace(ml100k_500, kg=KnowledgeGraph(), tags=Tags())
    features = node_text_features(plain, TextEncoder(), EmbeddingCache(tmp_path))
    model = fit_kgrec(plain, features, 12)
    assert set(model.node_types) == {"user", "item"}
    cold = evaluate(model.score, plain, "test_cold", ks=(5,), n_recs=5).metrics
    assert cold["recall@5"] > 1.5 * 5 / len(plain.cold_items)
