"""Public items in Atom and RSS feeds and on the hub's news pages: only what is published and
public, stable ids, correct dates, safe HTML, HTTP caching, strict URLs."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import feedparser
import pytest
from sqlalchemy import update

from hub import create_app, feeds
from hub.extensions import db
from hub.identity import hub_fingerprint
from hub.models import PublicationItem, SignedPublication
from hub.publishing import (
    ItemDraft,
    ItemFile,
    create_item,
    edit_item,
    latest_signed,
    publish_item,
    retract_item,
    schedule_item,
)
from ponte.topics import TOPICS
from protocol.publication import ITEM_KINDS

SETTINGS = {
    "HUB_PASSPHRASE": "hub passphrase for tests",
    "KEYSTORE_KDF": "interactive",
    "TESTING": True,
}
ATOM = "{http://www.w3.org/2005/Atom}"
HIDDEN = ("MEMBERS-ONLY-7Q", "DRAFT-ITEM-7Q", "SCHEDULED-LATER-7Q", "RETRACTED-ITEM-7Q")
PDF = b"%PDF-1.4 a small guide\n"
# The event's start as English pages and the feeds write it.
EVENT_STARTS = re.compile(r"Sunday, 17 March 2030, 17:46 UTC")
RFC822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")


def draft(title: str, **changes) -> ItemDraft:
    fields = {
        "kind": "news",
        "title": title,
        "body_markdown": f"The text of **{title}**.",
        "topics": ["eu-legislation"],
        "countries": ["RO"],
    }
    return ItemDraft(**{**fields, **changes})


def publish(app, title: str, credit: dict | None = None, **changes) -> str:
    with app.app_context():
        item = create_item(db.session, draft(title, **changes), "secretariat", credit=credit)
        publish_item(db.session, item, "secretariat")
        return item.id


def backdate(app, item_id: str, days: float = 0, seconds: float = 0) -> None:
    """Move an item's publication, last update and signing into the past: HTTP dates have
    whole seconds, so a test must not depend on the clock ticking between two requests."""
    moment = dt.datetime.now(dt.UTC).replace(microsecond=0)
    moment -= dt.timedelta(days=days, seconds=seconds)
    with app.app_context():
        db.session.execute(
            update(PublicationItem)
            .where(PublicationItem.id == item_id)
            .values(published_at=moment, updated_at=moment)
        )
        db.session.execute(
            update(SignedPublication)
            .where(SignedPublication.item_id == item_id)
            .values(signed_at=moment)
        )
        db.session.commit()


@dataclass
class Corpus:
    app: object
    news: str
    event: str
    resource: str
    due: str
    members: str
    members_resource: str
    draft: str
    scheduled: str
    retracted: str


def build_corpus(app) -> Corpus:
    """One of everything: what feeds must show, and what they must never show."""
    news = publish(
        app,
        "Directive <script>alert('title')</script> adopted",
        body_markdown="New rules.\n\n<script>alert('body')</script>\n\n[link](javascript:x)",
    )
    event = publish(
        app,
        "Partners meeting in Rome",
        credit={"organisation_id": "org-atina", "organisation_name": "Atina"},
        kind="event",
        topics=["events", "transnational-assistance"],
        countries=["IT"],
        language="it",
        event={"starts": 1_900_000_000, "ends": 1_900_007_200, "place": "Via Roma 1, Roma",
               "online_url": "https://meet.example.org/rome"},
    )  # fmt: skip
    resource = publish(
        app,
        "Identification guide",
        kind="resource",
        topics=["identification"],
        countries=[],
        file=ItemFile("guide.pdf", "application/pdf", PDF),
    )
    members = publish(app, HIDDEN[0], audience="members")
    members_resource = publish(
        app,
        f"{HIDDEN[0]} file",
        kind="resource",
        audience="members",
        file=ItemFile("members.pdf", "application/pdf", PDF),
    )
    retracted = publish(app, HIDDEN[3])
    with app.app_context():
        draft_item = create_item(db.session, draft(HIDDEN[1]), "secretariat")
        later = create_item(db.session, draft(HIDDEN[2]), "secretariat")
        schedule_item(db.session, later, _in(days=3), "secretariat")
        due = create_item(db.session, draft("Scheduled and due"), "secretariat")
        schedule_item(db.session, due, _in(days=1), "secretariat")
        # Its time has come: the next reader's request publishes it.
        due.publish_at = _in(days=-1)
        retract_item(db.session, db.session.get(PublicationItem, retracted), "Wrong", "sec")
        db.session.commit()
        ids = draft_item.id, later.id, due.id
    return Corpus(app, news, event, resource, ids[2], members, members_resource, ids[0], ids[1],
                  retracted)  # fmt: skip


def _in(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(create_app(tmp_path_factory.mktemp("hub"), SETTINGS))


@pytest.fixture
def client(corpus):
    return corpus.app.test_client()


@pytest.fixture
def app(tmp_path):
    return create_app(tmp_path / "hub", SETTINGS)


def feed_paths(countries=("RO", "IT", "DE")) -> list[str]:
    names = [
        "all",
        *(f"topic/{topic}" for topic in TOPICS),
        *(f"kind/{kind}" for kind in ITEM_KINDS),
        *(f"country/{code}" for code in countries),
    ]
    return [f"/feeds/{name}.{ext}" for name in names for ext in ("atom", "rss")]


def atom_entries(client, path="/feeds/all.atom"):
    response = client.get(path)
    assert response.status_code == 200
    return feedparser.parse(response.data).entries


# -- what the feeds hold -------------------------------------------------------------------------


def test_every_feed_parses_without_errors(client):
    for path in feed_paths():
        response = client.get(path)
        assert response.status_code == 200, path
        ext = path.rsplit(".", 1)[1]
        assert response.mimetype == f"application/{ext}+xml"
        parsed = feedparser.parse(response.data)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.version == ("atom10" if ext == "atom" else "rss20")


def test_only_published_public_items_are_in_any_feed(client, corpus):
    """Members-only, draft, scheduled and retracted items are nowhere, in no format."""
    for path in feed_paths():
        body = client.get(path).data
        for marker in HIDDEN:
            assert marker.encode() not in body, (path, marker)
        for item_id in (corpus.members, corpus.draft, corpus.scheduled, corpus.retracted):
            assert item_id.encode() not in body, path
    ids = {entry.id.rsplit("/", 1)[1] for entry in atom_entries(client)}
    assert ids == {corpus.news, corpus.event, corpus.resource, corpus.due}


def test_a_scheduled_item_appears_once_its_time_has_passed(client, corpus):
    titles = [entry.title for entry in atom_entries(client)]
    assert "Scheduled and due" in titles
    with corpus.app.app_context():
        item = db.session.get(PublicationItem, corpus.due)
        assert item.state == "published" and item.revision == 1


def test_feeds_filter_by_topic_kind_and_country(client, corpus):
    def ids(path):
        return {entry.id.rsplit("/", 1)[1] for entry in atom_entries(client, path)}

    assert ids("/feeds/topic/eu-legislation.atom") == {corpus.news, corpus.due}
    assert ids("/feeds/topic/transnational-assistance.atom") == {corpus.event}
    assert ids("/feeds/kind/event.rss".replace("rss", "atom")) == {corpus.event}
    assert ids("/feeds/kind/resource.atom") == {corpus.resource}
    assert ids("/feeds/country/IT.atom") == {corpus.event}
    assert ids("/feeds/country/DE.atom") == set()
    assert ids("/feeds/kind/newsletter.atom") == set()


def test_entries_carry_ids_links_dates_categories_and_authors(client, corpus):
    entries = {entry.id: entry for entry in atom_entries(client)}
    event = entries[f"tag:localhost,2026:item/{corpus.event}"]
    assert event.link == f"http://localhost/news/{corpus.event}"
    assert event.title == "Partners meeting in Rome"
    with corpus.app.app_context():
        item = db.session.get(PublicationItem, corpus.event)
        published, updated = item.published_at, item.updated_at
    assert event.published_parsed[:6] == published.timetuple()[:6]
    assert event.updated_parsed[:6] == updated.timetuple()[:6]
    terms = {(tag.scheme.rsplit("/", 2)[1], tag.term, tag.label) for tag in event.tags}
    assert terms == {
        ("kind", "event", "Event"),
        ("topic", "events", "Events"),
        ("topic", "transnational-assistance", "Transnational assistance"),
        ("country", "IT", "Italy"),
    }
    assert [author.name for author in event.authors] == ["Ponte secretariat", "Atina"]
    content = event.content[0]
    assert content.type == "text/html"
    assert "Via Roma 1, Roma" in content.value and "https://meet.example.org/rome" in content.value
    assert EVENT_STARTS.search(content.value)  # starts, as text
    resource = entries[f"tag:localhost,2026:item/{corpus.resource}"]
    assert f"http://localhost/news/{corpus.resource}/file" in resource.content[0].value
    news = entries[f"tag:localhost,2026:item/{corpus.news}"]
    assert [author.name for author in news.authors] == ["Ponte secretariat"]


def test_newest_first_and_at_most_fifty(app):
    ids = [publish(app, f"Item {index}") for index in range(53)]
    for offset, item_id in enumerate(ids):  # one second apart, the last one newest
        backdate(app, item_id, seconds=len(ids) - offset)
    entries = atom_entries(app.test_client())
    assert [entry.title for entry in entries] == [f"Item {i}" for i in range(52, 2, -1)]
    rss = feedparser.parse(app.test_client().get("/feeds/all.rss").data).entries
    assert len(rss) == 50


def test_html_in_titles_and_bodies_is_escaped_never_executable(client, corpus):
    for path in ("/feeds/all.atom", "/feeds/all.rss", "/feeds/topic/eu-legislation.rss"):
        body = client.get(path).data
        assert b"<script" not in body.lower(), path
        entry = next(e for e in feedparser.parse(body).entries if corpus.news in e.id)
        html = entry.content[0].value
        assert "<script" not in html.lower() and 'href="javascript' not in html
        assert "&lt;script&gt;" in html  # shown as text, as the author typed it


def test_entry_ids_are_stable_across_edits_and_renders_and_formats(app):
    item_id = publish(app, "First version")
    backdate(app, item_id, 2)
    client = app.test_client()
    [before] = atom_entries(client)
    first_etag = client.get("/feeds/all.atom").headers["ETag"]
    with app.app_context():
        item = db.session.get(PublicationItem, item_id)
        edit_item(db.session, item, draft("Second version"), "secretariat")
    [after] = atom_entries(client)
    assert after.id == before.id == f"tag:localhost,2026:item/{item_id}"
    assert after.title == "Second version"
    assert after.published == before.published  # the first publication, unchanged
    assert after.updated_parsed > before.updated_parsed
    assert client.get("/feeds/all.atom").headers["ETag"] != first_etag
    app.extensions.pop(feeds.CACHE_KEY)  # a restarted worker renders it again
    [again] = atom_entries(client)
    assert (again.id, again.updated) == (after.id, after.updated)
    [rss] = feedparser.parse(client.get("/feeds/all.rss").data).entries
    assert rss.id == after.id


def test_hub_url_decides_the_tag_host_and_the_links(tmp_path):
    app = create_app(tmp_path / "hub", {**SETTINGS, "HUB_URL": "https://ponte.example.org/"})
    item_id = publish(app, "Behind a proxy")
    [entry] = atom_entries(app.test_client())
    assert entry.id == f"tag:ponte.example.org,2026:item/{item_id}"
    assert entry.link == f"https://ponte.example.org/news/{item_id}"


# -- the XML itself --------------------------------------------------------------------------------


def test_rss_is_rss_2_0(client, corpus):
    root = ET.fromstring(client.get("/feeds/all.rss").data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    [channel] = root.findall("channel")
    assert channel.findtext("title") == "Ponte secretariat: all news"
    assert channel.findtext("link") == "http://localhost/news"
    assert channel.findtext("description")
    assert RFC822.match(channel.findtext("lastBuildDate"))
    items = channel.findall("item")
    assert len(items) == 4
    for item in items:
        assert item.findtext("title") and item.findtext("link").startswith("http://localhost/news/")
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false" and guid.text.startswith("tag:localhost,2026:")
        assert RFC822.match(item.findtext("pubDate"))
        assert email.utils.parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None
        assert item.findtext("description")
        assert item.findtext("{http://purl.org/dc/elements/1.1/}creator") == "Ponte secretariat"


def test_atom_has_the_rfc_4287_essentials(client):
    root = ET.fromstring(client.get("/feeds/topic/eu-legislation.atom").data)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") == "tag:localhost,2026:feed/topic/eu-legislation"
    assert root.findtext(f"{ATOM}title") == "Ponte secretariat: EU legislation"
    assert dt.datetime.fromisoformat(root.findtext(f"{ATOM}updated")).tzinfo is not None
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Ponte secretariat"
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {
        "self": "http://localhost/feeds/topic/eu-legislation.atom",
        "alternate": "http://localhost/news?topic=eu-legislation",
    }
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 2
    newest = max(entry.findtext(f"{ATOM}updated") for entry in entries)
    assert root.findtext(f"{ATOM}updated") == newest
    for entry in entries:
        assert entry.findtext(f"{ATOM}id").startswith("tag:localhost,2026:item/")
        assert entry.findtext(f"{ATOM}title")
        assert entry.findtext(f"{ATOM}updated") and entry.findtext(f"{ATOM}published")
        alternates = [
            link
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert len(alternates) == 1
        assert entry.find(f"{ATOM}content").get("type") == "html"


def test_an_empty_feed_is_valid_and_dated_at_the_epoch(app):
    response = app.test_client().get("/feeds/all.atom")
    root = ET.fromstring(response.data)
    assert root.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00+00:00"
    assert response.headers["Last-Modified"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert feedparser.parse(app.test_client().get("/feeds/all.rss").data).bozo == 0


# -- HTTP: caching, errors -------------------------------------------------------------------------


def test_etag_last_modified_and_304(client):
    first = client.get("/feeds/all.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert re.fullmatch(r'"[0-9a-f]{40}"', etag)
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", {etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        again = client.get("/feeds/all.atom", headers=headers)
        assert again.status_code == 304, headers
        assert again.data == b"" and again.headers["ETag"] == etag
    older = email.utils.format_datetime(
        email.utils.parsedate_to_datetime(modified) - dt.timedelta(seconds=1), usegmt=True
    )
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": older}).status_code == 200
    # If-None-Match decides when both are sent.
    both = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    assert client.get("/feeds/all.atom", headers=both).status_code == 200
    assert client.get("/feeds/all.rss").headers["ETag"] != etag


def test_a_new_publication_changes_the_etag(app):
    client = app.test_client()
    publish(app, "Old news")
    first = client.get("/feeds/all.atom")
    publish(app, "Fresh news")
    second = client.get("/feeds/all.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and b"Fresh news" in second.data
    assert second.headers["ETag"] != first.headers["ETag"]


def test_a_retraction_is_not_a_304_for_if_modified_since(app):
    """A retraction leaves no newer entry behind; Last-Modified must move all the same."""
    stays, goes = publish(app, "Stays"), publish(app, "Withdrawn later")
    backdate(app, stays, days=1)
    backdate(app, goes, days=1)
    client = app.test_client()
    before = client.get("/feeds/all.atom")
    with app.app_context():
        retract_item(db.session, db.session.get(PublicationItem, goes), "Wrong", "secretariat")
    since = {"If-Modified-Since": before.headers["Last-Modified"]}
    after = client.get("/feeds/all.atom", headers=since)
    assert after.status_code == 200 and b"Withdrawn later" not in after.data
    assert client.get("/feeds/all.atom", headers=since).status_code == 200
    now = {"If-Modified-Since": after.headers["Last-Modified"]}
    assert client.get("/feeds/all.atom", headers=now).status_code == 304


def test_a_repeated_request_is_served_from_the_cache(app, monkeypatch):
    publish(app, "Cached")
    built = []
    original = feeds.build_feed

    def counting(*args, **kwargs):
        built.append(args[0].slug)
        return original(*args, **kwargs)

    monkeypatch.setattr(feeds, "build_feed", counting)
    client = app.test_client()
    bodies = {client.get("/feeds/all.atom").data for _ in range(3)}
    assert len(bodies) == 1 and built == ["all"]
    client.get("/feeds/all.rss")
    assert built == ["all", "all"]
    publish(app, "Invalidates")
    assert b"Invalidates" in client.get("/feeds/all.atom").data
    assert built == ["all", "all", "all"]


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/topic/unicorns.atom",
        "/feeds/topic/EU-LEGISLATION.rss",
        "/feeds/kind/blog.atom",
        "/feeds/country/ZZ.atom",
        "/feeds/country/zz.rss",
        "/feeds/country/ROU.atom",
        "/feeds/country/R1.atom",
        "/feeds/all.json",
        "/feeds/all",
        "/feeds/topic/eu-legislation.xml",
        "/feeds/topic/eu-legislation",
        "/feeds/kind/news.atom.atom",
        "/feeds/everything.atom",
    ],
)
def test_unknown_feeds_are_404_problems(client, path):
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_a_lower_case_country_redirects_to_the_canonical_feed(client):
    response = client.get("/feeds/country/ro.rss")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/feeds/country/RO.rss")


@pytest.mark.parametrize("query", ["page=2", "format=json", "a=1&a=2", "utm_source=x"])
def test_query_parameters_are_refused(client, query):
    response = client.get(f"/feeds/all.atom?{query}")
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_a_locked_hub_key_does_not_break_feeds_or_pages(tmp_path, monkeypatch):
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE", raising=False)
    unlocked = create_app(tmp_path / "hub", SETTINGS)
    item_id = publish(unlocked, "Published while unlocked")
    with unlocked.app_context():
        due = create_item(db.session, draft("Due while locked"), "secretariat")
        schedule_item(db.session, due, _in(days=1), "secretariat")
        due.publish_at = _in(days=-1)
        db.session.commit()
    locked = create_app(tmp_path / "hub", {"KEYSTORE_KDF": "interactive", "TESTING": True})
    client = locked.test_client()
    response = client.get("/feeds/all.atom")
    assert response.status_code == 200
    assert [entry.title for entry in feedparser.parse(response.data).entries] == [
        "Published while unlocked"
    ]
    page = client.get(f"/news/{item_id}")
    assert page.status_code == 200 and "not available right now" in page.get_data(as_text=True)
    assert client.get("/news").status_code == 200
    assert client.get("/api/v1/publications").status_code == 200


# -- the /feeds page ---------------------------------------------------------------------------


def test_the_feeds_page_lists_every_feed(client):
    response = client.get("/feeds")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="/feeds/all.atom"' in html and 'href="/feeds/all.rss"' in html
    for topic in TOPICS:
        assert f'href="/feeds/topic/{topic}.atom"' in html
        assert f'href="/feeds/topic/{topic}.rss"' in html
    for kind in ITEM_KINDS:
        assert f'href="/feeds/kind/{kind}.rss"' in html
    for code in ("RO", "IT"):  # the countries that have items, and only those
        assert f'href="/feeds/country/{code}.atom"' in html
    assert "/feeds/country/DE.atom" not in html
    assert "<script" not in html
    assert client.get("/feeds?x=1").status_code == 400


# -- the news pages ----------------------------------------------------------------------------


def test_the_news_list_shows_public_items_only(client, corpus):
    response = client.get("/news")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for title in ("Partners meeting in Rome", "Identification guide", "Scheduled and due"):
        assert title in html
    assert "Directive &lt;script&gt;" in html and "<script" not in html
    for marker in HIDDEN:
        assert marker not in html
    assert "contributed by Atina" in html
    assert "The text of Identification guide." in html  # summary as plain text
    assert 'rel="alternate" type="application/atom+xml"' in html


@pytest.mark.parametrize(
    ("query", "shown", "not_shown"),
    [
        ("kind=event", "Partners meeting in Rome", "Identification guide"),
        ("topic=identification", "Identification guide", "Partners meeting in Rome"),
        ("country=it", "Partners meeting in Rome", "Scheduled and due"),
        ("country=RO&kind=news", "Scheduled and due", "Partners meeting in Rome"),
    ],
)
def test_the_news_list_filters(client, query, shown, not_shown):
    html = client.get(f"/news?{query}").get_data(as_text=True)
    assert shown in html and not_shown not in html


@pytest.mark.parametrize(
    "query", ["kind=blog", "topic=unicorns", "country=ZZ", "page=0", "page=x", "colour=red"]
)
def test_bad_news_filters_are_400_pages(client, query):
    response = client.get(f"/news?{query}")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert 'role="alert"' in response.get_data(as_text=True)


def test_the_news_list_has_pages_of_twenty(app):
    for index in range(25):
        publish(app, f"Numbered {index:02d}")
    client = app.test_client()
    first = client.get("/news").get_data(as_text=True)
    second = client.get("/news?page=2").get_data(as_text=True)
    assert first.count('class="result-name"') == 20
    assert second.count('class="result-name"') == 5
    assert 'href="/news?page=2"' in first and 'rel="prev"' in second
    assert "No items" in client.get("/news?page=9").get_data(as_text=True)


def test_an_item_page_shows_the_item_and_how_to_verify_it(client, corpus):
    response = client.get(f"/news/{corpus.event}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Partners meeting in Rome</h1>" in html
    assert "Contributed by Atina" in html
    assert "Transnational assistance" in html and "Italy" in html and ">Event ·" in html
    assert "Via Roma 1, Roma" in html and EVENT_STARTS.search(html)
    assert 'href="https://meet.example.org/rome"' in html
    with corpus.app.app_context():
        signature = latest_signed(db.session, corpus.event).document["signature"]
        fingerprint = hub_fingerprint()
    assert "Verify this item" in html
    assert signature in html and fingerprint in html
    assert f"http://localhost/api/v1/publications/{corpus.event}" in html


def test_pages_follow_the_reader_s_language_and_feeds_stay_english(client, corpus):
    french = {"Accept-Language": "fr"}
    page = client.get(f"/news/{corpus.event}", headers=french).get_data(as_text=True)
    assert "dimanche 17 mars 2030, 17:46 UTC" in page and "Italie" in page
    feed = client.get("/feeds/all.atom", headers=french)  # first: it fills the cache
    [entry] = [e for e in feedparser.parse(feed.data).entries if e.id.endswith(corpus.event)]
    assert {tag.label for tag in entry.tags} >= {"Event", "Transnational assistance", "Italy"}
    assert EVENT_STARTS.search(entry.content[0].value)
    assert "Starts:" in entry.content[0].value


def test_an_item_body_is_sanitised_on_its_page(client, corpus):
    html = client.get(f"/news/{corpus.news}").get_data(as_text=True)
    assert "<script" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(" in html  # shown as text, as the author typed it


def test_hidden_and_unknown_items_are_404_pages(client, corpus):
    for item_id in (
        corpus.members,
        corpus.draft,
        corpus.scheduled,
        corpus.retracted,
        "no-such-item",
    ):
        response = client.get(f"/news/{item_id}")
        assert response.status_code == 404 and response.mimetype == "text/html", item_id
        html = response.get_data(as_text=True)
        assert "not available" in html and HIDDEN[0] not in html


def test_a_resource_file_downloads_as_an_attachment(client, corpus):
    html = client.get(f"/news/{corpus.resource}").get_data(as_text=True)
    assert f'href="/news/{corpus.resource}/file"' in html and "guide.pdf" in html
    response = client.get(f"/news/{corpus.resource}/file")
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=guide.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for item_id in (corpus.members_resource, corpus.news, corpus.draft, "nope"):
        assert client.get(f"/news/{item_id}/file").status_code == 404, item_id
