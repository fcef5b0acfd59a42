"""Knowledge graphs from RDF files: entity labels, owl:sameAs item links, categories.

`load_rdf` is the loader every dataset uses: it reads N-Triples, N-Quads, Turtle and TriG with the
fast readers of kgrec.ingest and the other formats with rdflib. `read_triples` is rdflib's view of one
file (any format) as plain triples, and `build_knowledge_graph` turns plain triples into the same
KnowledgeGraph through the same builder: together they are the reference the fast path is tested
against. A plain triple is (subject, predicate, object) with IRIs as str, blank nodes as "_:id"
(ids unique across files) and literals as `PlainLiteral`.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence, Union
from xml.sax import SAXParseException

from rdflib import BNode, Dataset, Literal
from rdflib.plugins.parsers.notation3 import BadSyntax
from rdflib.plugins.parsers.nquads import NQuadsParser
from rdflib.plugins.parsers.ntriples import W3CNTriplesParser
from rdflib.plugins.stores.memory import Memory

from kgrec.data.dataset import KnowledgeGraph
from kgrec.data.problems import Problems
from kgrec.errors import DataError
from kgrec.ingest.fast import LINE_FORMATS, check_utf8, rdf_format, read_bytes
from kgrec.ingest.graph import DEFAULT_CATEGORY_PREDICATES, DEFAULT_LABEL_PREDICATES, KgMapping, build_graph
from kgrec.ingest.load import ingest_cached
from kgrec.ingest.terms import Statements, coded_triples, literal_key, statement_rows
from kgrec.ingest.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# rdflib's RDF/XML parser starts its own errors with "<source>:<line>:<column>: ".
_XML_LOCATION = re.compile(r"^\S*?:(\d+):\d+: ")


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
    keep_relations: Sequence[str] | None = None,
    drop_relations: Sequence[str] = (),
    hops: int | None = None,
    literals: str = "drop",
    format: str | None = None,
    cache: str | Path | None = None,
    problems: Problems | None = None,
) -> KnowledgeGraph:
    """The union of the graphs in `paths`; `item_entities[i]` is item i's IRI (None: no IRI).

    The keyword options are those of kgrec.ingest.graph.KgMapping; `hops=None` keeps the whole graph.
    With `cache` (a kgrec-ingest output directory) the graph is parsed once and reused while the files,
    options and items are unchanged; `paths` may then be empty: the files the cache was built from.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    mapping = KgMapping(label_predicates, category_predicates, language, keep_relations, drop_relations, hops,
                        literals)
    return ingest_cached(paths, item_entities, mapping, cache_dir=cache, format=format, problems=problems).kg


def read_triples(path: str | Path, *, format: str | None = None, problems: Problems | None = None) -> list[Triple]:
    """Every statement of one RDF file as rdflib reads it (named graphs merged), in file order, duplicates kept.

    The format comes from the file name (`x.nt.gz` and `x.ttl.bz2` are decompressed) unless given.
    """
    path = Path(path)
    format = rdf_format(path, format)
    data = read_bytes(path)
    if format in LINE_FORMATS:
        return _read_lines(path, check_utf8(path, data), format, problems or Problems())
    return _read_document(path, data, format)


def build_knowledge_graph(
    triples: Iterable[Triple],
    item_entities: Sequence[str | None],
    *,
    label_predicates: Sequence[str] = DEFAULT_LABEL_PREDICATES,
    category_predicates: Sequence[str] = DEFAULT_CATEGORY_PREDICATES,
    language: str = "en",
    problems: Problems | None = None,
) -> KnowledgeGraph:
    """The KnowledgeGraph of plain triples, built exactly as `load_rdf` builds the graph of a file."""
    keys = [triple_keys(triple) for triple in triples]
    vocabulary = Vocabulary()
    rows = statement_rows(vocabulary, Statements.of_keys(*zip(*keys)) if keys else Statements.of_keys([], [], []))
    mapping = KgMapping(label_predicates, category_predicates, language)
    ingested = build_graph(coded_triples(vocabulary, [rows]), item_entities, mapping)
    if problems is not None:
        problems.duplicates += ingested.summary.duplicates
    return ingested.kg


def triple_keys(triple: Triple) -> tuple[str, str, str]:
    """The term keys of kgrec.ingest.terms for a plain triple."""
    subject, predicate, obj = triple
    return subject, predicate, literal_key(*obj) if isinstance(obj, PlainLiteral) else obj


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
            problems.bad_row(DataError(path, number, f"malformed {LINE_FORMATS[format]} statement near {unread!r}"))
    return sink.statements


def _read_document(path: Path, data: bytes, format: str) -> list[Triple]:
    # RDF/XML declares its own encoding, so the XML parser gets the bytes.
    source = data if format == "xml" else check_utf8(path, data)
    if format == "json-ld":
        _refuse_remote_contexts(path, source)
    store = _RecordingStore()
    try:
        Dataset(store=store).parse(data=source, format=format, publicID=path.resolve().as_uri())
    except Exception as error:  # each rdflib parser has its own exception types
        line, problem = _describe(error)
        raise DataError(path, line, f"not valid {format}: {problem}") from None
    return store.statements


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
