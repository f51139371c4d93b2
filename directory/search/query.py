"""What a search is asked, and what it answers: the public data classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    country: str | None = None  # ISO 3166-1 alpha-2 (or XK), filter
    service: str | None = None  # taxonomy term code, e.g. "shelter", filter
    language: str | None = None  # ISO 639-1 code spoken by the organisation, filter
    kind: str | None = None  # ngo | network | international_org | government | other, filter
    page: int = 1  # callers validate: page >= 1, 1 <= per_page <= 100
    per_page: int = 20


@dataclass(frozen=True)
class Hit:
    organisation: dict[str, Any]  # {"id","name","acronym","country","city","kind"}
    services: list[dict[str, Any]]  # [{"id","name","term"}]; matching services first
    score: float
    highlights: dict[str, str]  # field -> HTML snippet with <mark>…</mark>, text HTML-escaped


@dataclass(frozen=True)
class SearchResult:
    total: int
    page: int
    per_page: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]]  # facet -> value -> count over the whole result set
