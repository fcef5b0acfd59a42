"""The ingested graph on disk, integer-coded, so that training loads it without parsing RDF again.

A cache directory holds triples.npy, item_entity.npy, categories.npy, entities.arrow (IRI and label
per entity), attributes.arrow (entity, predicate, literal: the literals kept with literals=keep)
and manifest.json (relations, the summary, and the key). The key names every input file
by size and modification time plus every option, so a changed file or option rebuilds the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from kgrec.data.dataset import KnowledgeGraph
from kgrec.ingest.graph import Attributes, Ingested
from kgrec.ingest.terms import arrow_ids
from kgrec.ingest.summary import IngestSummary

FORMAT_VERSION = 2


def cache_key(paths: Sequence[str | Path], options: dict) -> dict:
    files = []
    for path in paths:
        stat = Path(path).stat()
        files.append({"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return {"version": FORMAT_VERSION, "files": files, "options": options}


def save(directory: str | Path, ingested: Ingested, key: dict) -> None:
    kg, summary, attributes, _ = ingested
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in (("triples", kg.triples), ("item_entity", kg.item_entity), ("categories", kg.categories)):
        np.save(directory / f"{name}.npy", array)
    table = pa.table({"entity": pa.array(kg.entities, pa.large_string()), "label": pa.array(kg.labels, pa.large_string())})
    feather.write_feather(table, directory / "entities.arrow", compression="uncompressed")
    table = pa.table({"entity": arrow_ids(attributes.entity), "predicate": attributes.predicate,
                      "value": attributes.value})
    feather.write_feather(table, directory / "attributes.arrow", compression="uncompressed")
    manifest = {"key": key, "relations": kg.relations, "summary": summary.to_dict()}
    # The manifest is written last and renamed into place: a cache interrupted mid-write is never reused.
    partial = directory / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=1))
    os.replace(partial, directory / "manifest.json")


def input_paths(directory: str | Path) -> list[str]:
    """The RDF files a cache was built from (none when there is no cache)."""
    try:
        manifest = json.loads((Path(directory) / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    return [entry["path"] for entry in manifest["key"]["files"]]


def load(directory: str | Path, key: dict) -> Ingested | None:
    """The cached graph when it was built from the same files and options, else None."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("key") != json.loads(json.dumps(key)):
        return None
    table = feather.read_table(directory / "entities.arrow")
    kg = KnowledgeGraph(entities=table.column("entity").to_pylist(), relations=manifest["relations"],
                        triples=np.load(directory / "triples.npy"), labels=table.column("label").to_pylist(),
                        item_entity=np.load(directory / "item_entity.npy"),
                        categories=np.load(directory / "categories.npy"))
    facts = feather.read_table(directory / "attributes.arrow")
    attributes = Attributes(facts.column("entity").to_numpy(), facts.column("predicate").combine_chunks(),
                            facts.column("value").combine_chunks())
    return Ingested(kg, IngestSummary(**manifest["summary"]), attributes, reused=True)
