"""Text analysis, shared by the index and the queries: accent folding, words, stop words and
stemming in each language, the Whoosh analyzer built on them, and the edit distance that
spelling neighbours are measured by."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from whoosh.analysis import Token, Tokenizer
from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.support.charset import accent_map

LANGUAGES = ("en", "fr", "it", "es", "de")
MAX_WORD_LENGTH = 40  # longer "words" are noise (or an attack): neither indexed nor sought
MIN_STEM_LENGTH = 3  # shorter stems of free text ("pe" from Spanish "peer") only add noise
MIN_FUZZY_LENGTH = 5  # one edit allowed from this length on ...
MIN_FUZZY2_LENGTH = 8  # ... two edits from this one
TERMS_CACHE_SIZE = 200_000  # words whose terms are kept (then the cache starts again)

WORD = re.compile(r"\w+")
NOT_ALNUM = re.compile(r"[\W_]+")

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


def acronym_key(text: str) -> str:
    """Folded, letters and digits only: "Ac.Sé" -> "acse"."""
    return NOT_ALNUM.sub("", fold(text))


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
