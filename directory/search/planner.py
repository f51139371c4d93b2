"""From the user's text to clauses: every word, quoted phrase or place name is a clause, and
each clause lists the ways it can match (leaves), looser ones with less weight: spelling
neighbours of a word the index does not know, the parts of a German compound or the compounds
built on a word, an acronym, a country or city as a hint."""

from __future__ import annotations

import itertools

from directory.search.analysis import (
    MIN_FUZZY_LENGTH,
    POLYGLOT,
    WORD,
    acronym_key,
    edit_distance,
    fold,
    max_edits,
    terms_for_word,
)
from directory.search.clauses import Clause, Leaf
from directory.search.gazetteer import country_gazetteer
from directory.search.query_text import QueryWord, split_query
from directory.search.schema import (
    ACRONYM,
    GROUPS,
    LABEL_FIELDS,
    NAME,
    NOTES,
    PLACES,
    SERVICES,
    TERMS,
    TEXT_FIELDS,
    analysis_kind,
)
from directory.search.view import FUZZY_PREFIX, View

MAX_PLACE_WORDS = 4  # "Bosnia and Herzegovina", "Francavilla al Mare"
# The organisation's name counts most, then its services, then its notes.
FIELD_WEIGHTS: dict[str, float] = {
    NAME: 3.0,
    ACRONYM: 3.0,
    SERVICES: 2.0,
    **dict.fromkeys(LABEL_FIELDS.values(), 2.0),
    PLACES: 1.5,
    GROUPS: 1.2,
    NOTES: 1.0,
}
# What a looser match is worth next to the word itself.
FUZZY_WEIGHTS = {1: 0.5, 2: 0.35}
COMPOUND_PART_WEIGHT = 0.8
COMPOUND_WEIGHT = 0.6
# Place hints score a constant, of the order of a good name match.
COUNTRY_HINT = 6.0
CITY_HINT = 7.0
CITY_COUNTRY_HINT = 3.0


class Planner:
    """Turns the user's words into clauses, using the index's lexicons for looser matches."""

    def __init__(self, view: View) -> None:
        self.view = view

    def plan(self, text: str) -> list[Clause]:
        runs, phrases = split_query(text)
        clauses = [clause for run in runs for clause in self._run_clauses(run)]
        for phrase in phrases:
            single = len(phrase) == 1
            clauses.append(self._word_clause(phrase[0]) if single else self._phrase(phrase))
        distinct: dict[str, Clause] = {}  # a word typed twice is still one word
        for clause in clauses:
            if clause.leaves:
                distinct.setdefault(clause.text, Clause(clause.text, _merged(clause.leaves)))
        return list(distinct.values())

    def _run_clauses(self, words: list[QueryWord]) -> list[Clause]:
        clauses: list[Clause] = []
        position = 0
        while position < len(words):
            length, clause = self._place_at(words, position)
            if clause is None:
                length, clause = self._acronym_at(words, position)
            clauses.append(clause or self._word_clause(words[position]))
            position += length or 1
        return clauses

    # -- places

    def _place_at(self, words: list[QueryWord], start: int) -> tuple[int, Clause | None]:
        for length in range(min(MAX_PLACE_WORDS, len(words) - start), 0, -1):
            span = words[start : start + length]
            hints = self._place_hints(" ".join(fold(word.text) for word in span), span)
            if hints:
                clause = self._phrase(span) if length > 1 else self._word_clause(span[0])
                clause.leaves += hints
                return length, clause
        return 0, None

    def _place_hints(self, key: str, span: list[QueryWord]) -> list[Leaf]:
        hints: list[Leaf] = []
        for country in sorted(self.view.cities().get(key, ())):
            hints.append(Leaf("city_in", (f"{key}|{country}",), CITY_HINT, constant=True))
            hints.append(Leaf("country", (country,), CITY_COUNTRY_HINT, constant=True))
        code = country_gazetteer().get(key) or _code_typed(span)
        if code is None and len(span) == 1 and not hints:
            code = self._misspelt_country(key)
        if code:
            hints.append(Leaf("country", (code,), COUNTRY_HINT, constant=True))
        return hints

    def _misspelt_country(self, key: str) -> str | None:
        if len(key) < MIN_FUZZY_LENGTH or self.view.known_anywhere(key):
            return None
        limit = max_edits(key)
        for name, code in country_gazetteer().items():
            if (
                name[:FUZZY_PREFIX] == key[:FUZZY_PREFIX]
                and edit_distance(key, name, limit) <= limit
            ):
                return code
        return None

    # -- acronyms

    def _acronym_at(self, words: list[QueryWord], start: int) -> tuple[int, Clause | None]:
        """A chunk of several words that spells a known acronym ("Ac.Sé") is one clause."""
        chunk = words[start].chunk
        span = list(itertools.takewhile(lambda word: word.chunk == chunk, words[start:]))
        key = acronym_key(chunk)
        if len(span) < 2 or not self.view.has(ACRONYM, key):
            return 0, None
        clause = self._phrase(span)
        clause.leaves.append(Leaf(ACRONYM, (key,), FIELD_WEIGHTS[ACRONYM]))
        return len(span), clause

    # -- words

    def _word_clause(self, word: QueryWord) -> Clause:
        key = acronym_key(word.chunk if len(WORD.findall(word.chunk)) == 1 else word.text)
        acronym = [Leaf(ACRONYM, (key,), FIELD_WEIGHTS[ACRONYM])]
        if not self.view.has(ACRONYM, key):
            acronym = []
            if not terms_for_word(POLYGLOT, word.text):  # a stop word in some language
                return Clause(word.text)
        exact = self._exact(word.text)
        looser = self._compound_leaves(word.text)
        known = acronym or looser or any(self.view.has(leaf.field, leaf.terms[0]) for leaf in exact)
        if not known:
            looser += self._neighbours(word.text)
        return Clause(word.text, acronym + exact + looser)

    def _exact(self, word: str) -> list[Leaf]:
        leaves = [
            Leaf(name, (term,), FIELD_WEIGHTS[name])
            for name in TEXT_FIELDS
            for term in terms_for_word(analysis_kind(name), word)
        ]
        for language, name in LABEL_FIELDS.items():
            for stem in terms_for_word(language, word):
                leaves += self._label_leaves(name, (stem,), FIELD_WEIGHTS[name])
        return leaves

    def _label_leaves(self, name: str, terms: tuple[str, ...], weight: float) -> list[Leaf]:
        """A label match (word or phrase) as one leaf per taxonomy term it belongs to."""
        marks = ((name, terms),)
        return [Leaf(TERMS, (code,), weight, marks=marks) for code in self.view.codes(name, terms)]

    def _neighbours(self, word: str) -> list[Leaf]:
        """Spelling neighbours of a word the index does not know ("sheltr" -> "shelter")."""
        limit = max_edits(fold(word))
        leaves: list[Leaf] = []
        for name in [*TEXT_FIELDS, *LABEL_FIELDS.values()]:
            for term in terms_for_word(analysis_kind(name), word)[:1]:
                for neighbour, edits in self.view.neighbours(name, term, limit):
                    weight = FIELD_WEIGHTS[name] * FUZZY_WEIGHTS[edits]
                    if name in TEXT_FIELDS:
                        leaves.append(Leaf(name, (neighbour,), weight))
                    else:
                        leaves += self._label_leaves(name, (neighbour,), weight)
        return leaves

    def _compound_leaves(self, word: str) -> list[Leaf]:
        name = LABEL_FIELDS["de"]
        stems = terms_for_word("de", word)
        if not stems or self.view.has(name, stems[0]):
            return []
        parts = self.view.compound_parts(fold(word))
        weight = FIELD_WEIGHTS[name] * (COMPOUND_PART_WEIGHT if parts else COMPOUND_WEIGHT)
        terms = parts or self.view.compounds_containing(stems[0])
        return [leaf for term in terms for leaf in self._label_leaves(name, (term,), weight)]

    # -- phrases

    def _phrase(self, words: list[QueryWord]) -> Clause:
        leaves: list[Leaf] = []
        for name in [*TEXT_FIELDS, *LABEL_FIELDS.values()]:
            kind = analysis_kind(name)
            # the first term of each word: its surface form in free text, its stem in a label
            terms = tuple(
                terms_for_word(kind, w.text)[0] for w in words if terms_for_word(kind, w.text)
            )
            if not terms:
                continue
            if name in TEXT_FIELDS:
                leaves.append(Leaf(name, terms, FIELD_WEIGHTS[name]))
            else:
                leaves += self._label_leaves(name, terms, FIELD_WEIGHTS[name])
        return Clause(" ".join(word.text for word in words), leaves)


def _merged(leaves: list[Leaf]) -> list[Leaf]:
    """One leaf per (field, terms): the best weight, all the marks. A service term reached in
    two languages must not count twice."""
    best: dict[tuple[str, tuple[str, ...], bool], Leaf] = {}
    for leaf in leaves:
        key = (leaf.field, leaf.terms, leaf.constant)
        other = best.get(key)
        if other is None:
            best[key] = leaf
        else:
            marks = tuple(dict.fromkeys(other.marks + leaf.marks))
            weight = max(other.weight, leaf.weight)
            best[key] = Leaf(leaf.field, leaf.terms, weight, leaf.constant, marks)
    return list(best.values())


def _code_typed(span: list[QueryWord]) -> str | None:
    """A country code typed in capitals ("DE", "XK"); in lower case "de" and "it" are words."""
    chunk = span[0].chunk
    if len(span) == 1 and len(chunk) == 2 and chunk.isupper() and chunk.isalpha():
        return chunk if chunk in country_gazetteer().values() else None
    return None
