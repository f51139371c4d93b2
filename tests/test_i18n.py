"""Five languages: nothing a person reads is left untranslated, and each page speaks the
language chosen (switcher), else the browser's, with dates, numbers and countries to match."""

from __future__ import annotations

import ast
import datetime as dt
import functools
import io
import re
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path

import flask_babel
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import hub
from ponte.i18n import country_name, localised_moment

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [
    ROOT / "hub" / "templates",
    ROOT / "node" / "templates",
    ROOT / "ponte" / "templates",
]
PYTHON_PACKAGES = [ROOT / "hub", ROOT / "node", ROOT / "ponte", ROOT / "directory"]

# Words that are the same in every language: the product's name, symbols.
UNTRANSLATABLE = {"Ponte", "Ponte hub", "HSDS", "Atom", "RSS", "JSON", "OAuth", "SHA-256"}
# Attributes whose values a person reads or hears.
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-description", "label"}
PLACEHOLDER = "\x00"


def template_skeleton(source: str) -> str:
    """The template's HTML with everything translated or computed taken out: comments and
    ``{% trans %}`` blocks removed, each ``{{ … }}`` replaced by a placeholder, tags dropped."""
    source = re.sub(r"{#.*?#}", "", source, flags=re.S)
    source = re.sub(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", PLACEHOLDER, source, flags=re.S)
    source = re.sub(r"{{.*?}}", PLACEHOLDER, source, flags=re.S)
    return re.sub(r"{%.*?%}", "", source, flags=re.S)


def has_words(text: str) -> bool:
    text = text.replace(PLACEHOLDER, " ")
    for word in sorted(UNTRANSLATABLE, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(word)}\b", " ", text)
    return bool(re.search(r"[^\W\d_]{2,}", text))


class TextFinder(HTMLParser):
    """Collects the literal text and read-aloud attribute values of an HTML skeleton."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skipping += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and has_words(value):
                self.found.append(f'{name}="{value.strip()}"')

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and has_words(data):
            self.found.append(" ".join(data.replace(PLACEHOLDER, "…").split()))


def untranslated_in(template: Path) -> list[str]:
    finder = TextFinder()
    finder.feed(template_skeleton(template.read_text(encoding="utf-8")))
    return finder.found


def all_templates() -> list[Path]:
    return sorted(path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html"))


@pytest.mark.parametrize("template", all_templates(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_text_in_a_template_is_marked_for_translation(template):
    assert untranslated_in(template) == []


def test_the_scanner_finds_plain_text_and_read_attributes_but_not_marked_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<h1>Find a partner</h1><input placeholder="e.g. shelter" aria-label="{{ _(\'Q\') }}">'
        "{# a comment #}<p>{{ _('Marked') }} · {{ count }}</p>"
        '{% trans n=1 %}One {{ n }}{% endtrans %}<a href="{{ url }}">Ponte</a>',
        encoding="utf-8",
    )
    assert untranslated_in(page) == ["Find a partner", 'placeholder="e.g. shelter"']


# --- user-facing strings in Python -----------------------------------------------------------

# Calls whose string argument a person reads: flash messages and form labels and messages.
READ_CALLS = {"flash"}
FIELD_SUFFIXES = ("Field",)
GETTEXT_NAMES = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext"}


def plain_string(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str) and has_words(node.value)
    )


def call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def unmarked_strings(path: Path) -> list[str]:
    """flash("…"), SomeField("Label") and message="…" given as plain strings."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = call_name(node)
        candidates: list[ast.expr] = []
        if name in READ_CALLS or name.endswith(FIELD_SUFFIXES):
            candidates += node.args[:1]
        candidates += [kw.value for kw in node.keywords if kw.arg in ("message", "label")]
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno} {name}(…)"
            for arg in candidates
            if plain_string(arg)
        ]
    return found


def python_modules() -> list[Path]:
    return sorted(
        path
        for package in PYTHON_PACKAGES
        for path in package.rglob("*.py")
        if "migrations" not in path.parts
    )


def test_flash_messages_and_form_labels_are_marked_for_translation():
    assert [found for path in python_modules() for found in unmarked_strings(path)] == []


# --- the catalogs ----------------------------------------------------------------------------

CATALOGS = ROOT / "ponte" / "translations"
TRANSLATED = ("fr", "it", "es", "de")


# A catalog entry is keyed by its (singular) msgid and its msgctxt: pgettext("column", "No.")
# and a plain _("No.") are two entries, each translated on its own.
Key = tuple[str, str | None]


def catalog_key(msgid: str | tuple[str, ...], context: str | None) -> Key:
    return (msgid if isinstance(msgid, str) else msgid[0], context)


@functools.cache
def extracted_msgids() -> frozenset[Key]:
    """What scripts/translations would extract from the code now (same keywords)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    keywords |= {"pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}
    found = extract_from_dir(ROOT, method_map, options_map, keywords=keywords)
    # Each found message: (filename, lineno, message, comments, context).
    return frozenset(catalog_key(message[2], message[4]) for message in found)


def read_catalog(language: str):
    with (CATALOGS / language / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=language)


def test_the_catalog_template_holds_every_marked_string():
    with (CATALOGS / "messages.pot").open("rb") as file:
        template = {
            catalog_key(message.id, message.context) for message in read_po(file) if message.id
        }
    missing = sorted(extracted_msgids() - template, key=str)
    assert not missing, f"run scripts/translations: {len(missing)} new strings, e.g. {missing[:5]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated_in_every_language(language):
    catalog = read_catalog(language)
    singular = {
        catalog_key(message.id, message.context): message for message in catalog if message.id
    }
    missing = sorted(extracted_msgids() - set(singular), key=str)
    assert not missing, f"{language}: {len(missing)} strings not in the catalog, e.g. {missing[:5]}"
    untranslated = sorted(
        (
            key
            for key in extracted_msgids()
            if singular[key].fuzzy
            or not all(
                singular[key].string
                if isinstance(singular[key].string, tuple)
                else (singular[key].string,)
            )
        ),
        key=str,
    )
    assert not untranslated, (
        f"{language}: {len(untranslated)} untranslated or fuzzy, e.g. {untranslated[:5]}"
    )


def test_a_context_makes_its_own_entry():
    # pgettext/lazy_pgettext must be extracted with their context, as scripts/translations does.
    assert ("No.", "column") in extracted_msgids()
    assert ("News", "navigation") in extracted_msgids()
    assert ("News", "item kind") in extracted_msgids()


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_every_placeholder(language):
    problems = [
        (message.id, errors) for message, errors in read_catalog(language).check() if errors
    ]
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_matches_its_source(language):
    # The .mo files ship in the package; a stale one would show old words.
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(language))
    shipped = (CATALOGS / language / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert shipped == compiled.getvalue(), "run scripts/translations compile"


# --- the pages in the reader's language ------------------------------------------------------


def translation_of(language: str, msgid: str) -> str:
    string = read_catalog(language)[msgid].string
    assert string and string != msgid, f"{msgid!r} has no {language} translation"
    return string


@pytest.fixture
def hub_client(tmp_path):
    return hub.create_app(tmp_path / "hub").test_client()


def page(client, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_browsers_language_is_honoured(hub_client, language):
    html = page(hub_client, "/directory/", **{"Accept-Language": f"{language};q=0.9, en;q=0.5"})
    assert f'<html lang="{language}">' in html
    text = html_unescape(html)  # the page may write an apostrophe as &#39; or not
    assert translation_of(language, "Find a partner organisation") in text
    assert "Find a partner organisation" not in text


def test_an_unknown_language_falls_back_to_english(hub_client):
    html = page(hub_client, "/directory/", **{"Accept-Language": "pt-BR, ja"})
    assert '<html lang="en">' in html and "Find a partner organisation" in html


def test_the_switcher_remembers_the_choice_over_the_browsers_language(hub_client):
    html = page(hub_client, "/directory/?q=shelter", **{"Accept-Language": "de"})
    switch = re.search(r'href="(/language/it\?next=[^"]+)"', html).group(1)
    response = hub_client.get(switch.replace("&amp;", "&"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/directory/?q=shelter"
    again = page(hub_client, "/directory/", **{"Accept-Language": "de"})
    assert '<html lang="it">' in again  # the cookie wins over Accept-Language


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_the_switcher_never_sends_anyone_to_another_site(hub_client, target):
    response = hub_client.get("/language/fr", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_an_unknown_language_is_not_remembered(hub_client):
    response = hub_client.get("/language/xx?next=/")
    assert response.status_code == 303 and "Set-Cookie" not in response.headers


def test_html_pages_vary_by_language_for_caches(hub_client):
    vary = hub_client.get("/directory/").headers["Vary"]
    assert "Accept-Language" in vary and "Cookie" in vary


@pytest.mark.parametrize(
    ("language", "month", "number", "country"),
    [
        ("en", "November", "1,234,567", "Germany"),
        ("fr", "novembre", "1\u202f234\u202f567", "Allemagne"),
        ("it", "novembre", "1.234.567", "Germania"),
        ("es", "noviembre", "1.234.567", "Alemania"),
        ("de", "November", "1.234.567", "Deutschland"),
    ],
)
def test_dates_numbers_and_countries_follow_the_language(
    tmp_path, language, month, number, country
):
    app = hub.create_app(tmp_path / "hub")
    moment = dt.datetime(2026, 11, 25, 16, 44, tzinfo=dt.UTC)
    with app.test_request_context(headers={"Accept-Language": language}):
        assert localised_moment(moment).startswith("25")
        assert month in localised_moment(moment) and localised_moment(moment).endswith("16:44 UTC")
        assert flask_babel.format_number(1234567) == number
        assert country_name("DE") == country
