"""Load a dataset from ordinary tables (interactions, items, tags) plus RDF knowledge-graph files.

Driven by plain dicts that mirror the Hydra config (conf/data/kg_data.yaml), so the same keys work
from YAML and from Python. Interactions with a rating of at least `min_rating` are the positives;
every other row is either a positive, a counted non-positive/duplicate, or a DataError naming its line.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgrec.data.dataset import Dataset, KnowledgeGraph, Tags
from kgrec.data.problems import Problems
from kgrec.data.split import split_interactions
from kgrec.data.tables import Table, read_table
from kgrec.errors import DataError, KgrecError

log = logging.getLogger(__name__)

INTERACTION_DEFAULTS = {"path": None, "user": "user_id", "item": "item_id", "rating": None, "timestamp": None,
                        "min_rating": 4.0, "sep": None}
ITEM_DEFAULTS = {"path": None, "id": "item_id", "title": None, "entity": None, "entity_template": None,
                 "text_template": None, "list_separators": {}, "sep": None}
TAG_DEFAULTS = {"path": None, "user": "user_id", "item": "item_id", "tag": "tag", "sep": None}


@dataclass
class Catalogue:
    """Every item of the dataset in catalogue order, with the title and text the encoders read."""

    ids: list[str]
    titles: list[str]
    texts: list[str]

    @classmethod
    def of_ids(cls, ids: list[str]) -> Catalogue:
        """Without item metadata the id is all there is to show."""
        return cls(list(ids), list(ids), list(ids))


@dataclass
class Positives:
    """Positive interactions by external id, in file order, with duplicates and repeats removed.

    `known_users`/`known_items` hold everyone seen in a well-formed row (positive or not), in order of
    first appearance: they make the user list and, without an item table, the catalogue.
    """

    users: list[str]
    items: list[str]
    timestamps: np.ndarray | None
    known_users: list[str]
    known_items: list[str]


def load_tables(
    interactions: Mapping,
    items: Mapping | None,
    tags: Mapping | None,
    kg: Mapping | None,
    split: Mapping,
    *,
    name: str,
    base_dir: str | Path,
    on_error: str = "raise",
    encoding: str = "utf-8",
) -> Dataset:
    """Build a Dataset from interaction/item/tag tables and RDF files; relative paths resolve against `base_dir`."""
    base_dir = Path(base_dir)
    problems = Problems(on_error)
    interactions = _section(interactions, "interactions", INTERACTION_DEFAULTS)
    catalogue, entities = None, None
    if items is not None:
        catalogue, entities = _read_items(_section(items, "items", ITEM_DEFAULTS), base_dir, encoding, problems)
    columns = [interactions["user"], interactions["item"]]
    columns += [interactions[key] for key in ("rating", "timestamp") if interactions[key]]
    table = read_table(base_dir / interactions["path"], columns, sep=interactions["sep"], encoding=encoding,
                       problems=problems)
    positives = read_positives(table, user=interactions["user"], item=interactions["item"],
                               rating=interactions["rating"], timestamp=interactions["timestamp"],
                               min_rating=interactions["min_rating"],
                               catalogue=None if catalogue is None else set(catalogue.ids), problems=problems)
    data = build_dataset(name, catalogue or Catalogue.of_ids(positives.known_items), positives, split)
    if tags is not None:
        data.tags = _read_tags(_section(tags, "tags", TAG_DEFAULTS), base_dir, data, encoding, problems)
    if kg is not None:
        data.kg = _load_kg(kg, base_dir, entities or [None] * data.num_items, problems)
    problems.log_summary()
    return data


def read_positives(
    table: Table,
    *,
    user: str,
    item: str,
    rating: str | None,
    timestamp: str | None,
    min_rating: float | None,
    catalogue: set[str] | None,
    problems: Problems,
) -> Positives:
    """The positives of an interaction table; an item outside `catalogue` (when given) is a bad row.

    Exact duplicate rows count as Problems.duplicates; a repeated (user, item) pair keeps its first row.
    """
    users, items, times = [], [], []
    known_users, known_items = {}, {}
    seen_rows, seen_pairs = set(), set()
    below_min, repeated = 0, 0
    for row, line in enumerate(table.lines):
        user_id, item_id = table.columns[user][row], table.columns[item][row]
        if not user_id or not item_id:
            problems.bad_row(DataError(table.path, line, f"empty {user if not user_id else item} value"))
            continue
        if catalogue is not None and item_id not in catalogue:
            problems.bad_row(DataError(table.path, line, f"item {item_id!r} is not in the item table",
                                       hint="every interacted item needs a row in the item table"))
            continue
        score = _number(table, rating, row, line, problems) if rating else math.inf
        time = _number(table, timestamp, row, line, problems) if timestamp else 0.0
        if score is None or time is None:
            continue
        row_key = (user_id, item_id, score, time)
        if row_key in seen_rows:
            problems.duplicates += 1
            continue
        seen_rows.add(row_key)
        known_users.setdefault(user_id, None)
        known_items.setdefault(item_id, None)
        if min_rating is not None and score < min_rating:
            below_min += 1
        elif (user_id, item_id) in seen_pairs:
            repeated += 1
        else:
            seen_pairs.add((user_id, item_id))
            users.append(user_id)
            items.append(item_id)
            times.append(time)
    if below_min:
        log.info("%s: %d rows rated below min_rating=%s are not positives", table.path, below_min, min_rating)
    if repeated:
        log.info("%s: %d repeated (user, item) positives kept only their first row", table.path, repeated)
    return Positives(users, items, _timestamps(times) if timestamp else None, list(known_users), list(known_items))


def build_dataset(name: str, catalogue: Catalogue, positives: Positives, split: Mapping) -> Dataset:
    """Index users and items and split the positives with `split` (keyword arguments of split_interactions)."""
    user_index = {user: index for index, user in enumerate(positives.known_users)}
    item_index = {item: index for index, item in enumerate(catalogue.ids)}
    users = np.array([user_index[user] for user in positives.users], dtype=np.int64)
    items = np.array([item_index[item] for item in positives.items], dtype=np.int64)
    splits, cold_items = split_interactions(users, items, positives.timestamps, **_split_options(split))
    return Dataset(name, list(positives.known_users), catalogue.ids, catalogue.titles, catalogue.texts, splits,
                   cold_items, kg=KnowledgeGraph(item_entity=np.full(len(catalogue.ids), -1, dtype=np.int64)))


def _section(config: Mapping, section: str, defaults: dict) -> dict:
    """Defaults filled in; a misspelt key is an error rather than a silently ignored option."""
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise KgrecError(f"data.{section}: unknown key(s) {unknown}; allowed: {sorted(defaults)}")
    merged = {**defaults, **config}
    if "path" in defaults and not merged["path"]:
        raise KgrecError(f"data.{section}.path is required")
    return merged


def _split_options(split: Mapping) -> dict:
    allowed = {"strategy", "valid_share", "test_share", "cold_item_share", "seed"}
    unknown = sorted(set(split) - allowed)
    if unknown or "strategy" not in split:
        raise KgrecError(f"data.split needs a strategy and allows only {sorted(allowed)}; got {sorted(split)}")
    return dict(split)


def _number(table: Table, column: str, row: int, line: int, problems: Problems) -> float | None:
    value = table.columns[column][row]
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        return number
    problems.bad_row(DataError(table.path, line, f"{column} {value!r} is not a number"))
    return None


def _timestamps(values: list[float]) -> np.ndarray:
    """Whole-second timestamps stay integers (as in the bundle format); fractional ones stay floats."""
    times = np.array(values, dtype=np.float64)
    return times.astype(np.int64) if np.all(times == np.floor(times)) else times


def _template_fields(template: str | None) -> list[str]:
    """The item-table columns a format string such as "{title}. Genres: {genres}." reads."""
    if not template:
        return []
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise KgrecError(f"data.items: bad template {template!r} ({error})") from None
    if not all(field.isidentifier() for field in fields):
        raise KgrecError(f"data.items: template {template!r} must name columns, e.g. {{title}}")
    return fields


def _read_items(config: dict, base_dir: Path, encoding: str, problems: Problems) -> tuple[Catalogue, list[str | None]]:
    """The catalogue from the item table, and each item's entity IRI (None when it has none)."""
    id_column, title_column, entity_column = config["id"], config["title"], config["entity"]
    text_template, entity_template = config["text_template"], config["entity_template"]
    separators = dict(config["list_separators"] or {})
    columns = [id_column, title_column, entity_column, *_template_fields(text_template),
               *_template_fields(entity_template)]
    columns = list(dict.fromkeys(column for column in columns if column))
    table = read_table(base_dir / config["path"], columns, sep=config["sep"], encoding=encoding, problems=problems)
    catalogue, entities, first_line = Catalogue([], [], []), [], {}
    for row, line in enumerate(table.lines):
        values = {column: table.columns[column][row] for column in columns}
        item = values[id_column]
        if not item:
            problems.bad_row(DataError(table.path, line, f"empty {id_column} value"))
            continue
        if item in first_line:
            problems.bad_row(DataError(table.path, line, f"item {item!r} already defined on line {first_line[item]}"))
            continue
        first_line[item] = line
        title = values[title_column] if title_column else item
        listed = {column: ", ".join(part.strip() for part in value.split(separators[column]))
                  if column in separators else value for column, value in values.items()}
        catalogue.ids.append(item)
        catalogue.titles.append(title)
        catalogue.texts.append(text_template.format_map(listed) if text_template else title)
        if entity_template:
            entities.append(entity_template.format_map(values))
        else:
            entities.append((values[entity_column] or None) if entity_column else None)
    return catalogue, entities


def _read_tags(config: dict, base_dir: Path, data: Dataset, encoding: str, problems: Problems) -> Tags:
    """Tag applications of known users on known items; those on held-out pairs are removed (they would leak them)."""
    columns = [config["user"], config["item"], config["tag"]]
    table = read_table(base_dir / config["path"], columns, sep=config["sep"], encoding=encoding, problems=problems)
    user_index = {user: index for index, user in enumerate(data.user_ids)}
    item_index = {item: index for index, item in enumerate(data.item_ids)}
    held_out = {pair for name in ("valid", "test", "test_cold")
                for pair in zip(data.splits[name].users.tolist(), data.splits[name].items.tolist())}
    names: dict[str, int] = {}
    applications: dict[tuple[int, int, int], None] = {}
    repeated, leaking = 0, 0
    for row, line in enumerate(table.lines):
        user, item, tag = (table.columns[column][row] for column in columns)
        tag = tag.strip().lower()
        problem = (f"user {user!r} has no interactions" if user not in user_index
                   else f"item {item!r} is not in the catalogue" if item not in item_index
                   else f"empty {config['tag']} value" if not tag else None)
        if problem:
            problems.bad_row(DataError(table.path, line, problem))
            continue
        pair = (user_index[user], item_index[item])
        if pair in held_out:
            leaking += 1
            continue
        key = (*pair, names.setdefault(tag, len(names)))
        if key in applications:
            repeated += 1
        applications[key] = None
    if leaking or repeated:
        log.info("%s: %d tags on held-out (user, item) pairs removed, %d repeated tags merged",
                 table.path, leaking, repeated)
    users, items, tags = np.array(list(applications), dtype=np.int64).reshape(-1, 3).T
    return Tags(users, items, tags, list(names))


def _load_kg(config: Mapping, base_dir: Path, entities: list[str | None], problems: Problems) -> KnowledgeGraph:
    """data.kg.paths (relative to data.path) with the data.kg.* options, through data.kg.cache when set."""
    # rdflib is imported only when a KG is configured: it is slow to import and most tables have none.
    from kgrec.data.rdf import load_rdf
    from kgrec.ingest.load import KG_OPTIONS

    config = _section(config, "kg", {"paths": [], **dict.fromkeys(KG_OPTIONS)})
    options = {key: config[key] for key in KG_OPTIONS if config[key] is not None}
    paths = [base_dir / path for path in config["paths"]]
    if not paths and config["cache"] is None:
        raise KgrecError("data.kg.paths is empty; list the RDF files (or set data.kg.cache) or drop the kg section")
    return load_rdf(paths, entities, problems=problems, **options)
