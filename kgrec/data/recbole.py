"""Import RecBole atomic files (NAME.inter, .item, .kg, .link) as a kgrec Dataset.

RecBole types every column in the header ("rating:float"); the suffix is stripped to find columns,
so one importer reads any dataset of RecBole's zoo that follows its field-name conventions.
User features (.user) are not used by any kgrec model and are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from kgrec.data.dataset import Dataset, KnowledgeGraph
from kgrec.data.problems import Problems
from kgrec.data.raw import Catalogue, build_dataset, read_positives
from kgrec.data.tables import Table, read_rows, read_table
from kgrec.errors import DataError

log = logging.getLogger(__name__)

#: Title fields of RecBole's datasets (MovieLens, Amazon, Yelp, ...), first match wins.
TITLE_FIELDS = ("movie_title", "title", "item_name", "name")
#: Field types whose values describe an item in words; numbers and vectors stay out of the text.
TEXT_TYPES = ("token", "token_seq")


def load_recbole(
    directory: str | Path,
    dataset_name: str | None = None,
    *,
    split: Mapping,
    min_rating: float | None = 4.0,
    on_error: str = "raise",
    encoding: str = "utf-8",
    user_field: str = "user_id",
    item_field: str = "item_id",
    rating_field: str = "rating",
    time_field: str = "timestamp",
) -> Dataset:
    """Read `directory/NAME.*` (NAME defaults to the one *.inter file there); field names as in RecBole's config."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(directory, None, "directory not found")
    name = dataset_name or _dataset_name(directory)
    problems = Problems(on_error)
    item_path = directory / f"{name}.item"
    catalogue = _read_items(item_path, item_field, encoding, problems) if item_path.is_file() else None
    interactions = _read_atomic(directory / f"{name}.inter", [user_field, item_field], [rating_field, time_field],
                                encoding, problems)
    positives = read_positives(
        interactions, user=user_field, item=item_field,
        rating=rating_field if rating_field in interactions.columns else None,
        timestamp=time_field if time_field in interactions.columns else None,
        min_rating=min_rating, catalogue=None if catalogue is None else set(catalogue.ids), problems=problems,
    )
    data = build_dataset(name, catalogue or Catalogue.of_ids(positives.known_items), positives, split)
    kg_path, link_path = directory / f"{name}.kg", directory / f"{name}.link"
    if kg_path.is_file() or link_path.is_file():
        data.kg = _read_kg(kg_path, link_path, data, item_field, encoding, problems)
    problems.log_summary()
    return data


def _dataset_name(directory: Path) -> str:
    found = sorted(path.stem for path in directory.glob("*.inter"))
    if len(found) != 1:
        raise DataError(directory, None, f"expected one NAME.inter file, found {found or 'none'}",
                        hint="pass the dataset name (data.dataset_name)")
    return found[0]


def _header(path: Path, encoding: str) -> dict[str, str]:
    """Field name -> RecBole type, from the first line ("item_id:token" -> {"item_id": "token"})."""
    if not path.is_file():
        raise DataError(path, None, "file not found")
    _, first = next(read_rows(path, "\t", encoding), (None, []))
    return dict(column.strip().partition(":")[::2] for column in first)


def _read_atomic(path: Path, required: list[str], optional: list[str], encoding: str, problems: Problems) -> Table:
    """read_table on a typed header; the returned columns are named without their `:type` suffix."""
    types = _header(path, encoding)
    missing = [field for field in required if field not in types]
    if missing:
        raise DataError(path, 1, f"missing field(s) {missing}; the header has {list(types)}")
    typed = {field: f"{field}:{types[field]}" if types[field] else field for field in types}
    table = read_table(path, [typed[field] for field in required],
                       [typed[field] for field in optional if field in typed], sep="\t", encoding=encoding,
                       problems=problems)
    return Table(table.path, {column.partition(":")[0]: values for column, values in table.columns.items()},
                 table.lines)


def _read_items(path: Path, item_field: str, encoding: str, problems: Problems) -> Catalogue:
    """Catalogue from NAME.item: the title field, then every other word field as "Field name: value."."""
    types = _header(path, encoding)
    table = _read_atomic(path, [item_field], list(types), encoding, problems)
    title_field = next((field for field in TITLE_FIELDS if field in types), None)
    described = [field for field in types if types[field] in TEXT_TYPES and field not in (item_field, title_field)]
    catalogue, first_line = Catalogue([], [], []), {}
    for row, line in enumerate(table.lines):
        item = table.columns[item_field][row]
        if not item or item in first_line:
            problem = f"item {item!r} already defined on line {first_line.get(item)}" if item else f"empty {item_field}"
            problems.bad_row(DataError(path, line, problem))
            continue
        first_line[item] = line
        title = (table.columns[title_field][row] if title_field else "") or item
        sentences = [f"{title}."]
        for field in described:
            value = table.columns[field][row]
            if value:
                words = ", ".join(value.split()) if types[field] == "token_seq" else value
                sentences.append(f"{field.replace('_', ' ').capitalize()}: {words}.")
        catalogue.ids.append(item)
        catalogue.titles.append(title)
        catalogue.texts.append(" ".join(sentences))
    return catalogue


def read_kg_rows(kg_path: Path, encoding: str, problems: Problems) -> list[tuple[str, str, str]]:
    """NAME.kg's (head, relation, tail) tokens in file order, duplicates kept (kgrec-ingest reads it too)."""
    fields = ["head_id", "relation_id", "tail_id"]
    table = _read_atomic(kg_path, fields, [], encoding, problems)
    rows = []
    for row, line in enumerate(table.lines):
        triple = tuple(table.columns[field][row] for field in fields)
        if all(triple):
            rows.append(triple)
        else:
            problems.bad_row(DataError(kg_path, line, "empty head, relation or tail"))
    return rows


def _read_kg(kg_path: Path, link_path: Path, data: Dataset, item_field: str, encoding: str,
             problems: Problems) -> KnowledgeGraph:
    """Entities and relations are the tokens (sorted); a linked item's title is its entity's label."""
    triples: dict[tuple[str, str, str], None] = {}
    for triple in read_kg_rows(kg_path, encoding, problems) if kg_path.is_file() else []:
        if triple in triples:
            problems.duplicates += 1
        else:
            triples[triple] = None
    links: dict[int, str] = {}
    if link_path.is_file():
        item_index = {item: index for index, item in enumerate(data.item_ids)}
        table = _read_atomic(link_path, [item_field, "entity_id"], [], encoding, problems)
        for row, line in enumerate(table.lines):
            item, entity = table.columns[item_field][row], table.columns["entity_id"][row]
            index = item_index.get(item)
            if index is None or not entity:
                problems.bad_row(DataError(link_path, line, f"item {item!r} is not in the catalogue" if entity
                                           else "empty entity_id"))
            elif index in links:
                if links[index] == entity:
                    problems.duplicates += 1
                else:
                    problems.bad_row(DataError(link_path, line, f"item {item!r} is already linked to {links[index]!r}"))
            else:
                links[index] = entity
    entities = sorted({token for head, _, tail in triples for token in (head, tail)} | set(links.values()))
    relations = sorted({relation for _, relation, _ in triples})
    entity_index = {entity: index for index, entity in enumerate(entities)}
    relation_index = {relation: index for index, relation in enumerate(relations)}
    kg = KnowledgeGraph(
        entities=entities,
        relations=relations,
        triples=np.array([(entity_index[h], relation_index[r], entity_index[t]) for h, r, t in triples],
                         dtype=np.int64).reshape(-1, 3),
        labels=[None] * len(entities),
        item_entity=np.full(data.num_items, -1, dtype=np.int64),
        categories=np.zeros(len(entities), dtype=bool),
    )
    for item, entity in links.items():
        kg.item_entity[item] = entity_index[entity]
        kg.labels[entity_index[entity]] = data.item_titles[item]
    log.info("%s: %d triples, %d entities, %d relations, %d of %d items linked",
             kg_path.name, len(kg), len(entities), len(relations), len(links), data.num_items)
    return kg
