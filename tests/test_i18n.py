"""Five languages: nothing a person reads is left untranslated, and each page speaks the
language chosen (switcher), else the browser's, with dates, numbers and countries to match."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

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
