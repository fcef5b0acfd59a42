"""The benchmark bundle (shared/datasets/README.md): fixed splits, catalogue, cold items, KG and tags.

Every file present is validated whatever the model will use, so that a broken bundle fails at load
time naming the file and line, not half-way through training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.data.dataset import SPLITS, Dataset, Interactions, KnowledgeGraph, Tags
from kgrec.data.problems import Problems
from kgrec.data.tables import read_plain_tsv, read_rows, read_table
from kgrec.errors import DataError, KgrecError


# Splits whose users define the user vocabulary; test_cold and tags may only name those users.
USER_SPLITS = ("train", "valid", "test")


@dataclass
class _Catalogue:
    ids: list[str]
    entities: list[str | None]
    titles: list[str]
    texts: list[str]
    index: dict[str, int]


def load_bundle(path: str | Path, *, on_error: str = "raise", kg: dict[str, Any] | None = None) -> Dataset:
    """Load and check a bundle directory; `kg` holds options for kgrec.data.rdf.load_rdf (e.g. language)."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(root, None, "bundle directory not found")
    problems = Problems(on_error)
    kg_options = _kg_options(kg or {})
    catalogue = _read_items(root / "items.tsv", problems)
    cold_items = _read_cold_items(root / "cold_items.txt", catalogue.index, problems)
    users: dict[str, int] = {}
    splits = {name: _read_split(root / f"{name}.tsv", name, catalogue, cold_items, users, problems) for name in SPLITS}
    tags_path = root / "tags.tsv"
    tags = _read_tags(tags_path, catalogue.index, users, problems) if tags_path.exists() else Tags()
    data = Dataset(
        name=_name(root),
        user_ids=list(users),
        item_ids=catalogue.ids,
        item_titles=catalogue.titles,
        item_texts=catalogue.texts,
        splits=splits,
        cold_items=cold_items,
        kg=_load_kg(root / "kg.nt", catalogue.entities, kg_options, problems),
        tags=tags,
    )
    problems.log_summary()
    return data


def _name(root: Path) -> str:
    """The directory's name; the shared datasets keep bundles in <dataset>/bundle, so there the dataset's."""
    root = root.resolve()
    return root.parent.name if root.name == "bundle" else root.name


def _read_items(path: Path, problems: Problems) -> _Catalogue:
    table = read_table(path, ["item_id", "entity", "title", "text"], problems=problems)
    rows = zip(table.columns["item_id"], table.columns["entity"], table.columns["title"], table.columns["text"])
    first: dict[str, tuple[tuple[str, ...], int]] = {}  # item id -> (its row, its line)
    for row, line in zip(rows, table.lines):
        item = row[0]
        if not item:
            problems.bad_row(DataError(path, line, "empty item_id"))
        elif item not in first:
            first[item] = row, line
        elif first[item][0] == row:
            problems.duplicates += 1
        else:
            problems.bad_row(DataError(path, line, f"item {item!r} is already listed on line {first[item][1]}"))
    if not first:
        raise DataError(path, None, "no items")
    ids, entities, titles, texts = (list(column) for column in zip(*(row for row, _ in first.values())))
    return _Catalogue(ids, [entity or None for entity in entities], titles, texts,
                      {item: position for position, item in enumerate(ids)})


def _read_cold_items(path: Path, item_index: dict[str, int], problems: Problems) -> np.ndarray:
    """One item id a line, no header."""
    if not path.is_file():
        raise DataError(path, None, "file not found")
    cold: dict[int, None] = {}
    for line, fields in read_rows(path, "\t"):
        if len(fields) != 1:
            problems.bad_row(DataError(path, line, f"expected one item id, found {len(fields)} fields"))
            continue
        item = _lookup(item_index, fields[0].strip(), "item", path, line, problems)
        if item is None:
            continue
        if item in cold:
            problems.duplicates += 1
        cold[item] = None
    return np.array(list(cold), dtype=np.int64)


def _read_split(path: Path, name: str, catalogue: _Catalogue, cold_items: np.ndarray, users: dict[str, int],
                problems: Problems) -> Interactions:
    """Interactions of one split; new users of train, valid and test join `users` in order of appearance."""
    return (_read_plain_split(path, name, catalogue, cold_items, users, problems)
            or _read_split_by_line(path, name, catalogue.index, set(cold_items.tolist()), users, problems))


def _read_plain_split(path: Path, name: str, catalogue: _Catalogue, cold_items: np.ndarray, users: dict[str, int],
                      problems: Problems) -> Interactions | None:
    """`_read_split_by_line`'s result in bulk (1e7 rows: seconds, not minutes), or None (nothing changed) when a
    row has anything that reader must judge: unknown ids, a bad timestamp, a cold item in the wrong split."""
    columns = read_plain_tsv(path, ["user_id", "item_id", "timestamp"])
    if columns is None or not len(columns["user_id"]):
        return None
    try:
        timestamps = pc.cast(columns["timestamp"], pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None
    found = pc.index_in(columns["item_id"], value_set=pa.array(catalogue.ids, pa.string()))
    if found.null_count:
        return None
    items = found.to_numpy().astype(np.int64)
    cold = np.zeros(len(catalogue.ids), dtype=bool)
    cold[cold_items] = True
    if (cold[items] != (name == "test_cold")).any():
        return None
    if name in USER_SPLITS:
        for user in pc.unique(columns["user_id"]).to_pylist():  # in order of first appearance
            users.setdefault(user, len(users))
    user_index = pc.index_in(columns["user_id"], value_set=pa.array(list(users), pa.string()))
    if user_index.null_count:  # test_cold names a user of no other split
        return None
    rows = np.stack([user_index.to_numpy(), items, timestamps])
    first = _first_occurrences(rows)
    problems.duplicates += rows.shape[1] - len(first)
    rows = rows[:, first]
    return Interactions(users=rows[0], items=rows[1], timestamps=rows[2])


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of every distinct column of `rows` (users, items, timestamps), in order."""
    pairs = np.sort(rows[0] * (rows[1].max() + 1) + rows[1])
    if not (pairs[1:] == pairs[:-1]).any():  # the usual case, found by one sort of int64 keys
        return np.arange(rows.shape[1])
    order = np.lexsort(rows[::-1])  # stable: the first occurrence leads each run of equal columns
    ordered = rows[:, order]
    leads = np.ones(rows.shape[1], dtype=bool)
    leads[1:] = (ordered[:, 1:] != ordered[:, :-1]).any(axis=0)
    return np.sort(order[leads])


def _read_split_by_line(path: Path, name: str, item_index: dict[str, int], cold: set[int], users: dict[str, int],
                        problems: Problems) -> Interactions:
    table = read_table(path, ["user_id", "item_id", "timestamp"], problems=problems)
    rows: dict[tuple[int, int, int], None] = {}
    for user_id, item_id, stamp, line in zip(table.columns["user_id"], table.columns["item_id"],
                                             table.columns["timestamp"], table.lines):
        item = _lookup(item_index, item_id, "item", path, line, problems)
        timestamp = _integer(stamp, path, line, problems)
        if item is None or timestamp is None:
            continue
        if name in USER_SPLITS and user_id:
            users.setdefault(user_id, len(users))
        user = _lookup(users, user_id, "user", path, line, problems)
        if user is None:
            continue
        if item in cold and name != "test_cold":
            raise DataError(path, line, f"item {item_id!r} is in cold_items.txt, so only test_cold.tsv may hold it")
        if item not in cold and name == "test_cold":
            raise DataError(path, line, f"item {item_id!r} is not in cold_items.txt (test_cold.tsv holds cold items)")
        if (user, item, timestamp) in rows:
            problems.duplicates += 1
        rows[(user, item, timestamp)] = None
    if name == "train" and not rows:
        raise DataError(path, None, "no interactions (every model trains on them)")
    columns = np.array(list(rows), dtype=np.int64).reshape(-1, 3).T
    return Interactions(users=columns[0], items=columns[1], timestamps=columns[2])


def _read_tags(path: Path, item_index: dict[str, int], users: dict[str, int], problems: Problems) -> Tags:
    table = read_table(path, ["user_id", "item_id", "tag"], problems=problems)
    names: dict[str, int] = {}
    applications: dict[tuple[int, int, int], None] = {}
    for user_id, item_id, tag, line in zip(table.columns["user_id"], table.columns["item_id"],
                                           table.columns["tag"], table.lines):
        user = _lookup(users, user_id, "user", path, line, problems)
        item = _lookup(item_index, item_id, "item", path, line, problems)
        if user is None or item is None:
            continue
        tag = tag.strip().lower()
        if not tag:
            problems.bad_row(DataError(path, line, "empty tag"))
            continue
        key = (user, item, names.setdefault(tag, len(names)))
        if key in applications:
            problems.duplicates += 1
        applications[key] = None
    tag_users, tag_items, tag_ids = np.array(list(applications), dtype=np.int64).reshape(-1, 3).T
    return Tags(users=tag_users, items=tag_items, tags=tag_ids, names=list(names))


def _kg_options(options: dict[str, Any]) -> dict[str, Any]:
    from kgrec.ingest.load import KG_OPTIONS

    unknown = sorted(set(options) - set(KG_OPTIONS))
    if unknown:
        raise KgrecError(f"data.kg: unknown option(s) {unknown}; a bundle's KG accepts {list(KG_OPTIONS)}")
    return {key: value for key, value in options.items() if value is not None}


def _load_kg(path: Path, entities: list[str | None], options: dict[str, Any], problems: Problems) -> KnowledgeGraph:
    """kg.nt, through the data.kg.cache directory when one is set (which alone names a KG without kg.nt)."""
    if not path.exists() and options.get("cache") is None:
        return KnowledgeGraph(item_entity=np.full(len(entities), -1, dtype=np.int64))
    # rdflib is imported only when there is a KG: it is slow to import.
    from kgrec.data.rdf import load_rdf

    return load_rdf([path] if path.exists() else [], entities, problems=problems, **options)


def _lookup(index: dict[str, int], key: str, what: str, path: Path, line: int, problems: Problems) -> int | None:
    if key in index:
        return index[key]
    if not key:
        problems.bad_row(DataError(path, line, f"empty {what}_id"))
    elif what == "user":
        problems.bad_row(DataError(path, line, f"user {key!r} does not appear in train, valid or test"))
    else:
        problems.bad_row(DataError(path, line, f"unknown item {key!r}", hint="every item must be listed in items.tsv"))
    return None


def _integer(value: str, path: Path, line: int, problems: Problems) -> int | None:
    try:
        return int(value)
    except ValueError:
        problems.bad_row(DataError(path, line, f"timestamp {value!r} is not an integer"))
        return None
