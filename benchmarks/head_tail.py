"""Head-vs-tail benchmark: several models on one dataset under the same protocol.

Writes OUT/head_tail.md (overall / head / tail / cold recall and NDCG @20, coverage, tail share,
train time, time per epoch, peak memory), OUT/deciles.png (test recall@20 per popularity decile) and
each model's run directory OUT/runs/<model>/ (not committed) (metrics.json, recs/, ...).

    python benchmarks/head_tail.py --path ../shared/datasets/ml-100k/bundle --out benchmarks/results/ml-100k
    python benchmarks/head_tail.py --data kg_data --models pop ease --out /tmp/bench  # the embedded default
    python benchmarks/head_tail.py --path DIR --out OUT --models kgrec no_text:kgrec,model.use_text=false
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from kgrec.evaluate.report import markdown_table, plot_decile_recall

MODELS = ["pop", "ease", "bpr", "lightgcn", "textknn", "kgrec"]
COLUMNS = ["model", "beta", "tail_every", "recall@20", "ndcg@20", "head_recall@20", "tail_recall@20", "cold_recall@20", "cold_ndcg@20",
           "coverage@20", "tail_share@20", "train_s", "s_per_epoch", "peak_mb"]


def run_model(spec: str, data: str, path: str | None, overrides: list[str], out: Path, reuse: bool) -> dict:
    """Run `kgrec-train` for one model in its own process (so time and peak memory are its own); one table row.

    `spec` is a model config name, or LABEL:MODEL,OVERRIDE,... for a variant (no_kg:kgrec,model.use_kg=false).
    """
    label, _, choice = spec.rpartition(":")
    model, *model_overrides = choice.split(",")
    label = label or model
    run_dir = out / "runs" / label
    command = [sys.executable, "-m", "kgrec.train", f"data={data}", f"model={model}", f"hydra.run.dir={run_dir}"]
    command += ([f"data.path={Path(path).resolve()}"] if path else []) + model_overrides + overrides
    if not (reuse and (run_dir / "metrics.json").is_file()):
        print("+", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    log = json.loads((run_dir / "train_log.json").read_text())
    test = metrics["test"]
    # ID-only models give every unseen item the same score: their test_cold numbers are tie-breaking noise.
    cold = metrics.get("test_cold", {}) if log.get("scores_unseen_items") else {}
    row = {
        "model": label, "beta": log.get("popularity_penalty"), "tail_every": log.get("tail_every"),
        **{key: test.get(key) for key in COLUMNS if "@" in key and not key.startswith("cold")},
        "cold_recall@20": cold.get("recall@20"), "cold_ndcg@20": cold.get("ndcg@20"),
        "train_s": f"{log['train_seconds']:.1f}", "s_per_epoch": f"{log['seconds_per_epoch']:.2f}",
        "peak_mb": f"{log['peak_memory_mb']:.0f}",
    }
    return {key: value for key, value in row.items() if value is not None}  # absent cells print as a dash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="bundle", help="data config (conf/data/NAME.yaml)")
    parser.add_argument("--path", help="data.path (required for bundle and recbole)")
    parser.add_argument("--models", nargs="+", default=MODELS,
                        help="model config names, or LABEL:MODEL,OVERRIDE,... variants (ablations)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reuse", action="store_true", help="keep runs that already have a metrics.json in --out")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every model, e.g. eval.ks=[20]")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    rows = [run_model(model, args.data, args.path, args.overrides, args.out, args.reuse) for model in args.models]
    curves = {row["model"]: json.loads((args.out / "runs" / row["model"] / "deciles.json").read_text())["test"]["recall@20"]
              for row in rows}
    plot_decile_recall(curves, args.out / "deciles.png", k=20)
    dataset = Path(args.path).name if args.path else args.data
    source = Path(args.path).parent.name if args.path else args.data
    table = markdown_table(rows, COLUMNS)
    command = "python benchmarks/head_tail.py " + " ".join(
        [f"--data {args.data}"] + ([f"--path {args.path}"] if args.path else []) + ["--models", *args.models,
                                                                                    "--out", str(args.out), *args.overrides])
    report = (f"# Head vs tail on {source}/{dataset}\n\nK = 20; test split (cold columns: test_cold, cold items only as "
              f"candidates; a dash for ID-only models, which score every cold item alike). beta, tail_every: the knobs kgrec chose on valid (penalty beta; every m-th list position to a tail item, 0 = off). Times in seconds on this shared 2-core machine, peak memory of each run's process in MB.\n\n{table}\n\n"
              f"![recall@20 by popularity decile](deciles.png)\n\nCommand: `{command}`\n")
    (args.out / "head_tail.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
