"""The long-tail model on a real slice of ml-100k: it learns, reaches the tail and ranks cold items."""

import dataclasses

import numpy as np
import pytest
import torch

from kgrec.data.dataset import KnowledgeGraph, Tags
from kgrec.evaluate.metrics import evaluate
from kgrec.graph.build import build_graph
from kgrec.models.kgrec import KGRec
from kgrec.models.pop import MostPopular
from kgrec.text.cache import EmbeddingCache
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_text_features
from kgrec.train.loop import TrainerConfig, train
from slices import first_items


@pytest.fixture(scope="module")
def data(ml100k_bundle):
    from kgrec.data.bundle import load_bundle

    return first_items(load_bundle(ml100k_bundle), 500)


@pytest.fixture(scope="module")
def text_features(data, tmp_path_factory):
    return node_text_features(data, TextEncoder(), EmbeddingCache(tmp_path_factory.mktemp("cache")))


def fitted(data, text_features, **options) -> KGRec:
    torch.manual_seed(0)
    model = KGRec(data, text_features, **options)
    validate = lambda: evaluate(model.score, data, "valid", ks=(20,), n_recs=20).metrics["recall@20"]
    train(model, data, TrainerConfig(epochs=12, batch_size=4096, lr=5e-3, patience=3), validate)
    model.prepare_scoring()
    return model


@pytest.fixture(scope="module")
def model(data, text_features):
    return fitted(data, text_features)


def test_beats_most_popular_overall_and_on_the_tail(data, model):
    popular = MostPopular(data)
    popular.fit(data)
    ours = evaluate(model.score, data, "test", ks=(20,), n_recs=20).metrics
    baseline = evaluate(popular.score, data, "test", ks=(20,), n_recs=20).metrics
    assert ours["recall@20"] > baseline["recall@20"]
    assert ours["tail_recall@20"] > baseline["tail_recall@20"] + 0.02
    assert ours["coverage@20"] > 2 * baseline["coverage@20"]


def test_cold_items_get_informative_scores(data, model):
    # Cold items never interact, yet their scores differ between users and rank held-out cold items
    # far better than chance (a random top 5 of the slice's cold items finds 5/|cold| of them).
    scores = model.score(torch.arange(data.num_users))[:, torch.as_tensor(data.cold_items)]
    assert scores.std(dim=0).mean() > 0.1
    cold = evaluate(model.score, data, "test_cold", ks=(5,), n_recs=5).metrics
    assert cold["recall@5"] > 1.5 * 5 / len(data.cold_items)


def test_popularity_knob_trades_head_for_tail(data, model):
    before = evaluate(model.score, data, "test", ks=(20,), n_recs=20).metrics
    model.popularity_penalty = 1.0
    after = evaluate(model.score, data, "test", ks=(20,), n_recs=20).metrics
    model.popularity_penalty = 0.0
    assert after["tail_share@20"] > before["tail_share@20"]
    assert after["head_recall@20"] <= before["head_recall@20"]


def test_ablation_switches_change_graph_and_features(data, text_features):
    full = KGRec(data, text_features)
    no_kg = KGRec(data, text_features, use_kg=False)
    no_interests = KGRec(data, text_features, use_interests=False)
    no_text = KGRec(data, text_features, use_text=False)
    no_id = KGRec(data, text_features, use_id=False)
    assert {"category", "entity"} & set(full.node_types) and not {"category", "entity"} & set(no_kg.node_types)
    assert no_kg.adjacency._nnz() < full.adjacency._nnz()
    assert set(no_interests.node_types) == set(build_graph(data, use_interests=False).node_types)
    assert no_text.text_projection is None and len(no_text.text_nodes) == 0
    items = slice(full.offsets["item"], full.offsets["item"] + data.num_items)
    assert no_id.id_gate[items].abs().sum() == 0 and full.id_gate[items].sum() > 0
    # Without text every node needs its ID embedding; cold items then start from an untrained vector.
    assert torch.all(no_text.id_gate[no_text.offsets["user"]: no_text.offsets["user"] + data.num_users] == 1)


def test_cold_items_use_text_and_kg_not_their_untrained_id(data, model):
    items = model.offsets["item"] + torch.as_tensor(data.cold_items)
    assert torch.all(model.id_gate[items] == 0)


def test_auto_knobs_stay_within_tolerance_on_valid_and_tail_slots_lift_the_tail(data, model):
    def metrics(split="valid"):
        return evaluate(model.score, data, split, ks=(20,), n_recs=20, top_lists=model.top_lists).metrics

    model.popularity_penalty, model.tail_every = 0.0, 0
    plain = metrics()
    model.popularity_penalty, model.tail_every = "auto", "auto"
    model.calibrate(lambda: metrics()["recall@20"])
    assert model.popularity_penalty in (0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
    assert model.tail_every in (0, 20, 10, 6, 5, 4, 3)
    assert metrics()["recall@20"] >= (1 - model.knob_tolerance) * plain["recall@20"]
    model.popularity_penalty, model.tail_every = 0.0, 5  # four of the top 20 go to the tail
    slotted = metrics("test")
    model.tail_every = 0
    assert slotted["tail_share@20"] >= 4 / 20
    assert slotted["tail_recall@20"] > metrics("test")["tail_recall@20"]


def test_a_rebuilt_model_reads_every_text_from_the_cache(data, tmp_path, caplog):
    from kgrec.train.experiment import build_model

    config = {"_target_": "kgrec.models.kgrec.KGRec", "layers": 1}
    encoder = {"model": "default"}
    with caplog.at_level("INFO", logger="kgrec.text.cache"):
        build_model(config, data, encoder, str(tmp_path))
        build_model(config, data, encoder, str(tmp_path))
    encoded = [record.args[2] for record in caplog.records if "newly encoded" in record.getMessage()]
    assert len(encoded) == 6 and sum(encoded[:3]) > 0 and encoded[3:] == [0, 0, 0]


def test_trains_and_ranks_cold_items_without_tags_or_kg(data, tmp_path):
    # Item text alone: the graph is users and items, the cold items are reached through their text.
    plain = dataclasses.replace(data, kg=KnowledgeGraph(), tags=Tags())
    features = node_text_features(plain, TextEncoder(), EmbeddingCache(tmp_path))
    model = fitted(plain, features)
    assert set(model.node_types) == {"user", "item"}
    cold = evaluate(model.score, plain, "test_cold", ks=(5,), n_recs=5).metrics
    assert cold["recall@5"] > 1.5 * 5 / len(plain.cold_items)
