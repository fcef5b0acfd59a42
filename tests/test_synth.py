"""kgrec-synth: the bundle loads, popularity is a power law, cold share and determinism hold, bad input is refused."""

import re
from pathlib import Path

import numpy as np
import pyarrow.csv as pv
import pytest

from kgrec.cli.synth import BUNDLE_FILES, main
from kgrec.data.bundle import load_bundle
from kgrec.data.dataset import SPLITS
from kgrec.data.synth import TOPICS, SynthConfig, generate_bundle

SMALL = SynthConfig(users=300, items=800, interactions=6000, triples=5000, topics=10)


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_bundle(SMALL, out)
    return out


def item_counts(bundle: Path) -> np.ndarray:
    """Interactions per item over every split, read without kgrec's loader."""
    items = np.concatenate([pv.read_csv(bundle / f"{name}.tsv", parse_options=pv.ParseOptions(delimiter="\t"))
                            .column("item_id").to_numpy(zero_copy_only=False) for name in SPLITS])
    return np.unique(items, return_counts=True)[1]


def test_the_bundle_loads_with_kgrecs_loader_and_has_what_was_asked(small_bundle):
    data = load_bundle(small_bundle)
    assert data.num_items == SMALL.items
    assert data.num_users <= SMALL.users
    total = sum(len(data.splits[name]) for name in SPLITS)
    assert 0.98 * SMALL.interactions <= total <= SMALL.interactions  # only cold pairs of train-less users drop
    pairs = np.concatenate([data.splits[name].users * data.num_items + data.splits[name].items for name in SPLITS])
    assert len(np.unique(pairs)) == len(pairs)  # distinct (user, item) pairs
    assert len(data.splits["test"]) == pytest.approx(SMALL.test_share * len(pairs), rel=0.15)
    assert (data.kg.item_entity >= 0).all()
    assert data.kg.categories.sum() == SMALL.topics
    assert {label for label, is_category in zip(data.kg.labels, data.kg.categories) if is_category} == set(
        list(TOPICS)[: SMALL.topics])
    kg_lines = (small_bundle / "kg.nt").read_text().count("\n")
    assert kg_lines == pytest.approx(SMALL.triples, rel=0.1)
    train_pairs = set(zip(data.train.users.tolist(), data.train.items.tolist()))
    assert len(data.tags) > 0
    assert set(zip(data.tags.users.tolist(), data.tags.items.tolist())) <= train_pairs


def test_texts_and_kg_categories_carry_the_items_topic(small_bundle):
    """Every item's text holds words of its KG genre (its main topic), so encoders can relate items by topic."""
    data = load_bundle(small_bundle)
    genre = data.kg.relations.index("http://schema.org/genre")
    head, relation, tail = data.kg.triples.T
    entity_item = {entity: item for item, entity in enumerate(data.kg.item_entity.tolist())}
    vocabulary = {name: set(words) for name, words in TOPICS.items()}
    for item_entity, topic_entity in zip(head[relation == genre], tail[relation == genre]):
        words = set(re.findall(r"[a-z]+", data.item_texts[entity_item[item_entity]].lower()))
        assert words & vocabulary[data.kg.labels[topic_entity]]


@pytest.mark.parametrize("exponent", [0.7, 1.3])
def test_popularity_follows_the_configured_power_law(tmp_path, exponent):
    config = SynthConfig(users=40000, items=2000, interactions=200000, triples=6000, popularity_exponent=exponent,
                         tag_share=0)
    generate_bundle(config, tmp_path)
    counts = np.sort(item_counts(tmp_path))[::-1]
    # The head saturates (a user takes an item once, and fans of its topic draw it again and again), and the
    # last ranks are Poisson noise around counts of a few: the law is fitted between.
    ranks = np.arange(100, 1500)
    slope = np.polyfit(np.log(ranks + 1), np.log(counts[ranks]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.1)


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_the_cold_share_is_as_asked(tmp_path, share):
    generate_bundle(SynthConfig(users=300, items=800, interactions=6000, triples=5000, cold_share=share), tmp_path)
    data = load_bundle(tmp_path)  # the loader refuses cold items outside test_cold
    interacted = len(item_counts(tmp_path))
    assert len(data.cold_items) == round(share * interacted)
    assert set(data.splits["test_cold"].items.tolist()) <= set(data.cold_items.tolist())
    assert len(data.splits["test_cold"]) > 0


def test_the_same_seed_writes_the_same_bytes_and_another_seed_differs(tmp_path, small_bundle):
    generate_bundle(SMALL, tmp_path / "again")
    generate_bundle(SynthConfig(**{**vars(SMALL), "seed": SMALL.seed + 1}), tmp_path / "other")
    for name in BUNDLE_FILES:
        original = (small_bundle / name).read_bytes()
        assert (tmp_path / "again" / name).read_bytes() == original, name
        assert (tmp_path / "other" / name).read_bytes() != original, name


@pytest.mark.parametrize("arguments, message", [
    (["--users", "0"], "--users must be a positive integer"),
    (["--interactions", "50"], "must be at least --users"),
    (["--interactions", "60000"], "at most half of users x items"),
    (["--triples", "100"], "--triples (100) is too small"),
    (["--topics", "41"], "--topics must be between 1 and 40"),
    (["--cold-share", "1"], "--cold-share must be in [0, 1)"),
    (["--valid-share", "0.5", "--test-share", "0.5"], "--valid-share + --test-share must be below 1"),
    (["--popularity-mix", "-0.1"], "--popularity-mix must be in [0, 1]"),
])
def test_bad_arguments_are_refused_with_a_clear_message(tmp_path, capsys, arguments, message):
    base = {"--users": "100", "--items": "200", "--interactions": "1000", "--triples": "2000"}
    for option, value in zip(arguments[::2], arguments[1::2]):
        base[option] = value
    argv = [part for pair in base.items() for part in pair] + ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "train.tsv").exists()


def test_an_existing_bundle_is_kept_unless_forced(tmp_path, capsys):
    argv = ["--users", "50", "--items", "100", "--interactions", "500", "--triples", "1000", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert main(argv + ["--tag-share", "0"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (tmp_path / "tags.tsv").exists()
    assert main(argv + ["--tag-share", "0", "--force"]) == 0
    assert not (tmp_path / "tags.tsv").exists()  # no stale file from the run before
    load_bundle(tmp_path)
