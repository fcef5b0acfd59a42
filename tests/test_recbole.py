"""Importing RecBole atomic files: the real ml-100k files and small hand-made broken ones."""

import numpy as np
import pytest

from kgrec.data.recbole import load_recbole
from kgrec.errors import DataError

RANDOM = {"strategy": "random", "seed": 2026}
NO_SPLIT = {"strategy": "random", "cold_item_share": 0.0, "valid_share": 0.0, "test_share": 0.0}


def rows(path):
    """Header field names without their :type suffix, and the data rows (split on tabs)."""
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    return [field.split(":")[0] for field in header.split("\t")], [line.split("\t") for line in lines if line]


@pytest.fixture(scope="module")
def ml100k(ml100k_raw):
    return load_recbole(ml100k_raw, split=RANDOM), ml100k_raw


def test_ml100k_users_items_and_positives(ml100k):
    data, raw = ml100k
    assert data.name == "ml-100k"
    assert (data.num_users, data.num_items) == (943, 1_682)
    fields, inter = rows(raw / "ml-100k.inter")
    user, item, rating = (fields.index(name) for name in ("user_id", "item_id", "rating"))
    positives = {(row[user], row[item]) for row in inter if float(row[rating]) >= 4}
    loaded = {(data.user_ids[u], data.item_ids[i]) for split in data.splits.values()
              for u, i in zip(split.users, split.items)}
    assert loaded <= positives
    cold = set(data.cold_items.tolist())
    train_users = set(data.train.users.tolist())
    missing = positives - loaded  # only cold interactions of users left without train items
    assert all(data.item_ids.index(i) in cold and data.user_ids.index(u) not in train_users for u, i in missing)
    assert len(missing) < 10


def test_ml100k_item_text_and_kg_as_in_the_files(ml100k):
    data, raw = ml100k
    fields, items = rows(raw / "ml-100k.item")
    title = fields.index("movie_title")
    assert data.item_ids == [row[0] for row in items]
    assert data.item_titles == [row[title] for row in items]
    assert data.item_texts[0].startswith(f"{items[0][title]}. ")
    assert "Class: Animation, Children's, Comedy." in data.item_texts[0]

    _, triples = rows(raw / "ml-100k.kg")
    _, links = rows(raw / "ml-100k.link")
    assert len(data.kg) == len({tuple(triple) for triple in triples})
    assert len(data.kg.relations) == len({relation for _, relation, _ in triples})
    assert int((data.kg.item_entity >= 0).sum()) == len({item for item, _ in links})
    heads = [data.kg.entities[h] for h in data.kg.triples[:, 0]]
    assert set(heads) == {head for head, _, _ in triples}
    for item, entity in links:
        index = data.item_ids.index(item)
        assert data.kg.entities[data.kg.item_entity[index]] == entity
        assert data.kg.labels[data.kg.item_entity[index]] == data.item_titles[index]


INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t5\t100\n1\t11\t4\t101\n2\t10\t3\t102\n"
ITEM = "item_id:token\tmovie_title:token_seq\tgenre:token_seq\n10\tAlpha\tA B\n11\tBeta\tB\n12\tGamma\tC\n"


def atomic(tmp_path, name="toy", **files):
    for suffix, text in files.items():
        (tmp_path / f"{name}.{suffix}").write_text(text, encoding="utf-8")
    return tmp_path


def test_small_atomic_files(tmp_path):
    kg = "head_id:token\trelation_id:token\ttail_id:token\ne10\tgenre\tgA\ne10\tgenre\tgA\ne11\tgenre\tgB\n"
    atomic(tmp_path, inter=INTER, item=ITEM, kg=kg, link="item_id:token\tentity_id:token\n10\te10\n12\te12\n")
    data = load_recbole(tmp_path, split=NO_SPLIT)
    assert data.item_ids == ["10", "11", "12"] and data.user_ids == ["1", "2"]
    assert data.item_texts == ["Alpha. Genre: A, B.", "Beta. Genre: B.", "Gamma. Genre: C."]
    assert len(data.train) == 2  # user 2's rating of 3 is not a positive
    assert len(data.kg) == 2  # the repeated triple is removed
    assert data.kg.entities == ["e10", "e11", "e12", "gA", "gB"]
    assert [data.kg.labels[e] for e in data.kg.item_entity if e >= 0] == ["Alpha", "Gamma"]
    np.testing.assert_array_equal(data.kg.item_entity, [0, -1, 2])


def test_implicit_inter_without_item_file(tmp_path):
    atomic(tmp_path, inter="user_id:token\titem_id:token\n1\t10\n2\t11\n")
    data = load_recbole(tmp_path, split=NO_SPLIT)
    assert data.item_titles == ["10", "11"] and len(data.train) == 2 and data.train.timestamps is None
    assert len(data.kg) == 0


@pytest.mark.parametrize("files, path, line, problem", [
    ({"inter": INTER.replace("1\t11\t4\t101", "1\t11\tfour\t101")}, "toy.inter", 3, "rating 'four' is not a number"),
    ({"inter": INTER.replace("1\t11\t4\t101", "1\t11\t4")}, "toy.inter", 3, "expected 4 fields, found 3"),
    ({"inter": INTER.replace("2\t10", "2\t99"), "item": ITEM}, "toy.inter", 4, "item '99' is not in the item table"),
    ({"inter": INTER.replace("user_id:token", "uid:token")}, "toy.inter", 1, "missing field(s) ['user_id']"),
    ({"inter": INTER, "item": ITEM, "link": "item_id:token\tentity_id:token\n10\te1\n10\te2\n"}, "toy.link", 3,
     "item '10' is already linked to 'e1'"),
])
def test_malformed_files_name_their_line(tmp_path, files, path, line, problem):
    atomic(tmp_path, **files)
    with pytest.raises(DataError) as caught:
        load_recbole(tmp_path, split=NO_SPLIT)
    assert (caught.value.path, caught.value.line) == (str(tmp_path / path), line)
    assert problem in str(caught.value)


def test_dataset_name_must_be_unambiguous(tmp_path):
    atomic(tmp_path, name="one", inter=INTER)
    atomic(tmp_path, name="two", inter=INTER)
    with pytest.raises(DataError, match="expected one NAME.inter file"):
        load_recbole(tmp_path, split=NO_SPLIT)
    assert load_recbole(tmp_path, "two", split=NO_SPLIT).name == "two"
