"""The user's query text, cleaned and split into runs of plain words and quoted phrases. It is
never parsed as query syntax."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from directory.search.analysis import WORD

MAX_QUERY_CHARS = 2000
MAX_WORDS = 32  # words considered per query; the rest is ignored

QUOTES = re.compile(r"[\"“”„«»]")


@dataclass(frozen=True)
class QueryWord:
    text: str  # lower case, as typed
    chunk: str  # the whitespace-separated piece it came from ("Ac.Sé")


def clean_query_text(text: str) -> str:
    # Lone surrogates cannot become index terms; control characters are not words.
    text = text[:MAX_QUERY_CHARS].encode("utf-8", "replace").decode("utf-8")
    text = "".join(char if char.isprintable() else " " for char in text)
    return unicodedata.normalize("NFC", text)


def split_query(text: str) -> tuple[list[list[QueryWord]], list[list[QueryWord]]]:
    """(runs of plain words, quoted phrases), at most MAX_WORDS words in all. Quotes pair up
    from the left; a last unpaired quote is ignored."""
    parts = QUOTES.split(clean_query_text(text))
    if len(parts) % 2 == 0:  # an odd number of quotes: the last one opens nothing
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    runs: list[list[QueryWord]] = []
    phrases: list[list[QueryWord]] = []
    budget = MAX_WORDS
    for position, part in enumerate(parts):
        words = [
            QueryWord(match.group().lower(), chunk)
            for chunk in part.split()
            for match in WORD.finditer(chunk)
        ][:budget]
        budget -= len(words)
        if words:
            (phrases if position % 2 else runs).append(words)
    return runs, phrases
