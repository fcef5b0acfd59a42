"""Generation speed of `kgrec-synth` at 1e5, 1e6 and 1e7 interactions (users, items, triples proportional).

Each size runs the real command in a child process, `--repeats` times, and writes into a temporary
directory (deleted after). Reported, from the run with the median generation time: the generator's
own time (as kgrec-synth prints it: sampling, split, every file written), interactions per second, the
whole process (interpreter start and imports too) in wall and CPU time (user + system: on a shared
machine, wall time is also time spent waiting for a core), its peak memory, and
kgrec.data.split.split_interactions alone on the same number of rows (the split the generator makes).

    OMP_NUM_THREADS=1 python benchmarks/synth.py [--sizes 1e5 1e6 1e7] [--repeats 3] [--out benchmarks/results/synth.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from cost_growth import run_child, short
from kgrec.data.split import split_interactions

RESULTS = Path(__file__).resolve().parent / "results" / "synth.md"
USERS_PER_INTERACTION, ITEMS_PER_INTERACTION, TRIPLES_PER_INTERACTION = 1 / 50, 1 / 10, 1 / 2


def run_synth(interactions: int, out: Path) -> dict[str, float]:
    """One kgrec-synth process: its printed generation time, wall time, peak RSS and bytes written."""
    command = [sys.executable, "-m", "kgrec.cli.synth", "--interactions", str(interactions),
               "--users", str(int(interactions * USERS_PER_INTERACTION)),
               "--items", str(int(interactions * ITEMS_PER_INTERACTION)),
               "--triples", str(int(interactions * TRIPLES_PER_INTERACTION)), "--out", str(out)]
    wall, cpu, peak_mb, stdout = run_child(command, out.parent / "synth.log")
    rate = float(re.search(r"\(([\d,]+) interactions/s\)", stdout).group(1).replace(",", ""))
    generated = interactions / rate  # the printed seconds have two decimals: too coarse at 1e5
    size = sum(path.stat().st_size for path in out.iterdir())
    return {"generate": generated, "wall": wall, "cpu": cpu, "peak_mb": peak_mb, "bytes": size}


def split_alone(interactions: int) -> float:
    """split_interactions on a user-sorted array of the same size, as the generator hands it over."""
    rng = np.random.default_rng(0)
    users = np.sort(rng.integers(int(interactions * USERS_PER_INTERACTION), size=interactions))
    items = rng.integers(int(interactions * ITEMS_PER_INTERACTION), size=interactions)
    start = time.perf_counter()
    split_interactions(users, items, strategy="random")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7])
    parser.add_argument("--repeats", type=int, default=3, help="runs per size; the median one is reported")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = []
    for size in map(int, args.sizes):
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as scratch:
                runs.append(run_synth(size, Path(scratch) / "bundle"))
            print(f"{size:,}: {runs[-1]['generate']:.2f} s, {size / runs[-1]['generate']:,.0f} interactions/s",
                  flush=True)
        result = sorted(runs, key=lambda run: run["generate"])[len(runs) // 2]
        result["range"] = (min(run["generate"] for run in runs), max(run["generate"] for run in runs))
        result["split"] = split_alone(size)
        rows.append((size, result))
    report = render(rows, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def render(rows: list[tuple[int, dict[str, float]]], args: argparse.Namespace) -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        "# Synthetic bundle generation (`benchmarks/synth.py`)", "",
        "Command:", "",
        f"    OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')} python benchmarks/synth.py --sizes "
        + " ".join(short(size) for size in args.sizes) + f" --repeats {args.repeats}",
        "",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}; load average at the end {load} (a shared machine).", "",
        f"Per size: users = interactions / {1 / USERS_PER_INTERACTION:.0f}, items = interactions / "
        f"{1 / ITEMS_PER_INTERACTION:.0f}, triples = interactions / {1 / TRIPLES_PER_INTERACTION:.0f}; "
        "default options (32 topics, exponent 1.0, 10% cold, 5% tags). Each row is the run with the median "
        f"generation time of {args.repeats}; the brackets give the range of the {args.repeats}.", "",
        "| interactions | generate s | interactions/s | process wall s | process CPU s | peak RSS MB | bundle MB | "
        "split_interactions alone s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, result in rows:
        low, high = result["range"]
        lines.append(f"| {size:,} | {result['generate']:.2f} ({low:.2f}-{high:.2f}) | "
                     f"{size / result['generate']:,.0f} | {result['wall']:.2f} | {result['cpu']:.2f} | "
                     f"{result['peak_mb']:,.0f} | {result['bytes'] / 2**20:,.0f} | {result['split']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
