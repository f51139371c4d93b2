"""The public website's news: ``/news`` (published public items, newest first, filtered by
kind, topic or country) and ``/news/<item_id>`` (one item, with what a reader needs to check
its signature), and a resource's file as a download.

The feeds (hub.feeds) and the publications API (hub.publications_api) share the helpers of the
first section with these pages, so all three show the same items the same way.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request, send_file
from flask_babel import format_date, format_time
from markupsafe import Markup

from directory.importer import is_country_code
from hub.extensions import db
from hub.identity import hub_fingerprint
from hub.models import PublicationItem
from hub.oauth import issuer
from hub.publishing import latest_signed, public_items, release_due
from ponte.accounts import as_utc
from ponte.i18n import countries_by_name, localised_moment
from ponte.markdown import plain_summary, render_markdown
from ponte.params import int_arg, query_args
from ponte.problems import ProblemError, invalid_parameter
from ponte.topics import ITEM_KIND_LABELS, TOPIC_GROUPS, TOPICS
from protocol.publication import ITEM_KINDS

blueprint = Blueprint("news_pages", __name__, url_prefix="/news")

PER_PAGE = 20
MAX_PAGE = 10_000
LIST_PARAMETERS = ("kind", "topic", "country", "page")


# -- shared with the feeds and the publications API -----------------------------------------


@dataclass(frozen=True)
class NewsFilter:
    """Which public items a list or a feed shows: all of them, or one kind, topic or country."""

    kind: str | None = None
    topic: str | None = None
    country: str | None = None

    def matches(self, item: PublicationItem) -> bool:
        return (
            self.kind in (None, item.kind)
            and (self.topic is None or self.topic in item.topics)
            and (self.country is None or self.country in item.countries)
        )

    def select(self, items: list[PublicationItem]) -> list[PublicationItem]:
        return [item for item in items if self.matches(item)]

    def query(self) -> dict[str, str]:
        """The filter as /news query parameters."""
        named = {"kind": self.kind, "topic": self.topic, "country": self.country}
        return {name: value for name, value in named.items() if value}


def public_item(item_id: str) -> PublicationItem | None:
    """The item if anyone may read it now: published, public. Otherwise None, whatever it is."""
    item = db.session.get(PublicationItem, item_id)
    if item is None or item.state != "published" or item.audience != "public":
        return None
    return item


def hub_url(path: str) -> str:
    """An absolute URL on this hub (``HUB_URL`` if set, else the request's host)."""
    return issuer() + path


def moment(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def when(value: dt.datetime | int) -> str:
    """A date and time in the page's language, with the day of the week (events), always in
    UTC (the hub serves every time zone)."""
    value = moment(value) if isinstance(value, int) else as_utc(value)
    return f"{format_date(value, 'full')}, {format_time(value, 'short')} UTC"


def day(value: dt.datetime) -> str:
    return localised_moment(value, with_time=False)


def labels() -> dict[str, Any]:
    """What every news template uses to show codes as words."""
    return {
        "kind_labels": ITEM_KIND_LABELS,
        "topic_labels": TOPICS,
        "topic_groups": TOPIC_GROUPS,
        "when": when,
        "day": day,
        "moment": moment,
    }


def details_html(item: PublicationItem) -> Markup:
    """An item's event details, link and file as HTML, with absolute links (for feeds)."""
    file_url = hub_url(f"/news/{item.id}/file") if item.file_name else None
    # Autoescaped by the template, so safe to join to the sanitised body.
    return Markup(render_template("news/_details.html", item=item, file_url=file_url, **labels()))


def file_download(item: PublicationItem) -> Response:
    """An item's file as an attachment: never shown inline, never sniffed into HTML."""
    assert item.file_data is not None and item.file_name is not None
    public = item.audience == "public"
    response = send_file(
        io.BytesIO(item.file_data),
        mimetype=item.file_media_type or "application/octet-stream",
        as_attachment=True,
        download_name=item.file_name,
        etag=False,
        max_age=300 if public else None,
    )
    if not public:  # a shared cache must never hand a members-only file to anyone else
        response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# -- the pages ---------------------------------------------------------------------------------


def _news_filter(args: Mapping[str, str]) -> NewsFilter:
    kind, topic = args.get("kind") or None, args.get("topic") or None
    country = (args.get("country") or "").upper() or None
    if kind is not None and kind not in ITEM_KINDS:
        raise invalid_parameter("kind", f"must be one of {', '.join(ITEM_KINDS)}")
    if topic is not None and topic not in TOPICS:
        raise invalid_parameter("topic", "is not one of the hub's topics")
    if country is not None and not is_country_code(country):
        raise invalid_parameter("country", "must be an ISO 3166-1 alpha-2 code (XK for Kosovo)")
    return NewsFilter(kind, topic, country)


def _page_url(news_filter: NewsFilter, page: int) -> str:
    query = {**news_filter.query(), **({"page": str(page)} if page > 1 else {})}
    return f"{request.path}?{urlencode(query)}" if query else request.path


def _feed_path(news_filter: NewsFilter) -> str:
    """The feed of the same items, when there is one (one filter at most)."""
    chosen = news_filter.query()
    if len(chosen) != 1:
        return "/feeds/all.atom"
    [(name, value)] = chosen.items()
    return f"/feeds/{name}/{value}.atom"


def _not_found() -> tuple[str, int]:
    # One answer for unknown, draft, scheduled, members-only and retracted items alike: the
    # page must not tell an outsider that an unpublished item exists.
    return render_template("news/not_found.html"), 404


@blueprint.get("")
def news_list() -> tuple[str, int]:
    release_due(db.session)
    items = public_items(db.session)
    try:
        args = query_args(LIST_PARAMETERS)
        news_filter, page = _news_filter(args), int_arg(args, "page", 1, 1, MAX_PAGE)
    except ProblemError as error:
        # Like the directory's search page: the form again, with the problem stated.
        return _list_page(items, NewsFilter(), 1, error.detail), 400
    return _list_page(items, news_filter, page, None), 200


def _list_page(
    items: list[PublicationItem], news_filter: NewsFilter, page: int, error: str | None
) -> str:
    chosen = news_filter.select(items)
    return render_template(
        "news/list.html",
        error=error,
        news_filter=news_filter,
        shown=chosen[(page - 1) * PER_PAGE : page * PER_PAGE],
        total=len(chosen),
        page=page,
        pages=max(1, -(-len(chosen) // PER_PAGE)),
        page_url=_page_url,
        feed_path=_feed_path(news_filter),
        countries=_countries(items),
        summary=plain_summary,
        **labels(),
    )


def _countries(items: list[PublicationItem]) -> list[str]:
    """The countries public items are about, by name in the page's language (for the filter)."""
    return countries_by_name({code for item in items for code in item.countries})


@blueprint.get("/<item_id>")
def news_item(item_id: str) -> tuple[str, int]:
    # Query parameters are ignored here: feed readers and newsletters add tracking ones.
    release_due(db.session)
    item = public_item(item_id)
    signed = latest_signed(db.session, item_id) if item is not None else None
    if item is None or signed is None:
        return _not_found()
    return render_template(
        "news/item.html",
        item=item,
        body=render_markdown(item.body_markdown),
        statement=signed.document["statement"],
        signature=signed.document["signature"],
        fingerprint=_fingerprint(),
        api_url=hub_url(f"/api/v1/publications/{item.id}"),
        key_url=hub_url("/api/v1/hub/key"),
        **labels(),
    ), 200


def _fingerprint() -> str | None:
    """The hub key's fingerprint, or None while the key is locked (the page still shows)."""
    try:
        return hub_fingerprint()
    except ProblemError:
        return None


@blueprint.get("/<item_id>/file")
def news_file(item_id: str) -> Response | tuple[str, int]:
    item = public_item(item_id)
    if item is None or item.file_name is None or item.file_data is None:
        return _not_found()
    return file_download(item)
