"""Command-line entry points: kgrec-train, kgrec-ingest, kgrec-recommend, kgrec-synth."""

from __future__ import annotations

import sys
from typing import Any, Callable

from kgrec.errors import KgrecError


def print_report(prog: str, action: Callable[[Any], str], args: Any) -> int:
    """Print what `action(args)` reports (exit status 0), or a KgrecError as one `prog: error:` line on stderr
    (exit status 2), never a traceback."""
    try:
        print(action(args))
    except KgrecError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0
