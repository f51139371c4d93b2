"""A query plan: one clause per word, quoted phrase or place name of the query, each with the
ways (leaves) it can match a document."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Leaf:
    """One way a clause can match: a term (or phrase) in a field, and what that is worth."""

    field: str
    terms: tuple[str, ...]  # one term, or the words of a phrase
    weight: float
    constant: bool = False  # a place hint: the weight is the score, no idf
    # what to highlight, if not its own terms: (field, a term or the terms of a phrase)
    marks: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class Clause:
    text: str
    leaves: list[Leaf] = field(default_factory=list)
