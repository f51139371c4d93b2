"""Country and city names: a country's names in the five languages, and the folded keys by
which a query's words are looked up as a place."""

from __future__ import annotations

import functools

import pycountry
from babel import Locale

from directory.search.analysis import LANGUAGES, WORD, fold

# Names people type that CLDR and ISO do not use.
COUNTRY_ALIASES = {
    "turkey": "TR", "uk": "GB", "great britain": "GB", "england": "GB", "usa": "US",
    "holland": "NL", "czech republic": "CZ", "macedonia": "MK",
}  # fmt: skip


@functools.lru_cache(maxsize=512)
def country_names(code: str) -> tuple[str, ...]:
    """The country's distinct names in the five languages (CLDR via Babel; XK is Kosovo)."""
    names = [Locale.parse(language).territories.get(code, "") for language in LANGUAGES]
    return tuple(name for name in dict.fromkeys(names) if name)


def city_key(city: str) -> str:
    return " ".join(WORD.findall(fold(city)))


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
