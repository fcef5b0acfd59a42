"""Ingestion throughput and memory: the whole `kgrec-ingest` process against rdflib.Graph().parse alone.

The input is generated in a temporary directory (never kept: ml-100k may not be copied): the ml-100k
Freebase KG with its entities renamed `copies` times, about 1M triples for the default 11 copies.

    OMP_NUM_THREADS=1 python benchmarks/ingest.py [--copies 11]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k" / "bundle" / "kg.nt"
RDFLIB_PARSE = ("import sys, rdflib; graph = rdflib.Graph(); graph.parse(sys.argv[1], format='nt'); "
                "print(len(graph))")


def generate(path: Path, copies: int) -> int:
    """Copy k renames every Freebase entity m.X to m.X_k, so copies share only predicates."""
    text = SOURCE.read_text(encoding="utf-8")
    entity = re.compile(r"<http://rdf\.freebase\.com/ns/m\.([^>]*)>")
    with path.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            out.write(entity.sub(lambda match: f"<http://rdf.freebase.com/ns/m.{match.group(1)}_{copy}>", text))
    return text.count("\n") * copies


def timed(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak resident bytes of one child process.

    CPU time is reported too because the machine is shared: others' load stretches the wall time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{command[:3]} failed:\n{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # ru_maxrss is the largest child so far: a later child's peak is only seen when it is higher.
    return seconds, cpu, max(after.ru_maxrss, before.ru_maxrss) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=11)
    parser.add_argument("--runs", type=int, default=5, help="kgrec-ingest runs (the best and the median are reported)")
    args = parser.parse_args()
    if not SOURCE.exists():
        sys.exit(f"{SOURCE} is absent")
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "kg.nt"
        triples = generate(data, args.copies)
        size = data.stat().st_size
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        ingest = [sys.executable, "-m", "kgrec.cli.ingest", str(data), "--out", str(Path(scratch) / "cache"),
                  "--force"]
        runs = sorted((timed(ingest) for _ in range(args.runs)), key=lambda run: run[0])
        slow = timed([sys.executable, "-c", RDFLIB_PARSE, str(data)])
    print(f"{triples:,} triples, {size / 1e6:.0f} MB of N-Triples\n")
    print(f"load average before the runs: {load}\n")
    print("| reader | wall s | CPU s | triples/s (wall) | peak RSS bytes/triple |")
    print("|---|---|---|---|---|")
    fast, median = runs[0], runs[len(runs) // 2]
    for name, (seconds, cpu, peak) in ((f"kgrec-ingest (whole process), best of {len(runs)}", fast),
                                       (f"kgrec-ingest (whole process), median of {len(runs)}", median),
                                       ("rdflib.Graph().parse", slow)):
        print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {triples / seconds:,.0f} | {peak / triples:.0f} |")
    print(f"\nkgrec-ingest is {slow[0] / fast[0]:.1f}x (best run) and {slow[0] / median[0]:.1f}x (median run) "
          "faster than rdflib's parse by wall time")


if __name__ == "__main__":
    main()
