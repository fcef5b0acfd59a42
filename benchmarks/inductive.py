"""Inductive cold items (issue 5): train without the cold items, add them back afterwards, compare test_cold.

The transductive run trains on the bundle as it is: cold items have no interactions but keep their text and
KG triples, so they are nodes of the trained graph. The inductive run trains on a copy (in a temporary
directory) from which the cold items are removed entirely: items.tsv without them, kg.nt without any triple
that names their entities, no cold_items.txt entries, no test_cold.tsv rows. Afterwards they are added with
`Recommender.add_items` (what `kgrec-recommend --add-items FILE --add-kg FILE.nt` does) from their original
items.tsv rows and triples. Both are scored with kgrec.evaluate.metrics on the original bundle's test_cold
split, so candidates, excluded items and averaging are the evaluator's own.

    OMP_NUM_THREADS=1 python benchmarks/inductive.py ../shared/datasets/ml-100k/bundle
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from kgrec.evaluate.metrics import evaluate
from kgrec.infer.recommender import Recommender

SPLIT, K = "test_cold", 20


def _iri_terms(line: str) -> tuple[str, str | None]:
    """Subject and (IRI) object of an N-Triples line; the object is None for a literal or a blank node."""
    subject, _, rest = line.split(None, 2)
    obj = rest.rstrip().removesuffix(".").rstrip()
    return subject.strip("<>"), obj.strip("<>") if obj.startswith("<") else None


def split_bundle(bundle: Path, reduced: Path, added: Path) -> int:
    """Write the bundle without its cold items to `reduced`, and their items.tsv rows and triples to
    `added` (added.tsv, added.nt); returns the number of cold items."""
    reduced.mkdir(parents=True)
    added.mkdir(parents=True)
    cold = set((bundle / "cold_items.txt").read_text(encoding="utf-8").split())
    for name in ("train.tsv", "valid.tsv", "test.tsv", "tags.tsv"):
        if (bundle / name).exists():
            os.symlink((bundle / name).resolve(), reduced / name)
    (reduced / "cold_items.txt").write_text("", encoding="utf-8")
    with open(bundle / "test_cold.tsv", encoding="utf-8") as source:
        (reduced / "test_cold.tsv").write_text(source.readline(), encoding="utf-8")

    entities = set()
    with (open(bundle / "items.tsv", encoding="utf-8") as source,
          open(reduced / "items.tsv", "w", encoding="utf-8") as kept,
          open(added / "added.tsv", "w", encoding="utf-8") as moved):
        rows = csv.DictReader(source, delimiter="\t", quoting=csv.QUOTE_NONE)
        kept.write("\t".join(rows.fieldnames) + "\n")
        moved.write("item_id\ttitle\ttext\tentity\n")
        for row in rows:
            if row["item_id"] in cold:
                moved.write("\t".join(row[name] for name in ("item_id", "title", "text", "entity")) + "\n")
                entities.add(row["entity"])
            else:
                kept.write("\t".join(row[name] for name in rows.fieldnames) + "\n")
    entities.discard("")

    with (open(bundle / "kg.nt", encoding="utf-8") as source,
          open(reduced / "kg.nt", "w", encoding="utf-8") as kept,
          open(added / "added.nt", "w", encoding="utf-8") as moved):
        for line in source:
            subject, obj = _iri_terms(line) if line.strip() and not line.startswith("#") else ("", None)
            (moved if subject in entities or obj in entities else kept).write(line)
    return len(cold)


def train(bundle: Path, run_dir: Path, reuse: bool) -> subprocess.Popen | None:
    """A kgrec-train run with the defaults, one thread (the benchmark box is shared); None when reused."""
    if reuse and (run_dir / "checkpoint.pt").is_file():
        return None
    log = open(run_dir.with_suffix(".log"), "w")
    return subprocess.Popen([sys.executable, "-m", "kgrec.train", "data=bundle", f"data.path={bundle.resolve()}",
                             f"hydra.run.dir={run_dir}"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=log, stderr=subprocess.STDOUT)


def cold_recall(recommender: Recommender, reference: Recommender) -> float:
    """test_cold recall@K of `recommender` under `reference`'s (the original bundle's) split and item order;
    items are matched by id, since the inductive catalogue lists the added cold items last."""
    if recommender.data.user_ids != reference.data.user_ids:
        raise RuntimeError("the two runs index users differently")
    columns = torch.tensor([recommender.item_index[item] for item in reference.data.item_ids])
    result = evaluate(lambda users: recommender.user_scores(users)[:, columns], reference.data, SPLIT, ks=(K,))
    return result.metrics[f"recall@{K}"]


def compare(bundle: Path, work: Path, reuse: bool) -> None:
    """Train both runs (in parallel), add the cold items back to the inductive one, print the table."""
    reduced, added = work / "reduced", work / "added"
    if not reuse:
        if reduced.exists():
            sys.exit(f"{work} already holds a reduced bundle: pass --reuse, or an empty --work")
        split_bundle(bundle, reduced, added)
    runs = {name: train(source, work / f"run_{name}", reuse)
            for name, source in (("transductive", bundle), ("inductive", reduced))}
    for name, process in runs.items():
        if process and process.wait():
            sys.exit(f"{name} training failed:\n" + (work / f"run_{name}.log").read_text()[-3000:])

    transductive = Recommender.load(work / "run_transductive")
    with_kg, text_only = Recommender.load(work / "run_inductive"), Recommender.load(work / "run_inductive")
    with_kg.add_items(added / "added.tsv", added / "added.nt")
    text_only.add_items(added / "added.tsv")
    logged = json.loads((work / "run_transductive" / "metrics.json").read_text())[SPLIT][f"recall@{K}"]
    recalls = {name: cold_recall(recommender, transductive) for name, recommender in
               (("transductive", transductive), ("inductive, text + KG", with_kg), ("inductive, text only", text_only))}
    print(f"{len(transductive.data.cold_items)} cold items; the transductive run's metrics.json {SPLIT} "
          f"recall@{K}: {logged:.4f}\n\n| model | {SPLIT} recall@{K} | of transductive |\n|---|---|---|")
    for name, value in recalls.items():
        print(f"| {name} | {value:.4f} | {value / recalls['transductive']:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a bundle with cold items, e.g. ../shared/datasets/ml-100k/bundle")
    parser.add_argument("--work", type=Path, help="keep the reduced bundle and both runs here (outside the repo; "
                                                  "default: a temporary directory)")
    parser.add_argument("--reuse", action="store_true", help="keep what --work already holds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        compare(args.bundle, args.work, args.reuse)
        return
    with tempfile.TemporaryDirectory(prefix="kgrec-inductive-") as directory:
        compare(args.bundle, Path(directory), reuse=False)


if __name__ == "__main__":
    main()
