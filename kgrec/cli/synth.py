"""`kgrec-synth`: write a synthetic bundle (power-law popularity, topical users, texts, KG, tags, cold items).

Kept light (argparse, numpy, pyarrow; no torch, no Hydra): generation time is what it is measured by.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

from kgrec.cli import print_report
from kgrec.errors import KgrecError

BUNDLE_FILES = ("train.tsv", "valid.tsv", "test.tsv", "test_cold.tsv", "cold_items.txt", "items.tsv", "kg.nt",
                "tags.tsv")
TYPES = {"int": int, "float": float}  # SynthConfig's annotations are strings (postponed evaluation)
HELP = {
    "users": "users (each has at least one interaction)",
    "items": "catalogue items",
    "interactions": "distinct (user, item) pairs before the split",
    "triples": "approximate number of KG triples (labels included)",
    "seed": "random seed: the same seed writes the same bytes",
    "topics": "latent topics, each with its own vocabulary (at most 40)",
    "popularity_exponent": "Zipf exponent of item popularity",
    "popularity_mix": "share of interactions drawn from global popularity rather than the user's interests",
    "max_interests": "each user has between 1 and this many interest topics",
    "second_topic_share": "share of items with a second topic",
    "cold_share": "share of the items with interactions held out as cold items (test_cold)",
    "valid_share": "share of each user's warm interactions in valid",
    "test_share": "share of each user's warm interactions in test",
    "tag_share": "share of train interactions with a tag (0: no tags.tsv)",
    "activity_sigma": "log-normal spread of user activity",
}


def main(argv: list[str] | None = None) -> int:
    return print_report("kgrec-synth", synth, _parser().parse_args(argv))


def synth(args: argparse.Namespace) -> str:
    """Generate the bundle and return the report to print."""
    from kgrec.data.synth import SynthConfig, generate_bundle

    config = SynthConfig(**{field.name: getattr(args, field.name) for field in fields(SynthConfig)})
    existing = [name for name in BUNDLE_FILES if (args.out / name).exists()]
    if existing and not args.force:
        raise KgrecError(f"{args.out} already holds a bundle ({', '.join(existing)}); pass --force to overwrite it")
    for name in existing:  # a stale tags.tsv must not outlive a run with --tag-share 0
        (args.out / name).unlink()
    start = time.perf_counter()
    written = generate_bundle(config, args.out)
    seconds = time.perf_counter() - start
    rows = "\n".join(f"  {name}: {count:,}" for name, count in written.items())
    return (f"wrote {args.out} in {seconds:.2f} s ({config.interactions / seconds:,.0f} interactions/s)\n{rows}")


def _parser() -> argparse.ArgumentParser:
    from kgrec.data.synth import SynthConfig

    parser = argparse.ArgumentParser(prog="kgrec-synth", description=__doc__.splitlines()[0])
    for field in fields(SynthConfig):
        option = "--" + field.name.replace("_", "-")
        if field.name in ("users", "items", "interactions", "triples"):
            parser.add_argument(option, type=int, required=True, help=HELP[field.name])
        else:
            parser.add_argument(option, type=TYPES[field.type], default=field.default,
                                help=f"{HELP[field.name]} (default {field.default})")
    parser.add_argument("--out", required=True, type=Path, help="bundle directory to write")
    parser.add_argument("--force", action="store_true", help="overwrite the bundle files already in --out")
    return parser


if __name__ == "__main__":
    sys.exit(main())
