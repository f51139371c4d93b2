"""Markdown to safe HTML, for item bodies on the hub, in feeds, on nodes and in e-mails.

markdown-it (CommonMark, raw HTML off) writes the HTML; nh3 then keeps only an allow-list of
tags and attributes, so whatever an author (or a forged item) writes cannot run script.
"""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> Markup:
    """Sanitised HTML for ``text``; links get rel="noopener noreferrer nofollow"."""
    html = _parser.render(text)
    return Markup(
        nh3.clean(
            html,
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            url_schemes=set(URL_SCHEMES),
            link_rel="noopener noreferrer nofollow",
        )
    )


def plain_summary(text: str, length: int = 280) -> str:
    """The first ``length`` characters of the body as plain text (for lists and e-mails)."""
    plain = html.unescape(nh3.clean(_parser.render(text), tags=set()))
    plain = " ".join(plain.split())
    return plain if len(plain) <= length else plain[: length - 1].rstrip() + "…"
