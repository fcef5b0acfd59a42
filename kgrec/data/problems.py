"""Strict-or-skip handling of bad input rows, so that no row is ever dropped silently."""

from __future__ import annotations

import logging

from kgrec.errors import DataError, KgrecError

log = logging.getLogger(__name__)

ON_ERROR_CHOICES = ("raise", "skip")


class Problems:
    """Collects bad rows: raises the first one (`on_error="raise"`) or counts them and keeps examples ("skip")."""

    def __init__(self, on_error: str = "raise", max_examples: int = 5):
        if on_error not in ON_ERROR_CHOICES:
            raise KgrecError(f"data.on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.max_examples = max_examples
        self.skipped = 0
        self.examples: list[str] = []
        self.duplicates = 0

    def bad_row(self, error: DataError) -> None:
        if self.on_error == "raise":
            raise error
        self.skipped += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(str(error))

    def summary(self) -> str:
        parts = []
        if self.duplicates:
            parts.append(f"{self.duplicates:,} exact duplicate rows removed")
        if self.skipped:
            parts.append(f"{self.skipped:,} bad rows skipped (data.on_error=skip), first: " + "; ".join(self.examples))
        return "; ".join(parts)

    def log_summary(self) -> None:
        if self.duplicates or self.skipped:
            log.warning(self.summary())
