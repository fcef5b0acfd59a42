"""Cost growth with data size (issue 6): ingestion, encoding, one training epoch and evaluation at 1e5 .. 1e7
interactions, with a table, a log-log plot and the scaling exponent of each cost.

Each size is a `kgrec-synth` bundle with users = N/50, items = N/10 and KG triples = N/2. Every phase runs in
its own process, so its wall time and peak memory (ru_maxrss of that process alone) are its own:

- ingest: `kgrec-ingest kg.nt --out DIR`, the whole process.
- encode: the default text encoder (all-MiniLM-L6-v2) on an empty cache. Bundles with more node texts than
  `--encode-limit` are timed on a random sample of that many texts and the total is projected linearly
  (marked "projected"): a text's cost does not depend on how many others there are.
- epoch: one epoch of mini-batch kgrec training (`neighbour_fanouts`, sampled softmax; with `--budget`, the
  `neighbour_budget` that bounds a step's sample whatever the graph), after loading the bundle. Other
  people's jobs on a shared machine move a short epoch's time by a quarter or more, so epochs are repeated
  until they add up to `--min-epoch-seconds` of CPU (at most 25) and the median is reported, with the count.
  The text features are random vectors of the encoder's width: their values do not change the cost of a
  step, and encoding 1e6 item texts on 2 CPU cores would take hours.
- eval: full-graph propagation (`prepare_scoring`), then full ranking (every item, train items masked,
  top-100 and all metrics) for up to `--eval-users` test users; the time for every test user is projected
  from that rate.

    OMP_NUM_THREADS=1 python benchmarks/cost_growth.py --sizes 1e5 1e6 1e7 --budget 6144 \
        --out benchmarks/results/cost_growth
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

def run_child(command: list[str], log: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak resident MB of that process alone, and its stdout; stops the benchmark on
    failure. CPU time is what the exponents use: other people's jobs on this shared machine stretch wall time."""
    start = time.perf_counter()
    with log.open("w") as err, tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        stdout = out.read()
    if process.returncode:
        sys.exit(f"{' '.join(command[:4])} failed (exit {process.returncode}):\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def phase_command(phase: str, bundle: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, __file__, "--phase", phase, "--bundle", str(bundle), "--encode-limit",
            str(args.encode_limit), "--eval-users", str(args.eval_users), "--batch-size", str(args.batch_size),
            "--negatives", str(args.negatives), "--fanouts", *map(str, args.fanouts), "--min-epoch-seconds",
            str(args.min_epoch_seconds)] + \
        (["--budget", str(args.budget)] if args.budget else [])


def measure_size(interactions: int, work: Path, args: argparse.Namespace) -> dict:
    bundle = work / f"synth-{interactions}"
    logs = work / f"logs-{interactions}"
    logs.mkdir(parents=True, exist_ok=True)
    run_child(["kgrec-synth", "--users", str(interactions // 50), "--items", str(interactions // 10),
               "--interactions", str(interactions), "--triples", str(interactions // 2), "--out", str(bundle),
               "--force"], logs / "synth.log")
    row = {"interactions": interactions}
    seconds, cpu, peak, _ = run_child(["kgrec-ingest", str(bundle / "kg.nt"), "--out",
                                       str(work / f"kg-{interactions}"), "--force"], logs / "ingest.log")
    row.update(ingest_s=seconds, ingest_cpu_s=cpu, ingest_peak_mb=peak)
    _, _, peak, stdout = run_child(phase_command("encode", bundle, args), logs / "encode.log")
    row.update(json.loads(stdout), encode_peak_mb=peak)
    _, _, peak, stdout = run_child(phase_command("train", bundle, args), logs / "train.log")
    row.update(json.loads(stdout), train_peak_mb=peak)
    print(json.dumps(row), flush=True)
    return row


def encode_phase(args: argparse.Namespace) -> dict:
    import numpy as np

    from kgrec.data.bundle import load_bundle
    from kgrec.text.encoder import TextEncoder
    from kgrec.text.features import node_texts

    texts = [text for column in node_texts(load_bundle(args.bundle)).values() for text in column if text is not None]
    sample = texts if len(texts) <= args.encode_limit else [
        texts[k] for k in np.random.default_rng(0).choice(len(texts), args.encode_limit, replace=False)]
    encoder = TextEncoder()  # no cache: a cold cache encodes every text
    (seconds, cpu), _ = timed(lambda: encoder.encode(sample))
    return {"texts": len(texts), "encode_s": seconds * len(texts) / len(sample),
            "encode_cpu_s": cpu * len(texts) / len(sample),
            "encode_projected": len(sample) < len(texts), "texts_per_s": len(sample) / seconds}


def train_phase(args: argparse.Namespace) -> dict:
    import resource

    import numpy as np
    import torch

    from kgrec.data.bundle import load_bundle
    from kgrec.evaluate.metrics import evaluate
    from kgrec.models.kgrec import KGRec
    from kgrec.text.features import node_texts
    from kgrec.train.loop import TrainerConfig, train

    torch.manual_seed(0)
    (load_s, _), data = timed(lambda: load_bundle(args.bundle))
    features = {}
    for node_type, texts in node_texts(data).items():
        has_text = torch.tensor([text is not None for text in texts], dtype=torch.bool)
        features[node_type] = (torch.randn(len(texts), 384) * has_text.unsqueeze(1), has_text)
    (build_s, _), model = timed(lambda: KGRec(data, features, neighbour_fanouts=args.fanouts,
                                              neighbour_budget=args.budget, full_softmax_max_items=0,
                                              sampled_negatives=args.negatives, tail_every=0))
    features.clear()  # frees the random features unless the model holds them (pyflakes: no use after del)
    config = TrainerConfig(epochs=1, batch_size=args.batch_size, lr=5e-3, device="cpu")
    epochs = []  # (wall, CPU) of each epoch: short ones are repeated, see the module docstring
    while not epochs or sum(cpu for _, cpu in epochs) < args.min_epoch_seconds and len(epochs) < 25:
        epochs.append(timed(lambda: train(model, data, config, validate=lambda: 0.0))[0])
    epoch_s, epoch_cpu_s = (float(np.median(column)) for column in zip(*epochs))
    epoch_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with torch.no_grad():
        (propagate_s, propagate_cpu_s), _ = timed(model.prepare_scoring)
        test = data.splits["test"]
        users = np.unique(test.users)
        chosen = np.isin(test.users, users[: args.eval_users])
        sample = replace(data, splits={**data.splits, "test": replace(
            test, users=test.users[chosen], items=test.items[chosen],
            timestamps=None if test.timestamps is None else test.timestamps[chosen])})
        (rank_s, rank_cpu_s), result = timed(lambda: evaluate(model.score, sample, "test", ks=(10, 20, 50),
                                                              n_recs=100, batch_size=1024))
    share = len(users) / len(result.users)  # every test user, from the ranked sample
    return {"nodes": model.num_nodes, "edges": int(model.adjacency._nnz()), "train_interactions": len(data.train),
            "load_s": load_s, "build_s": build_s, "epoch_s": epoch_s, "epoch_cpu_s": epoch_cpu_s, "epochs": len(epochs),
            "epoch_cpu_range_s": [min(cpu for _, cpu in epochs), max(cpu for _, cpu in epochs)],
            "steps": math.ceil(len(data.train) / args.batch_size), "epoch_peak_mb": epoch_memory,
            "propagate_s": propagate_s, "eval_users": len(result.users), "eval_users_per_s": len(result.users) / rank_s,
            "test_users": len(users), "eval_s": propagate_s + rank_s * share,
            "eval_cpu_s": propagate_cpu_s + rank_cpu_s * share, "eval_projected": share > 1}


def timed(work: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    """(wall seconds, CPU seconds of this process) of `work()`, and its result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = work()
    return (time.perf_counter() - start, time.process_time() - cpu), result


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): cost ~ size^exponent."""
    x = [math.log10(size) for size in sizes]
    y = [math.log10(value) for value in seconds]
    mean_x, mean_y = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mean_x) * (b - mean_y) for a, b in zip(x, y)) / sum((a - mean_x) ** 2 for a in x)


def short(size: int) -> str:
    """1e5 rather than 1e+05."""
    return f"{size:.0e}".replace("e+0", "e").replace("e+", "e")


def report(rows: list[dict], args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["interactions"] for row in rows]
    table = ["| interactions | nodes | edges | ingest s | encode s (texts) | load s | epoch s (steps; epochs) | "
             "s/step | eval s (users/s) | peak MB: ingest / encode / epoch / train+eval |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def seconds(row: dict, phase: str) -> str:
        return f"{row[phase + '_s']:,.1f} / {row[phase + '_cpu_s']:,.1f}{' *' if row.get(phase + '_projected') else ''}"

    for row in rows:
        table.append(
            f"| {row['interactions']:,} | {row['nodes']:,} | {row['edges']:,} | {seconds(row, 'ingest')} | "
            f"{seconds(row, 'encode')} ({row['texts']:,}) | {row['load_s']:.1f} | {seconds(row, 'epoch')} "
            f"({row['steps']:,}; x{row['epochs']}) | {row['epoch_cpu_s'] / row['steps']:.3f} | {seconds(row, 'eval')} "
            f"({row['eval_users_per_s']:,.0f}) | {row['ingest_peak_mb']:,.0f} / {row['encode_peak_mb']:,.0f} / "
            f"{row['epoch_peak_mb']:,.0f} / {row['train_peak_mb']:,.0f} |")
    costs = {phase: f"{phase}_cpu_s" for phase in ("ingest", "encode", "epoch", "eval")}
    slopes = {name: exponent(sizes, [row[key] for row in rows]) for name, key in costs.items()}
    pairs = [f"{short(a)} -> {short(b)}: {exponent([a, b], [ra['epoch_cpu_s'], rb['epoch_cpu_s']]):.2f}"
             for (a, ra), (b, rb) in zip(zip(sizes, rows), zip(sizes[1:], rows[1:]))]

    figure, axis = plt.subplots(figsize=(6, 4.5))
    for name, key in costs.items():
        axis.loglog(sizes, [row[key] for row in rows], marker="o", label=f"{name} (exponent {slopes[name]:.2f})")
    axis.set_xlabel("interactions")
    axis.set_ylabel("CPU seconds")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "cost_growth.png", dpi=120)

    threads = os.environ.get("OMP_NUM_THREADS", "all")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    (out / "cost_growth.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "cost_growth.md").write_text(
        "# Cost growth with data size (issue 6)\n\n"
        f"{__doc__.split(chr(10) * 2, 1)[1].split(chr(10) * 2 + '    ')[0]}\n\n"
        f"Training: batch {args.batch_size}, fanouts {args.fanouts}, neighbour budget {args.budget or 'none'} (new "
        f"nodes per hop), {args.negatives} sampled negatives, kgrec "
        f"defaults otherwise (dim 64, 2 layers); OMP_NUM_THREADS={threads}; load average at the end {load}. "
        "Times are wall / CPU seconds (`*` = projected, see above; epoch: the median of the repeats); s/step is "
        "CPU.\n\n" + "\n".join(table) + "\n\n"
        "Scaling exponents (least-squares slope of log CPU seconds on log interactions, "
        f"{short(sizes[0])} to {short(sizes[-1])}): " + ", ".join(f"{name} {value:.2f}" for name, value in slopes.items())
        + f".\nEpoch exponent per step of size: {'; '.join(pairs)}.\nEpoch CPU seconds, fastest and slowest of the "
        "repeats: " + "; ".join(f"{short(size)}: {low:,.1f} - {high:,.1f} (x{row['epochs']})"
                                for size, row in zip(sizes, rows) for low, high in [row["epoch_cpu_range_s"]])
        + ".\n\n![cost vs interactions](cost_growth.png)\n\n"
        f"Command: `OMP_NUM_THREADS={threads} python benchmarks/cost_growth.py --sizes "
        f"{' '.join(short(size) for size in sizes)}{f' --budget {args.budget}' if args.budget else ''}"
        f"{f' --min-epoch-seconds {args.min_epoch_seconds:g}' if args.min_epoch_seconds != 120 else ''}"
        f" --out {args.out}`\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6, 1e7])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cost_growth"))
    parser.add_argument("--work", type=Path, help="where bundles go (default: a temporary directory)")
    parser.add_argument("--encode-limit", type=int, default=5000)
    parser.add_argument("--eval-users", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--fanouts", type=int, nargs="+", default=[5, 5])
    parser.add_argument("--budget", type=int, help="model.neighbour_budget (default: none, no bound)")
    parser.add_argument("--min-epoch-seconds", type=float, default=120,
                        help="repeat epochs (median reported) until they add up to this much CPU")
    parser.add_argument("--phase", choices=("encode", "train"), help=argparse.SUPPRESS)
    parser.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(args.sizes) < 2 and not args.phase:
        parser.error("give at least two sizes: the exponent is a slope between them")
    if args.phase:
        print(json.dumps((encode_phase if args.phase == "encode" else train_phase)(args)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        rows = [measure_size(int(size), Path(work), args) for size in args.sizes]
    report(rows, args, args.out)


if __name__ == "__main__":
    main()
