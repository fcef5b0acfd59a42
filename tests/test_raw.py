"""Loading raw interaction/item/tag tables: the real ml-latest-small files and small broken tables."""

import csv
import gzip
import logging

import numpy as np
import pytest

from kgrec.data.raw import load_tables
from kgrec.errors import DataError, KgrecError

MLSMALL_INTERACTIONS = {"path": "ratings.csv", "user": "userId", "item": "movieId", "rating": "rating",
                        "timestamp": "timestamp", "min_rating": 4.0}
MLSMALL_ITEMS = {"path": "movies.csv", "id": "movieId", "title": "title",
                 "entity_template": "https://movielens.org/movies/{movieId}",
                 "text_template": "{title}. Genres: {genres}.", "list_separators": {"genres": "|"}}
MLSMALL_TAGS = {"path": "tags.csv", "user": "userId", "item": "movieId", "tag": "tag"}
RANDOM = {"strategy": "random", "seed": 2026}


@pytest.fixture(scope="module")
def mlsmall(mlsmall_raw):
    data = load_tables(MLSMALL_INTERACTIONS, MLSMALL_ITEMS, MLSMALL_TAGS, None, RANDOM, name="mlsmall",
                       base_dir=mlsmall_raw)
    return data, mlsmall_raw


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def held_out_pairs(data):
    return {(data.user_ids[u], data.item_ids[i]) for name in ("valid", "test", "test_cold")
            for u, i in zip(data.splits[name].users, data.splits[name].items)}


def test_mlsmall_catalogue_and_positives(mlsmall):
    data, raw = mlsmall
    movies = read_csv(raw / "movies.csv")
    assert data.item_ids == [movie["movieId"] for movie in movies]
    assert data.num_items == 9_742
    positives = {(row["userId"], row["movieId"]) for row in read_csv(raw / "ratings.csv") if float(row["rating"]) >= 4}
    assert len(positives) == 48_580
    split_pairs = [(data.user_ids[u], data.item_ids[i]) for split in data.splits.values()
                   for u, i in zip(split.users, split.items)]
    assert len(split_pairs) == len(set(split_pairs)) == len(positives)
    assert set(split_pairs) == positives
    assert all(len(data.splits[name]) > 0 for name in ("train", "valid", "test", "test_cold"))
    assert data.train.timestamps.dtype == np.int64


def test_mlsmall_item_text_follows_the_template(mlsmall):
    data, raw = mlsmall
    for index, movie in enumerate(read_csv(raw / "movies.csv")):
        title, genres = movie["title"].strip(), movie["genres"].strip()  # the table reader strips fields
        assert data.item_titles[index] == title
        assert data.item_texts[index] == f"{title}. Genres: {genres.replace('|', ', ')}."


def test_mlsmall_tags_are_known_normalised_and_never_on_held_out_pairs(mlsmall):
    data, raw = mlsmall
    tags = data.tags
    assert len(tags) > 0
    assert tags.users.max() < data.num_users and tags.items.max() < data.num_items
    assert all(name == name.strip().lower() for name in tags.names)
    held_out = held_out_pairs(data)
    expected = {(row["userId"], row["movieId"], row["tag"].strip().lower()) for row in read_csv(raw / "tags.csv")
                if (row["userId"], row["movieId"]) not in held_out}
    loaded = {(data.user_ids[u], data.item_ids[i], tags.names[t]) for u, i, t in zip(tags.users, tags.items, tags.tags)}
    assert loaded == expected and len(tags) == len(expected)


def write(path, text, opener=open):
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


RATINGS = """u,i,r,t
1,a,5,100
1,b,4,101
1,c,2,102
2,a,4.5,103
2,b,5,104
2,b,5,104
2,c,4,99
2,c,5,200
3,a,5,105
"""
ITEMS = """id,name,kind
a,Alpha,x|y
b,Beta,y
c,Gamma,
d,Delta,z
"""
SMALL = {"path": "ratings.csv", "user": "u", "item": "i", "rating": "r", "timestamp": "t"}
NO_SPLIT = {"strategy": "random", "cold_item_share": 0.0, "valid_share": 0.0, "test_share": 0.0}


def small(tmp_path, ratings=RATINGS, items=ITEMS, **options):
    write(tmp_path / "ratings.csv", ratings)
    write(tmp_path / "items.csv", items)
    item_config = {"path": "items.csv", "id": "id", "title": "name", "text_template": "{name} ({kind})",
                   "list_separators": {"kind": "|"}}
    return load_tables(SMALL, item_config, None, None, NO_SPLIT, name="small", base_dir=tmp_path, **options)


def train_rows(data):
    return [(data.user_ids[u], data.item_ids[i], t) for u, i, t in
            zip(data.train.users, data.train.items, data.train.timestamps)]


def test_small_table_positives_duplicates_and_repeats(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        data = small(tmp_path)
    # 1,c is rated 2 (not a positive); 2,b,5,104 is an exact duplicate; 2,c keeps its first row (t=99)
    assert sorted(train_rows(data)) == [("1", "a", 100), ("1", "b", 101), ("2", "a", 103), ("2", "b", 104),
                                        ("2", "c", 99), ("3", "a", 105)]
    assert "1 exact duplicate rows removed" in caplog.text
    assert "1 rows rated below min_rating" in caplog.text
    assert data.item_ids == ["a", "b", "c", "d"]  # d has no interactions but stays in the catalogue
    assert data.item_texts == ["Alpha (x, y)", "Beta (y)", "Gamma ()", "Delta (z)"]
    assert data.user_ids == ["1", "2", "3"]


def test_without_item_table_the_catalogue_is_the_interacted_items(tmp_path):
    write(tmp_path / "ratings.csv", RATINGS)
    data = load_tables(SMALL, None, None, None, NO_SPLIT, name="small", base_dir=tmp_path)
    assert data.item_ids == data.item_titles == data.item_texts == ["a", "b", "c"]


def test_implicit_feedback_without_rating_column(tmp_path):
    write(tmp_path / "clicks.tsv", "user\titem\n1\ta\n1\tb\n2\ta\n")
    data = load_tables({"path": "clicks.tsv", "user": "user", "item": "item"}, None, None, None, NO_SPLIT,
                       name="clicks", base_dir=tmp_path)
    assert len(data.train) == 3 and data.train.timestamps is None


@pytest.mark.parametrize("ratings, line, problem", [
    (RATINGS.replace("2,a,4.5,103", "2,a,good,103"), 5, "r 'good' is not a number"),
    (RATINGS.replace("3,a,5,105", "3,a,5,noon"), 10, "t 'noon' is not a number"),
    (RATINGS.replace("1,b,4,101", "1,zz,4,101"), 3, "item 'zz' is not in the item table"),
    (RATINGS.replace("1,b,4,101", "1,b,4"), 3, "expected 4 fields, found 3"),
    (RATINGS.replace("u,i,r,t", "u,item,r,t"), 1, "missing column(s) ['i']"),
])
def test_bad_rows_name_file_line_and_problem(tmp_path, ratings, line, problem):
    with pytest.raises(DataError) as caught:
        small(tmp_path, ratings=ratings)
    assert caught.value.path == str(tmp_path / "ratings.csv")
    assert caught.value.line == line
    assert problem in str(caught.value)


def test_skip_policy_counts_bad_rows(tmp_path, caplog):
    ratings = RATINGS.replace("2,a,4.5,103", "2,a,good,103").replace("1,b,4,101", "1,zz,4,101")
    with caplog.at_level(logging.WARNING):
        data = small(tmp_path, ratings=ratings, on_error="skip")
    assert ("2", "a", 103) not in train_rows(data) and len(train_rows(data)) == 4
    assert "2 bad rows skipped" in caplog.text and "line 5" in caplog.text


def test_duplicate_item_ids_and_unknown_tag_items_are_errors(tmp_path):
    with pytest.raises(DataError, match="line 4: item 'a' already defined on line 2"):
        small(tmp_path, items=ITEMS.replace("c,Gamma", "a,Gamma"))
    write(tmp_path / "tags.csv", "u,i,tag\n1,a, Funny \n1,q,odd\n")
    with pytest.raises(DataError, match=r"tags.csv, line 3: item 'q' is not in the catalogue"):
        load_tables(SMALL, None, {"path": "tags.csv", "user": "u", "item": "i"}, None, NO_SPLIT,
                    name="small", base_dir=tmp_path)


def test_unknown_config_key_is_rejected(tmp_path):
    with pytest.raises(KgrecError, match="min_ratings"):
        load_tables(SMALL | {"min_ratings": 3}, None, None, None, NO_SPLIT, name="small", base_dir=tmp_path)


def test_gzip_and_parquet_load_the_same_dataset(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.csv  # noqa: F401  (submodules are not imported by `import pyarrow`)
    import pyarrow.parquet

    expected = train_rows(small(tmp_path))
    write(tmp_path / "ratings.csv.gz", RATINGS, opener=gzip.open)
    pyarrow.parquet.write_table(pyarrow.csv.read_csv(tmp_path / "ratings.csv"), tmp_path / "ratings.parquet")
    for path in ("ratings.csv.gz", "ratings.parquet"):
        data = load_tables(SMALL | {"path": path}, None, None, None, NO_SPLIT, name="small", base_dir=tmp_path)
        assert sorted(train_rows(data)) == sorted(expected), path


def test_temporal_split_from_tables(tmp_path):
    write(tmp_path / "ratings.csv", RATINGS)
    temporal = load_tables(SMALL, None, None, None, {"strategy": "temporal", "cold_item_share": 0.0},
                           name="small", base_dir=tmp_path)
    test = temporal.splits["test"]
    latest = {(temporal.user_ids[u], temporal.item_ids[i]) for u, i in zip(test.users, test.items)}
    assert latest == {("1", "b"), ("2", "b")}  # user 3 has a single positive and keeps it in train


def test_kg_links_items_through_the_entity_template(tmp_path):
    pytest.importorskip("kgrec.data.rdf")
    write(tmp_path / "ratings.csv", RATINGS)
    write(tmp_path / "items.csv", ITEMS)
    write(tmp_path / "kg.nt", "<http://x/a> <http://schema.org/genre> <http://x/g> .\n"
                              "<http://x/b> <http://schema.org/genre> <http://x/g> .\n")
    items = {"path": "items.csv", "id": "id", "entity_template": "http://x/{id}"}
    data = load_tables(SMALL, items, None, {"paths": ["kg.nt"]}, NO_SPLIT, name="small", base_dir=tmp_path)
    linked = [data.kg.entities[e] if e >= 0 else None for e in data.kg.item_entity]
    assert linked == ["http://x/a", "http://x/b", None, None]
    assert len(data.kg) == 2
