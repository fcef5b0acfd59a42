"""Knowledge graphs from RDF files (read with rdflib): entity labels, owl:sameAs item links, categories.

Two halves, so that a faster reader can be slotted in later: `read_triples` turns one file into the
plain triples it states (duplicates included), `build_knowledge_graph` turns plain triples into a
KnowledgeGraph. Only `read_triples` knows about file formats and rdflib. A plain triple is
(subject, predicate, object) with IRIs as str, blank nodes as "_:id" (ids unique across files) and
literals as `PlainLiteral`; plain Python values keep the graph building fast.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence, Union
from xml.sax import SAXParseException

import numpy as np
from rdflib import BNode, Dataset, Literal
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS
from rdflib.plugins.parsers.notation3 import BadSyntax
from rdflib.plugins.parsers.nquads import NQuadsParser
from rdflib.plugins.parsers.ntriples import W3CNTriplesParser
from rdflib.plugins.stores.memory import Memory
from rdflib.util import guess_format

from kgrec.data.dataset import KnowledgeGraph
from kgrec.data.problems import Problems
from kgrec.errors import DataError

log = logging.getLogger(__name__)

# schema.org is published under both http and https, and data in the wild uses both.
SCHEMA_HTTP, SCHEMA_HTTPS = "http://schema.org/", "https://schema.org/"
DEFAULT_LABEL_PREDICATES = (str(RDFS.label), str(SKOS.prefLabel), SCHEMA_HTTP + "name", SCHEMA_HTTPS + "name")
DEFAULT_CATEGORY_PREDICATES = (str(RDF.type), str(DCTERMS.subject), str(SKOS.broader),
                               SCHEMA_HTTP + "genre", SCHEMA_HTTPS + "genre")

_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {".gz": gzip.decompress, ".bz2": bz2.decompress}
# rdflib's RDF/XML parser starts its own errors with "<source>:<line>:<column>: ".
_XML_LOCATION = re.compile(r"^\S*?:(\d+):\d+: ")
_LINE_FORMATS = {"nt": "N-Triples", "ntriples": "N-Triples", "nt11": "N-Triples", "nquads": "N-Quads"}

_SAME_AS, _TYPE, _CONCEPT = str(OWL.sameAs), str(RDF.type), str(SKOS.Concept)


class PlainLiteral(NamedTuple):
    value: str
    language: str | None
    datatype: str | None


Triple = tuple[str, str, Union[str, PlainLiteral]]


def load_rdf(
    paths: Sequence[str | Path],
    item_entities: Sequence[str | None],
    *,
    label_predicates: Sequence[str] = DEFAULT_LABEL_PREDICATES,
    category_predicates: Sequence[str] = DEFAULT_CATEGORY_PREDICATES,
    language: str = "en",
    format: str | None = None,
    problems: Problems | None = None,
) -> KnowledgeGraph:
    """The union of the graphs in `paths`; `item_entities[i]` is item i's IRI (None: no IRI)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    problems = problems or Problems()
    triples: list[Triple] = []
    for path in paths:
        found = read_triples(path, format=format, problems=problems)
        if not found:
            log.warning("%s: the file holds no triples; its items stay unlinked", path)
        triples.extend(found)
    return build_knowledge_graph(
        triples, item_entities, label_predicates=label_predicates, category_predicates=category_predicates,
        language=language, problems=problems, source=", ".join(str(path) for path in paths),
    )


def read_triples(path: str | Path, *, format: str | None = None, problems: Problems | None = None) -> list[Triple]:
    """Every statement of one RDF file (named graphs are merged), in file order, duplicates kept.

    The format comes from the file name (`x.nt.gz` and `x.ttl.bz2` are decompressed) unless given.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    suffix = path.suffix.lower()
    name = path.stem if suffix in _DECOMPRESS else path.name
    format = format or guess_format(name)
    if format is None:
        raise DataError(path, None, "cannot tell the RDF format from the file name",
                        hint="use .nt, .nq, .ttl, .trig, .rdf, .jsonld (optionally .gz/.bz2) or pass format=")
    data = path.read_bytes()
    if suffix in _DECOMPRESS:
        try:
            data = _DECOMPRESS[suffix](data)
        except (OSError, EOFError, ValueError) as error:
            raise DataError(path, None, f"cannot decompress ({error})") from None
    if format in _LINE_FORMATS:
        return _read_lines(path, _decode(path, data), format, problems or Problems())
    return _read_document(path, data, format)


def build_knowledge_graph(
    triples: Iterable[Triple],
    item_entities: Sequence[str | None],
    *,
    label_predicates: Sequence[str] = DEFAULT_LABEL_PREDICATES,
    category_predicates: Sequence[str] = DEFAULT_CATEGORY_PREDICATES,
    language: str = "en",
    problems: Problems | None = None,
    source: str = "RDF",
) -> KnowledgeGraph:
    """Literals become labels (or are dropped), owl:sameAs links items, every other triple is an edge."""
    triples = list(triples)
    unique = list(dict.fromkeys(triples))
    duplicates = len(triples) - len(unique)
    if problems is not None:
        problems.duplicates += duplicates
    label_rank = {predicate: rank for rank, predicate in enumerate(label_predicates)}
    label_candidates: dict[str, list] = defaultdict(list)
    same_as: dict[str, set[str]] = defaultdict(set)
    edges: list[tuple[str, str, str]] = []
    other_literals = 0
    for subject, predicate, obj in unique:
        if isinstance(obj, PlainLiteral):
            if predicate in label_rank:
                label_candidates[subject].append((label_rank[predicate], obj))
            else:
                other_literals += 1
        elif predicate == _SAME_AS:
            same_as[subject].add(obj)
            same_as[obj].add(subject)
        else:
            edges.append((subject, predicate, obj))

    nodes = _ordered_nodes(edges)
    index = {node: position for position, node in enumerate(nodes)}
    relations = sorted({predicate for _, predicate, _ in edges})
    relation_index = {relation: position for position, relation in enumerate(relations)}
    rows = np.array([(index[s], relation_index[p], index[o]) for s, p, o in edges], dtype=np.int64).reshape(-1, 3)
    rows = rows[np.lexsort(rows.T[::-1])]

    categories = np.zeros(len(nodes), dtype=bool)
    category_set = set(category_predicates)
    for subject, predicate, obj in edges:
        if predicate in category_set:
            categories[index[obj]] = True
        if predicate == _TYPE and obj == _CONCEPT:
            categories[index[subject]] = True

    item_entity = np.array([_link(iri, index, same_as) for iri in item_entities], dtype=np.int64)
    direct = sum(iri in index for iri in item_entities)
    linked = int((item_entity >= 0).sum())
    log.info(
        "%s: %s triples read, %s duplicates removed, %s label triples, %s owl:sameAs, %s other literals dropped; "
        "%s edges, %s entities (%s categories), %s relations; items linked %s (%s through owl:sameAs), not linked %s",
        source, *(f"{count:,}" for count in (
            len(triples), duplicates, sum(map(len, label_candidates.values())), sum(map(len, same_as.values())) // 2,
            other_literals, len(edges), len(nodes), categories.sum(), len(relations),
            linked, linked - direct, len(item_entities) - linked)),
    )
    return KnowledgeGraph(
        entities=_names(nodes),
        relations=relations,
        triples=rows,
        labels=[_best_label(label_candidates.get(node, []), language) for node in nodes],
        item_entity=item_entity,
        categories=categories,
    )


class _RecordingStore(Memory):
    """Keeps the parsed statements as a list: rdflib's indexing store is 2-3x slower and hides duplicates."""

    def __init__(self):
        super().__init__()
        self.statements: list[Triple] = []

    def add(self, triple, context, quoted=False):
        self.statements.append(_plain(*triple))


class _LineSink:
    """Receives statements from rdflib's N-Triples (`triple`) and N-Quads (`get_context().add`) line parsers."""

    def __init__(self):
        self.statements: list[Triple] = []
        self.default_context = self

    def triple(self, subject, predicate, obj):
        self.statements.append(_plain(subject, predicate, obj))

    def add(self, triple):
        self.statements.append(_plain(*triple))

    def get_context(self, graph_name):
        return self  # graph names are dropped: the knowledge graph is the union


def _plain(subject, predicate, obj) -> Triple:
    return _plain_node(subject), str(predicate), _plain_node(obj)


def _plain_node(term) -> str | PlainLiteral:
    if isinstance(term, Literal):
        return PlainLiteral(str(term), term.language, term.datatype and str(term.datatype))
    if isinstance(term, BNode):
        return "_:" + term
    return str(term)


def _read_lines(path: Path, text: str, format: str, problems: Problems) -> list[Triple]:
    """One line at a time, because rdflib's own loop does not say which line is malformed."""
    sink = _LineSink()
    parser = NQuadsParser() if format == "nquads" else W3CNTriplesParser()
    parser.sink = sink
    for number, line in enumerate(text.split("\n"), start=1):
        parser.line = line.rstrip("\r")
        try:
            parser.parseline()
        except Exception:  # rdflib raises ParserError, and OverflowError for some bad escapes
            # What is left of the line starts where parsing failed; rdflib's messages quote its regexes.
            unread = parser.line.strip()[:60]
            problems.bad_row(DataError(path, number, f"malformed {_LINE_FORMATS[format]} statement near {unread!r}"))
    return sink.statements


def _read_document(path: Path, data: bytes, format: str) -> list[Triple]:
    # RDF/XML declares its own encoding, so the XML parser gets the bytes.
    source = data if format == "xml" else _decode(path, data)
    if format == "json-ld":
        _refuse_remote_contexts(path, source)
    store = _RecordingStore()
    try:
        Dataset(store=store).parse(data=source, format=format, publicID=path.resolve().as_uri())
    except Exception as error:  # each rdflib parser has its own exception types
        line, problem = _describe(error)
        raise DataError(path, line, f"not valid {format}: {problem}") from None
    return store.statements


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(path, line, f"bytes that are not valid UTF-8 ({error.reason})",
                        hint="RDF text formats must be UTF-8") from None


def _refuse_remote_contexts(path: Path, text: str) -> None:
    """rdflib would download a @context or @import given by URL; a loader must never touch the network."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(path, error.lineno, f"not valid JSON ({error.msg})") from None
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, dict):
            context = value.get("@context")
            references = [context] if isinstance(context, str) else []
            references += [entry for entry in context if isinstance(entry, str)] if isinstance(context, list) else []
            if isinstance(value.get("@import"), str):
                references.append(value["@import"])
            if references:
                position = text.find(json.dumps(references[0]))
                line = text.count("\n", 0, position) + 1 if position >= 0 else None
                raise DataError(path, line, f"JSON-LD context {references[0]!r} would be fetched from elsewhere",
                                hint="inline the context in the file; kgrec never downloads contexts")
            pending.extend(value.values())


def _describe(error: Exception) -> tuple[int | None, str]:
    """The line and a one-line reason, from whichever parser raised `error`."""
    if isinstance(error, BadSyntax):
        return error.lines + 1, error._why  # its str() quotes a long stretch of the file
    if isinstance(error, SAXParseException):
        return error.getLineNumber(), error.getMessage()
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    located = _XML_LOCATION.match(message)
    if located:
        return int(located.group(1)), message[located.end():]
    return getattr(error, "lineno", None), message


def _ordered_nodes(edges: list[tuple[str, str, str]]) -> list[str]:
    """IRIs sorted, then blank nodes in order of appearance (their ids are arbitrary)."""
    seen = dict.fromkeys(node for subject, _, obj in edges for node in (subject, obj))
    return sorted(node for node in seen if not node.startswith("_:")) + [node for node in seen if node.startswith("_:")]


def _names(nodes: list[str]) -> list[str]:
    """Blank nodes are renamed _:b0, _:b1, ... so that the same file always gives the same names."""
    blank = itertools.count()
    return [f"_:b{next(blank)}" if node.startswith("_:") else node for node in nodes]


def _link(iri: str | None, index: dict[str, int], same_as: dict[str, set[str]]) -> int:
    """An item's own IRI if it has edges, else the first (in entity order) entity it is owl:sameAs."""
    if iri in index:
        return index[iri]
    return min((index[other] for other in same_as.get(iri, ()) if other in index), default=-1)


def _best_label(candidates: list[tuple[int, PlainLiteral]], language: str) -> str | None:
    """Prefer `language` (or a regional variant of it), then untagged literals, then any; then predicate order."""
    wanted = language.lower()

    def preference(candidate: tuple[int, PlainLiteral]):
        predicate_rank, literal = candidate
        tag = (literal.language or "").lower()
        language_rank = 0 if tag == wanted or tag.startswith(wanted + "-") else 1 if not tag else 2
        return language_rank, predicate_rank, literal.value

    return min(candidates, key=preference)[1].value if candidates else None
