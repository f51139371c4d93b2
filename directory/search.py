"""Multilingual search over the partner directory, on a Whoosh index kept in a directory.

What is indexed. One document per organisation (:func:`document_for`): name and acronym, its
services as the organisation wrote them, country (code, and name in English, French, Italian,
Spanish and German), city, target groups and notes, plus the taxonomy terms of its services.
The taxonomy labels in the five languages are indexed once per term, in small "term
documents" (:func:`term_document`), and a label match stands for every organisation offering
that term: the same result as copying five labels into every organisation, at a fraction of the
index and of the postings to read. Nothing else goes in: no address, phone, e-mail or contact
person is indexed or stored, so a confidential (shelter) location can never leak through search.

Analysis. Taxonomy labels sit in one field per language, with that language's Snowball stemmer
and stop words. Free text (names, notes, target groups, service names as written) comes in any
language, so each word is indexed once per distinct stem over the five languages (a "polyglot"
field), and a stop word of any of them is dropped. Accents are folded after stemming, so
"hébergement" and "hebergement" meet. Each word also yields the pair it forms with the previous
one: phrases are found as pairs of neighbouring words, without positions.

Queries are built programmatically from the user's words, never parsed as query syntax. Every
word (or quoted phrase, or place name) is a clause. A clause scores a document by its best
matching field, plus a little of the others: field weight (name > services > notes) x the
word's idf over the whole directory (as in BM25F) x saturated term frequency; fields are short,
so there is no length normalisation. Documents matching more clauses rank first, then by the
sum of clause scores, then by name; a hit's score is the number of clauses it matched plus a
fraction for how well. Stemming in five languages already joins a country and its people
("Nigeria", "Nigerian": "nigeri" in Italian and Spanish). A word also matches, with less
weight: for a word the index does not know, its spelling neighbours (one edit from 5 letters,
two from 8, same first two letters); in German, the parts of a compound ("Rückkehrhilfe" ->
"Rückkehr") or the compounds ending or starting with it ("Unterkunft" -> "Schutzunterkunft").
A country name in any of the five languages, or a city of the directory, is a strong hint (a
boost for organisations there; a city also hints at its country), never a filter:
"Rückkehrhilfe Nigeria" is about returns *to* Nigeria too. A text without any word lists every
organisation (within the filters) by name; words that are all stop words find nothing.

Scores are computed here rather than by a Whoosh collector: sets of documents are Python ints
used as bitsets, read once per term and index generation, so the result set, its size and the
facets are cheap, and only the documents that can reach the requested page are scored.
"""

from __future__ import annotations

import functools
import heapq
import html
import itertools
import math
import operator
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pycountry
from babel import Locale
from whoosh import index
from whoosh.analysis import Token, Tokenizer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.searching import Searcher
from whoosh.support.charset import accent_map
from whoosh.writing import CLEAR

if TYPE_CHECKING:
    from directory.models import Organization

LANGUAGES = ("en", "fr", "it", "es", "de")
# Bump when the schema or the analysis changes: a new name means a fresh, empty index, which the
# caller sees as count() == 0 and rebuilds; an index of the current version is only opened.
INDEX_NAME = "directory_v1"
WRITER_TIMEOUT = 30.0  # seconds to wait for another writer (maybe another process) to finish
MAX_QUERY_CHARS = 2000
MAX_WORDS = 32  # words considered per query; the rest is ignored
MAX_WORD_LENGTH = 40  # longer "words" are noise (or an attack): neither indexed nor sought
MIN_STEM_LENGTH = 3  # shorter stems of free text ("pe" from Spanish "peer") only add noise
MIN_FUZZY_LENGTH = 5  # one edit allowed from this length on ...
MIN_FUZZY2_LENGTH = 8  # ... two edits from this one
FUZZY_PREFIX = 2  # spelling neighbours share the first letters (keeps the scan small)
MAX_EXPANSIONS = 8  # spelling neighbours / compounds per word and field
MIN_COMPOUND_LENGTH = 8  # German query words this long may be split into known parts ...
MAX_COMPOUND_LENGTH = 30  # ... up to this long (the split tries every substring)
MIN_COMPOUND_PART = 4
MAX_PLACE_WORDS = 4  # "Bosnia and Herzegovina", "Francavilla al Mare"
POSTINGS_CACHE_SIZE = 4096  # terms kept as bitsets, per index generation
TERMS_CACHE_SIZE = 200_000  # words whose terms are kept (then the cache starts again)

NAME, ACRONYM, SERVICES, GROUPS, NOTES, PLACES = (
    "name", "acronym", "services", "groups", "notes", "places"
)  # fmt: skip
TERMS = "terms"  # the taxonomy term codes of an organisation's services
LABEL_FIELDS = {language: f"services_{language}" for language in LANGUAGES}
POLYGLOT_FIELDS = (NAME, SERVICES, GROUPS, NOTES)
TEXT_FIELDS = (*POLYGLOT_FIELDS, PLACES)
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
TIEBREAK = 0.1  # a clause scores its best field plus this share of the others
BM25_K1 = 1.2
STRENGTH_HALF = 10.0  # the clause-score sum that adds 0.5 to a hit's score
# Place hints score a constant, of the order of a good name match.
COUNTRY_HINT = 6.0
CITY_HINT = 7.0
CITY_COUNTRY_HINT = 3.0
FACET_FIELDS = {"country": "country", "service": TERMS, "language": "languages", "kind": "kind"}
HIGHLIGHT_CHARS = 180
MAX_SERVICE_HIGHLIGHTS = 3

WORD = re.compile(r"\w+")
NOT_ALNUM = re.compile(r"[\W_]+")
QUOTES = re.compile(r"[\"“”„«»]")

# --- analysis -------------------------------------------------------------------------------

_FOLD = {**accent_map, ord("ß"): "ss", ord("œ"): "oe", ord("æ"): "ae", ord("ø"): "o"}
_STOP = {
    language: frozenset(words | {word.translate(_FOLD) for word in words})
    for language, words in ((lang, set(stopwords_for_language(lang))) for lang in LANGUAGES)
}
_ANY_STOP = frozenset().union(*_STOP.values())
_STEMMERS = {language: stemmer_for_language(language) for language in LANGUAGES}
POLYGLOT, PLAIN = "polyglot", "plain"  # analysis kinds besides the five languages


def fold(text: str) -> str:
    """Lower-case text without accents ("Rückkehr" -> "ruckkehr", "Weiß" -> "weiss"), whether
    they come precomposed or as combining marks."""
    text = text.lower().translate(_FOLD)
    if text.isascii():
        return text
    # Compatibility forms too: the ligature "ﬁ" -> "fi", mathematical bold letters -> plain.
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.lower().translate(_FOLD)


def words_of(text: str) -> Iterator[re.Match[str]]:
    """The words of a text (in NFC, so that "é" is one letter however it was typed)."""
    return WORD.finditer(unicodedata.normalize("NFC", text))


def is_dropped(kind: str, word: str) -> bool:
    """Whether a lower-case word gets no term in a field analysed as ``kind``: too short or too
    long, or a stop word (of that language; of any of the five for free text)."""
    if not 2 <= len(word) <= MAX_WORD_LENGTH:
        return True
    return word in _STOP[kind] if kind in _STOP else word in _ANY_STOP


def terms_for_word(kind: str, word: str) -> tuple[str, ...]:
    """The index terms of one lower-case word in a field analysed as ``kind`` (a language code,
    POLYGLOT or PLAIN); () for a stop word. The index and the queries both come through here."""
    key = (kind, word)
    found = _TERMS.get(key)
    if found is None:
        if len(_TERMS) >= TERMS_CACHE_SIZE:
            _TERMS.clear()
        found = _TERMS[key] = _terms(kind, word)
    return found


# Stemming is slow in pure Python, and words recur. A plain dict rather than an lru_cache: the
# latter keeps a linked list of its entries that makes every full garbage collection slower.
_TERMS: dict[tuple[str, str], tuple[str, ...]] = {}


def _terms(kind: str, word: str) -> tuple[str, ...]:
    if is_dropped(kind, word):
        return ()
    if kind in _STEMMERS:
        return (fold(_STEMMERS[kind](word)),)
    if kind == PLAIN:
        return (fold(word),)
    # The surface form first: phrases and longer forms use it.
    stems = (fold(stem(word)) for stem in _STEMMERS.values())
    return tuple(dict.fromkeys([fold(word), *(s for s in stems if len(s) >= MIN_STEM_LENGTH)]))


class WordAnalyzer(Tokenizer):
    """Whoosh analyzer on :func:`terms_for_word`: a word's terms share its position, stop words
    leave no gap, and each word after the first also yields "previous word" (first terms,
    space-separated): phrases are looked up as such pairs, much faster than by positions."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordAnalyzer) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        position, previous = start_pos, ""
        for match in words_of(value):
            terms = terms_for_word(self.kind, match.group().lower())
            if not terms:
                continue
            pair = (f"{previous} {terms[0]}",) if previous else ()
            previous = terms[0]
            for term in (*terms, *pair):
                token.text, token.boost, token.stopped = term, 1.0, False
                if positions:
                    token.pos = position
                if chars:
                    token.startchar = start_char + match.start()
                    token.endchar = start_char + match.end()
                yield token
            position += 1


def _schema() -> Schema:
    # No positions: phrases are found as word pairs.
    polyglot = {name: TEXT(WordAnalyzer(POLYGLOT), phrase=False) for name in POLYGLOT_FIELDS}
    labels = {name: TEXT(WordAnalyzer(lang), phrase=False) for lang, name in LABEL_FIELDS.items()}
    return Schema(
        id=ID(stored=True, unique=True),
        doctype=ID,  # "org" or "term"
        acronym=ID,  # folded, letters and digits only: "Ac.Sé" -> "acse"
        places=TEXT(analyzer=WordAnalyzer(PLAIN), phrase=False),
        country=ID,
        city_in=ID,  # "paris|FR": the city gazetteer is this field's lexicon
        kind=ID,
        terms=KEYWORD(lowercase=False, commas=False),
        languages=KEYWORD(lowercase=True),
        sort_name=ID(sortable=True),
        payload=STORED,
        **polyglot,
        **labels,
    )


SCHEMA = _schema()

# --- documents ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def country_names(code: str) -> tuple[str, ...]:
    """The country's distinct names in the five languages (CLDR via Babel; XK is Kosovo)."""
    names = [Locale.parse(language).territories.get(code, "") for language in LANGUAGES]
    return tuple(name for name in dict.fromkeys(names) if name)


def acronym_key(text: str) -> str:
    return NOT_ALNUM.sub("", fold(text))


def city_key(city: str) -> str:
    return " ".join(WORD.findall(fold(city)))


def _service_record(service: Any) -> dict[str, Any]:
    term = service.term
    labels = dict(term.labels) if term is not None else {}
    return {
        "id": service.id,
        "name": service.name,
        "term": term.code if term is not None else None,
        "labels": {language: labels[language] for language in LANGUAGES if labels.get(language)},
        "description": service.description or "",
    }


def document_for(org: Organization) -> dict[str, Any]:
    """The flat document indexed for one organisation (its active services only). Only what
    the directory publishes goes in: locations (so any confidential shelter address), phones
    and contact persons stay out, and so does the free-text contact as printed."""
    active = [service for service in org.services if (service.status or "active") == "active"]
    services = [_service_record(service) for service in active]
    languages = dict.fromkeys([*org.languages, *(code for s in active for code in s.languages)])
    organisation = {key: getattr(org, key) for key in ("id", "name", "country", "city", "kind")}
    organisation["acronym"] = org.alternate_name
    return {
        "id": org.id,
        "doctype": "org",
        NAME: " ".join(filter(None, [org.name, org.alternate_name])),
        ACRONYM: acronym_key(org.alternate_name or ""),
        SERVICES: "\n".join(part for s in services for part in (s["name"], s["description"])),
        GROUPS: "\n".join(org.target_groups),
        NOTES: org.description or "",
        PLACES: "\n".join([*country_names(org.country), org.city or ""]),
        "country": org.country,
        "city_in": f"{city_key(org.city)}|{org.country}" if org.city else "",
        "kind": org.kind,
        TERMS: " ".join(dict.fromkeys(s["term"] for s in services if s["term"])),
        "languages": " ".join(code for code in languages if isinstance(code, str)),
        "sort_name": f"{fold(org.name).strip()}\x1f{org.id}",
        "payload": {
            "organisation": organisation,
            "services": services,
            "notes": org.description or "",
            "target_groups": list(org.target_groups),
        },
    }


def term_document(code: str, labels: dict[str, str]) -> dict[str, Any]:
    """The document of one taxonomy term: its labels, one field per language."""
    document: dict[str, Any] = {"id": f"term:{code}", "doctype": "term", "payload": {"term": code}}
    for language, name in LABEL_FIELDS.items():
        document[name] = labels.get(language, "")
    return document


def _term_documents(documents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    labels: dict[str, dict[str, str]] = {}
    for document in documents:
        for service in document["payload"]["services"]:
            if service["term"]:
                labels[service["term"]] = service["labels"]
    return [term_document(code, term_labels) for code, term_labels in sorted(labels.items())]


# --- public results -------------------------------------------------------------------------


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


# --- gazetteer ------------------------------------------------------------------------------

# Names people type that CLDR and ISO do not use.
COUNTRY_ALIASES = {
    "turkey": "TR", "uk": "GB", "great britain": "GB", "england": "GB", "usa": "US",
    "holland": "NL", "czech republic": "CZ", "macedonia": "MK",
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def country_gazetteer() -> dict[str, str]:
    """Folded country name (its words joined by spaces) in any of the five languages -> code."""
    names: dict[str, str] = {}
    for code in [country.alpha_2 for country in pycountry.countries] + ["XK"]:
        country = pycountry.countries.get(alpha_2=code)
        iso = [getattr(country, key, "") for key in ("name", "common_name", "official_name")]
        for name in [*country_names(code), *iso]:
            if name:
                names.setdefault(city_key(name), code)
    for alias, code in COUNTRY_ALIASES.items():
        names.setdefault(alias, code)
    return names


# --- the query plan -------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Word:
    text: str  # lower case, as typed
    chunk: str  # the whitespace-separated piece it came from ("Ac.Sé")


def _clean(text: str) -> str:
    # Lone surrogates cannot become index terms; control characters are not words.
    text = text[:MAX_QUERY_CHARS].encode("utf-8", "replace").decode("utf-8")
    text = "".join(char if char.isprintable() else " " for char in text)
    return unicodedata.normalize("NFC", text)


def split_query(text: str) -> tuple[list[list[_Word]], list[list[_Word]]]:
    """(runs of plain words, quoted phrases), at most MAX_WORDS words in all. Quotes pair up
    from the left; a last unpaired quote is ignored."""
    parts = QUOTES.split(_clean(text))
    if len(parts) % 2 == 0:  # an odd number of quotes: the last one opens nothing
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    runs: list[list[_Word]] = []
    phrases: list[list[_Word]] = []
    budget = MAX_WORDS
    for position, part in enumerate(parts):
        words = [
            _Word(match.group().lower(), chunk)
            for chunk in part.split()
            for match in WORD.finditer(chunk)
        ][:budget]
        budget -= len(words)
        if words:
            (phrases if position % 2 else runs).append(words)
    return runs, phrases


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


class _Planner:
    """Turns the user's words into clauses, using the index's lexicons for looser matches."""

    def __init__(self, view: _View) -> None:
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

    def _run_clauses(self, words: list[_Word]) -> list[Clause]:
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

    def _place_at(self, words: list[_Word], start: int) -> tuple[int, Clause | None]:
        for length in range(min(MAX_PLACE_WORDS, len(words) - start), 0, -1):
            span = words[start : start + length]
            hints = self._place_hints(" ".join(fold(word.text) for word in span), span)
            if hints:
                clause = self._phrase(span) if length > 1 else self._word_clause(span[0])
                clause.leaves += hints
                return length, clause
        return 0, None

    def _place_hints(self, key: str, span: list[_Word]) -> list[Leaf]:
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

    def _acronym_at(self, words: list[_Word], start: int) -> tuple[int, Clause | None]:
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

    def _word_clause(self, word: _Word) -> Clause:
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
            for term in terms_for_word(_kind(name), word)
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
            for term in terms_for_word(_kind(name), word)[:1]:
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

    def _phrase(self, words: list[_Word]) -> Clause:
        leaves: list[Leaf] = []
        for name in [*TEXT_FIELDS, *LABEL_FIELDS.values()]:
            kind = _kind(name)
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


def _code_typed(span: list[_Word]) -> str | None:
    """A country code typed in capitals ("DE", "XK"); in lower case "de" and "it" are words."""
    chunk = span[0].chunk
    if len(span) == 1 and len(chunk) == 2 and chunk.isupper() and chunk.isalpha():
        return chunk if chunk in country_gazetteer().values() else None
    return None


def _kind(field_name: str) -> str:
    if field_name == PLACES:
        return PLAIN
    if field_name.startswith("services_"):
        return field_name.removeprefix("services_")
    return POLYGLOT


# --- edit distance --------------------------------------------------------------------------


def max_edits(word: str) -> int:
    return 2 if len(word) >= MIN_FUZZY2_LENGTH else 1 if len(word) >= MIN_FUZZY_LENGTH else 0


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (swapping two neighbours is one edit), or limit + 1 as
    soon as it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)
            )
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


# --- bitsets --------------------------------------------------------------------------------

_ONE = re.compile("1")


def _bits(docnums: list[int]) -> int:
    """A set of document numbers as an int with those bits set (via its binary text, which
    int() reads in C)."""
    if not docnums:
        return 0
    digits = bytearray(b"0") * (max(docnums) + 1)
    for docnum in docnums:
        digits[docnum] = 49  # "1"
    digits.reverse()
    return int(digits, 2)


def _docnums(bits: int) -> list[int]:
    """The set bits, in increasing order (scanning the binary text runs in C)."""
    return [match.start() for match in _ONE.finditer(bin(bits)[:1:-1])]


def _union(bitsets: Iterable[int]) -> int:
    return functools.reduce(operator.or_, bitsets, 0)


@dataclass(frozen=True)
class Postings:
    """The documents holding a term or phrase, as a bitset, and the term's frequency in those
    (few) where it occurs more than once."""

    bits: int
    count: int
    repeats: dict[int, float]


NO_POSTINGS = Postings(0, 0, {})

# --- one generation of the index, and what is worth computing once per generation ----------


class _View:
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
        return Postings(_bits(docnums), len(docnums), repeats)

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
            term_docs = _docnums(self.term_bits("doctype", "term"))
            stored = self.searcher.stored_fields
            self._codes = {docnum: stored(docnum)["payload"]["term"] for docnum in term_docs}
        return [self._codes[d] for d in _docnums(self.postings(label_field, terms).bits)]

    # -- order by name

    def name_rank(self) -> dict[int, int]:
        if self._name_rank is None:
            column = self.reader.column_reader("sort_name")
            order = sorted(_docnums(self.organisations), key=column.__getitem__)
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
            for term in terms_for_word(_kind(name), word)
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


# --- ranking --------------------------------------------------------------------------------


def _saturation(frequency: float) -> float:
    """BM25's term-frequency saturation: 1.0 for one occurrence."""
    return frequency * (BM25_K1 + 1) / (frequency + BM25_K1)


@dataclass(frozen=True)
class Ranked:
    docnum: int
    matched: int  # clauses matched
    strength: float  # the sum of its clause scores

    @property
    def score(self) -> float:
        """Clauses matched plus a fraction for how well: decreasing down the result list."""
        return self.matched + self.strength / (self.strength + STRENGTH_HALF)


class Ranking:
    """The documents matching a list of clauses within ``allowed``, and their order.

    A clause's idf is that of the word (or phrase) in the whole directory, whichever field
    holds it, as in BM25F: within a clause only the field weights decide (name > services >
    notes), and a word found in a name is not worth more for being rare in names."""

    def __init__(self, view: _View, clauses: list[Clause], allowed: int) -> None:
        self.view = view
        self.clauses: list[tuple[Clause, list[Postings], float]] = []
        self.clause_bits: list[int] = []
        for clause in clauses:
            postings = [view.postings(leaf.field, leaf.terms) for leaf in clause.leaves]
            bits = _union(p.bits for p in postings) & allowed
            if bits:  # a clause that matches nothing does not count (an unplaceable typo)
                words = [p.bits for p, leaf in zip(postings, clause.leaves, strict=True)
                         if not leaf.constant]  # fmt: skip
                self.clauses.append((clause, postings, view.idf(_union(words).bit_count())))
                self.clause_bits.append(bits)
        self.matches = _union(self.clause_bits)

    def top(self, count: int) -> list[Ranked]:
        """The first ``count`` documents in rank order (fewer if fewer match)."""
        candidates = self._candidates(count)
        matched: dict[int, int] = {}
        strength: dict[int, float] = {}
        for clause, postings, idf in self.clauses:
            for docnum, score in self._clause_scores(clause, postings, idf, candidates).items():
                matched[docnum] = matched.get(docnum, 0) + 1
                strength[docnum] = strength.get(docnum, 0.0) + score
        rank = self.view.name_rank()
        order = heapq.nsmallest(
            count, matched, key=lambda d: (-matched[d], -strength[d], rank.get(d, 0), d)
        )
        return [Ranked(docnum, matched[docnum], strength[docnum]) for docnum in order]

    def _candidates(self, count: int) -> int:
        """The documents matching at least k clauses, for the largest k that still gives
        ``count`` of them: nobody matching fewer clauses can be among the first ``count``."""
        at_least: list[int] = []  # at_least[k]: the documents matching more than k clauses
        for bits in self.clause_bits:
            at_least.append(0)
            for k in range(len(at_least) - 1, 0, -1):
                at_least[k] |= at_least[k - 1] & bits
            at_least[0] |= bits
        return next(
            (bits for bits in reversed(at_least) if bits.bit_count() >= count), self.matches
        )

    @staticmethod
    def _clause_scores(clause: Clause, postings: list[Postings], idf: float, candidates: int,
                       ) -> dict[int, float]:  # fmt: skip
        """Document -> the clause's score: its best leaf, plus TIEBREAK of the others."""
        best: dict[int, float] = {}
        total: dict[int, float] = {}
        for leaf, found in zip(clause.leaves, postings, strict=True):
            base = leaf.weight if leaf.constant else leaf.weight * idf
            for docnum in _docnums(found.bits & candidates):
                repeats = found.repeats.get(docnum)
                score = base * _saturation(repeats) if repeats else base
                total[docnum] = total.get(docnum, 0.0) + score
                best[docnum] = max(best.get(docnum, 0.0), score)
        return {docnum: best[docnum] + TIEBREAK * (total[docnum] - best[docnum]) for docnum in best}


# --- highlights -----------------------------------------------------------------------------

Patterns = set[tuple[str, ...]]  # the terms of a word, or of a phrase, to mark in a field


class _Highlighter:
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
                unicodedata.normalize("NFC", text), _kind(field_name), patterns
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


def _query_patterns(clauses: list[Clause]) -> dict[str, Patterns]:
    """Field -> what to mark in it."""
    patterns: dict[str, Patterns] = {}
    for clause in clauses:
        for leaf in clause.leaves:
            own = () if leaf.constant else ((leaf.field, leaf.terms),)
            for field_name, pattern in leaf.marks or own:
                patterns.setdefault(field_name, set()).add(pattern)
    return patterns


# --- the index ------------------------------------------------------------------------------


class DirectoryIndex:
    """The directory's search index, in one directory on disk.

    Safe to share between threads: searches share one searcher under a lock, and it is
    refreshed when a writer (in this process or another) has committed. Writers wait up to
    WRITER_TIMEOUT seconds for each other, then raise whoosh.index.LockError."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if index.exists_in(str(path), indexname=INDEX_NAME):
            self._index = index.open_dir(str(path), indexname=INDEX_NAME)
        else:
            self._index = index.create_in(str(path), SCHEMA, indexname=INDEX_NAME)
        self._lock = threading.RLock()
        self._view: _View | None = None

    # -- writing

    def rebuild(
        self,
        organisations: Iterable[Organization],
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Replace the whole index with these organisations; return how many there are. Load
        them with their services and terms (selectinload) to spare a query per service."""
        organisations = list(organisations)
        writer = self._index.writer(timeout=WRITER_TIMEOUT, limitmb=256)
        try:
            documents = []
            for done, org in enumerate(organisations, start=1):
                documents.append(document_for(org))
                writer.add_document(**documents[-1])
                if progress and (done % 500 == 0 or done == len(organisations)):
                    progress(done, len(organisations))
            for document in _term_documents(documents):
                writer.add_document(**document)
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=CLEAR)
        return len(organisations)

    def update(self, organisations: Iterable[Organization]) -> None:
        """Add these organisations, or replace their documents (and their terms' labels)."""
        documents = [document_for(org) for org in organisations]
        self._write(lambda writer: _update_all(writer, [*documents, *_term_documents(documents)]))

    def remove(self, organisation_ids: Iterable[str]) -> None:
        ids = list(organisation_ids)
        self._write(lambda writer: [writer.delete_by_term("id", org_id) for org_id in ids])

    def _write(self, action: Callable[[Any], Any]) -> None:
        writer = self._index.writer(timeout=WRITER_TIMEOUT)
        try:
            action(writer)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    # -- reading

    def count(self) -> int:
        """How many organisations are indexed."""
        with self._lock:
            return self._current().size

    def search(self, query: SearchQuery) -> SearchResult:
        with self._lock:
            view = self._current()
            allowed = _filtered(view, query)
            if not WORD.search(_clean(query.text)):  # no words: everything, by name
                return _browse(view, query, allowed)
            clauses = _Planner(view).plan(query.text)
            ranking = Ranking(view, clauses, allowed)
            return _ranked(view, query, ranking, _query_patterns(clauses))

    def close(self) -> None:
        with self._lock:
            if self._view is not None:
                self._view.searcher.close()
                self._view = None

    def _current(self) -> _View:
        if self._view is None:
            self._view = _View(self._index.searcher())
        elif not self._view.searcher.up_to_date():
            # A new searcher rather than refresh(): refresh reuses the old segment readers with
            # their old deletions, so an updated organisation would be found twice.
            self._view.searcher.close()
            self._view = _View(self._index.searcher())
        return self._view


def _update_all(writer: Any, documents: list[dict[str, Any]]) -> None:
    for document in documents:
        writer.update_document(**document)


def _filtered(view: _View, query: SearchQuery) -> int:
    """The organisations the query's filters allow."""
    allowed = view.organisations
    for facet, field_name in FACET_FIELDS.items():
        value = getattr(query, facet)
        if value is not None:
            value = value.upper() if facet == "country" else value
            allowed &= view.term_bits(field_name, value.lower() if facet == "language" else value)
    return allowed


def _browse(view: _View, query: SearchQuery, allowed: int) -> SearchResult:
    rank = view.name_rank()
    end = query.page * query.per_page
    page = heapq.nsmallest(end, _docnums(allowed), key=rank.__getitem__)[end - query.per_page :]
    highlighter = _Highlighter({})
    hits = [highlighter.hit(view.searcher.stored_fields(d)["payload"], 0.0) for d in page]
    return SearchResult(
        allowed.bit_count(), query.page, query.per_page, hits, _facet_counts(view, allowed)
    )


def _ranked(view: _View, query: SearchQuery, ranking: Ranking, patterns: dict[str, Patterns],
            ) -> SearchResult:  # fmt: skip
    end = query.page * query.per_page
    page = ranking.top(end)[end - query.per_page :]
    highlighter = _Highlighter(patterns)
    stored = view.searcher.stored_fields
    hits = [highlighter.hit(stored(ranked.docnum)["payload"], ranked.score) for ranked in page]
    total = ranking.matches.bit_count()
    return SearchResult(
        total, query.page, query.per_page, hits, _facet_counts(view, ranking.matches)
    )


def _facet_counts(view: _View, result: int) -> dict[str, dict[str, int]]:
    """Facet -> value -> how many of ``result`` have it, most frequent first."""
    counts: dict[str, dict[str, int]] = {}
    for facet, field_name in FACET_FIELDS.items():
        found = {
            value: (bits & result).bit_count() for value, bits in view.facet(field_name).items()
        }
        ordered = sorted(found.items(), key=lambda item: (-item[1], item[0]))
        counts[facet] = {value: count for value, count in ordered if count}
    return counts
