"""The publishing rules (hub.publishing, hub.contributions) on a real hub app, real keys and
real envelopes: what a draft may hold, the life of an item, its signed revisions, scheduling,
members-only delivery through the relay, and the moderation of members' contributions.

The helpers at the top are shared with test_publishing_pages.py and test_publishing_cli.py.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select, update

import hub
from directory.models import Organization
from hub.contributions import (
    approve_contribution,
    contribution_status,
    pending_contributions,
    receive_contribution,
    reject_contribution,
)
from hub.enrolment import create_invitation, redeem_invitation, revoke_node
from hub.extensions import db
from hub.identity import EXTENSION_KEY, hub_identity, hub_record
from hub.models import (
    AuditEntry,
    ItemRevision,
    MemberContribution,
    Node,
    PublicationItem,
    RelayMessage,
    SignedPublication,
)
from hub.publishing import (
    MAX_BODY_CHARS,
    MAX_FILE_BYTES,
    ItemDraft,
    ItemFile,
    PublishingError,
    check_draft,
    create_item,
    deliver_backlog,
    edit_item,
    publish_item,
    release_due,
    retract_item,
    schedule_item,
    unschedule_item,
)
from ponte.problems import ProblemError
from protocol import MemorySeenIds, NodeIdentity, enrolment_proof, open_envelope
from protocol.publication import sign_contribution, verify_publication

HUB_PASSPHRASE = "hub passphrase for tests"
HUB_SETTINGS = {"TESTING": True, "HUB_PASSPHRASE": HUB_PASSPHRASE, "KEYSTORE_KDF": "interactive"}
ORGANISATIONS = {"org-atina": ("Atina", "RS"), "org-free": ("Asociația FREE", "RO")}
AUTHOR = "ana@secretariat.example"


# --- shared helpers --------------------------------------------------------------------------


def make_app(data_dir):
    """A hub with two organisations, whose key exists (created with the fast KDF, so that
    commands opening it later with PONTE_HUB_PASSPHRASE are quick too)."""
    app = hub.create_app(data_dir, HUB_SETTINGS)
    with app.app_context():
        for org_id, (name, country) in ORGANISATIONS.items():
            db.session.add(Organization(id=org_id, name=name, kind="ngo", country=country))
        db.session.commit()
        hub_identity()
    return app


def lock_hub_key(app, monkeypatch):
    """As if the hub had been started without PONTE_HUB_PASSPHRASE."""
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE", raising=False)
    app.config["HUB_PASSPHRASE"] = None
    app.extensions.pop(EXTENSION_KEY, None)


def draft(**changes) -> ItemDraft:
    values = {
        "kind": "news",
        "title": "The new EU directive is in force",
        "body_markdown": "Member states have **two years**.\n\nRead more below.",
        "language": "en",
        "topics": ["eu-legislation"],
        "countries": ["RO", "IT"],
    }
    return ItemDraft(**{**values, **changes})


def enrol_node(org_id="org-atina", node_id="node-atina-1") -> NodeIdentity:
    """A node joins with an invitation and a real key (hub.enrolment, no HTTP); in an app
    context."""
    identity = NodeIdentity.generate(node_id)
    token = create_invitation(db.session, org_id, "test").token
    record = identity.public_record().to_dict()
    redeem_invitation(db.session, hub_identity(), token, record, enrolment_proof(identity, token))
    return identity


def contribution_document(identity, org_id="org-atina", contribution_id="c-1", **item):
    """A contribution as a member node signs it (SPEC.md 4.6)."""
    proposed = {
        "item_kind": "event",
        "title": "Training on identification",
        "body_markdown": "Two days in *Belgrade*.",
        "language": "sr",
        "topics": ["identification"],
        "countries": ["RS"],
        "event": {"starts": int(time.time()) + 86400 * 30},
        **item,
    }
    return sign_contribution(identity, org_id, contribution_id, proposed, int(time.time()))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def signed_documents(item_id):
    query = (
        select(SignedPublication)
        .where(SignedPublication.item_id == item_id)
        .order_by(SignedPublication.revision)
    )
    return [row.document for row in db.session.scalars(query)]


def opened_newsletters(identity):
    """The payloads of the newsletter envelopes queued for ``identity``'s node, opened with
    its key and checked against the hub's."""
    hub_key = hub_record()
    messages = db.session.scalars(
        select(RelayMessage)
        .where(RelayMessage.recipient == identity.node_id)
        .order_by(RelayMessage.seq)
    )
    opened = []
    for message in messages:
        assert message.kind == "newsletter" and message.sender == hub_key.node_id
        envelope = open_envelope(message.wire, identity, lambda _: [hub_key], MemorySeenIds())
        opened.append(envelope.payload)
    return opened


@pytest.fixture
def app(data_dir):
    return make_app(data_dir)


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


# --- what a draft may hold -------------------------------------------------------------------


START = 2_000_000_000  # 2033
TOO_LARGE = b"x" * (MAX_FILE_BYTES + 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "poem"}, "kind"),
        ({"topics": ["eu-legislation", "gossip"]}, "topics"),
        ({"countries": ["XX"]}, "countries"),
        ({"countries": ["ROU"]}, "countries"),
        ({"language": "xx"}, "language"),
        ({"language": "english"}, "language"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": "Bell\x07"}, "title"),
        ({"body_markdown": " \n "}, "body_markdown"),
        ({"body_markdown": "x" * (MAX_BODY_CHARS + 1)}, "body_markdown"),
        ({"body_markdown": "a\x00b"}, "body_markdown"),
        ({"audience": "everyone"}, "audience"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"kind": "event"}, "event_starts"),
        ({"kind": "event", "event": {"starts": START, "ends": START - 1}}, "event_ends"),
        (
            {"kind": "event", "event": {"starts": START, "online_url": "ftp://x"}},
            "event_online_url",
        ),
        ({"event": {"starts": START}}, "event"),
        ({"event": {"place": "Rome"}}, "event"),
        ({"file": ItemFile("a.pdf", "application/pdf", b"%PDF")}, "file"),
        ({"kind": "resource", "file": ItemFile("a.pdf", "application/pdf", TOO_LARGE)}, "file"),
    ],
)
def test_check_draft_names_the_field_at_fault(changes, field):
    with pytest.raises(PublishingError) as refused:
        check_draft(draft(**changes))
    assert refused.value.field == field
    assert refused.value.status == 400 and refused.value.message


def test_a_refusal_is_english_for_the_api_and_in_the_page_s_language_for_the_desk(app):
    with pytest.raises(PublishingError) as refused:
        check_draft(draft(body_markdown="x" * (MAX_BODY_CHARS + 1)))
    assert refused.value.message == "The text is too long: at most 200,000 characters."
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        shown = refused.value.translated()
        assert "200\u202f000" in shown  # the number as French writes it
        assert "characters" not in shown and "200,000" not in shown


def test_check_draft_normalises_what_it_accepts():
    checked = check_draft(
        draft(
            title="  The   title \n",
            body_markdown="one\r\ntwo",
            language="EN",
            topics=["events", "events", " identification "],
            countries=["ro", "RO", " it"],
            kind="resource",
            url=" https://example.org/guide ",
            file=ItemFile("dir/guide.pdf", "not a media type", b"%PDF-1.7"),
        )
    )
    assert checked.title == "The title" and checked.body_markdown == "one\ntwo"
    assert checked.language == "en" and checked.topics == ["events", "identification"]
    assert checked.countries == ["RO", "IT"] and checked.url == "https://example.org/guide"
    assert checked.file.name == "dir_guide.pdf"
    assert checked.file.media_type == "application/octet-stream"


def test_an_event_keeps_its_details():
    event = {"starts": 2_000_000_000, "ends": 2_000_003_600, "place": " Rome ", "online_url": ""}
    checked = check_draft(draft(kind="event", event=event))
    assert checked.event == {"starts": 2_000_000_000, "ends": 2_000_003_600, "place": "Rome"}


# --- the life of an item ---------------------------------------------------------------------


def test_a_new_item_is_a_draft_and_nothing_is_signed(session):
    item = create_item(session, draft(), AUTHOR)
    assert (item.state, item.revision, item.created_by) == ("draft", 0, AUTHOR)
    assert count(SignedPublication) == 0
    [revision] = session.scalars(select(ItemRevision)).all()
    assert (revision.action, revision.saved_by) == ("created", AUTHOR)
    assert revision.snapshot["title"] == item.title and revision.snapshot["state"] == "draft"
    assert count(AuditEntry, AuditEntry.action == "item.created") == 1


def test_every_signed_revision_verifies_and_counts_up(session):
    item = create_item(session, draft(), AUTHOR)
    publish_item(session, item, AUTHOR)
    edit_item(session, item, draft(title="The directive: what changes"), AUTHOR)
    retract_item(session, item, "  Superseded by   a newer item. ", AUTHOR)
    documents = signed_documents(item.id)
    statements = [verify_publication(hub_record(), doc).statement for doc in documents]
    assert [s["revision"] for s in statements] == [1, 2, 3]
    assert [s["status"] for s in statements] == ["published", "published", "retracted"]
    assert [s["title"] for s in statements] == [
        "The new EU directive is in force",
        "The directive: what changes",
        "The directive: what changes",
    ]
    assert statements[2]["reason"] == "Superseded by a newer item."
    assert all(s["item_id"] == item.id and s["audience"] == "public" for s in statements)
    assert all(s["updated"] >= s["published"] for s in statements)
    assert (item.state, item.revision) == ("retracted", 3)
    actions = session.scalars(select(ItemRevision.action).order_by(ItemRevision.id)).all()
    assert actions == ["created", "published", "edited", "retracted"]
    audited = set(session.scalars(select(AuditEntry.action)))
    assert {"item.created", "item.published", "item.edited", "item.retracted"} <= audited


def test_editing_a_draft_signs_nothing(session):
    item = create_item(session, draft(), AUTHOR)
    edit_item(session, item, draft(body_markdown="Better text.", audience="members"), AUTHOR)
    assert (item.state, item.revision, item.audience) == ("draft", 0, "members")
    assert count(SignedPublication) == 0


def test_transitions_that_the_state_does_not_allow_are_refused_with_409(session):
    item = create_item(session, draft(), AUTHOR)
    with pytest.raises(PublishingError) as refused:
        unschedule_item(session, item, AUTHOR)
    assert refused.value.status == 409
    with pytest.raises(PublishingError) as refused:
        retract_item(session, item, "why", AUTHOR)
    assert refused.value.status == 409
    publish_item(session, item, AUTHOR)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for step in (
        lambda: publish_item(session, item, AUTHOR),
        lambda: schedule_item(session, item, later, AUTHOR),
        lambda: unschedule_item(session, item, AUTHOR),
    ):
        with pytest.raises(PublishingError) as refused:
            step()
        assert refused.value.status == 409
    retract_item(session, item, "Wrong figures.", AUTHOR)
    for step in (
        lambda: publish_item(session, item, AUTHOR),
        lambda: retract_item(session, item, "again", AUTHOR),
        lambda: edit_item(session, item, draft(), AUTHOR),
        lambda: schedule_item(session, item, later, AUTHOR),
    ):
        with pytest.raises(PublishingError) as refused:
            step()
        assert refused.value.status == 409
    assert item.revision == 2 and count(SignedPublication) == 2


def test_retracting_needs_a_reason(session):
    item = create_item(session, draft(), AUTHOR)
    publish_item(session, item, AUTHOR)
    for reason in ("", "   ", "x" * 2001):
        with pytest.raises(PublishingError) as refused:
            retract_item(session, item, reason, AUTHOR)
        assert refused.value.field == "reason"
        session.rollback()
    assert (item.state, item.revision) == ("published", 1)


def test_the_audience_cannot_change_after_publication(session):
    item = create_item(session, draft(), AUTHOR)
    publish_item(session, item, AUTHOR)
    with pytest.raises(PublishingError) as refused:
        edit_item(session, item, draft(audience="members"), AUTHOR)
    assert (refused.value.field, refused.value.status) == ("audience", 409)
    assert (item.audience, item.revision) == ("public", 1)


def test_a_resource_keeps_its_file_when_edited_without_one(session):
    pdf = ItemFile("guide.pdf", "application/pdf", b"%PDF-1.7 guide")
    item = create_item(session, draft(kind="resource", file=pdf), AUTHOR)
    publish_item(session, item, AUTHOR)
    edit_item(session, item, draft(kind="resource", title="Guide, 2nd edition"), AUTHOR)
    assert item.file_data == b"%PDF-1.7 guide"
    statement = signed_documents(item.id)[-1]["statement"]
    assert statement["file"]["name"] == "guide.pdf" and statement["file"]["size"] == 14


# --- scheduling ------------------------------------------------------------------------------


def make_due(item):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    db.session.execute(
        update(PublicationItem).where(PublicationItem.id == item.id).values(publish_at=past)
    )
    db.session.commit()


def test_a_schedule_time_must_be_in_the_future_and_zoned(session):
    item = create_item(session, draft(), AUTHOR)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    for at in (past, dt.datetime(2099, 1, 1)):
        with pytest.raises(PublishingError) as refused:
            schedule_item(session, item, at, AUTHOR)
        assert refused.value.field == "publish_at"
    assert item.state == "draft"


def test_scheduled_items_are_released_only_when_due_and_once(session):
    item = create_item(session, draft(), AUTHOR)
    other = create_item(session, draft(title="Later"), AUTHOR)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    schedule_item(session, item, soon, AUTHOR)
    schedule_item(session, other, soon, AUTHOR)
    assert release_due(session) == 0
    assert item.state == "scheduled" and count(SignedPublication) == 0
    make_due(item)
    assert release_due(session) == 1
    assert release_due(session) == 0
    session.refresh(item)
    assert (item.state, item.revision, item.publish_at) == ("published", 1, None)
    assert other.state == "scheduled"
    [document] = signed_documents(item.id)
    assert verify_publication(hub_record(), document).revision == 1
    assert session.scalars(select(ItemRevision.saved_by).order_by(ItemRevision.id)).all()[-1] == (
        "schedule"
    )


def test_unscheduling_makes_a_draft_that_is_not_released(session):
    item = create_item(session, draft(), AUTHOR)
    schedule_item(session, item, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), AUTHOR)
    make_due(item)
    unschedule_item(session, item, AUTHOR)
    assert (item.state, item.publish_at) == ("draft", None)
    assert release_due(session) == 0


def test_a_schedule_time_in_another_zone_keeps_its_instant(session):
    # SQLite keeps no zone: 14:00+02:00 must be stored as 12:00 (UTC), not as 14:00.
    item = create_item(session, draft(), AUTHOR)
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    schedule_item(session, item, at.astimezone(dt.timezone(dt.timedelta(hours=2))), AUTHOR)
    session.expire_all()
    stored = session.get(PublicationItem, item.id).publish_at
    assert stored.replace(tzinfo=stored.tzinfo or dt.UTC) == at


# --- members-only delivery -------------------------------------------------------------------


def test_members_only_items_go_to_every_active_node_and_open_to_the_signed_document(session):
    atina = enrol_node("org-atina", "node-atina-1")
    free = enrol_node("org-free", "node-free-1")
    revoked = enrol_node("org-free", "node-free-2")
    revoke_node(session, hub_identity(), revoked.node_id, "test")
    public = create_item(session, draft(), AUTHOR)
    publish_item(session, public, AUTHOR)
    assert count(RelayMessage) == 0  # public items are fetched, never pushed
    item = create_item(session, draft(audience="members", kind="newsletter"), AUTHOR)
    publish_item(session, item, AUTHOR)
    [document] = signed_documents(item.id)
    assert count(RelayMessage) == 2
    for identity in (atina, free):
        assert opened_newsletters(identity) == [document]
        assert verify_publication(hub_record(), document).statement["audience"] == "members"
    assert opened_newsletters(revoked) == []


def test_members_receive_every_new_revision_and_the_retraction(session):
    node = enrol_node()
    item = create_item(session, draft(audience="members"), AUTHOR)
    publish_item(session, item, AUTHOR)
    edit_item(session, item, draft(audience="members", title="Corrected"), AUTHOR)
    retract_item(session, item, "Sent by mistake.", AUTHOR)
    received = opened_newsletters(node)
    assert received == signed_documents(item.id)
    assert [doc["statement"]["status"] for doc in received] == [
        "published",
        "published",
        "retracted",
    ]


def test_a_node_enrolled_later_receives_the_members_items_of_the_last_90_days(session):
    recent = create_item(session, draft(audience="members", title="Recent"), AUTHOR)
    old = create_item(session, draft(audience="members", title="Old"), AUTHOR)
    retracted = create_item(session, draft(audience="members", title="Withdrawn"), AUTHOR)
    public = create_item(session, draft(title="Public"), AUTHOR)
    for item in (recent, old, retracted, public):
        publish_item(session, item, AUTHOR)
    edit_item(session, recent, draft(audience="members", title="Recent, revised"), AUTHOR)
    retract_item(session, retracted, "Wrong.", AUTHOR)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
    session.execute(
        update(PublicationItem).where(PublicationItem.id == old.id).values(published_at=long_ago)
    )
    session.commit()
    node = enrol_node()
    assert opened_newsletters(node) == []  # enrolling alone delivers nothing
    node_row = session.get(Node, node.node_id)
    assert deliver_backlog(session, hub_identity(), node_row) == 1
    [document] = opened_newsletters(node)
    assert document == signed_documents(recent.id)[-1]
    assert document["statement"]["revision"] == 2


def test_enrolling_through_the_api_delivers_the_backlog(app):
    with app.app_context():
        item = create_item(db.session, draft(audience="members"), AUTHOR)
        publish_item(db.session, item, AUTHOR)
        item_id = item.id
        token = create_invitation(db.session, "org-atina", "test").token
    identity = NodeIdentity.generate("node-atina-7")
    response = app.test_client().post(
        "/api/v1/enrol",
        json={
            "invitation": token,
            "key_record": identity.public_record().to_dict(),
            "proof": enrolment_proof(identity, token),
        },
    )
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        assert [doc["statement"]["item_id"] for doc in opened_newsletters(identity)] == [item_id]


# --- a locked hub key ------------------------------------------------------------------------


def test_a_locked_key_publishes_nothing_and_keeps_the_draft(app, session, monkeypatch):
    item = create_item(session, draft(), AUTHOR)
    lock_hub_key(app, monkeypatch)
    with pytest.raises(ProblemError) as locked:
        publish_item(session, item, AUTHOR)
    assert locked.value.status == 503
    session.rollback()
    assert session.get(PublicationItem, item.id).state == "draft"
    assert count(SignedPublication) == 0


@pytest.mark.parametrize("step", ["retract", "edit"])
def test_a_locked_key_leaves_a_published_item_untouched(app, session, monkeypatch, step):
    """Even if something else in the same session commits afterwards, no unsigned change to a
    published item may be stored."""
    item = create_item(session, draft(), AUTHOR)
    publish_item(session, item, AUTHOR)
    lock_hub_key(app, monkeypatch)
    with pytest.raises(ProblemError):
        if step == "retract":
            retract_item(session, item, "Wrong.", AUTHOR)
        else:
            edit_item(session, item, draft(title="Changed"), AUTHOR)
    session.commit()  # as any later write in the same request would
    session.expire_all()
    stored = session.get(PublicationItem, item.id)
    assert (stored.state, stored.title) == ("published", "The new EU directive is in force")


# --- members' contributions ------------------------------------------------------------------


def test_a_contribution_is_queued_once(session):
    node = enrol_node()
    document = contribution_document(node)
    queued, created = receive_contribution(session, session.get(Node, node.node_id), document)
    again, created_again = receive_contribution(session, session.get(Node, node.node_id), document)
    assert created and not created_again and again.id == queued.id
    assert pending_contributions(session) == [queued]
    assert queued.state == "pending" and queued.organization_id == "org-atina"
    assert count(AuditEntry, AuditEntry.action == "contribution.received") == 1


@pytest.mark.parametrize(
    ("org_id", "changes", "field", "status"),
    [
        ("org-free", {}, "organisation_id", 403),
        ("org-atina", {"topics": ["gossip"]}, "topics", 400),
        ("org-atina", {"countries": ["XX"]}, "countries", 400),
    ],
)
def test_contributions_that_break_the_rules_are_refused(session, org_id, changes, field, status):
    node = enrol_node()
    document = contribution_document(node, org_id, **changes)
    with pytest.raises(PublishingError) as refused:
        receive_contribution(session, session.get(Node, node.node_id), document)
    assert (refused.value.field, refused.value.status) == (field, status)
    assert count(MemberContribution) == 0


def test_an_old_or_forged_contribution_is_refused(session):
    node, other = enrol_node(), enrol_node("org-free", "node-free-1")
    document = contribution_document(node)
    with pytest.raises(PublishingError) as refused:
        receive_contribution(session, session.get(Node, node.node_id), document, time.time() + 3600)
    assert refused.value.field == "submitted_at"
    with pytest.raises(PublishingError) as refused:
        receive_contribution(session, session.get(Node, other.node_id), document)
    assert refused.value.field == "document"
    assert count(MemberContribution) == 0


def test_approving_publishes_the_item_credited_to_the_organisation(session):
    node = enrol_node()
    queued, _ = receive_contribution(
        session, session.get(Node, node.node_id), contribution_document(node)
    )
    approve_contribution(session, queued, AUTHOR, "members")
    item = session.get(PublicationItem, queued.item_id)
    assert (item.state, item.audience, item.kind) == ("published", "members", "event")
    assert item.credit == {"organisation_id": "org-atina", "organisation_name": "Atina"}
    statement = verify_publication(hub_record(), signed_documents(item.id)[0]).statement
    assert statement["credit"]["organisation_name"] == "Atina"
    assert statement["title"] == "Training on identification"
    assert (queued.state, queued.decided_by) == ("approved", AUTHOR)
    assert contribution_status(queued)["item_id"] == item.id
    assert pending_contributions(session) == []
    with pytest.raises(PublishingError) as refused:
        approve_contribution(session, queued, AUTHOR)
    assert refused.value.status == 409


def test_rejecting_needs_a_reason_the_member_sees(session):
    node = enrol_node()
    queued, _ = receive_contribution(
        session, session.get(Node, node.node_id), contribution_document(node)
    )
    with pytest.raises(PublishingError) as refused:
        reject_contribution(session, queued, "  ", AUTHOR)
    assert refused.value.field == "reason"
    reject_contribution(session, queued, "Not about trafficking.", AUTHOR)
    assert contribution_status(queued) == {
        "contribution_id": "c-1",
        "state": "rejected",
        "title": "Training on identification",
        "reason": "Not about trafficking.",
    }
    with pytest.raises(PublishingError) as refused:
        reject_contribution(session, queued, "again", AUTHOR)
    assert refused.value.status == 409
    assert count(PublicationItem) == 0


def test_approving_with_a_locked_key_changes_nothing(app, session, monkeypatch):
    node = enrol_node()
    queued, _ = receive_contribution(
        session, session.get(Node, node.node_id), contribution_document(node)
    )
    lock_hub_key(app, monkeypatch)
    with pytest.raises(ProblemError):
        approve_contribution(session, queued, AUTHOR)
    assert queued.state == "pending" and count(PublicationItem) == 0
