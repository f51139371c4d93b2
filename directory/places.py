"""Country names in the directory's five languages (CLDR data via babel)."""

from __future__ import annotations

from functools import cache

from babel import Locale

LANGUAGES = ("en", "fr", "it", "es", "de")


@cache
def country_names(code: str) -> dict[str, str]:
    """{"en": "Italy", "fr": "Italie", ...}; the code itself where CLDR has no name."""
    return {lang: Locale.parse(lang).territories.get(code, code) for lang in LANGUAGES}


def country_name(code: str, language: str = "en") -> str:
    return country_names(code).get(language) or code
