"""Inductive cold items (issue 5): train without the cold items, add them back afterwards, compare test_cold.

The transductive run trains on the bundle as it is: cold items have no interactions but keep their text and
KG triples, so they are nodes of the trained graph. The inductive run trains on a copy from which the cold
items are removed entirely: items.tsv without them, kg.nt without any triple that names their entities, no
cold_items.txt entries, no test_cold.tsv rows. Afterwards they are added with `Recommender.add_items` (what
`kgrec-recommend --add-items FILE --add-kg FILE.nt` does) from their original items.tsv rows and triples.
Both are scored with kgrec.evaluate.metrics on the original bundle's test_cold split, so candidates,
excluded items and averaging are the evaluator's own.

How an added item mixes its text and its KG edges (`embed_items`: kg_share, max_degree) is chosen on a
validation bundle that never sees the cold items: the inductive run's bundle with a random 10% of its items
made cold the same way (their train and valid interactions become its test_cold; their test interactions
are dropped), trained without them and added back like the real cold items.

    OMP_NUM_THREADS=1 python benchmarks/inductive.py ../shared/datasets/ml-100k/bundle --work /tmp/h5work
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

from kgrec.data.dataset import Dataset
from kgrec.data.load import load_dataset
from kgrec.evaluate.metrics import evaluate
from kgrec.infer.recommender import NewItems, Recommender

SPLIT, K = "test_cold", 20
HOLD_OUT, SEED = 0.1, 2026  # the validation bundle's cold items: a random 10%, as in the shared bundles
KG_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_DEGREES = (None, 300, 100, 30)


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
    for name in ("train.tsv", "valid.tsv", "test.tsv"):
        os.symlink((bundle / name).resolve(), reduced / name)
    if (bundle / "tags.tsv").exists():  # tags of the cold items (ml-latest-small has some) go with them
        header, *lines = (bundle / "tags.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
        (reduced / "tags.tsv").write_text(header + "".join(line for line in lines if line.split("\t")[1] not in cold),
                                          encoding="utf-8")
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


def hold_out(bundle: Path, target: Path) -> int:
    """Write `bundle` with a random HOLD_OUT share of its items made cold to `target`: their train and valid
    interactions become test_cold (users with train left), their test interactions are dropped, the rest is
    kept; returns the number of items held out."""
    target.mkdir(parents=True)
    with open(bundle / "items.tsv", encoding="utf-8") as source:
        items = [row["item_id"] for row in csv.DictReader(source, delimiter="\t", quoting=csv.QUOTE_NONE)]
    held = set(np.random.default_rng(SEED).choice(items, round(HOLD_OUT * len(items)), replace=False).tolist())
    (target / "cold_items.txt").write_text("".join(f"{item}\n" for item in sorted(held)), encoding="utf-8")
    for name in ("items.tsv", "kg.nt"):
        os.symlink((bundle / name).resolve(), target / name)
    rows = {}
    for name in ("train.tsv", "valid.tsv", "test.tsv", "tags.tsv"):
        if (bundle / name).exists():
            header, *lines = (bundle / name).read_text(encoding="utf-8").splitlines(keepends=True)
            rows[name] = header, [line for line in lines if line.split("\t")[1] not in held]
            if name in ("train.tsv", "valid.tsv"):
                rows.setdefault("test_cold.tsv", (header, []))[1].extend(
                    line for line in lines if line.split("\t")[1] in held)
    users = {line.split("\t")[0] for line in rows["train.tsv"][1]}
    header, cold = rows["test_cold.tsv"]
    rows["test_cold.tsv"] = header, [line for line in cold if line.split("\t")[0] in users]
    for name, (header, lines) in rows.items():
        (target / name).write_text(header + "".join(lines), encoding="utf-8")
    return len(held)


def train(bundle: Path, run_dir: Path) -> subprocess.Popen | None:
    """A kgrec-train run with the defaults, one thread (the benchmark box is shared); None when it exists."""
    if (run_dir / "checkpoint.pt").is_file():
        return None
    log = open(run_dir.with_suffix(".log"), "w")
    return subprocess.Popen([sys.executable, "-m", "kgrec.train", "data=bundle", f"data.path={bundle.resolve()}",
                             f"hydra.run.dir={run_dir}"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=log, stderr=subprocess.STDOUT)


def cold_recall(recommender: Recommender, reference: Dataset, added: NewItems | None = None, **settings) -> float:
    """test_cold recall@K of `recommender`, with `added` items embedded by `embed_items(**settings)`, under
    `reference`'s (the complete bundle's) split and item order: items are matched by id."""
    if recommender.data.user_ids != reference.user_ids:
        raise RuntimeError("the two runs index users differently")
    item_h, item_text, ids = recommender.item_h, recommender.item_text, list(recommender.item_ids)
    cold = recommender.cold_items
    if added is not None:
        item_h, ids = torch.cat([item_h, recommender.embed_items(added, **settings)]), ids + added.ids
        item_text = None if item_text is None else torch.cat([item_text, added.match_text])
        cold = torch.cat([cold, torch.ones(len(added.ids), dtype=torch.bool)])
    position = {item: k for k, item in enumerate(ids)}
    order = [position[item] for item in reference.item_ids]
    item_h, item_text, cold = item_h[order], None if item_text is None else item_text[order], cold[order]
    same_penalty = torch.zeros(len(item_h))  # the candidates, cold items, all carry the unseen items' penalty

    def scores(users: torch.Tensor) -> torch.Tensor:  # as Recommender.user_scores, over these items
        model = recommender.model
        return model.score_embeddings(recommender.user_h[users], item_h, same_penalty, model.user_profiles(users),
                                      item_text, cold)

    return evaluate(scores, reference, SPLIT, ks=(K,)).metrics[f"recall@{K}"]


def prepare(bundle: Path, work: Path) -> dict[str, Path]:
    """The bundles to train on, by run name; the derived ones are written once."""
    if not (work / "reduced").exists():
        split_bundle(bundle, work / "reduced", work / "added")
    if not (work / "validation").exists():
        hold_out(work / "reduced", work / "validation")
        split_bundle(work / "validation", work / "validation_reduced", work / "validation_added")
    return {"transductive": bundle, "inductive": work / "reduced", "validation": work / "validation_reduced"}


def select(work: Path) -> dict:
    """The fold-in settings with the best validation recall; prints the validation grid."""
    run = Recommender.load(work / "run_validation")
    reference = load_dataset({**run.config["data"], "path": str(work / "validation")})
    added = run.read_items(work / "validation_added" / "added.tsv", work / "validation_added" / "added.nt")
    grid = {(share, degree): cold_recall(run, reference, added, kg_share=share, max_degree=degree)
            for share in KG_SHARES for degree in MAX_DEGREES}
    print(f"validation: {len(reference.cold_items)} held-out warm items, {SPLIT} recall@{K} "
          "(rows: kg_share, columns: max_degree)\n\n| kg_share | "
          + " | ".join(str(degree) for degree in MAX_DEGREES) + " |\n|---|" + "---|" * len(MAX_DEGREES))
    for share in KG_SHARES:
        print(f"| {share} | " + " | ".join(f"{grid[share, degree]:.4f}" for degree in MAX_DEGREES) + " |")
    share, degree = max(grid, key=grid.get)
    print(f"\nchosen on validation: kg_share={share}, max_degree={degree}\n")
    return {"kg_share": share, "max_degree": degree}


def compare(bundle: Path, work: Path) -> None:
    """Train the three runs (in parallel), choose the fold-in on validation, print the test_cold table."""
    runs = {name: train(source, work / f"run_{name}") for name, source in prepare(bundle, work).items()}
    for name, process in runs.items():
        if process and process.wait():
            sys.exit(f"{name} training failed:\n" + (work / f"run_{name}.log").read_text()[-3000:])
    chosen = select(work)

    transductive, inductive = Recommender.load(work / "run_transductive"), Recommender.load(work / "run_inductive")
    added = work / "added"
    with_kg = inductive.read_items(added / "added.tsv", added / "added.nt")
    text_only = inductive.read_items(added / "added.tsv")
    logged = json.loads((work / "run_transductive" / "metrics.json").read_text())[SPLIT][f"recall@{K}"]
    recalls = {"transductive": cold_recall(transductive, transductive.data),
               f"inductive, text + KG, chosen ({chosen})": cold_recall(inductive, transductive.data, with_kg, **chosen),
               "inductive, text + KG, all edges at full share": cold_recall(inductive, transductive.data, with_kg,
                                                                            kg_share=1.0, max_degree=None),
               "inductive, text only": cold_recall(inductive, transductive.data, text_only)}
    print(f"{len(transductive.data.cold_items)} cold items; the transductive run's metrics.json {SPLIT} "
          f"recall@{K}: {logged:.4f}\n\n| model | {SPLIT} recall@{K} | of transductive |\n|---|---|---|")
    for name, value in recalls.items():
        print(f"| {name} | {value:.4f} | {value / recalls['transductive']:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a bundle with cold items, e.g. ../shared/datasets/ml-100k/bundle")
    parser.add_argument("--work", type=Path, help="keep the derived bundles and the runs here, and reuse what it "
                                                  "already holds (outside the repo; default: a temporary directory)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        compare(args.bundle, args.work)
        return
    with tempfile.TemporaryDirectory(prefix="kgrec-inductive-") as directory:
        compare(args.bundle, Path(directory))


if __name__ == "__main__":
    main()
