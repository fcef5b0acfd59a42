"""Dataset -> one heterogeneous graph (PyG HeteroData) of users, items, interests, categories and KG entities.

Node types: "user", "item", "interest" (tags), "category" (KG objects of category predicates) and
"entity" (every other KG entity). A KG entity linked to an item *is* that item node, so KG triples
connect items directly to their categories and neighbours. Every edge type gets a reverse type
("rev_<relation>") so that message passing runs both ways; only train interactions become edges, so
valid, test and cold items are reached through text, tags and the KG alone.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch_geometric.data import HeteroData

from kgrec.data.dataset import Dataset
from kgrec.graph.adjacency import unique_pairs

INTERACTS = ("user", "interacts", "item")
TAGGED = ("item", "has_interest", "interest")
USES_TAG = ("user", "uses_interest", "interest")


def relation_name(iri: str) -> str:
    """Short, readable edge-type name from a predicate IRI (its local name)."""
    local = re.split(r"[#/]", iri.rstrip("/#"))[-1] or iri
    return re.sub(r"\W+", "_", local).strip("_").lower() or "related"


def _unique_pairs(src: np.ndarray, dst: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(unique_pairs(src, dst)[0])


def _entity_nodes(data: Dataset) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Node type code (0 item, 1 category, 2 entity) and local index for every KG entity."""
    kg = data.kg
    n = len(kg.entities)
    kind = np.full(n, 2, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    linked_items = np.flatnonzero(kg.item_entity >= 0) if len(kg.item_entity) else np.zeros(0, dtype=np.int64)
    # Items first, so that an entity linked to an item is that item even if it is also a category.
    kind[kg.item_entity[linked_items]] = 0
    local[kg.item_entity[linked_items]] = linked_items
    categories = (kind == 2) & (kg.categories if len(kg.categories) else np.zeros(n, dtype=bool))
    kind[categories] = 1
    local[categories] = np.arange(categories.sum())
    plain = kind == 2
    local[plain] = np.arange(plain.sum())
    return kind, local, int(categories.sum()), int(plain.sum())


def build_graph(data: Dataset, *, use_kg: bool = True, use_interests: bool = True) -> HeteroData:
    """The heterogeneous graph of `data`. `use_kg` / `use_interests` are the ablation switches."""
    graph = HeteroData()
    graph["user"].num_nodes = data.num_users
    graph["item"].num_nodes = data.num_items
    graph[INTERACTS].edge_index = _unique_pairs(data.train.users, data.train.items)

    if use_interests and len(data.tags):
        graph["interest"].num_nodes = len(data.tags.names)
        graph[TAGGED].edge_index = _unique_pairs(data.tags.items, data.tags.tags)
        graph[USES_TAG].edge_index = _unique_pairs(data.tags.users, data.tags.tags)

    if use_kg and len(data.kg):
        kind, local, num_categories, num_entities = _entity_nodes(data)
        type_names = np.array(["item", "category", "entity"])
        if num_categories:
            graph["category"].num_nodes = num_categories
            graph["category"].entity = torch.from_numpy(np.flatnonzero(kind == 1))
        if num_entities:
            graph["entity"].num_nodes = num_entities
            graph["entity"].entity = torch.from_numpy(np.flatnonzero(kind == 2))
        heads, relations, tails = data.kg.triples.T
        names = relation_names(data.kg.relations)
        for relation in np.unique(relations):
            chosen = relations == relation
            for head_kind in range(3):
                for tail_kind in range(3):
                    mask = chosen & (kind[heads] == head_kind) & (kind[tails] == tail_kind)
                    if mask.any():
                        edge_type = (str(type_names[head_kind]), names[relation], str(type_names[tail_kind]))
                        graph[edge_type].edge_index = _unique_pairs(local[heads[mask]], local[tails[mask]])

    for edge_type in list(graph.edge_types):
        src, relation, dst = edge_type
        graph[(dst, f"rev_{relation}", src)].edge_index = graph[edge_type].edge_index.flip(0)
    return graph


def relation_names(relations: list[str]) -> list[str]:
    """Local names, made unique where two IRIs share one (schema:name vs foaf:name)."""
    names, seen = [], {}
    for iri in relations:
        name = relation_name(iri)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def graph_summary(graph: HeteroData) -> str:
    """Node and edge counts per type, one per line."""
    lines = ["nodes: " + ", ".join(f"{t} {graph[t].num_nodes:,}" for t in graph.node_types)]
    lines.append(f"edges ({len(graph.edge_types)} types, reverse included):")
    lines += [f"  {s} -[{r}]-> {d}: {graph[(s, r, d)].num_edges:,}" for s, r, d in graph.edge_types
              if not r.startswith("rev_")]
    return "\n".join(lines)
