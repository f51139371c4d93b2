"""Snippets of a hit's text around what the query matched, HTML-escaped, matches in <mark>."""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

from directory.search.analysis import WORD, acronym_key, fold, is_dropped, terms_for_word
from directory.search.clauses import Clause
from directory.search.query import Hit
from directory.search.schema import (
    ACRONYM,
    GROUPS,
    LABEL_FIELDS,
    NAME,
    NOTES,
    SERVICES,
    analysis_kind,
)

HIGHLIGHT_CHARS = 180
MAX_SERVICE_HIGHLIGHTS = 3

Patterns = set[tuple[str, ...]]  # the terms of a word, or of a phrase, to mark in a field


class Highlighter:
    """Marks what a query matched in a page of hits. Labels and service names recur from hit to
    hit, so each (text, field) is marked once per query."""

    def __init__(self, patterns: dict[str, Patterns]) -> None:
        self.patterns = patterns
        self._done: dict[tuple[str, str], str | None] = {}

    def hit(self, payload: dict[str, Any], score: float) -> Hit:
        matched = [(service, self._service(service)) for service in payload["services"]]
        matched.sort(key=lambda pair: pair[1] is None)  # matching services first
        services = [{key: service[key] for key in ("id", "name", "term")} for service, _ in matched]
        snippets = list(dict.fromkeys(snippet for _, snippet in matched if snippet))
        organisation = payload["organisation"]
        found = {
            "name": self.snippet(organisation["name"], NAME),
            "acronym": self._acronym(organisation.get("acronym")),
            "services": " · ".join(snippets[:MAX_SERVICE_HIGHLIGHTS]) or None,
            "target_groups": self.snippet("; ".join(payload["target_groups"]), GROUPS),
            "notes": self.snippet(payload["notes"], NOTES),
        }
        highlights = {key: value for key, value in found.items() if value}
        return Hit(dict(organisation), services, round(score, 6), highlights)

    def _service(self, service: dict[str, Any]) -> str | None:
        """The service's name as the organisation wrote it, or its label in the language that
        matched, marked; None if it does not match."""
        snippet = self.snippet(service["name"], SERVICES)
        for language, label in service["labels"].items():
            snippet = snippet or self.snippet(label, LABEL_FIELDS[language])
        return snippet

    def _acronym(self, acronym: str | None) -> str | None:
        if not acronym or (acronym_key(acronym),) not in self.patterns.get(ACRONYM, ()):
            return None
        return f"<mark>{html.escape(acronym)}</mark>"

    def snippet(self, text: str, field_name: str) -> str | None:
        """Up to HIGHLIGHT_CHARS characters of the text around its first match, marked; None
        if nothing in it matches."""
        patterns = self.patterns.get(field_name)
        if not patterns or not text:
            return None
        key = (text, field_name)
        if key not in self._done:
            self._done[key] = _snippet(
                unicodedata.normalize("NFC", text), analysis_kind(field_name), patterns
            )
        return self._done[key]


def _snippet(text: str, kind: str, patterns: Patterns) -> str | None:
    marked = _matching_words(text, kind, patterns)
    if not marked:
        return None
    first = marked[0].start()
    start = max(0, first - HIGHLIGHT_CHARS // 3)
    if start:  # begin at a word
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + HIGHLIGHT_CHARS)
    if end < len(text):  # end after a word
        space = text.rfind(" ", marked[0].end(), end)
        end = space if space > 0 else end
    inside = [match for match in marked if match.start() >= start and match.end() <= end]
    return (
        ("…" if start else "") + _html(text, inside, start, end) + ("…" if end < len(text) else "")
    )


def _matching_words(text: str, kind: str, patterns: Patterns) -> list[re.Match[str]]:
    """The words of ``text`` that are part of a match of one of the patterns, in order."""
    # A word's terms start with its first two letters: most words need no stemming to tell.
    starts = {term[:2] for pattern in patterns for term in pattern}
    words: list[tuple[re.Match[str], tuple[str, ...]]] = []
    for match in WORD.finditer(text):
        word = match.group().lower()
        if not is_dropped(kind, word):  # dropped words leave no gap in a phrase
            words.append((match, terms_for_word(kind, word) if fold(word)[:2] in starts else ()))
    chosen: set[int] = set()
    for i, (_, terms) in enumerate(words):
        for pattern in patterns if terms else ():
            following = words[i : i + len(pattern)]
            if len(following) == len(pattern) and all(
                term in word_terms for term, (_, word_terms) in zip(pattern, following, strict=True)
            ):
                chosen.update(range(i, i + len(pattern)))
    return [words[i][0] for i in sorted(chosen)]


def _html(text: str, marked: list[re.Match[str]], start: int, end: int) -> str:
    """text[start:end] HTML-escaped, with the marked words in <mark>."""
    pieces: list[str] = []
    last = start
    for match in marked:
        pieces += [html.escape(text[last : match.start()]), "<mark>"]
        pieces += [html.escape(match.group()), "</mark>"]
        last = match.end()
    pieces.append(html.escape(text[last:end]))
    return "".join(pieces)


def query_patterns(clauses: list[Clause]) -> dict[str, Patterns]:
    """Field -> what to mark in it."""
    patterns: dict[str, Patterns] = {}
    for clause in clauses:
        for leaf in clause.leaves:
            own = () if leaf.constant else ((leaf.field, leaf.terms),)
            for field_name, pattern in leaf.marks or own:
                patterns.setdefault(field_name, set()).add(pattern)
    return patterns
