"""The node's reader: the secretariat's items reach a really enrolled node from a live hub
(public ones from the hub's signed list, members-only ones through the relay), verified with
the pinned hub key; forgeries are refused and reported; then the pages people read them on."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from hub.extensions import db as hub_db
from hub.identity import hub_identity
from hub.models import Node, PublicationItem, SignedPublication
from hub.publishing import (
    ItemDraft,
    ItemFile,
    create_item,
    deliver,
    edit_item,
    latest_signed,
    publish_item,
    retract_item,
)
from hub.relay import queue_hub_envelope
from node import reader_pages
from node.extensions import db
from node.keys import EXTENSION_KEY
from node.models import NewsItem, PublicationProblem, User
from node.outbox import partner_record
from node.publications import apply_publication, item_query
from ponte import accounts
from ponte.cli import main
from protocol import Kind, NodeIdentity, fingerprint, seal
from protocol.publication import sign_publication
from tests.test_enrolment import hub
from tests.test_referral_pages import PASSWORD, csrf, page, signed_in
from tests.test_referrals import TestNode, make_node

__all__ = ["hub"]

SECRETARIAT = "secretariat@platform.example"
UNREAD = "[Unread]"


# -- helpers ----------------------------------------------------------------------------------


def publish(hub, title: str, audience: str = "public", **fields) -> str:
    """Publish an item on the live hub as the secretariat would; its id."""
    draft = ItemDraft(
        kind=fields.pop("kind", "news"),
        title=title,
        body_markdown=fields.pop("body", f"The text of {title}."),
        audience=audience,
        **fields,
    )
    with hub.app.app_context():
        item = create_item(hub_db.session, draft, SECRETARIAT)
        publish_item(hub_db.session, item, SECRETARIAT)
        return item.id


def edit(hub, item_id: str, title: str) -> None:
    with hub.app.app_context():
        item = hub_db.session.get(PublicationItem, item_id)
        draft = ItemDraft(
            kind=item.kind,
            title=title,
            body_markdown=item.body_markdown,
            audience=item.audience,
            topics=list(item.topics),
            countries=list(item.countries),
        )
        edit_item(hub_db.session, item, draft, SECRETARIAT)


def retract(hub, item_id: str, reason: str) -> None:
    with hub.app.app_context():
        retract_item(hub_db.session, hub_db.session.get(PublicationItem, item_id), reason, "s")


def signed(hub, item_id: str, revision: int | None = None) -> dict:
    """The hub's signed document of a revision of the item (the latest by default)."""
    with hub.app.app_context():
        if revision is None:
            return latest_signed(hub_db.session, item_id).document
        query = select(SignedPublication).where(
            SignedPublication.item_id == item_id, SignedPublication.revision == revision
        )
        return hub_db.session.scalars(query).one().document


def relay_to(hub, node: TestNode, document: dict, sender: NodeIdentity | None = None) -> None:
    """Put a newsletter envelope in the node's inbox as the hub's relay holds it: sealed by
    the hub (or by ``sender``, for a forgery planted in the relay's store)."""
    with hub.app.app_context():
        if sender is None:
            target = hub_db.session.get(Node, node.keys.enrolment.node_id)
            deliver(hub_db.session, hub_identity(), target, document, dt.datetime.now(dt.UTC))
        else:
            record = node.keys.identities[-1].public_record()
            wire = seal(sender, record, Kind.NEWSLETTER, document).to_wire()
            queue_hub_envelope(hub_db.session, wire)
        hub_db.session.commit()


_planted = iter(range(10_000, 20_000))


def plant_in_feed(hub, item_id: str, document: dict) -> None:
    """A document in the hub's public list that the secretariat never signed (a tampered hub
    database or a hostile mirror): the node must check it all the same."""
    with hub.app.app_context():
        hub_db.session.add(
            SignedPublication(
                item_id=item_id, revision=next(_planted), audience="public", document=document
            )
        )
        hub_db.session.commit()


def stored(node: TestNode, item_id: str) -> NewsItem | None:
    with node.app.app_context():
        item = db.session.get(NewsItem, item_id)
        if item is not None:
            db.session.expunge(item)
        return item


def problems(node: TestNode) -> list[PublicationProblem]:
    with node.app.app_context():
        rows = list(db.session.scalars(select(PublicationProblem).order_by(PublicationProblem.id)))
        db.session.expunge_all()
        return rows


def add_account(node: TestNode, email: str, role: str) -> None:
    with node.app.app_context():
        accounts.create_user(db.session, User, email, PASSWORD, role)


@pytest.fixture(scope="module")
def cheap_hashing():
    hasher = accounts.PASSWORD_HASHER
    accounts.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._dummy_hash.cache_clear()
    yield
    accounts.PASSWORD_HASHER = hasher
    accounts._dummy_hash.cache_clear()


def reader_node(hub, tmp_path_factory, organisation: str, name: str) -> TestNode:
    """An enrolled node whose app holds its unlocked keys (as ``ponte node serve`` does)."""
    node = make_node(hub, tmp_path_factory.mktemp(name), organisation)
    node.app.extensions[EXTENSION_KEY] = node.keys
    return node


# -- (i) the rules: what arrives, what is kept, what is refused ---------------------------------


@pytest.fixture(scope="module")
def reader(hub, tmp_path_factory) -> TestNode:
    return reader_node(hub, tmp_path_factory, "Atina", "reader")


def test_public_and_members_items_arrive_verified_each_their_own_way(hub, reader):
    public = publish(hub, "Public call for evidence", topics=["eu-legislation"], countries=["RO"])
    members = publish(hub, "Members briefing on shelters", audience="members")
    looked_up: list[str] = []
    real_node_keys = reader.keys.hub.node_keys

    def spy(identity, hub_record, node_id):
        looked_up.append(node_id)
        return real_node_keys(identity, hub_record, node_id)

    reader.keys.hub.node_keys = spy
    try:
        summary = reader.sync()
    finally:
        del reader.keys.hub.node_keys
    assert summary.rejected == 0, summary.problems
    assert summary.news >= 2
    assert "ponte-hub" not in looked_up  # the hub's key is pinned, never looked up
    got_public, got_members = stored(reader, public), stored(reader, members)
    assert (got_public.source, got_public.audience, got_public.revision) == ("feed", "public", 1)
    assert (got_members.source, got_members.audience) == ("relay", "members")
    assert got_members.title == "Members briefing on shelters" and got_members.verified_at
    assert got_public.topics == ["eu-legislation"] and got_public.countries == ["RO"]
    assert got_public.document == signed(hub, public)
    # The members-only item is never in the hub's public list, only in this node's inbox.
    listed = reader.keys.hub.http.get(f"{hub.url}/api/v1/publications?limit=100").json()
    assert members not in {entry["item_id"] for entry in listed["publications"]}
    assert reader.keys.hub.inbox(reader.keys.identities[-1], 0)["messages"] == []
    assert reader.sync().news == 0  # nothing new: the cursor and the acks held


def test_an_edit_replaces_the_item_and_an_older_revision_is_ignored(hub, reader):
    public = publish(hub, "Conference programme (draft)")
    members = publish(hub, "Members: funding round", audience="members")
    reader.sync()
    edit(hub, public, "Conference programme (final)")
    edit(hub, members, "Members: funding round extended")
    reader.sync()
    assert (stored(reader, public).title, stored(reader, public).revision) == (
        "Conference programme (final)",
        2,
    )
    assert stored(reader, members).title == "Members: funding round extended"
    # The first revisions come again, by the relay and by hand: the newer ones stay.
    relay_to(hub, reader, signed(hub, members, 1))
    summary = reader.sync()
    assert (summary.applied, summary.rejected) == (1, 0), summary.problems
    with reader.app.app_context():
        assert apply_publication(db.session, reader.keys, signed(hub, public, 1), "feed") is None
        db.session.rollback()
    assert stored(reader, public).title == "Conference programme (final)"
    assert stored(reader, members).revision == 2


def test_a_retraction_hides_the_item_but_keeps_its_row(hub, reader):
    members = publish(hub, "Members: contact list", audience="members", body="Call Ana on 0721")
    public = publish(hub, "A public note to withdraw")
    reader.sync()
    retract(hub, members, "It named a person.")
    retract(hub, public, "Published by mistake.")
    reader.sync()
    for item_id, reason in ((members, "It named a person."), (public, "Published by mistake.")):
        item = stored(reader, item_id)
        assert (item.status, item.reason, item.body_markdown) == ("retracted", reason, "")
    with reader.app.app_context():
        shown = set(db.session.scalars(item_query().with_only_columns(NewsItem.item_id)))
    assert not {members, public} & shown
    relay_to(hub, reader, signed(hub, members, 1))  # the old revision cannot bring it back
    reader.sync()
    assert stored(reader, members).status == "retracted"


def test_forged_documents_are_not_stored_and_are_reported(hub, reader):
    genuine = publish(hub, "The genuine public item")
    members = publish(hub, "The genuine members item", audience="members")
    reader.sync()
    before = len(problems(reader))
    # 1. A changed title under the hub's real signature, in the public list.
    changed = signed(hub, genuine)
    changed = {**changed, "statement": {**changed["statement"], "title": "Forged", "revision": 7}}
    plant_in_feed(hub, genuine, changed)
    # 2. Signed by another key that claims to be the hub.
    impostor = NodeIdentity.generate("ponte-hub")
    statement = {**signed(hub, genuine)["statement"], "title": "Impostor", "revision": 8}
    plant_in_feed(hub, genuine, sign_publication(impostor, statement))
    # 3. A publisher that is not the hub (a valid signature of its own).
    stranger = NodeIdentity.generate("node-stranger-1")
    foreign = {**statement, "publisher": "node-stranger-1", "title": "Stranger", "revision": 9}
    plant_in_feed(hub, genuine, sign_publication(stranger, foreign))
    # 4. Through the relay, sealed by the real hub: a changed members-only title.
    tampered = signed(hub, members)
    tampered = {**tampered, "statement": {**tampered["statement"], "title": "Forged members"}}
    relay_to(hub, reader, tampered)
    summary = reader.sync()
    assert summary.rejected == 1 and "bad signature" in summary.problems[0]
    assert stored(reader, genuine).title == "The genuine public item"
    assert stored(reader, members).title == "The genuine members item"
    with reader.app.app_context():
        titles = set(db.session.scalars(select(NewsItem.title)))
    assert not {"Forged", "Impostor", "Stranger", "Forged members"} & titles
    found = problems(reader)[before:]
    assert [(p.source, p.item_id) for p in found] == [  # the inbox is read first
        ("relay", members),
        ("feed", genuine),
        ("feed", genuine),
        ("feed", genuine),
    ]
    assert all("bad signature" in p.error for p in found[:3])
    assert "statement.publisher" in found[3].error
    assert all("text of" not in p.error for p in found)  # no body in the report


def test_a_newsletter_not_from_the_pinned_hub_is_set_aside(hub, reader, tmp_path_factory):
    other = reader_node(hub, tmp_path_factory, "Payoke", "other")
    members = publish(hub, "Members: only from the hub", audience="members")
    document = signed(hub, members)
    reader.sync()
    with reader.app.app_context():  # so that the reader has an older revision only...
        db.session.delete(db.session.get(NewsItem, members))
        db.session.commit()
    # ... then another member node relays the genuine, hub-signed document itself.
    with other.app.app_context():
        record = partner_record(db.session, other.keys, reader.keys.enrolment.node_id)
    envelope = seal(other.keys.identities[-1], record, Kind.NEWSLETTER, document)
    other.keys.hub.post_envelope(other.keys.identities[-1], envelope.to_wire())
    # And an envelope that claims the hub as sender but is sealed with another key.
    relay_to(hub, reader, document, sender=NodeIdentity.generate("ponte-hub"))
    summary = reader.sync()
    assert summary.rejected == 2, summary.problems
    assert any("only the hub" in problem for problem in summary.problems)
    assert any("bad_signature" in problem for problem in summary.problems)
    assert stored(reader, members) is None


def test_the_news_command_lists_verified_items(hub, reader):
    publish(hub, "An item for the command line")
    reader.sync()
    result = CliRunner().invoke(main, ["node", "news", "--data-dir", str(reader.data_dir)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "command line" in line)
    assert re.match(r"\d{4}-\d\d-\d\d  news\s+An item for the command line  \(verified ", line)
    assert "Forged" not in result.output
    unread = CliRunner().invoke(
        main, ["node", "news", "--data-dir", str(reader.data_dir), "--unread"]
    )
    assert unread.exit_code == 2 and "--user" in unread.output
    nobody = ["--unread", "--user", "nobody@atina.example"]
    result = CliRunner().invoke(main, ["node", "news", "--data-dir", str(reader.data_dir), *nobody])
    assert result.exit_code == 2 and "No account" in result.output


def test_the_news_command_needs_an_enrolled_node(tmp_path):
    result = CliRunner().invoke(main, ["node", "news", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "No enrolled node" in result.output


# -- (ii) the pages -------------------------------------------------------------------------------


@dataclass
class Site:
    node: TestNode
    items: dict[str, str]  # title -> item id


@pytest.fixture(scope="module")
def site(hub, tmp_path_factory, cheap_hashing) -> Site:
    node = reader_node(hub, tmp_path_factory, "Asociatia FREE", "pages")
    add_account(node, "case@free.example", "caseworker")
    add_account(node, "admin@free.example", "admin")
    report = b"%PDF-1.4 the annual report"
    items = {
        "Labour exploitation in agriculture": publish(
            hub,
            "Labour exploitation in agriculture",
            topics=["sectors-and-forms"],
            countries=["IT"],
            body="Seasonal workers in **Apulia**; a 50% rise.",
        ),
        "Court ruling on identification": publish(
            hub, "Court ruling on identification", kind="policy_update", countries=["RO"]
        ),
        "Training in Bucharest": publish(
            hub,
            "Training in Bucharest",
            kind="event",
            audience="members",
            event={"starts": 1_900_000_000, "place": "Bucharest"},
            body="For caseworkers only.",
        ),
        "<script>alert(1)</script> Bold claims": publish(
            hub,
            "<script>alert(1)</script> Bold claims",
            body="<script>alert(0)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))",
        ),
        "Annual report": publish(
            hub,
            "Annual report",
            kind="resource",
            file=ItemFile("report.pdf", "application/pdf", report),
        ),
        "Members toolkit": publish(
            hub,
            "Members toolkit",
            kind="resource",
            audience="members",
            file=ItemFile("toolkit.html", "text/html", b"<script>alert(1)</script>"),
        ),
    }
    node.sync()
    return Site(node, items)


def test_every_role_reads_the_list_and_unread_items_are_marked_in_words(site):
    for email in ("case@free.example", "admin@free.example"):
        html = page(signed_in(site.node, email), "/news/")
        assert "Labour exploitation in agriculture" in html
        assert f"<strong>{UNREAD}</strong> Labour exploitation" in html
        assert "Training in Bucharest" in html and "Members only" in html
    anonymous = site.node.app.test_client().get("/news/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_filters_and_case_insensitive_search(site):
    browser = signed_in(site.node, "case@free.example")
    by_kind = page(browser, "/news/?kind=policy_update")
    assert "Court ruling" in by_kind and "Labour exploitation" not in by_kind
    by_topic = page(browser, "/news/?topic=sectors-and-forms")
    assert "Labour exploitation" in by_topic and "Court ruling" not in by_topic
    by_country = page(browser, "/news/?country=ro")
    assert "Court ruling" in by_country and "Labour exploitation" not in by_country
    searched = page(browser, "/news/?q=APULIA")  # the body, whatever the case
    assert "Labour exploitation" in searched and "Court ruling" not in searched
    assert "Labour exploitation" in page(browser, "/news/?q=50%25")
    assert "No item matches" in page(browser, "/news/?q=5_%25")  # wildcards are literal
    assert "No item matches" in page(browser, "/news/?q=nothing+like+this")
    assert "Labour" in page(browser, "/news/?kind=bogus&topic=bogus&country=ZZZ&page=x")


def test_pagination(site, monkeypatch):
    monkeypatch.setattr(reader_pages, "PAGE_SIZE", 2)
    browser = signed_in(site.node, "case@free.example")
    first = page(browser, "/news/")
    assert "page 1 of" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = page(browser, "/news/?page=2")
    assert "page 2 of" in second and 'rel="prev"' in second
    with site.node.app.app_context():
        newest = list(db.session.scalars(item_query().limit(3)))
    links = [f'href="/news/{item.item_id}"' for item in newest]
    assert links[0] in first and links[1] in first and links[2] in second
    assert links[0] not in second


def test_the_item_page_verifies_renders_and_marks_read(site, hub):
    browser = signed_in(site.node, "case@free.example")
    item_id = site.items["Labour exploitation in agriculture"]
    html = page(browser, f"/news/{item_id}")
    assert "Seasonal workers in <strong>Apulia</strong>" in html
    assert "Sectors and forms of exploitation" in html and "Italy" in html
    hub_key = site.node.keys.enrolment.hub_record
    assert (
        f"Signed by the secretariat's hub key <code>{fingerprint(hub_key)}</code>, revision 1, "
        "verified " in html
    )
    listed = page(browser, "/news/")
    assert f"{UNREAD}</strong> Labour exploitation" not in listed  # read on opening
    assert "Labour exploitation" in listed
    assert "Labour exploitation" not in page(browser, "/news/?unread=1")
    browser.post(f"/news/{item_id}/unread", data={"csrf_token": csrf(html)})
    assert f"{UNREAD}</strong> Labour exploitation" in page(browser, "/news/")
    other = signed_in(site.node, "admin@free.example")  # read state is per person
    assert f"{UNREAD}</strong> Labour exploitation" in page(other, "/news/")
    response = browser.post("/news/read-all", data={"csrf_token": csrf(listed)})
    assert response.status_code == 302
    assert UNREAD not in page(browser, "/news/")
    assert f"{UNREAD}</strong>" in page(other, "/news/")
    assert browser.post(f"/news/{item_id}/unread").status_code == 400  # no CSRF token


def test_members_event_shows_its_details(site):
    browser = signed_in(site.node, "case@free.example")
    html = page(browser, f"/news/{site.items['Training in Bucharest']}")
    assert "For caseworkers only." in html and "Bucharest" in html
    assert "members only" in html and "UTC" in html


def test_scripts_in_items_are_escaped_or_removed(site):
    browser = signed_in(site.node, "case@free.example")
    listed = page(browser, "/news/")  # page() fails on any "<script"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bold claims" in listed
    html = page(browser, f"/news/{site.items['<script>alert(1)</script> Bold claims']}")
    assert "<img" not in html and 'href="javascript:' not in html  # shown as text at most
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bold claims" in html


def test_a_stored_copy_changed_on_the_node_is_not_shown(site):
    item_id = site.items["Court ruling on identification"]
    with site.node.app.app_context():
        item = db.session.get(NewsItem, item_id)
        original = item.document
        item.document = {**original, "statement": {**original["statement"], "title": "Changed"}}
        db.session.commit()
    try:
        response = signed_in(site.node, "case@free.example").get(f"/news/{item_id}")
        assert response.status_code == 500
        assert "no longer matches" in response.get_data(as_text=True)
        assert "Changed" not in response.get_data(as_text=True)
    finally:
        with site.node.app.app_context():
            db.session.get(NewsItem, item_id).document = original
            db.session.commit()


def test_a_resource_file_is_checked_against_its_signature(site, hub):
    browser = signed_in(site.node, "case@free.example")
    item_id = site.items["Annual report"]
    html = page(browser, f"/news/{item_id}")
    assert f'href="/news/{item_id}/file"' in html and "report.pdf" in html
    response = browser.get(f"/news/{item_id}/file")
    assert response.status_code == 200
    assert response.data == b"%PDF-1.4 the annual report"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with hub.app.app_context():  # the hub's copy changes without a new signature
        hub_db.session.get(PublicationItem, item_id).file_data = b"%PDF-1.4 a swapped report"
        hub_db.session.commit()
    members = browser.get(f"/news/{site.items['Members toolkit']}/file")  # a feeds:read token
    assert members.status_code == 200 and members.data == b"<script>alert(1)</script>"
    assert members.mimetype == "application/octet-stream"  # never served as HTML
    anonymous = site.node.keys.hub.http.get(
        f"{hub.url}/api/v1/publications/{site.items['Members toolkit']}/file"
    )
    assert anonymous.status_code == 404  # the hub gives it to member nodes only
    refused = browser.get(f"/news/{item_id}/file")
    assert refused.status_code == 502
    text = refused.get_data(as_text=True)
    assert "not the file the secretariat signed" in text and "swapped" not in text
    assert hashlib.sha256(b"%PDF-1.4 a swapped report").hexdigest() not in text


def test_node_admins_see_what_failed_verification(site, hub):
    genuine = signed(hub, site.items["Court ruling on identification"])
    forged = {**genuine, "statement": {**genuine["statement"], "title": "Forged ruling"}}
    forged["statement"]["revision"] = 5
    plant_in_feed(hub, site.items["Court ruling on identification"], forged)
    site.node.sync()
    admin = signed_in(site.node, "admin@free.example")
    listed = page(admin, "/news/")
    assert re.search(r"<strong>\d+ items? failed verification</strong>", listed)
    details = page(admin, "/news/problems")
    assert site.items["Court ruling on identification"] in details and "bad signature" in details
    assert "Forged ruling" not in details
    caseworker = signed_in(site.node, "case@free.example")
    assert "failed verification" not in page(caseworker, "/news/")
    assert caseworker.get("/news/problems").status_code == 403
    assert "Forged ruling" not in page(caseworker, "/news/")


def test_a_retracted_item_page_shows_nothing_of_its_text(site, hub):
    item_id = publish(hub, "Soon withdrawn", body="A text that must disappear.")
    site.node.sync()
    retract(hub, item_id, "Wrong figures.")
    site.node.sync()
    response = signed_in(site.node, "case@free.example").get(f"/news/{item_id}")
    text = response.get_data(as_text=True)
    assert response.status_code == 410 and "Wrong figures." in text
    assert "must disappear" not in text and "Soon withdrawn" not in text
