"""benchmarks/inductive.py's bundle split: the reduced bundle must not know the cold items at all, and the
added files must give them back whole (every item row, every triple), in add_items' format."""

import importlib.util
from pathlib import Path

import pytest

from kgrec.data.bundle import load_bundle
from kgrec.data.tables import read_table

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "inductive.py"


@pytest.fixture(scope="module")
def inductive():
    spec = importlib.util.spec_from_file_location("inductive", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def split(inductive, ml100k_bundle, tmp_path_factory):
    work = tmp_path_factory.mktemp("inductive")
    count = inductive.split_bundle(ml100k_bundle, work / "reduced", work / "added")
    return count, work / "reduced", work / "added"


def test_reduced_bundle_has_no_trace_of_the_cold_items(ml100k_bundle, split):
    count, reduced, _ = split
    original = load_bundle(ml100k_bundle)
    data = load_bundle(reduced)
    cold_ids = {original.item_ids[i] for i in original.cold_items}
    cold_entities = {original.kg.entities[e] for e in original.kg.item_entity[original.cold_items] if e >= 0}
    assert count == len(cold_ids) > 0 and cold_entities
    assert data.item_ids == [item for item in original.item_ids if item not in cold_ids]
    assert len(data.cold_items) == 0 and len(data.splits["test_cold"]) == 0
    assert not cold_entities & set(data.kg.entities)
    assert data.user_ids == original.user_ids  # the evaluator's user indices carry over
    for name in ("train", "valid", "test"):
        assert len(data.splits[name]) == len(original.splits[name])


def test_added_files_give_the_cold_items_back_whole(ml100k_bundle, split):
    _, reduced, added = split
    original = read_table(ml100k_bundle / "items.tsv", ["item_id", "entity", "title", "text"])
    cold = set((ml100k_bundle / "cold_items.txt").read_text().split())
    table = read_table(added / "added.tsv", ["item_id", "title", "text"], ["entity"])
    rows = {k: [table.columns[c][i] for c in ("title", "text", "entity")] for i, k in enumerate(table.columns["item_id"])}
    assert set(rows) == cold
    for i, item in enumerate(original.columns["item_id"]):
        if item in cold:
            assert rows[item] == [original.columns[c][i] for c in ("title", "text", "entity")]

    moved = (added / "added.nt").read_text(encoding="utf-8").splitlines()
    kept = (reduced / "kg.nt").read_text(encoding="utf-8").splitlines()
    assert sorted(moved + kept) == sorted((ml100k_bundle / "kg.nt").read_text(encoding="utf-8").splitlines())
    entities = {f"<{row[2]}>" for row in rows.values() if row[2]}
    assert all({line.split(" ")[0], line.split(" ")[2]} & entities for line in moved)
