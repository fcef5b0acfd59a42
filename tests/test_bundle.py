"""The bundle loader on the real benchmark bundles, and on broken copies of a small ml-100k slice.

The copies are built in tmp_path (ml-100k may never be copied into the project).
"""

import csv
import logging
from pathlib import Path

import numpy as np
import pytest

from kgrec.data.bundle import load_bundle
from kgrec.errors import DataError, KgrecError

SPLIT_FILES = ("train.tsv", "valid.tsv", "test.tsv", "test_cold.tsv")


@pytest.fixture(scope="module")
def ml100k(ml100k_bundle):
    return load_bundle(ml100k_bundle)


@pytest.fixture(scope="module")
def mlsmall(mlsmall_bundle):
    return load_bundle(mlsmall_bundle)


def _split_rows(data):
    """Every (user id, item id, timestamp) of every split, as external ids."""
    return [
        (data.user_ids[user], data.item_ids[item], int(timestamp))
        for split in data.splits.values()
        for user, item, timestamp in zip(split.users, split.items, split.timestamps)
    ]


def _check_against_raw(data, positives):
    rows = _split_rows(data)
    assert len(rows) == len(set(rows)), "a positive is in two splits"
    assert set(rows) == positives
    assert data.num_users == len({user for user, _, _ in positives})
    cold = set(data.cold_items.tolist())
    for name in ("train", "valid", "test"):
        assert not cold & set(data.splits[name].items.tolist())
    assert set(data.splits["test_cold"].items.tolist()) <= cold


def test_ml100k_bundle_matches_the_raw_ratings(ml100k, ml100k_raw):
    positives = set()
    with open(ml100k_raw / "u.data", encoding="utf-8") as handle:
        for line in handle:
            user, item, rating, timestamp = line.split("\t")
            if int(rating) >= 4:
                positives.add((user, item, int(timestamp)))
    assert ml100k.name == "ml-100k"
    assert ml100k.num_items == 1682
    assert len(positives) == 55375
    _check_against_raw(ml100k, positives)
    # The README's 943 users count every rater; one of them has no rating >= 4, so 942 have positives.
    assert ml100k.num_users == 942


def test_ml100k_knowledge_graph_links_items_to_their_labelled_entities(ml100k):
    linked = np.flatnonzero(ml100k.kg.item_entity >= 0)
    assert len(linked) == 1598
    assert len(ml100k.kg.relations) == 24
    for item in linked:
        assert ml100k.kg.labels[ml100k.kg.item_entity[item]].strip() == ml100k.item_titles[item]


def test_mlsmall_bundle_matches_the_raw_ratings_and_tags(mlsmall, mlsmall_raw):
    with open(mlsmall_raw / "ratings.csv", encoding="utf-8", newline="") as handle:
        positives = {(row["userId"], row["movieId"], int(row["timestamp"]))
                     for row in csv.DictReader(handle) if float(row["rating"]) >= 4}
    assert mlsmall.num_items == 9742
    assert len(positives) == 48580
    _check_against_raw(mlsmall, positives)

    with open(mlsmall_raw / "tags.csv", encoding="utf-8", newline="") as handle:
        raw_tags = {(row["userId"], row["movieId"], row["tag"].strip().lower()) for row in csv.DictReader(handle)}
    tags = mlsmall.tags
    applications = {(mlsmall.user_ids[u], mlsmall.item_ids[i], tags.names[t])
                    for u, i, t in zip(tags.users, tags.items, tags.tags)}
    assert len(tags) > 0 and len(applications) == len(tags)
    # The bundle was written with Python's csv module, which quotes a tag that holds a quote.
    unquoted = {(user, item, next(csv.reader([name], delimiter="\t"))[0]) for user, item, name in applications}
    assert all(literal in raw_tags or plain in raw_tags for literal, plain in zip(applications, unquoted))
    assert all(name == name.strip().lower() for name in tags.names)


def test_mlsmall_genres_are_categories(mlsmall):
    kg = mlsmall.kg
    genre = kg.relations.index("http://schema.org/genre")
    genres = set(kg.triples[kg.triples[:, 1] == genre, 2].tolist())
    assert genres and genres == set(np.flatnonzero(kg.categories).tolist())


# ---------------------------------------------------------------------------------------------------
# Broken copies of a small slice of the ml-100k bundle.


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.fixture
def bundle(tmp_path, ml100k_bundle):
    """A consistent slice: the first rows of each split, the items they and cold_items.txt name, some triples."""
    target = tmp_path / "slice"
    target.mkdir()
    kept = {name: _lines(ml100k_bundle / name)[:41] for name in ("train.tsv", "valid.tsv", "test.tsv")}
    users = {row.split("\t")[0] for rows in kept.values() for row in rows[1:]}
    cold = _lines(ml100k_bundle / "cold_items.txt")
    test_cold = _lines(ml100k_bundle / "test_cold.tsv")
    kept["test_cold.tsv"] = test_cold[:1] + [row for row in test_cold[1:] if row.split("\t")[0] in users][:20]
    needed = {row.split("\t")[1] for rows in kept.values() for row in rows[1:]} | {line.strip() for line in cold}
    items = _lines(ml100k_bundle / "items.tsv")
    kept["items.tsv"] = items[:1] + [row for row in items[1:] if row.split("\t")[0] in needed]
    kept["cold_items.txt"] = cold
    entities = {"<" + row.split("\t")[1] + ">" for row in kept["items.tsv"][1:]}
    triples = [line for line in _lines(ml100k_bundle / "kg.nt") if line.split(" ", 1)[0] in entities]
    kept["kg.nt"] = [line for line in triples if "rdf-schema#label" in line][:30] + [
        line for line in triples if "rdf-schema#label" not in line][:60]
    for name, rows in kept.items():
        (target / name).write_text("".join(rows), encoding="utf-8")
    return target


def _fingerprint(data):
    """Everything loaded, except the name (every copy lives in its own directory)."""
    return (
        data.user_ids, data.item_ids, data.item_titles, data.item_texts,
        {name: (s.users.tolist(), s.items.tolist(), s.timestamps.tolist()) for name, s in data.splits.items()},
        data.cold_items.tolist(), data.kg.entities, data.kg.triples.tolist(), data.kg.item_entity.tolist(),
        data.tags.users.tolist(), data.tags.items.tolist(), data.tags.tags.tolist(), data.tags.names,
    )


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = _lines(path)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def _set_field(path: Path, number: int, column: int, value: str) -> None:
    fields = _lines(path)[number - 1].rstrip("\n").split("\t")
    fields[column] = value
    _replace_line(path, number, "\t".join(fields))


def _first_cold_item(bundle: Path) -> str:
    return _lines(bundle / "cold_items.txt")[0].strip()


def _drop_timestamp_column(bundle):
    rows = [line.rstrip("\n").split("\t")[:2] for line in _lines(bundle / "train.tsv")]
    (bundle / "train.tsv").write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def _non_utf8(path: Path, number: int) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = lines[number - 1].replace(b" ", b" \xe9", 1)
    path.write_bytes(b"\n".join(lines))


def _unknown_tag_user(bundle):
    user, item = _lines(bundle / "train.tsv")[1].split("\t")[:2]
    (bundle / "tags.tsv").write_text(f"user_id\titem_id\ttag\n{user}\t{item}\tfun\nstranger\t{item}\tfun\n")


def _warm_item(bundle: Path) -> str:
    return _lines(bundle / "train.tsv")[1].split("\t")[1]


BREAKAGES = {
    # name: (break the bundle, file named in the error, line named in the error, words of the error)
    "missing column": (_drop_timestamp_column, "train.tsv", 1, "missing column"),
    "non-UTF-8 byte": (lambda b: _non_utf8(b / "kg.nt", 7), "kg.nt", 7, "utf-8"),
    "malformed triple": (lambda b: _replace_line(b / "kg.nt", 5, "<http://a> <http://b> not-a-term ."), "kg.nt", 5,
                         "malformed N-Triples"),
    "unknown item id": (lambda b: _set_field(b / "valid.tsv", 3, 1, "99999"), "valid.tsv", 3, "unknown item"),
    "unknown cold item": (lambda b: _replace_line(b / "cold_items.txt", 2, "99999"), "cold_items.txt", 2,
                          "unknown item"),
    "non-integer timestamp": (lambda b: _set_field(b / "test.tsv", 4, 2, "yesterday"), "test.tsv", 4, "integer"),
    "short row": (lambda b: _replace_line(b / "test.tsv", 2, "1\t242"), "test.tsv", 2, "expected 3 fields"),
    "cold item in train": (lambda b: _set_field(b / "train.tsv", 5, 1, _first_cold_item(b)), "train.tsv", 5,
                           "cold_items.txt"),
    "warm item in test_cold": (lambda b: _set_field(b / "test_cold.tsv", 2, 1, _warm_item(b)), "test_cold.tsv", 2,
                               "not in cold_items.txt"),
    "unknown user in test_cold": (lambda b: _set_field(b / "test_cold.tsv", 3, 0, "stranger"), "test_cold.tsv", 3,
                                  "'stranger' does not appear"),
    "unknown user in tags": (_unknown_tag_user, "tags.tsv", 3, "'stranger' does not appear"),
    "empty train": (lambda b: (b / "train.tsv").write_text("user_id\titem_id\ttimestamp\n"), "train.tsv", None,
                    "no interactions"),
    "missing file": (lambda b: (b / "valid.tsv").unlink(), "valid.tsv", None, "not found"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_bundle_names_the_file_and_line(bundle, breakage):
    load_bundle(bundle)  # the slice itself is fine
    breaks, file, line, words = BREAKAGES[breakage]
    breaks(bundle)
    with pytest.raises(DataError) as caught:
        load_bundle(bundle)
    assert Path(caught.value.path) == bundle / file
    assert caught.value.line == line
    assert words.lower() in str(caught.value).lower()


def test_a_non_utf8_byte_in_a_table_names_its_line(bundle):
    _non_utf8(bundle / "items.tsv", 4)
    with pytest.raises(DataError) as caught:
        load_bundle(bundle)
    assert (Path(caught.value.path), caught.value.line) == (bundle / "items.tsv", 4)


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(DataError, match="absent"):
        load_bundle(tmp_path / "absent")


def _crlf(bundle):
    for path in bundle.iterdir():
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _bom(bundle):
    for name in ("train.tsv", "items.tsv", "cold_items.txt"):
        (bundle / name).write_bytes(b"\xef\xbb\xbf" + (bundle / name).read_bytes())


def _trailing_blank_lines(bundle):
    for name in ("valid.tsv", "cold_items.txt", "kg.nt"):
        (bundle / name).write_text((bundle / name).read_text(encoding="utf-8") + "\n\n  \n", encoding="utf-8")


def _extra_column(bundle):
    rows = [line.rstrip("\n") + ("\tyear" if number == 0 else "\t1995") + "\n"
            for number, line in enumerate(_lines(bundle / "items.tsv"))]
    (bundle / "items.tsv").write_text("".join(rows), encoding="utf-8")


def _duplicate_rows(bundle):
    for name in ("train.tsv", "items.tsv", "cold_items.txt", "kg.nt"):
        lines = _lines(bundle / name)
        (bundle / name).write_text("".join(lines + lines[-2:]), encoding="utf-8")


HARMLESS = {"CRLF": _crlf, "BOM": _bom, "trailing blank lines": _trailing_blank_lines,
            "extra column": _extra_column, "duplicate rows": _duplicate_rows}


@pytest.mark.parametrize("oddity", HARMLESS)
def test_harmless_oddities_load_to_the_same_dataset(bundle, oddity, caplog):
    clean = load_bundle(bundle)
    HARMLESS[oddity](bundle)
    with caplog.at_level(logging.WARNING):
        assert _fingerprint(load_bundle(bundle)) == _fingerprint(clean)
    if oddity == "duplicate rows":
        assert "8 exact duplicate rows removed" in caplog.text  # two rows in each of four files


def test_an_empty_kg_leaves_every_item_unlinked(bundle):
    clean = load_bundle(bundle)
    (bundle / "kg.nt").write_text("")
    data = load_bundle(bundle)
    assert len(data.kg) == 0 and data.kg.entities == []
    assert data.kg.item_entity.tolist() == [-1] * data.num_items
    assert _fingerprint(data)[:6] == _fingerprint(clean)[:6]


def test_without_kg_file_items_are_unlinked(bundle):
    (bundle / "kg.nt").unlink()
    data = load_bundle(bundle)
    assert len(data.kg) == 0 and data.kg.item_entity.tolist() == [-1] * data.num_items


def test_skip_mode_skips_and_counts_a_short_row(bundle, caplog):
    clean = load_bundle(bundle)
    _replace_line(bundle / "test.tsv", 2, "1\t242")
    with pytest.raises(DataError):
        load_bundle(bundle)
    with caplog.at_level(logging.WARNING):
        data = load_bundle(bundle, on_error="skip")
    assert len(data.splits["test"]) == len(clean.splits["test"]) - 1
    assert "1 bad rows skipped" in caplog.text and "test.tsv, line 2" in caplog.text


def test_tags_are_normalised_in_first_appearance_order(bundle):
    rows = [line.split("\t")[:2] for line in _lines(bundle / "train.tsv")[1:4]]
    (bundle / "tags.tsv").write_text(
        "user_id\titem_id\ttag\n"
        f"{rows[0][0]}\t{rows[0][1]}\t  Funny \n"
        f"{rows[1][0]}\t{rows[1][1]}\tdark\n"
        f"{rows[0][0]}\t{rows[0][1]}\tFUNNY\n"   # the same application once normalised
        f"{rows[2][0]}\t{rows[2][1]}\tfunny\n",
        encoding="utf-8",
    )
    data = load_bundle(bundle)
    assert data.tags.names == ["funny", "dark"]
    assert data.tags.tags.tolist() == [0, 1, 0]
    assert [data.item_ids[i] for i in data.tags.items] == [rows[0][1], rows[1][1], rows[2][1]]


def test_users_are_numbered_in_order_of_first_appearance(bundle):
    data = load_bundle(bundle)
    order = []
    for name in ("train.tsv", "valid.tsv", "test.tsv"):
        for line in _lines(bundle / name)[1:]:
            if line.split("\t")[0] not in order:
                order.append(line.split("\t")[0])
    assert data.user_ids == order


def test_unknown_kg_options_are_refused(bundle):
    with pytest.raises(KgrecError, match="unknown option"):
        load_bundle(bundle, kg={"langauge": "en"})


# The splits are read in bulk (kgrec.data.tables.read_plain_tsv) where every row is plain, else line by line.


def _read_splits_both_ways(root: Path):
    from kgrec.data import bundle as bundle_module
    from kgrec.data.problems import Problems

    catalogue = bundle_module._read_items(root / "items.tsv", Problems())
    cold = bundle_module._read_cold_items(root / "cold_items.txt", catalogue.index, Problems())
    results = []
    for bulk in (True, False):
        users, problems, splits = {}, Problems(), {}
        for name in ("train", "valid", "test", "test_cold"):
            path = root / f"{name}.tsv"
            splits[name] = (bundle_module._read_plain_split(path, name, catalogue, cold, users, problems) if bulk else
                            bundle_module._read_split_by_line(path, name, catalogue.index, set(cold.tolist()), users,
                                                              problems))
        results.append((list(users), problems.duplicates, splits))
    return results


def _pad_values(bundle):
    rows = [line.rstrip("\n").split("\t") for line in _lines(bundle / "valid.tsv")]
    (bundle / "valid.tsv").write_text("".join(" " + "  \t ".join(row) + " \n" for row in rows), encoding="utf-8")


def _extra_split_column(bundle):
    rows = [line.rstrip("\n") + ("\trating" if number == 0 else "\t5") + "\n"
            for number, line in enumerate(_lines(bundle / "train.tsv"))]
    (bundle / "train.tsv").write_text("".join(rows), encoding="utf-8")


@pytest.mark.parametrize("change", [None, _duplicate_rows, _pad_values, _extra_split_column])
def test_plain_splits_are_read_in_bulk_exactly_as_line_by_line(bundle, change):
    if change:
        change(bundle)
    (bulk_users, bulk_duplicates, bulk), (users, duplicates, by_line) = _read_splits_both_ways(bundle)
    assert all(split is not None for split in bulk.values())  # the bulk reader took every split
    assert (bulk_users, bulk_duplicates) == (users, duplicates)
    assert users and (duplicates > 0) == (change is _duplicate_rows)
    for name, split in by_line.items():
        assert [a.tolist() for a in (split.users, split.items, split.timestamps)] == [
            a.tolist() for a in (bulk[name].users, bulk[name].items, bulk[name].timestamps)]


def test_the_real_bundles_are_read_in_bulk_exactly_as_line_by_line(ml100k_bundle, mlsmall_bundle):
    for root in (ml100k_bundle, mlsmall_bundle):
        (bulk_users, _, bulk), (users, _, by_line) = _read_splits_both_ways(root)
        assert bulk_users == users and all(split is not None for split in bulk.values())
        for name, split in by_line.items():
            assert np.array_equal(split.users, bulk[name].users) and np.array_equal(split.items, bulk[name].items)
            assert np.array_equal(split.timestamps, bulk[name].timestamps)


def _quote_field(path: Path, number: int, column: int, prefix: str = '"', suffix: str = '"') -> None:
    value = _lines(path)[number - 1].rstrip("\n").split("\t")[column]
    _set_field(path, number, column, prefix + value + suffix)


@pytest.mark.parametrize("change", [
    lambda b: _quote_field(b / "test.tsv", 4, 2, "+", ""),  # int() reads +876892701, pyarrow does not
    lambda b: _quote_field(b / "train.tsv", 3, 0),  # "1": the csv module unquotes it
    lambda b: (b / "valid.tsv").write_text((b / "valid.tsv").read_text() + "\t\t\n"),  # a blank row
])
def test_rows_the_bulk_reader_cannot_judge_go_line_by_line(bundle, change):
    clean = _fingerprint(load_bundle(bundle))
    change(bundle)
    (_, _, bulk), _ = _read_splits_both_ways(bundle)
    assert any(split is None for split in bulk.values())
    assert _fingerprint(load_bundle(bundle)) == clean
