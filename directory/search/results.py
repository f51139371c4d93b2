"""A page of results: the organisations a query's filters allow, the page of hits (by name, or
in rank order) and the facet counts over the whole result set."""

from __future__ import annotations

import heapq

from directory.search.highlight import Highlighter, Patterns
from directory.search.postings import docnums_in
from directory.search.query import SearchQuery, SearchResult
from directory.search.ranking import Ranking
from directory.search.schema import TERMS
from directory.search.view import View

FACET_FIELDS = {"country": "country", "service": TERMS, "language": "languages", "kind": "kind"}


def allowed_by_filters(view: View, query: SearchQuery) -> int:
    """The organisations the query's filters allow."""
    allowed = view.organisations
    for facet, field_name in FACET_FIELDS.items():
        value = getattr(query, facet)
        if value is not None:
            value = value.upper() if facet == "country" else value
            allowed &= view.term_bits(field_name, value.lower() if facet == "language" else value)
    return allowed


def page_by_name(view: View, query: SearchQuery, allowed: int) -> SearchResult:
    rank = view.name_rank()
    end = query.page * query.per_page
    page = heapq.nsmallest(end, docnums_in(allowed), key=rank.__getitem__)[end - query.per_page :]
    highlighter = Highlighter({})
    hits = [highlighter.hit(view.searcher.stored_fields(d)["payload"], 0.0) for d in page]
    return SearchResult(
        allowed.bit_count(), query.page, query.per_page, hits, _facet_counts(view, allowed)
    )


def page_by_rank(view: View, query: SearchQuery, ranking: Ranking, patterns: dict[str, Patterns],
                 ) -> SearchResult:  # fmt: skip
    end = query.page * query.per_page
    page = ranking.top(end)[end - query.per_page :]
    highlighter = Highlighter(patterns)
    stored = view.searcher.stored_fields
    hits = [highlighter.hit(stored(ranked.docnum)["payload"], ranked.score) for ranked in page]
    total = ranking.matches.bit_count()
    return SearchResult(
        total, query.page, query.per_page, hits, _facet_counts(view, ranking.matches)
    )


def _facet_counts(view: View, result: int) -> dict[str, dict[str, int]]:
    """Facet -> value -> how many of ``result`` have it, most frequent first."""
    counts: dict[str, dict[str, int]] = {}
    for facet, field_name in FACET_FIELDS.items():
        found = {
            value: (bits & result).bit_count() for value, bits in view.facet(field_name).items()
        }
        ordered = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        counts[facet] = {value: count for value, count in ordered if count}
    return counts
