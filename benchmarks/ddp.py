"""DDP on CPU: kgrec trained by one process and by 2 gloo processes under torchrun, same config and global batch.

Issue 6 asks that 2 processes reach the test recall@20 of one process within 0.02 on the ml-100k bundle.
Writes OUT/ddp.md (one row per run: epochs, seconds per epoch, test and test_cold recall@20) and exits 1 when
the gap is larger.

    OMP_NUM_THREADS=1 python benchmarks/ddp.py ../shared/datasets/ml-100k/bundle --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOLERANCE = 0.02


def kgrec_train(launcher: list[str], bundle: Path, run_dir: Path, *overrides: str) -> dict:
    """Run kgrec-train under `launcher`; its metrics.json and train_log.json."""
    command = [*launcher, "-m", "kgrec.train", "data=bundle", f"data.path={bundle.resolve()}", "model=kgrec",
               f"hydra.run.dir={run_dir.resolve()}", *overrides]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return {name: json.loads((run_dir / f"{name}.json").read_text()) for name in ("metrics", "train_log")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for both runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        runs = {
            "1 process": kgrec_train([sys.executable], args.bundle, Path(work) / "one", *args.overrides),
            "2 gloo processes (torchrun)": kgrec_train(
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
                args.bundle, Path(work) / "two", "trainer=ddp", *args.overrides),
        }
    rows = ["| run | epochs (best) | s / epoch | test recall@20 | test tail_recall@20 | test_cold recall@20 |",
            "|---|---|---|---|---|---|"]
    for name, run in runs.items():
        log, metrics = run["train_log"], run["metrics"]
        rows.append(f"| {name} | {len(log['epochs'])} ({log['best_epoch']}) | {log['seconds_per_epoch']:.2f} "
                    f"| {metrics['test']['recall@20']:.4f} | {metrics['test']['tail_recall@20']:.4f} "
                    f"| {metrics['test_cold']['recall@20']:.4f} |")
    one, two = (run["metrics"]["test"]["recall@20"] for run in runs.values())
    verdict = f"test recall@20 gap {abs(one - two):.4f} ({'within' if abs(one - two) <= TOLERANCE else 'OUTSIDE'} " \
              f"the {TOLERANCE} target)"
    command = " ".join(["OMP_NUM_THREADS=1 python benchmarks/ddp.py", str(args.bundle), "--out", str(args.out),
                        *args.overrides])
    report = (f"# DDP on CPU (issue 6)\n\n    {command}\n\nkgrec with its defaults (global batch 4096, shared out "
              "across the processes) on this shared 2-core machine; seconds per epoch include validation.\n\n"
              + "\n".join(rows) + f"\n\n{verdict}\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ddp.md").write_text(report)
    print(report)
    sys.exit(0 if abs(one - two) <= TOLERANCE else 1)


if __name__ == "__main__":
    main()
