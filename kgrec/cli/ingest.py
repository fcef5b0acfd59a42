"""`kgrec-ingest`: RDF files to an integer-coded graph cache that training loads without parsing.

Kept light on purpose (argparse, numpy, pyarrow; no torch, no Hydra, rdflib only for RDF/XML, JSON-LD
and N3), because the interpreter start and imports count in every ingestion's wall time.
"""

from __future__ import annotations

import argparse
import glob
import importlib.abc
import os
import sys
from pathlib import Path

from kgrec.data.problems import ON_ERROR_CHOICES, Problems
from kgrec.cli import print_report
from kgrec.errors import KgrecError


def main(argv: list[str] | None = None) -> int:
    if argv is None and "pandas" not in sys.modules:  # the console script: this process is ours alone
        sys.meta_path.insert(0, _NoPandas())
    if "numpy" not in sys.modules:
        # kgrec-ingest does no linear algebra, but OpenBLAS starts a worker per core on numpy's import and
        # they spin on the cores the parser's threads use: 8% of a 1M-triple ingestion's CPU samples (perf).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return print_report("kgrec-ingest", ingest, _parser().parse_args(argv))


def ingest(args: argparse.Namespace) -> str:
    """Ingest (or reuse the cache) and return the report to print."""
    from kgrec.ingest.graph import DEFAULT_CATEGORY_PREDICATES, DEFAULT_LABEL_PREDICATES, KgMapping
    from kgrec.ingest.load import ingest_cached

    items = _item_entities(args) if args.items else []
    mapping = KgMapping(label_predicates=args.label_predicate or DEFAULT_LABEL_PREDICATES,
                        category_predicates=args.category_predicate or DEFAULT_CATEGORY_PREDICATES,
                        language=args.language, keep_relations=args.keep_relation,
                        drop_relations=args.drop_relation or (), hops=args.hops if args.items and args.hops else None,
                        literals=args.literals)
    _, summary, _, reused = ingest_cached(_expand(args.paths), items, mapping, cache_dir=args.out, format=args.format,
                                       problems=Problems(args.on_error), force=args.force)
    if reused:
        return f"{summary.text()}\nreused the cache in {args.out} (inputs and options unchanged)"
    return f"{summary.text()}\nwrote {args.out}"


class _NoPandas(importlib.abc.MetaPathFinder):
    """pyarrow imports pandas on its first numpy conversion only to learn whether it is there: 0.5-1 s of
    every ingestion for a library kgrec-ingest never uses. Refusing the import tells pyarrow it is absent."""

    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"kgrec-ingest does not use {name}", name=name)
        return None


def _parser() -> argparse.ArgumentParser:
    from kgrec.ingest.graph import DEFAULT_CATEGORY_PREDICATES, DEFAULT_LABEL_PREDICATES, LITERAL_CHOICES

    parser = argparse.ArgumentParser(prog="kgrec-ingest", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="RDF files or globs (.nt .nq .ttl .trig .rdf .jsonld, "
                                                 "optionally .gz/.bz2), KGAT kg_final.txt or RecBole NAME.kg")
    parser.add_argument("--out", required=True, type=Path, help="cache directory to write (or reuse)")
    parser.add_argument("--format", help="RDF format of every file (rdflib's names: nt, nquads, turtle, trig, "
                                         "xml, json-ld; kgat, recbole); default: from the file name")
    parser.add_argument("--items", type=Path, help="item table (CSV/TSV/Parquet with a header) to link items")
    parser.add_argument("--item-column", default="entity", help="the item table's entity IRI column")
    parser.add_argument("--hops", type=int, default=2, help="with --items: keep the k-hop neighbourhood of "
                                                            "linked items (0: the whole graph); default 2")
    parser.add_argument("--language", default="en", help="preferred label language")
    parser.add_argument("--label-predicate", action="append", help="repeatable; default: "
                        + ", ".join(DEFAULT_LABEL_PREDICATES))
    parser.add_argument("--category-predicate", action="append", help="repeatable; default: "
                        + ", ".join(DEFAULT_CATEGORY_PREDICATES))
    parser.add_argument("--keep-relation", action="append", help="repeatable: keep only these predicates as edges")
    parser.add_argument("--drop-relation", action="append", help="repeatable: never keep these predicates")
    parser.add_argument("--literals", choices=LITERAL_CHOICES, default="drop",
                        help="literals other than labels: drop (counted) or keep as entity attributes")
    parser.add_argument("--on-error", choices=ON_ERROR_CHOICES, default="raise",
                        help="skip: count and list malformed lines instead of stopping")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is up to date")
    return parser


def _expand(patterns: list[str]) -> list[str]:
    paths = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not found:
            raise KgrecError(f"{pattern}: no file matches")
        paths.extend(found)
    return paths


def _item_entities(args: argparse.Namespace) -> list[str | None]:
    from kgrec.data.tables import read_table

    table = read_table(args.items, [args.item_column])
    return [value or None for value in table.columns[args.item_column]]


if __name__ == "__main__":
    sys.exit(main())
