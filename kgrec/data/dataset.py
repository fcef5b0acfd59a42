"""The one in-memory dataset every loader produces and every later stage reads.

Users, items, tags and KG entities are dense integer indices; the lists map an index back to the
external id (an opaque string). Everything is numpy so that loading never needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "valid", "test", "test_cold")


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass
class Interactions:
    """Positive (user, item) pairs; timestamps are kept when the source has them."""

    users: np.ndarray = field(default_factory=_empty)
    items: np.ndarray = field(default_factory=_empty)
    timestamps: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)

    def take(self, rows: np.ndarray) -> "Interactions":
        """The pairs at `rows` (indices or a boolean mask), with their timestamps."""
        return Interactions(self.users[rows], self.items[rows], None if self.timestamps is None else self.timestamps[rows])


@dataclass
class KnowledgeGraph:
    """Typed triples over entities; items are linked to entities through `item_entity`.

    `triples` has columns (head entity, relation, tail entity). `labels[e]` is the entity's
    human-readable name or None. `item_entity[i]` is item i's entity index or -1 when unlinked.
    `categories` marks entities that are categories (objects of a category predicate such as
    schema:genre, rdf:type, dct:subject, or typed skos:Concept) rather than plain entities.
    """

    entities: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    triples: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    labels: list[str | None] = field(default_factory=list)
    item_entity: np.ndarray = field(default_factory=_empty)
    categories: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.triples)


@dataclass
class Tags:
    """Interest points: user `users[k]` gave item `items[k]` the tag `tags[k]` (an index into `names`)."""

    users: np.ndarray = field(default_factory=_empty)
    items: np.ndarray = field(default_factory=_empty)
    tags: np.ndarray = field(default_factory=_empty)
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tags)


@dataclass
class Dataset:
    """Catalogue, splits, knowledge graph and tags of one experiment."""

    name: str
    user_ids: list[str]
    item_ids: list[str]
    item_titles: list[str]
    item_texts: list[str]
    splits: dict[str, Interactions]
    cold_items: np.ndarray = field(default_factory=_empty)
    kg: KnowledgeGraph = field(default_factory=KnowledgeGraph)
    tags: Tags = field(default_factory=Tags)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def train(self) -> Interactions:
        return self.splits["train"]

    def item_popularity(self) -> np.ndarray:
        """Train interactions per item (the popularity every head/tail split is based on)."""
        return np.bincount(self.train.items, minlength=self.num_items)

    def summary(self) -> str:
        split_sizes = ", ".join(f"{name} {len(self.splits[name]):,}" for name in SPLITS if name in self.splits)
        return (
            f"{self.name}: {self.num_users:,} users, {self.num_items:,} items "
            f"({len(self.cold_items):,} cold); {split_sizes}; "
            f"KG {len(self.kg):,} triples, {len(self.kg.entities):,} entities, {len(self.kg.relations):,} relations; "
            f"{len(self.tags):,} tag applications, {len(self.tags.names):,} tags"
        )
