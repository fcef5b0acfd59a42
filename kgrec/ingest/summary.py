"""What an ingestion kept and dropped, and why: printed after every run and stored in the cache."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class IngestSummary:
    files: list[str] = field(default_factory=list)
    triples_read: int = 0
    duplicates: int = 0
    literals_dropped: int = 0
    literals_kept: int = 0
    label_triples: int = 0
    same_as_triples: int = 0
    relation_filtered: int = 0
    out_of_neighbourhood: int = 0
    hops: int | None = None
    edges: int = 0
    entities: int = 0
    relations: int = 0
    categories: int = 0
    labelled_entities: int = 0
    items: int = 0
    items_linked: int = 0
    items_linked_through_same_as: int = 0
    skipped_lines: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    @property
    def items_not_linked(self) -> int:
        return self.items - self.items_linked

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """A few lines for a person: every triple read is accounted for by exactly one count."""
        lines = [
            f"read {self.triples_read:,} triples from {len(self.files)} file(s)",
            f"kept {self.edges:,} edges over {self.entities:,} entities ({self.categories:,} categories, "
            f"{self.labelled_entities:,} labelled) and {self.relations:,} relations",
            f"used {self.label_triples:,} label triples and {self.same_as_triples:,} owl:sameAs links"
            + (f"; kept {self.literals_kept:,} literals as entity attributes" if self.literals_kept else ""),
            f"dropped {self.duplicates:,} duplicates, {self.literals_dropped:,} non-label literals, "
            f"{self.relation_filtered:,} by the relation filter, {self.out_of_neighbourhood:,} outside the "
            + (f"{self.hops}-hop neighbourhood of linked items" if self.hops is not None else "neighbourhood (no pruning)"),
        ]
        if self.hops is not None:
            before = self.edges + self.out_of_neighbourhood
            lines.append(f"the {self.hops}-hop neighbourhood kept {self.edges / max(before, 1):.1%} of the edges")
        if self.items:
            lines.append(f"items linked {self.items_linked:,} ({self.items_linked_through_same_as:,} through "
                         f"owl:sameAs), not linked {self.items_not_linked:,} of {self.items:,}")
        if self.skipped_lines:
            lines.append(f"skipped {self.skipped_lines:,} malformed lines (on_error=skip), first: "
                         + "; ".join(self.skipped_examples))
        return "\n".join(lines)
