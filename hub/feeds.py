"""Atom and RSS feeds of the secretariat's public items, and the ``/feeds`` page listing them.

``/feeds/all.atom`` (or ``.rss``), ``/feeds/topic/<topic>``, ``/feeds/kind/<kind>`` and
``/feeds/country/<CC>`` (a lower-case code redirects to the upper-case one) each hold the 50
newest published public items that match, newest first. Anything else is a 404 problem.

- Entry ids are tag URIs, ``tag:<host>,2026:item/<item_id>``: the same in every revision and
  every render, so a reader updates an entry instead of showing it twice. ``<host>`` is the
  host name of ``HUB_URL`` when it is set (set it: behind a proxy, or when the hub answers to
  several names), else of the request; so are the links.
- Authors: the secretariat (config ``SECRETARIAT_NAME``, default "Ponte secretariat"), and
  for a member's contribution also the organisation it is credited to.
- Caching: every signed revision changes ``publication_version``, so the rendered bytes are
  kept per (base URL, path, version) in the app and served again until the next publication.
  The ETag is a hash of that key. Last-Modified is the newest of the feed's entries' updates
  and of the latest public signing: a retraction, or an edit that moves an item out of a
  topic, leaves no newer entry behind, and an If-Modified-Since client must not get a 304
  for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from flask_babel import LazyString, force_locale
from markupsafe import escape
from sqlalchemy import func, select
from werkzeug.http import http_date

from directory.importer import is_country_code
from directory.places import country_name
from hub.extensions import db
from hub.models import PublicationItem, SignedPublication
from hub.news_pages import (
    NewsFilter,
    details_html,
    hub_url,
    labels,
)
from hub.oauth import issuer
from hub.publishing import public_items, publication_version, release_due
from ponte.accounts import as_utc
from ponte.i18n import DEFAULT_LANGUAGE, FORMATS_OF, countries_by_name
from ponte.markdown import plain_summary, render_markdown
from ponte.params import query_args
from ponte.problems import ProblemError
from ponte.topics import ITEM_KIND_LABELS, TOPICS
from protocol.publication import ITEM_KINDS

blueprint = Blueprint("feeds", __name__)

FEED_SIZE = 50
CACHE_LIMIT = 512  # rendered feeds kept at most (each topic, kind, country in two formats)
MAX_AGE = 300
TAG_YEAR = 2026  # the tag URIs' date: fixed for ever, or every id would change
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DEFAULT_SECRETARIAT = "Ponte secretariat"
EXT = "<any(atom, rss):ext>"
MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml"}
CACHE_KEY = "ponte.feed_cache"


@dataclass(frozen=True)
class Feed:
    """One feed: its path below /feeds/, its title and which items it holds."""

    slug: str  # "all", "topic/eu-legislation", "kind/event", "country/RO"
    title: str | LazyString  # a topic's or kind's label is resolved, in English, when built
    news_filter: NewsFilter


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    last_modified: dt.datetime


class FeedCache:
    """Rendered feeds of the newest publication version seen; an older version is not kept."""

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self._limit, self._version, self._lock = limit, -1, threading.Lock()
        self._entries: dict[tuple[str, str, int], Rendered] = {}

    def get(self, key: tuple[str, str, int]) -> Rendered | None:
        return self._entries.get(key)

    def put(self, key: tuple[str, str, int], rendered: Rendered) -> None:
        with self._lock:
            version = key[2]
            if version < self._version:
                return  # rendered by a request that started before the last publication
            # A new version makes every entry stale; the limit bounds the keys a client can
            # make up (the request's Host header is part of the key when HUB_URL is unset).
            if version > self._version or len(self._entries) >= self._limit:
                self._entries.clear()
                self._version = version
            self._entries[key] = rendered


def feed_cache(app: Flask) -> FeedCache:
    """The app's cache (per app, not per process: tests run several hubs in one process)."""
    cache = app.extensions.get(CACHE_KEY)
    if cache is None:
        cache = app.extensions.setdefault(CACHE_KEY, FeedCache())
    return cache


# -- routes ----------------------------------------------------------------------------------


def _no_feed(detail: str) -> ProblemError:
    return ProblemError(404, "Not Found", detail)


@blueprint.get(f"/feeds/all.{EXT}")
def all_feed(ext: str) -> Response:
    return serve(Feed("all", "all news", NewsFilter()), ext)


@blueprint.get(f"/feeds/topic/<topic>.{EXT}")
def topic_feed(topic: str, ext: str) -> Response:
    if topic not in TOPICS:
        raise _no_feed(f"There is no topic {topic[:100]!r}: see /feeds for the topics.")
    return serve(Feed(f"topic/{topic}", TOPICS[topic], NewsFilter(topic=topic)), ext)


@blueprint.get(f"/feeds/kind/<kind>.{EXT}")
def kind_feed(kind: str, ext: str) -> Response:
    if kind not in ITEM_KINDS:
        raise _no_feed(f"There is no kind {kind[:100]!r}: one of {', '.join(ITEM_KINDS)}.")
    return serve(Feed(f"kind/{kind}", ITEM_KIND_LABELS[kind], NewsFilter(kind=kind)), ext)


@blueprint.get(f"/feeds/country/<code>.{EXT}")
def country_feed(code: str, ext: str) -> Response:
    canonical = code.upper()
    if not is_country_code(canonical):
        raise _no_feed(f"There is no country {code[:10]!r}: use an ISO 3166-1 alpha-2 code.")
    if code != canonical:
        query_args(())
        # One address per feed: readers that follow the redirect store the canonical one.
        return redirect(f"/feeds/country/{canonical}.{ext}", 301)
    return serve(Feed(f"country/{code}", country_name(code), NewsFilter(country=code)), ext)


@blueprint.get("/feeds")
def feeds_page() -> str:
    query_args(())
    release_due(db.session)
    items = public_items(db.session)
    countries = countries_by_name({code for item in items for code in item.countries})
    return render_template("feeds.html", countries=countries, **labels())


# -- serving -------------------------------------------------------------------------------


def serve(feed: Feed, ext: str) -> Response:
    query_args(())
    release_due(db.session)
    base = issuer()
    key = (base, request.path, publication_version(db.session))
    cache = feed_cache(current_app)
    rendered = cache.get(key)
    if rendered is None:
        rendered = render(feed, ext, base, key)
        cache.put(key, rendered)
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE}",
        "ETag": f'"{rendered.etag}"',
        "Last-Modified": http_date(rendered.last_modified),
    }
    if _not_modified(rendered):
        return Response(status=304, headers=headers)
    return Response(
        rendered.body, headers=headers, content_type=f"{MEDIA_TYPES[ext]}; charset=utf-8"
    )


def _not_modified(rendered: Rendered) -> bool:
    # RFC 9110 13.2.2: If-None-Match decides when present; If-Modified-Since only without it.
    if request.if_none_match:
        return request.if_none_match.contains_weak(rendered.etag)
    since = request.if_modified_since
    return since is not None and since >= rendered.last_modified


def render(feed: Feed, ext: str, base: str, key: tuple[str, str, int]) -> Rendered:
    items = feed.news_filter.select(public_items(db.session))[:FEED_SIZE]
    # Feeds are in English whatever the reader's browser asks for: they are cached and served
    # to every reader alike, and the topic and kind labels are translatable.
    with force_locale(FORMATS_OF.get(DEFAULT_LANGUAGE, DEFAULT_LANGUAGE)):  # as English pages
        generator = build_feed(feed, ext, base, items)
    body = generator.atom_str(pretty=False) if ext == "atom" else generator.rss_str(pretty=False)
    etag = hashlib.sha256(repr(key).encode()).hexdigest()[:40]
    return Rendered(body, etag, _last_modified(items))


def _last_modified(items: list[PublicationItem]) -> dt.datetime:
    signed = db.session.scalar(
        select(func.max(SignedPublication.signed_at)).where(SignedPublication.audience == "public")
    )
    moments = [_updated(items), *([as_utc(signed)] if signed else [])]
    return max(moments).replace(microsecond=0)  # HTTP dates have whole seconds


def _updated(items: list[PublicationItem]) -> dt.datetime:
    return max((as_utc(item.updated_at) for item in items), default=EPOCH)


# -- building the XML -------------------------------------------------------------------------


def secretariat() -> str:
    return str(current_app.config.get("SECRETARIAT_NAME") or DEFAULT_SECRETARIAT)


def tag(base: str, specific: str) -> str:
    """A tag URI (RFC 4151) on the hub's host name: stable across revisions and renders."""
    return f"tag:{urlsplit(base).hostname or 'localhost'},{TAG_YEAR}:{specific}"


def build_feed(feed: Feed, ext: str, base: str, items: list[PublicationItem]) -> FeedGenerator:
    generator = FeedGenerator()
    generator.load_extension("dc", atom=False, rss=True)  # RSS authors need dc:creator
    generator.id(tag(base, f"feed/{feed.slug}"))
    generator.title(f"{secretariat()}: {feed.title}")
    generator.subtitle(f"Public items of the {secretariat()} on Ponte: {feed.title}.")
    # RSS takes the last link as the channel's link: the news page, after the feed itself.
    generator.link(href=f"{base}/feeds/{feed.slug}.{ext}", rel="self")
    query = urlencode(feed.news_filter.query())
    generator.link(href=f"{base}/news" + (f"?{query}" if query else ""), rel="alternate")
    generator.author(name=secretariat())
    generator.updated(_updated(items))
    languages = {item.language for item in items}
    if len(languages) == 1:
        generator.language(languages.pop())
    for item in items:
        add_entry(generator.add_entry(order="append"), item, base)
    return generator


def add_entry(entry: FeedEntry, item: PublicationItem, base: str) -> None:
    assert item.published_at is not None
    entry.id(tag(base, f"item/{item.id}"))  # also the RSS guid, isPermaLink="false"
    entry.title(item.title)
    entry.link(href=hub_url(f"/news/{item.id}"), rel="alternate")
    entry.published(as_utc(item.published_at))
    entry.updated(as_utc(item.updated_at))
    authors = [secretariat()]
    if item.credit:
        authors.append(item.credit["organisation_name"])
    entry.author([{"name": name} for name in authors])
    entry.dc.dc_creator(authors)
    entry.category(categories(item, base))
    # As HTML (escaped plain text): RSS readers take a description as HTML whatever it holds.
    entry.summary(str(escape(plain_summary(item.body_markdown))), type="html")
    entry.content(str(render_markdown(item.body_markdown) + details_html(item)), type="html")


def categories(item: PublicationItem, base: str) -> list[dict[str, str]]:
    """Kind, topics and countries, each with the scheme of the feeds that hold them."""
    named: list[tuple[str, str, Callable[[str], Any]]] = [
        ("kind", item.kind, ITEM_KIND_LABELS.get),
        *(("topic", code, TOPICS.get) for code in item.topics),
        *(("country", code, country_name) for code in item.countries),
    ]
    return [
        {"term": term, "scheme": f"{base}/feeds/{kind}/", "label": str(label(term) or term)}
        for kind, term, label in named
    ]
