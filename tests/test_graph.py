"""The heterogeneous graph: node and edge types, KG entities linked to items, reverse edges, ablations."""

import numpy as np
import torch

from kgrec.data.dataset import Dataset, Interactions, KnowledgeGraph, Tags
from kgrec.graph.adjacency import unique_pairs
from kgrec.graph.build import build_graph, graph_summary, relation_name


def small_dataset() -> Dataset:
    # 3 users, 4 items (item 3 is cold). KG: items 0..3 are entities 0..3; entity 4 is the genre "Sci-Fi"
    # (a category), entity 5 a director (plain entity), entity 6 a person linked to the director.
    kg = KnowledgeGraph(
        entities=["m0", "m1", "m2", "m3", "g:scifi", "p:director", "p:spouse"],
        relations=["http://schema.org/genre", "http://x.org/ns#directedBy", "http://x.org/ns#spouse"],
        triples=np.array([[0, 0, 4], [3, 0, 4], [1, 1, 5], [3, 1, 5], [5, 2, 6]]),
        labels=["M0", "M1", "M2", "M3", "Sci-Fi", None, None],
        item_entity=np.array([0, 1, 2, 3]),
        categories=np.array([False, False, False, False, True, False, False]),
    )
    tags = Tags(users=np.array([0, 1]), items=np.array([0, 3]), tags=np.array([0, 0]), names=["space"])
    train = Interactions(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]))
    return Dataset("small", ["u0", "u1", "u2"], ["i0", "i1", "i2", "i3"], ["M0", "M1", "M2", "M3"],
                   ["t0", "t1", "t2", "t3"], {"train": train, "test": Interactions(np.array([1]), np.array([2]))},
                   np.array([3]), kg, tags)


def edges(graph, edge_type) -> set[tuple[int, int]]:
    return set(map(tuple, graph[edge_type].edge_index.T.tolist()))


def test_node_types_and_counts():
    graph = build_graph(small_dataset())
    counts = {node_type: graph[node_type].num_nodes for node_type in graph.node_types}
    assert counts == {"user": 3, "item": 4, "interest": 1, "category": 1, "entity": 2}
    assert graph["category"].entity.tolist() == [4]
    assert graph["entity"].entity.tolist() == [5, 6]


def test_only_train_interactions_are_edges_and_reverse_edges_exist():
    graph = build_graph(small_dataset())
    assert edges(graph, ("user", "interacts", "item")) == {(0, 0), (0, 1), (1, 1), (2, 2), (2, 0)}
    assert edges(graph, ("item", "rev_interacts", "user")) == {(0, 0), (1, 0), (1, 1), (2, 2), (0, 2)}


def test_kg_triples_connect_items_to_categories_and_entities():
    graph = build_graph(small_dataset())
    # Cold item 3 reaches the genre and the director through the KG although it has no interactions.
    assert edges(graph, ("item", "genre", "category")) == {(0, 0), (3, 0)}
    assert edges(graph, ("item", "directedby", "entity")) == {(1, 0), (3, 0)}
    assert edges(graph, ("entity", "spouse", "entity")) == {(0, 1)}
    assert edges(graph, ("category", "rev_genre", "item")) == {(0, 0), (0, 3)}


def test_tags_give_item_and_user_interest_edges():
    graph = build_graph(small_dataset())
    assert edges(graph, ("item", "has_interest", "interest")) == {(0, 0), (3, 0)}
    assert edges(graph, ("user", "uses_interest", "interest")) == {(0, 0), (1, 0)}


def test_ablation_switches_remove_kg_and_interests():
    no_kg = build_graph(small_dataset(), use_kg=False)
    assert set(no_kg.node_types) == {"user", "item", "interest"}
    assert all(src != "category" and dst != "entity" for src, _, dst in no_kg.edge_types)
    no_tags = build_graph(small_dataset(), use_interests=False)
    assert "interest" not in no_tags.node_types
    plain = build_graph(small_dataset(), use_kg=False, use_interests=False)
    assert sorted(r for _, r, _ in plain.edge_types) == ["interacts", "rev_interacts"]


def test_an_empty_kg_and_no_tags_give_the_user_item_graph():
    data = small_dataset()
    data.kg, data.tags = KnowledgeGraph(), Tags()
    graph = build_graph(data)
    assert set(graph.node_types) == {"user", "item"}
    assert graph[("user", "interacts", "item")].edge_index.dtype == torch.long


def test_relation_names_and_summary():
    assert relation_name("http://rdf.freebase.com/ns/film.film.genre") == "film_film_genre"
    assert relation_name("http://www.w3.org/1999/02/22-rdf-syntax-ns#type") == "type"
    summary = graph_summary(build_graph(small_dataset()))
    assert "user 3" in summary and "item -[genre]-> category: 2" in summary


def test_real_kg_links_ml100k_items_to_freebase_entities(ml100k_bundle):
    from kgrec.data.bundle import load_bundle

    data = load_bundle(ml100k_bundle)
    graph = build_graph(data)
    # Every item-side KG edge starts at a linked item; none at an unlinked one.
    linked = set(np.flatnonzero(data.kg.item_entity >= 0).tolist())
    genre_edges = graph[("item", "film_film_genre", "entity")] if ("item", "film_film_genre", "entity") in graph.edge_types \
        else graph[("item", "film_film_genre", "category")]
    assert set(genre_edges.edge_index[0].tolist()) <= linked
    # Cold items are in the graph through the KG although they never interact.
    cold_with_kg = [item for item in data.cold_items if item in linked]
    assert cold_with_kg
    item_kg_sources = set()
    for src, relation, dst in graph.edge_types:
        if src == "item" and relation != "interacts" and not relation.startswith("rev_"):
            item_kg_sources |= set(graph[(src, relation, dst)].edge_index[0].tolist())
    assert set(cold_with_kg) & item_kg_sources


def test_unique_pairs_sorts_and_inverts_like_numpy_unique_on_columns():
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 40, 500), rng.integers(0, 7, 500)  # many repeated pairs
    pairs, inverse = unique_pairs(src, dst)
    expected, expected_inverse = np.unique(np.stack([src, dst]), axis=1, return_inverse=True)
    np.testing.assert_array_equal(pairs, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.ravel())
    np.testing.assert_array_equal(pairs[:, inverse], np.stack([src, dst]))
