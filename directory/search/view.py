"""One generation of the index, and what is worth computing once per generation."""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections import OrderedDict

from whoosh.searching import Searcher

from directory.search.analysis import MIN_FUZZY_LENGTH, edit_distance, terms_for_word
from directory.search.postings import NO_POSTINGS, Postings, bitset_from, docnums_in
from directory.search.schema import LABEL_FIELDS, TEXT_FIELDS, analysis_kind

POSTINGS_CACHE_SIZE = 4096  # terms kept as bitsets, per index generation
FUZZY_PREFIX = 2  # spelling neighbours share the first letters (keeps the scan small)
MAX_EXPANSIONS = 8  # spelling neighbours / compounds per word and field
MIN_COMPOUND_LENGTH = 8  # German query words this long may be split into known parts ...
MAX_COMPOUND_LENGTH = 30  # ... up to this long (the split tries every substring)
MIN_COMPOUND_PART = 4


class View:
    """A searcher on one index generation, with its caches (term bitsets, facets, name order,
    lexicons); replaced, caches and all, when the index changes."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self._postings: OrderedDict[tuple[str, tuple[str, ...]], Postings] = OrderedDict()
        self._facets: dict[str, dict[str, int]] = {}
        self._lexicons: dict[str, list[str]] = {}
        self._buckets: dict[tuple[str, str], list[str]] = {}
        self._cities: dict[str, set[str]] | None = None
        self._codes: dict[int, str] | None = None
        self._german_starts: set[str] | None = None
        self._name_rank: dict[int, int] | None = None
        self.organisations = self.term_bits("doctype", "org")
        self.size = self.organisations.bit_count()

    # -- sets of documents

    def postings(self, field_name: str, terms: tuple[str, ...]) -> Postings:
        """The documents holding a term (or a phrase), read once and then kept (least recently
        used out first) while this generation of the index is current."""
        key = (field_name, terms)
        found = self._postings.get(key)
        if found is None:
            found = self._read(field_name, terms)
            self._postings[key] = found
            if len(self._postings) > POSTINGS_CACHE_SIZE:
                self._postings.popitem(last=False)
        else:
            self._postings.move_to_end(key)
        return found

    def _read(self, field_name: str, terms: tuple[str, ...]) -> Postings:
        if len(terms) > 1:
            # A phrase: documents with every pair of neighbouring words (exact for two words;
            # for more, "a b" and "b c" could in theory be in different places).
            pairs = [(f"{a} {b}",) for a, b in itertools.pairwise(terms)]
            bits = functools.reduce(
                operator.and_, (self.postings(field_name, p).bits for p in pairs)
            )
            return Postings(bits, bits.bit_count(), {})
        if not self.has(field_name, terms[0]):
            return NO_POSTINGS
        matcher = self.reader.postings(field_name, terms[0])  # skips deleted documents
        docnums: list[int] = []
        repeats: dict[int, float] = {}
        while matcher.is_active():
            docnums.append(matcher.id())
            if matcher.weight() > 1:
                repeats[docnums[-1]] = matcher.weight()
            matcher.next()
        return Postings(bitset_from(docnums), len(docnums), repeats)

    def term_bits(self, field_name: str, term: str) -> int:
        return self.postings(field_name, (term,)).bits

    def facet(self, field_name: str) -> dict[str, int]:
        """Every value of a facet field -> the organisations that have it."""
        if field_name not in self._facets:
            values = self.lexicon(field_name)
            self._facets[field_name] = {
                value: self.term_bits(field_name, value) for value in values
            }
        return self._facets[field_name]

    def idf(self, count: int) -> float:
        return math.log(1 + (self.size - count + 0.5) / (count + 0.5))

    def codes(self, label_field: str, terms: tuple[str, ...]) -> list[str]:
        """The taxonomy terms whose label in that language holds the term (or phrase)."""
        if self._codes is None:
            term_docs = docnums_in(self.term_bits("doctype", "term"))
            stored = self.searcher.stored_fields
            self._codes = {docnum: stored(docnum)["payload"]["term"] for docnum in term_docs}
        return [self._codes[d] for d in docnums_in(self.postings(label_field, terms).bits)]

    # -- order by name

    def name_rank(self) -> dict[int, int]:
        if self._name_rank is None:
            if not self.organisations:  # an index never written to has no column to read
                self._name_rank = {}
                return self._name_rank
            column = self.reader.column_reader("sort_name")
            order = sorted(docnums_in(self.organisations), key=column.__getitem__)
            self._name_rank = {docnum: rank for rank, docnum in enumerate(order)}
        return self._name_rank

    # -- lexicons

    def lexicon(self, field_name: str) -> list[str]:
        """The field's terms, sorted, without the word pairs phrases use."""
        if field_name not in self._lexicons:
            terms = (term.decode("utf-8") for term in self.reader.lexicon(field_name))
            self._lexicons[field_name] = [term for term in terms if " " not in term]
        return self._lexicons[field_name]

    def has(self, field_name: str, term: str) -> bool:
        return bool(term) and (field_name, term) in self.reader

    def known_anywhere(self, word: str) -> bool:
        return any(
            self.has(name, term)
            for name in [*TEXT_FIELDS, *LABEL_FIELDS.values()]
            for term in terms_for_word(analysis_kind(name), word)
        )

    def neighbours(self, field_name: str, term: str, limit: int) -> list[tuple[str, int]]:
        """Terms within ``limit`` edits of ``term`` and with its first letters, closest first."""
        prefix = term[:FUZZY_PREFIX]
        if limit == 0 or len(prefix) < FUZZY_PREFIX:
            return []
        found = []
        for candidate in self._bucket(field_name, prefix):
            edits = edit_distance(term, candidate, limit)
            if 0 < edits <= limit:
                found.append((edits, candidate))
        return [(word, edits) for edits, word in sorted(found)[:MAX_EXPANSIONS]]

    def _bucket(self, field_name: str, prefix: str) -> list[str]:
        """The field's words that start with ``prefix``: read when first asked for (the whole
        lexicon of a large field takes far longer to read than the few prefixes typos need)."""
        key = (field_name, prefix)
        if key not in self._buckets:
            terms = (term.decode("utf-8") for term in self.reader.expand_prefix(field_name, prefix))
            self._buckets[key] = [term for term in terms if " " not in term]
        return self._buckets[key]

    def cities(self) -> dict[str, set[str]]:
        """Folded city name -> the countries it is in, from the directory itself."""
        if self._cities is None:
            self._cities = {}
            for entry in self.lexicon("city_in"):
                city, _, country = entry.rpartition("|")
                self._cities.setdefault(city, set()).add(country)
        return self._cities

    # -- German compounds

    def compound_parts(self, word: str) -> list[str]:
        """The German label terms that a long word is made of, if they cover at least half of
        it ("ruckkehrhilfe" -> ["ruckkehr"]), else []. Dictionary-based: the dictionary is the
        index's German lexicon."""
        if not MIN_COMPOUND_LENGTH <= len(word) <= MAX_COMPOUND_LENGTH:
            return []
        # best[i]: (letters covered, parts) for the best split of word[:i]
        best: list[tuple[int, list[str]]] = [(0, [])] * (len(word) + 1)
        for end in range(1, len(word) + 1):
            best[end] = best[end - 1]  # word[end - 1] left unexplained (a linking "s", ...)
            for start in range(0, end - MIN_COMPOUND_PART + 1):
                term = self._german_term(word[start:end])
                if term and best[start][0] + end - start > best[end][0]:
                    best[end] = (best[start][0] + end - start, [*best[start][1], term])
        covered, parts = best[-1]
        return list(dict.fromkeys(parts)) if covered * 2 >= len(word) else []

    def _german_term(self, part: str) -> str | None:
        if self._german_starts is None:
            self._german_starts = {term[:3] for term in self.lexicon(LABEL_FIELDS["de"])}
        if part[:3] not in self._german_starts:  # spares stemming most substrings
            return None
        stems = terms_for_word("de", part)
        return stems[0] if stems and self.has(LABEL_FIELDS["de"], stems[0]) else None

    def compounds_containing(self, stem: str) -> list[str]:
        """German label terms ending or starting with ``stem``: "unterkunft" finds
        "schutzunterkunft"."""
        if len(stem) < MIN_FUZZY_LENGTH:
            return []
        found = [
            term
            for term in self.lexicon(LABEL_FIELDS["de"])
            if term != stem and (term.endswith(stem) or term.startswith(stem))
        ]
        return found[:MAX_EXPANSIONS]
