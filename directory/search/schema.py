"""The index's fields: their names, how each one is analysed, and the Whoosh schema.

Taxonomy labels sit in one field per language, with that language's stemmer and stop words;
free text (names, services as written, target groups, notes) is analysed in all five languages
at once (POLYGLOT); country and city names are only folded (PLAIN)."""

from __future__ import annotations

from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema

from directory.search.analysis import LANGUAGES, PLAIN, POLYGLOT, WordAnalyzer

NAME, ACRONYM, SERVICES, GROUPS, NOTES, PLACES = (
    "name", "acronym", "services", "groups", "notes", "places"
)  # fmt: skip
TERMS = "terms"  # the taxonomy term codes of an organisation's services
LABEL_FIELDS = {language: f"services_{language}" for language in LANGUAGES}
POLYGLOT_FIELDS = (NAME, SERVICES, GROUPS, NOTES)
TEXT_FIELDS = (*POLYGLOT_FIELDS, PLACES)


def analysis_kind(field_name: str) -> str:
    """How a text field is analysed: PLAIN, a language code, or POLYGLOT."""
    if field_name == PLACES:
        return PLAIN
    if field_name.startswith("services_"):
        return field_name.removeprefix("services_")
    return POLYGLOT


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
