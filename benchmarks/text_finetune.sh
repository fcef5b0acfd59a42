#!/usr/bin/env bash
# Tuning the text encoder's top block (model.text_finetune_layers=1) against the frozen encoder: kgrec
# defaults on the embedded kg_data, one run per learning rate of the tuned block, all at once on one GPU
# (benchmarks/results/text_finetune.md). Prints valid/test/tail/cold recall@20 per run; writes OUT/runs.json.
#
#   benchmarks/text_finetune.sh [OUT]      on a GPU machine (OUT defaults to $OUT, else /tmp/kgrec_text_finetune)
set -euo pipefail
OUT_DIR=$(realpath -m "${1:-${OUT:-/tmp/kgrec_text_finetune}}")
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3}
mkdir -p "$OUT_DIR"

run() {  # name, overrides...
  local name=$1; shift
  timeout 330 python3 -m kgrec.train trainer.device=cuda encoder.device=cuda model.train.epochs=40 \
    hydra.run.dir="$OUT_DIR/$name" "$@" > "$OUT_DIR/$name.log" 2>&1 || echo "text_finetune: $name failed (exit $?)"
}
run frozen &
for lr in 1e-5 5e-5 2e-4; do run "tuned_$lr" model.text_finetune_layers=1 model.text_finetune_lr=$lr & done
wait

python3 - "$OUT_DIR" <<'PY'
import json, sys
from pathlib import Path

out, rows = Path(sys.argv[1]), {}
for run in sorted(path.parent for path in out.glob("*/metrics.json")):
    metrics, log = json.loads((run / "metrics.json").read_text()), json.loads((run / "train_log.json").read_text())
    rows[run.name] = {"metrics": metrics, "best_epoch": log["best_epoch"], "epochs": len(log["epochs"]),
                      "seconds_per_epoch": log["seconds_per_epoch"], "peak_gpu_mb": log["peak_gpu_memory_mb"]}
    print(f"{run.name}: valid {metrics['valid']['recall@20']:.4f}, test {metrics['test']['recall@20']:.4f}, "
          f"tail {metrics['test']['tail_recall@20']:.4f}, cold {metrics['test_cold']['recall@20']:.4f}, "
          f"best epoch {log['best_epoch']} of {len(log['epochs'])}, {log['seconds_per_epoch']:.2f} s/epoch")
(out / "runs.json").write_text(json.dumps(rows, indent=1))
PY
