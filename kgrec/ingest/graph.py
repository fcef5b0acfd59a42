"""From integer-coded triples to a KnowledgeGraph: labels, owl:sameAs links, relation filter, k-hop pruning.

Everything is array work over term ids, so a graph of millions of triples is built in about a second;
rdflib's loader (kgrec.data.rdf) and the fast readers share this one builder, so they cannot drift.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.data.dataset import KnowledgeGraph
from kgrec.errors import KgrecError
from kgrec.ingest.summary import IngestSummary
from kgrec.ingest.terms import CodedTriples, arrow_ids, key_ids, string_buffers
from kgrec.ingest.vocabulary import first_occurrences

log = logging.getLogger(__name__)

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
OWL_SAME_AS = "http://www.w3.org/2002/07/owl#sameAs"
SKOS = "http://www.w3.org/2004/02/skos/core#"
# schema.org is published under both http and https, and data in the wild uses both.
SCHEMA_HTTP, SCHEMA_HTTPS = "http://schema.org/", "https://schema.org/"
DEFAULT_LABEL_PREDICATES = (RDFS_LABEL, SKOS + "prefLabel", SCHEMA_HTTP + "name", SCHEMA_HTTPS + "name")
DEFAULT_CATEGORY_PREDICATES = (RDF_TYPE, "http://purl.org/dc/terms/subject", SKOS + "broader",
                               SCHEMA_HTTP + "genre", SCHEMA_HTTPS + "genre")
LITERAL_CHOICES = ("drop", "keep")


@dataclass(frozen=True)
class KgMapping:
    """How RDF becomes the recommender's graph (the Hydra `data.kg.*` keys of the same names).

    `keep_relations` (when given) lists the only predicates kept as edges, `drop_relations` those never
    kept. `hops` keeps only edges within that many hops of a linked item (None or 0: the whole graph).
    `literals` says what becomes of literals other than labels: "drop" (counted) or "keep" as attributes.
    """

    label_predicates: Sequence[str] = DEFAULT_LABEL_PREDICATES
    category_predicates: Sequence[str] = DEFAULT_CATEGORY_PREDICATES
    language: str = "en"
    keep_relations: Sequence[str] | None = None
    drop_relations: Sequence[str] = ()
    hops: int | None = None
    literals: str = "drop"


@dataclass
class Attributes:
    """Literal facts about entities (kept with literals="keep"): row k says entity[k] has predicate[k] value[k].

    A value is a literal key of kgrec.ingest.terms ('"1995"^^<...#gYear>', '"Paris"@fr'), so its type survives.
    """

    entity: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    predicate: pa.Array = field(default_factory=lambda: pa.array([], pa.large_string()))
    value: pa.Array = field(default_factory=lambda: pa.array([], pa.large_string()))

    def __len__(self) -> int:
        return len(self.entity)


class Ingested(NamedTuple):
    kg: KnowledgeGraph
    summary: IngestSummary
    attributes: Attributes
    reused: bool = False  # read from a cache rather than parsed


def build_graph(coded: CodedTriples, item_entities: Sequence[str | None], mapping: KgMapping = KgMapping()) -> Ingested:
    """Literals become labels (or attributes, or are dropped), owl:sameAs links items, every other triple is an edge."""
    if mapping.literals not in LITERAL_CHOICES:
        raise KgrecError(f"literals must be one of {LITERAL_CHOICES}, got {mapping.literals!r}")
    with ThreadPoolExecutor(1) as pool:  # the sorts (numpy and Arrow release the GIL) run beside the rest
        return _build(coded, pool, item_entities, mapping)


def _build(coded: CodedTriples, pool: ThreadPoolExecutor, item_entities: Sequence[str | None],
           mapping: KgMapping) -> Ingested:
    terms, rows = coded.terms, coded.rows
    term_order = pool.submit(_sorted_indices, terms)
    first = _first_occurrences(rows)  # a mask, not a copy of the rows: every selection below is made with it
    summary = IngestSummary(triples_read=len(rows), duplicates=len(rows) - int(first.sum()),
                            items=len(item_entities), hops=mapping.hops or None)
    literal = flags(pc.starts_with(terms, '"'))[rows[:, 2]]
    label_rank = _ids(coded, mapping.label_predicates)
    is_label = first & literal & np.isin(rows[:, 1], label_rank[label_rank >= 0])
    same_as = first & ~literal & (rows[:, 1] == _ids(coded, [OWL_SAME_AS])[0])
    allowed = ~np.isin(rows[:, 1], _ids(coded, mapping.drop_relations))
    if mapping.keep_relations is not None:
        allowed &= np.isin(rows[:, 1], _ids(coded, mapping.keep_relations))
    edge = first & ~literal & ~same_as
    summary.label_triples, summary.same_as_triples = int(is_label.sum()), int(same_as.sum())
    other_literal = first & literal & ~is_label
    summary.relation_filtered = int((edge & ~allowed).sum())
    edges = rows[edge & allowed]

    blank = flags(pc.starts_with(terms, "_:"))
    sorted_terms = term_order.result()
    order = _entity_order(sorted_terms, edges, blank)
    rank = np.full(len(terms) + 1, len(terms), dtype=np.int64)  # the extra slot ranks id -1 (no term) last
    rank[order] = np.arange(len(order))
    links, through_same_as = _links(coded, item_entities, rank, rows[same_as])
    if mapping.hops:
        near = _near(edges, links[links >= 0], mapping.hops, len(terms))
        summary.out_of_neighbourhood = int((~near).sum())
        edges = edges[near]
    in_graph = np.zeros(len(terms), dtype=bool)
    in_graph[edges[:, 0]] = in_graph[edges[:, 2]] = True
    order = order[in_graph[order]]
    entity = np.full(len(terms) + 1, -1, dtype=np.int64)  # entity[-1] = -1: an unlinked item stays unlinked
    entity[order] = np.arange(len(order))

    relation_terms = _in_order(sorted_terms, edges[:, 1])
    relation = np.full(len(terms), -1, dtype=np.int64)
    relation[relation_terms] = np.arange(len(relation_terms))
    triples = pool.submit(_sorted_rows, np.stack([entity[edges[:, 0]], relation[edges[:, 1]], entity[edges[:, 2]]],
                                                 axis=1).reshape(-1, 3))

    categories = np.zeros(len(order), dtype=bool)
    categories[entity[edges[np.isin(edges[:, 1], _ids(coded, mapping.category_predicates)), 2]]] = True
    concept_type = (edges[:, 1] == _ids(coded, [RDF_TYPE])[0]) & (edges[:, 2] == _ids(coded, [SKOS + "Concept"])[0])
    categories[entity[edges[concept_type, 0]]] = True

    labels = _labels(terms, rows[is_label], entity, label_rank, mapping.language, len(order))
    attributes = Attributes()
    if mapping.literals == "keep":
        facts = rows[other_literal]
        facts = facts[entity[facts[:, 0]] >= 0]  # a literal about a node outside the kept graph has no entity
        attributes = Attributes(entity[facts[:, 0]], terms.take(arrow_ids(facts[:, 1])),
                                terms.take(arrow_ids(facts[:, 2])))
    summary.literals_kept = len(attributes)
    summary.literals_dropped = int(other_literal.sum()) - len(attributes)
    item_entity = entity[links]
    names = terms.take(arrow_ids(order)).to_pylist()
    first_blank = int(np.searchsorted(blank[order], True))
    names[first_blank:] = [f"_:b{number}" for number in range(len(names) - first_blank)]
    triples = triples.result()
    summary.edges, summary.entities, summary.relations = len(triples), len(order), len(relation_terms)
    summary.categories, summary.labelled_entities = int(categories.sum()), len(labels) - labels.count(None)
    summary.items_linked = int((item_entity >= 0).sum())
    summary.items_linked_through_same_as = int(((item_entity >= 0) & through_same_as).sum())
    kg = KnowledgeGraph(entities=names, relations=terms.take(arrow_ids(relation_terms)).to_pylist(), triples=triples,
                        labels=labels, item_entity=item_entity, categories=categories)
    return Ingested(kg, summary, attributes)


def flags(mask: pa.Array) -> np.ndarray:
    return mask.to_numpy(zero_copy_only=False).astype(bool)


def _ids(coded: CodedTriples, keys: Sequence[str]) -> np.ndarray:
    """Term ids of `keys` in their order, -1 for a key the files never mention."""
    return key_ids(coded.vocabulary, pa.array(list(keys), pa.large_string()), add=False)


def _sorted_indices(strings: pa.Array) -> np.ndarray:
    """Code-point order, as Python's sorted(): Arrow compares UTF-8 bytes, which orders the same."""
    return pc.sort_indices(strings).to_numpy(zero_copy_only=False).astype(np.int64)


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """True at the first of each distinct row: duplicates are dropped, the first kept in file order (blank-node
    names depend on that order)."""
    return np.frombuffer(first_occurrences(np.ascontiguousarray(rows, dtype=np.int64)), dtype=bool)


def _sorted_rows(rows: np.ndarray) -> np.ndarray:
    """The rows in lexicographic order: sorting one int64 per row and decoding it beats a lexsort several times."""
    span = int(rows.max(initial=0)) + 1
    if span ** 3 >= 2 ** 63:
        return rows[np.lexsort(rows.T[::-1])]
    keys = np.sort((rows[:, 0] * span + rows[:, 1]) * span + rows[:, 2])
    return np.stack([keys // (span * span), keys // span % span, keys % span], axis=1)


def _in_order(sorted_terms: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The distinct `ids`, in the order of the terms they name."""
    present = np.zeros(len(sorted_terms), dtype=bool)
    present[ids] = True
    return sorted_terms[present[sorted_terms]]


def _entity_order(sorted_terms: np.ndarray, edges: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """Node term ids: IRIs sorted, then blank nodes in order of first appearance (their labels are arbitrary)."""
    nodes = edges[:, ::2].ravel()  # subject, object, subject, ...: blank nodes numbered by first appearance
    iris = _in_order(sorted_terms, nodes)
    iris = iris[~blank[iris]]
    blanks, first = np.unique(nodes[blank[nodes]], return_index=True)
    return np.concatenate([iris, blanks[np.argsort(first)]]).astype(np.int64)


def _links(coded: CodedTriples, item_entities: Sequence[str | None], rank: np.ndarray,
           same_as: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's node: its own IRI if it has edges, else its first (in entity order) owl:sameAs partner."""
    iris = _ids(coded, [iri or "" for iri in item_entities])  # "" is never a term: None stays unlinked
    unranked = len(coded.terms)
    pairs = np.concatenate([same_as[:, [0, 2]], same_as[:, [2, 0]]])
    best = np.full(len(coded.terms) + 1, unranked, dtype=np.int64)
    np.minimum.at(best, pairs[:, 0], rank[pairs[:, 1]])
    by_rank = np.full(unranked + 1, -1, dtype=np.int64)
    by_rank[rank[rank < unranked]] = np.flatnonzero(rank < unranked)
    direct = (iris >= 0) & (rank[iris] < unranked)
    through_same_as = ~direct & (iris >= 0)
    links = np.where(direct, iris, np.where(through_same_as, by_rank[best[iris]], -1))
    return links, through_same_as & (links >= 0)


def _near(edges: np.ndarray, seeds: np.ndarray, hops: int, num_terms: int) -> np.ndarray:
    """Edges within `hops` of a seed, either direction: each kept edge touches a node at most hops-1 away."""
    reached = np.zeros(num_terms, dtype=bool)
    reached[seeds] = True
    frontier = reached.copy()
    near = np.zeros(len(edges), dtype=bool)
    for _ in range(hops):
        touching = (frontier[edges[:, 0]] | frontier[edges[:, 2]]) & ~near
        near |= touching
        frontier = np.zeros(num_terms, dtype=bool)
        frontier[edges[touching][:, [0, 2]].ravel()] = True
        frontier &= ~reached
        reached |= frontier
    return near


def _labels(terms: pa.Array, label_rows: np.ndarray, entity: np.ndarray, label_rank: np.ndarray, language: str,
            num_entities: int) -> list[str | None]:
    """Prefer `language` (or a regional variant of it), then untagged literals, then any; then predicate order;
    then the smallest value, so that the choice never depends on the order of the statements.

    Group minima (np.minimum.at) rather than a sort of every label: DBpedia-like KGs hold a label per
    entity and language, and a 5M-triple KG with 1.3M labels spent 2.5 s here sorting them.
    """
    label_rows = label_rows[entity[label_rows[:, 0]] >= 0]
    values, tags = _literal_parts(terms.take(arrow_ids(label_rows[:, 2])))
    wanted = language.lower()
    language_rank = np.where(flags(pc.or_(pc.equal(tags, wanted), pc.starts_with(tags, wanted + "-"))), 0,
                             np.where(flags(pc.equal(tags, "")), 1, 2))
    position = np.zeros(len(terms), dtype=np.int64)
    position[label_rank[label_rank >= 0]] = np.flatnonzero(label_rank >= 0)
    preference = language_rank * len(label_rank) + position[label_rows[:, 1]]  # smaller is better
    owner = entity[label_rows[:, 0]]
    best = np.flatnonzero(preference == _group_min(preference, owner, num_entities)[owner])
    tied = np.bincount(owner[best], minlength=num_entities)[owner[best]] > 1
    if tied.any():  # one owner, language rank and predicate, several values: the smallest value wins
        value_rank = np.zeros(len(best), dtype=np.int64)
        value_rank[np.flatnonzero(tied)[_sorted_indices(values.take(arrow_ids(best[tied])))]] = np.arange(tied.sum())
        best = best[value_rank == _group_min(value_rank, owner[best], num_entities)[owner[best]]]
    chosen = np.full(num_entities, -1, dtype=np.int64)
    chosen[owner[best]] = best  # equal values left tied are the same label
    valid = np.packbits(chosen >= 0, bitorder="little")
    indices = pa.Array.from_buffers(pa.int64(), num_entities, [pa.py_buffer(valid), pa.py_buffer(chosen)])
    return values.take(indices).to_pylist()  # None where an entity has no label


def _group_min(values: np.ndarray, groups: np.ndarray, num_groups: int) -> np.ndarray:
    minima = np.full(num_groups, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(minima, groups, values)
    return minima


def _literal_parts(literals: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The values and language tags ("" for none) of literal keys '"value"', '"value"@tag', '"value"^^<type>'.

    A key's closing quote is its last '"' (tags and datatype IRIs hold none): one search over the positions
    of every quote finds them all, where a regular expression per key took a third of a second per million.
    """
    literals = literals.cast(pa.large_string())
    if not len(literals):
        return literals, literals
    offsets, data = string_buffers(literals)
    text = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(text == ord('"'))
    close = quotes[np.searchsorted(quotes, offsets[1:]) - 1]
    tagged = (close + 1 < offsets[1:]) & (text[np.minimum(close + 1, len(text) - 1)] == ord("@"))
    return _spans(data, offsets[:-1] + 1, close), _spans(data, np.where(tagged, close + 2, offsets[1:]), offsets[1:])


def _spans(data: pa.Buffer, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """data[starts[k]:ends[k]] for every k (ranges in order, not overlapping) as one string array."""
    bounds = np.stack([starts, ends], axis=1).ravel()  # span k, the gap after it, span k + 1, ...
    spans = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), data)
    return spans.take(arrow_ids(np.arange(0, len(bounds) - 1, 2)))
