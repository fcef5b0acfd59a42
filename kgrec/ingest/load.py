"""Ingest RDF files: read each with the fastest reader for its format, intern all terms once, build the graph.

`ingest_cached` is the one entry point of kgrec-ingest and of training (kgrec.data.rdf.load_rdf): with
a cache directory the graph is parsed once and reused while the files, options and items are unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from kgrec.data.problems import Problems
from kgrec.errors import KgrecError
from kgrec.ingest import cache
from kgrec.ingest.fast import read_rows
from kgrec.ingest.graph import Ingested, KgMapping, build_graph
from kgrec.ingest.terms import coded_triples
from kgrec.ingest.vocabulary import Vocabulary

log = logging.getLogger(__name__)

# The `data.kg.*` options, named as kgrec.data.rdf.load_rdf's keywords: KgMapping's fields, format and cache.
KG_OPTIONS = ("label_predicates", "category_predicates", "language", "keep_relations", "drop_relations", "hops",
              "literals", "format", "cache")


def ingest_files(paths: Sequence[str | Path], item_entities: Sequence[str | None], mapping: KgMapping = KgMapping(),
                 *, format: str | None = None, problems: Problems | None = None) -> Ingested:
    """The union of the graphs in `paths`; `item_entities[i]` is item i's IRI (None: no IRI)."""
    problems = problems or Problems()
    vocabulary, parts = Vocabulary(), []
    for number, path in enumerate(paths):
        rows = read_rows(path, vocabulary, format=format, problems=problems, file_number=number)
        if not len(rows):
            log.warning("%s: the file holds no triples", path)
        parts.append(rows)
    ingested = build_graph(coded_triples(vocabulary, parts), item_entities, mapping)
    summary = ingested.summary
    summary.files = [str(path) for path in paths]
    summary.skipped_lines, summary.skipped_examples = problems.skipped, list(problems.examples)
    problems.duplicates += summary.duplicates
    log.info("%s:\n%s", ", ".join(summary.files), summary.text())
    return ingested


def ingest_cached(paths: Sequence[str | Path], item_entities: Sequence[str | None], mapping: KgMapping = KgMapping(),
                  *, cache_dir: str | Path | None = None, format: str | None = None, problems: Problems | None = None,
                  force: bool = False) -> Ingested:
    """`ingest_files`, through the cache in `cache_dir` when given (`reused` says whether it was).

    Without `paths` the files are those the cache was built from, so that a kgrec-ingest output
    directory alone names a KG.
    """
    problems = problems or Problems()
    if cache_dir is None:
        return ingest_files(paths, item_entities, mapping, format=format, problems=problems)
    paths = list(paths) or cache.input_paths(cache_dir)
    if not paths:
        raise KgrecError(f"{cache_dir}: no kgrec-ingest cache there, and no RDF files were given to build one")
    key = cache.cache_key(paths, {**vars(mapping), "format": format, "on_error": problems.on_error,
                                  "items": list(item_entities)})
    cached = None if force else cache.load(cache_dir, key)
    if cached is not None:
        summary = cached.summary
        problems.duplicates += summary.duplicates
        problems.skipped += summary.skipped_lines
        problems.examples += summary.skipped_examples[:problems.max_examples - len(problems.examples)]
        log.info("%s: reused the KG cache (inputs, options and items unchanged):\n%s", cache_dir, summary.text())
        return cached
    ingested = ingest_files(paths, item_entities, mapping, format=format, problems=problems)
    cache.save(cache_dir, ingested, key)
    return ingested
