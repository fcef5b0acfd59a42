"""Choose a kgrec setting on valid with the tail in view.

Each variant (Hydra overrides on model=kgrec) is trained per seed with the tail slots off, then measured:
recall@20 on valid and test, recall@20 on valid_tail and test_tail (each user's tail items ranked among the tail
alone: how well the model orders the tail) and on test_cold; train_s is the training loop's time, as
kgrec-train's train_seconds. Choices are made on the valid columns; the test
columns are for the report. Every run appends one line to OUT.jsonl, and OUT.md (means over seeds, then every
run) is rewritten from all of them, so bundles and seeds can be measured in separate (parallel) invocations.

    OMP_NUM_THREADS=1 python benchmarks/variants.py --path ../shared/datasets/ml-100k/bundle --seeds 2026 1 2 \\
        --out benchmarks/results/self_weight default sw_0.3:model.self_weight=0.3 sw_mean:model.self_weight=null
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from kgrec.evaluate.metrics import evaluate
from kgrec.evaluate.report import markdown_table
from popularity_knob import train_kgrec

SPLITS = ("valid", "valid_tail", "test", "test_tail", "test_cold")


def measure(path: str, overrides: list[str], seed: int) -> dict:
    """Train kgrec with `overrides` (tail slots off) and return its recall@20 on every split of SPLITS."""
    _, data, model, history = train_kgrec(path, ["model.tail_every=0", f"seed={seed}", *overrides])
    row = {"bundle": data.name, "seed": seed, "train_s": round(history.seconds), "best_epoch": history.best_epoch}
    model.eval()
    with torch.no_grad():
        model.prepare_scoring()
        for split in SPLITS:
            if split == "test_cold" and not len(data.cold_items):
                continue
            row[f"{split}_recall@20"] = evaluate(model.score, data, split, ks=(20,), n_recs=20).metrics["recall@20"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="a bundle directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2026])
    parser.add_argument("--out", type=Path, required=True, help="OUT.jsonl and OUT.md are written")
    parser.add_argument("variants", nargs="+", help="LABEL:OVERRIDE,OVERRIDE... or `default` (no override)")
    args = parser.parse_args()
    log = args.out.with_suffix(".jsonl")
    log.parent.mkdir(parents=True, exist_ok=True)
    for spec in args.variants:
        label, _, overrides = spec.partition(":")
        for seed in args.seeds:
            row = {"variant": label, **measure(args.path, [o for o in overrides.split(",") if o], seed)}
            print(json.dumps(row), flush=True)
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    write_report(log)


def write_report(log: Path) -> None:
    """OUT.md from every run in OUT.jsonl: the mean over seeds of each (bundle, variant), then every run; a
    "## Notes" section written by hand at the end of an existing OUT.md is kept."""
    report = log.with_suffix(".md")
    notes = report.read_text().partition("\n## Notes")[2] if report.is_file() else ""
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    recalls = [column for column in columns if column.endswith("@20")]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["bundle"], row["variant"]), []).append(row)
    means = [{"bundle": bundle, "variant": variant, "seeds": len(runs),
              **{column: sum(run[column] for run in runs) / len(runs) for column in recalls
                 if all(column in run for run in runs)}}
             for (bundle, variant), runs in sorted(groups.items())]
    report.write_text(
        "# kgrec variants (`benchmarks/variants.py`)\n\nrecall@20 per split, tail slots off; valid_tail and test_tail "
        "rank each user's tail items among the tail alone. Choices are made on the valid columns.\n\n"
        f"Mean over seeds:\n\n{markdown_table(means, ['bundle', 'variant', 'seeds', *recalls])}\n\n"
        f"Every run:\n\n{markdown_table(rows, columns)}\n" + (f"\n## Notes{notes}" if notes else ""))


if __name__ == "__main__":
    main()
