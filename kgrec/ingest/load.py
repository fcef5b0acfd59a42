"""Ingest RDF files: read each with the fastest reader for its format, intern all terms once, build the graph."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from kgrec.data.dataset import KnowledgeGraph
from kgrec.data.problems import Problems
from kgrec.ingest.fast import read_statements
from kgrec.ingest.graph import KgMapping, build_graph
from kgrec.ingest.summary import IngestSummary
from kgrec.ingest.terms import intern

log = logging.getLogger(__name__)


def ingest_files(paths: Sequence[str | Path], item_entities: Sequence[str | None], mapping: KgMapping = KgMapping(),
                 *, format: str | None = None, problems: Problems | None = None) -> tuple[KnowledgeGraph, IngestSummary]:
    """The union of the graphs in `paths`; `item_entities[i]` is item i's IRI (None: no IRI)."""
    problems = problems or Problems()
    parts = []
    for number, path in enumerate(paths):
        statements = read_statements(path, format=format, problems=problems, file_number=number)
        if not len(statements):
            log.warning("%s: the file holds no triples", path)
        parts.append(statements)
    kg, summary = build_graph(intern(parts), item_entities, mapping)
    summary.files = [str(path) for path in paths]
    summary.skipped_lines, summary.skipped_examples = problems.skipped, list(problems.examples)
    problems.duplicates += summary.duplicates
    log.info("%s:\n%s", ", ".join(summary.files), summary.text())
    return kg, summary
