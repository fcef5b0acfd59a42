"""`kgrec-recommend RUN_DIR`: recommendations with explanations from a `kgrec-train` run directory.

Only results go to stdout (a table, or with --json a JSON list of {"item_id", "title", "score",
"explanation"}, best first); logs and progress go to stderr. Errors the user can fix print one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from kgrec.errors import KgrecError


def _ids(value: str) -> list[str]:
    """Comma-separated ids, or a file of ids (one per line, or comma-separated) when the value is a file."""
    path = Path(value)
    text = path.read_text(encoding="utf-8") if path.is_file() else value
    return [item.strip() for line in text.splitlines() for item in line.split(",") if item.strip()]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgrec-recommend", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a kgrec-train run directory (config.yaml, checkpoint.pt)")
    who = parser.add_argument_group("who to recommend for (a known --user, or a new user: --items and/or --text)")
    who.add_argument("--user", help="a known user id; items they have in train and valid are excluded")
    who.add_argument("--items", type=_ids, default=[], help="liked item ids ID,ID,... (excluded from the output)")
    who.add_argument("--text", help='a description of a new user, e.g. "quiet piano music for studying"')
    who.add_argument("--all-users", action="store_true", help="top --k of every known user to --out (no explanations)")
    parser.add_argument("--k", type=int, default=10, help="at most this many items (default 10)")
    parser.add_argument("--candidates", type=_ids, help="restrict the pool: ID,ID,... or a file of ids")
    parser.add_argument("--category", action="append", default=[],
                        help="restrict to items of a KG category: its label, IRI or IRI's last part, any case "
                             "(repeatable: items of any of them)")
    parser.add_argument("--add-items", type=Path, help="TSV of items added after training: item_id title text [entity]")
    parser.add_argument("--add-kg", type=Path, help="RDF file (e.g. .nt) with the added items' triples")
    parser.add_argument("--no-explain", action="store_true", help="skip explanations")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--out", type=Path, help="with --all-users: output file (.tsv or .parquet)")
    return parser


def _check(args: argparse.Namespace, parse: argparse.ArgumentParser) -> None:
    if args.all_users:
        if args.user or args.items or args.text or not args.out:
            parse.error("--all-users takes --out FILE and no --user/--items/--text")
    elif not args.user and not args.items and not args.text:
        parse.error("give --user ID, or --items and/or --text for a new user, or --all-users")
    elif args.user and (args.items or args.text):
        parse.error("--user cannot be combined with --items or --text (they describe a new user)")
    if args.add_kg and not args.add_items:
        parse.error("--add-kg needs --add-items")
    if args.k < 1:
        parse.error(f"--k must be at least 1, got {args.k}")


def _table(recommendations) -> str:
    if not recommendations:
        return "(no items: every candidate is excluded or filtered out)"
    width = max(len(r.title) for r in recommendations)
    lines = [f"{'rank':>4}  {'item_id':<10} {'title':<{width}}  {'score':>8}  explanation"]
    lines += [f"{rank:>4}  {r.item_id:<10} {r.title:<{width}}  {r.score:>8.3f}  {r.explanation}"
              for rank, r in enumerate(recommendations, 1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parse = parser()
    args = parse.parse_args(argv)
    _check(args, parse)
    # force: log to the current stderr even when main runs twice in one process (tests).
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        force=True)
    from kgrec.infer.recommender import Recommender

    try:
        recommender = Recommender.load(args.run_dir)
        if args.add_items:
            recommender.add_items(args.add_items, args.add_kg)
        if args.all_users:
            rows = recommender.recommend_all(args.k, args.out)
            print(f"kgrec-recommend: wrote {rows:,} rows to {args.out}", file=sys.stderr)
            return
        recommendations = recommender.recommend(args.user, items=args.items, text=args.text, k=args.k,
                                                candidates=args.candidates, categories=args.category,
                                                explain=not args.no_explain)
    except KgrecError as error:
        print(f"kgrec-recommend: error: {error}", file=sys.stderr)
        sys.exit(2)
    if args.json:
        print(json.dumps([vars(r) for r in recommendations], ensure_ascii=False, indent=2))
    else:
        print(_table(recommendations))


if __name__ == "__main__":
    main()
