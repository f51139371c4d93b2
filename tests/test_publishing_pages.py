"""The secretariat's publishing desk (/admin/publishing) over the Flask test client: who may
use it, CSRF, writing, previewing, publishing, scheduling, editing, retracting, the history,
escaping, size limits, a locked hub key, and the moderation of members' contributions."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select, update

from hub.contributions import receive_contribution
from hub.extensions import db
from hub.identity import hub_record
from hub.models import AdminUser, MemberContribution, Node, PublicationItem, SignedPublication
from hub.publishing import MAX_BODY_CHARS, MAX_FILE_BYTES
from ponte.accounts import create_user
from ponte.i18n import localised_moment
from protocol.publication import verify_publication
from tests.test_membership_pages import ADMIN, PASSWORD, csrf_token, text
from tests.test_publishing import (
    contribution_document,
    count,
    enrol_node,
    lock_hub_key,
    make_app,
    signed_documents,
)

pytestmark = pytest.mark.usefixtures("fast_hashing")

OBSERVER = "olga@secretariat.example"
SCRIPT = "<script>alert(1)</script>"
FORM = {
    "kind": "news",
    "title": "New EU directive",
    "body_markdown": "Member states have **two years**.\n\nSee the [text](https://eur-lex.europa.eu).",
    "language": "en",
    "topics": ["eu-legislation", "identification"],
    "countries": "ro, IT  DE",
    "audience": "public",
}


@pytest.fixture
def app(data_dir):
    app = make_app(data_dir)
    with app.app_context():
        create_user(db.session, AdminUser, ADMIN, PASSWORD)
        create_user(db.session, AdminUser, OBSERVER, PASSWORD)
        # A role other than the secretariat's, as a later kind of account would have.
        db.session.execute(
            update(AdminUser).where(AdminUser.email == OBSERVER).values(role="observer")
        )
        db.session.commit()
    return app


def sign_in(app, email=ADMIN):
    client = app.test_client()
    data = {"csrf_token": csrf_token(client, "/admin/login"), "email": email, "password": PASSWORD}
    assert client.post("/admin/login", data=data).status_code == 302
    client.token = csrf_token(client, "/admin/publishing/")  # the sign-out form has one
    return client


@pytest.fixture
def client(app):
    return sign_in(app)


def post(client, path, **data):
    return client.post(path, data={"csrf_token": client.token, **data})


def write(client, action="save", **changes):
    """The new item form as a browser sends it (multipart: it has a file field)."""
    data = {"csrf_token": client.token, **FORM, "action": action, **changes}
    return client.post("/admin/publishing/new", data=data, content_type="multipart/form-data")


def items(app):
    with app.app_context():
        return db.session.scalars(select(PublicationItem)).all()


def the_item(app):
    [item] = items(app)
    return item


def error_next_to(page, field):
    """The message shown right after the field's control (or its group)."""
    found = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', page)
    assert found, f"no error shown for {field}"
    return found.group(1)


def location_of(response):
    assert response.status_code == 302, text(response)[:2000]
    return response.headers["Location"]


def published_item(app, client, **changes):
    location = location_of(write(client, "publish", **changes))
    return the_item(app), location.split("?")[0]


# --- who may use it --------------------------------------------------------------------------

PAGES = ["/admin/publishing/", "/admin/publishing/new", "/admin/publishing/contributions"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_anonymous_posts_change_nothing(app):
    anonymous = app.test_client()
    token = csrf_token(anonymous, "/admin/login")
    response = anonymous.post(
        "/admin/publishing/new", data={"csrf_token": token, **FORM, "action": "publish"}
    )
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert items(app) == []


@pytest.mark.parametrize("path", PAGES)
def test_other_roles_may_not_use_the_desk(app, path):
    observer = sign_in(app, OBSERVER)
    assert observer.get(path).status_code == 403
    response = post(observer, "/admin/publishing/new", **FORM, action="save")
    assert response.status_code == 403 and items(app) == []


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_private_and_work_for_the_secretariat(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in text(response)


def test_the_landing_page_and_the_navigation_link_the_desk(client):
    page = text(client.get("/admin/"))
    for path in PAGES:
        assert f'href="{path}"' in page


def test_posts_without_the_csrf_token_are_refused(app, client):
    _, path = published_item(app, client)
    with app.app_context():
        node = enrol_node()
        receive_contribution(
            db.session, db.session.get(Node, node.node_id), contribution_document(node)
        )
        [contribution] = db.session.scalars(select(MemberContribution)).all()
    for target, data in [
        ("/admin/publishing/new", {**FORM, "action": "save"}),
        (f"{path}/edit", {**FORM, "title": "Changed", "action": "save"}),
        (f"{path}/retract", {"reason": "Wrong."}),
        (f"/admin/publishing/contributions/{contribution.id}/approve", {}),
        (f"/admin/publishing/contributions/{contribution.id}/reject", {"reason": "No."}),
    ]:
        response = client.post(target, data=data)
        assert response.status_code == 400
        assert "This form had expired" in text(response)
    assert [(row.title, row.state) for row in items(app)] == [("New EU directive", "published")]
    with app.app_context():
        assert db.session.get(MemberContribution, contribution.id).state == "pending"


def test_unknown_items_are_404(client):
    assert client.get("/admin/publishing/no-such-item").status_code == 404
    assert client.get("/admin/publishing/no-such-item/edit").status_code == 404
    assert post(client, "/admin/publishing/no-such-item/publish").status_code == 404
    assert post(client, "/admin/publishing/contributions/999/approve").status_code == 404


# --- writing ---------------------------------------------------------------------------------


def test_the_form_offers_every_choice_and_says_utc(client):
    page = text(client.get("/admin/publishing/new"))
    for label in ("Call for partners", "Policy update", "Resource", "Newsletter"):
        assert label in page
    for group in ("The phenomenon", "Policy", "Practice"):
        assert f"<legend>{group}</legend>" in page
    assert page.count('type="checkbox" name="topics"') == 12
    assert '<option value="ti">Tigrinya (ti)</option>' in page
    assert "Starts (UTC)" in page and "Publish at (UTC)" in page
    assert 'type="datetime-local"' in page and 'enctype="multipart/form-data"' in page
    for button in ("Preview", "Save draft", "Publish now", "Schedule"):
        assert f">{button}</button>" in page


def test_preview_renders_the_text_and_saves_nothing(app, client):
    response = write(client, "preview", body_markdown="# Heading\n\nSome *emphasis*.")
    page = text(response)
    assert response.status_code == 200
    assert "<h1>Heading</h1>" in page and "<em>emphasis</em>" in page
    assert "Preview" in page and "(not saved)" in page
    assert 'value="New EU directive"' in page  # the form comes back filled in
    assert items(app) == []


def test_preview_shows_what_would_be_refused(app, client):
    page = text(write(client, "preview", countries="XX"))
    assert "Unknown country code" in error_next_to(page, "countries")
    assert items(app) == []


def test_saving_a_draft(app, client):
    location = location_of(write(client, "save", language="", language_other="ku"))
    page = text(client.get(location))
    assert "The draft is saved" in page and "draft" in page
    item = the_item(app)
    assert (item.state, item.kind, item.created_by) == ("draft", "news", ADMIN)
    assert (item.language, item.countries) == ("ku", ["RO", "IT", "DE"])
    assert item.topics == ["eu-legislation", "identification"]
    assert count_signed(app) == 0


def count_signed(app):
    with app.app_context():
        return count(SignedPublication)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "cannot be empty"),
        ({"kind": "poem"}, "kind", "Choose a kind"),
        ({"countries": "RO XX"}, "countries", "Unknown country code"),
        ({"topics": ["gossip"]}, "topics", "Unknown topic"),
        ({"language": "", "language_other": "xx"}, "language", "two-letter"),
        ({"url": "javascript:alert(1)"}, "url", "web address"),
        ({"event_starts": "2031-01-01T10:00"}, "event", "Only an event"),
        ({"kind": "event"}, "event_starts", "starts"),
        (
            {"kind": "event", "event_starts": "2031-01-02T10:00", "event_ends": "2031-01-01T10:00"},
            "event_ends",
            "cannot end before",
        ),
        ({"kind": "event", "event_starts": "next tuesday"}, "event_starts", "2030-06-30 14:00"),
        ({"body_markdown": "x" * (MAX_BODY_CHARS + 1)}, "body_markdown", "too long"),
    ],
)
def test_errors_are_shown_next_to_the_field_and_keep_what_was_typed(
    app, client, changes, field, message
):
    response = write(client, "publish", **changes)
    page = text(response)
    assert response.status_code == 400
    assert message in error_next_to(page, field)
    assert "Nothing was saved" in page
    if "body_markdown" not in changes:
        assert "Member states have **two years**." in page
    if "title" not in changes:
        assert 'value="New EU directive"' in page
    if "topics" not in changes:
        assert 'value="eu-legislation" checked' in page
    assert items(app) == []


def test_a_long_body_in_a_script_with_three_bytes_a_character_is_accepted(app, client):
    body = "ሰ" * (MAX_BODY_CHARS - 1000)  # ~600 kB in UTF-8: over Werkzeug's default limit
    location_of(write(client, "save", body_markdown=body, language="ti"))
    assert the_item(app).body_markdown == body


def test_a_10_mb_post_gets_the_too_large_page(app, client):
    response = write(client, "save", body_markdown="x" * (10 * 1024 * 1024))
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "too large" in text(response) and "3 MiB" in text(response)
    assert items(app) == []


def test_a_resource_carries_a_file_of_at_most_3_mib(app, client):
    too_big = io.BytesIO(b"x" * (MAX_FILE_BYTES + 1))
    response = write(client, kind="resource", file=(too_big, "big.pdf", "application/pdf"))
    assert response.status_code == 400
    assert "too large" in error_next_to(text(response), "file")
    news_file = io.BytesIO(b"%PDF-1.7")
    response = write(client, kind="news", file=(news_file, "a.pdf", "application/pdf"))
    assert "Only a resource" in error_next_to(text(response), "file")
    assert items(app) == []
    guide = io.BytesIO(b"%PDF-1.7 guide")
    location_of(write(client, kind="resource", file=(guide, "guide.pdf", "application/pdf")))
    with app.app_context():
        item = db.session.scalars(select(PublicationItem)).one()
        assert (item.file_name, item.file_media_type) == ("guide.pdf", "application/pdf")
        assert item.file_data == b"%PDF-1.7 guide"


# --- publishing, scheduling ------------------------------------------------------------------


def test_publishing_now_signs_the_item(app, client):
    item, path = published_item(app, client, audience="members")
    assert "Published: the item is signed" in text(client.get(f"{path}?notice=published"))
    assert (item.state, item.audience, item.revision) == ("published", "members", 1)
    with app.app_context():
        [document] = signed_documents(item.id)
        statement = verify_publication(hub_record(), document).statement
    assert statement["title"] == "New EU directive" and statement["countries"] == ["RO", "IT", "DE"]
    page = text(client.get(path))
    assert "Edit and republish" in page and "Retract…" in page
    assert "Publish now</button>" not in page


def test_scheduling_needs_a_future_time(app, client):
    response = write(client, "schedule", publish_at="2001-01-01T10:00")
    assert response.status_code == 400
    assert "in the future" in error_next_to(text(response), "publish_at")
    response = write(client, "schedule")
    assert "Choose the date and time" in error_next_to(text(response), "publish_at")
    assert items(app) == []


def test_scheduling_then_unscheduling_then_publishing(app, client):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    location = location_of(write(client, "schedule", publish_at=f"{later:%Y-%m-%dT%H:%M}"))
    path = location.split("?")[0]
    page = text(client.get(location))
    assert "Scheduled: it will be published" in page
    with app.test_request_context():  # English, as the page is without Accept-Language
        assert f"scheduled for {localised_moment(later)}" in page
    item = the_item(app)
    assert item.state == "scheduled"
    assert item.publish_at.replace(tzinfo=dt.UTC) == later
    listed = text(client.get("/admin/publishing/?state=scheduled"))
    assert "New EU directive" in listed
    # The filter's labels come capitalised from the catalog (no "| capitalize").
    assert "<strong>Scheduled</strong>" in listed and ">Drafts</a>" in listed
    assert "New EU directive" not in text(client.get("/admin/publishing/?state=published"))
    location_of(post(client, f"{path}/unschedule"))
    assert the_item(app).state == "draft"
    refused = post(client, f"{path}/schedule", publish_at="2001-01-01T10:00")
    assert refused.status_code == 400 and "in the future" in text(refused)
    location_of(post(client, f"{path}/publish"))
    assert (the_item(app).state, the_item(app).revision) == ("published", 1)
    again = post(client, f"{path}/publish")
    assert again.status_code == 409 and "already published" in text(again)


# --- editing and the history -----------------------------------------------------------------


def test_editing_a_published_item_republishes_it(app, client):
    item, path = published_item(app, client)
    form = text(client.get(f"{path}/edit"))
    assert ">Save and republish</button>" in form and "Publish now" not in form
    assert 'value="New EU directive"' in form and "RO, IT, DE" in form
    changed = {
        **FORM,
        "title": "New EU directive: the dates",
        "body_markdown": FORM["body_markdown"] + "\n\nTransposition by 2027.",
        "action": "save",
    }
    location = location_of(post(client, f"{path}/edit", **changed))
    assert "republished" in text(client.get(location))
    with app.app_context():
        documents = signed_documents(item.id)
        statements = [verify_publication(hub_record(), doc).statement for doc in documents]
    assert [s["revision"] for s in statements] == [1, 2]
    assert statements[1]["title"] == "New EU directive: the dates"


def test_changing_the_audience_after_publication_is_refused_on_the_form(app, client):
    _, path = published_item(app, client)
    response = post(client, f"{path}/edit", **{**FORM, "audience": "members", "action": "save"})
    assert response.status_code == 409
    assert "cannot change" in error_next_to(text(response), "audience")
    assert the_item(app).audience == "public"


def test_the_history_shows_every_revision_and_a_diff(app, client):
    _, path = published_item(app, client, body_markdown="line one\nline two\n")
    edited = {**FORM, "body_markdown": f"line one\nline 2 {SCRIPT}\n", "action": "save"}
    location_of(post(client, f"{path}/edit", **edited))
    page = text(client.get(path))
    rows = re.findall(r'href="(/admin/publishing/[^"]+/revisions/\d+)"', page)
    assert len(rows) == 3  # created, published, edited (newest first)
    assert [what in page for what in ("Created", "Published", "Edited")] == [True] * 3
    revision = text(client.get(rows[0]))
    assert "<del>-line two</del>" in revision
    assert "<ins>+line 2 &lt;script&gt;alert(1)&lt;/script&gt;</ins>" in revision
    assert SCRIPT not in revision
    first = text(client.get(rows[-1]))
    assert "This is the first version" in first
    assert client.get(rows[0].replace("/revisions/", "/revisions/9")).status_code == 404


def test_script_tags_are_escaped_everywhere(app, client):
    _, path = published_item(app, client, title=f"Alert {SCRIPT}", body_markdown=SCRIPT)
    pages = [
        client.get("/admin/publishing/"),
        client.get(path),
        client.get(f"{path}/edit"),
        client.get(f"{path}/retract"),
        write(client, "preview", title=SCRIPT, body_markdown=SCRIPT),
        client.get("/admin/audit"),
    ]
    for response in pages:
        assert response.status_code == 200
        assert "<script" not in text(response)
    assert "&lt;script&gt;" in text(pages[1])


# --- retracting ------------------------------------------------------------------------------


def test_retracting_asks_for_a_reason_first(app, client):
    item, path = published_item(app, client)
    confirm = text(client.get(f"{path}/retract"))
    assert "cannot be undone" in confirm and 'method="post"' in confirm
    assert the_item(app).state == "published"  # looking changes nothing
    response = post(client, f"{path}/retract", reason="   ")
    assert response.status_code == 400
    assert "Say why" in error_next_to(text(response), "reason")
    assert the_item(app).state == "published"
    location = location_of(post(client, f"{path}/retract", reason="The figures were wrong."))
    page = text(client.get(location))
    assert "Retracted:" in page and "The figures were wrong." in page
    assert "Edit" not in page.split("<h2>What you can do</h2>")[1].split("<h2>")[0]
    with app.app_context():
        last = verify_publication(hub_record(), signed_documents(item.id)[-1]).statement
    assert (last["status"], last["reason"]) == ("retracted", "The figures were wrong.")
    assert client.get(f"{path}/edit").status_code == 409


# --- a locked hub key ------------------------------------------------------------------------


def test_publishing_with_a_locked_key_keeps_the_draft_and_says_so(app, client, monkeypatch):
    lock_hub_key(app, monkeypatch)
    location = location_of(write(client, "publish"))
    page = text(client.get(location))
    assert "key is locked" in page and "saved as a draft" in page
    assert the_item(app).state == "draft"
    path = location.split("?")[0]
    response = post(client, f"{path}/publish")
    assert response.status_code == 503 and "key is locked" in text(response)
    assert the_item(app).state == "draft" and count_signed(app) == 0
    assert "locked now" in text(client.get("/admin/publishing/"))


def test_a_locked_key_changes_no_published_item(app, client, monkeypatch):
    _, path = published_item(app, client)
    lock_hub_key(app, monkeypatch)
    edited = {**FORM, "title": "Changed while locked", "action": "save"}
    response = post(client, f"{path}/edit", **edited)
    assert response.status_code == 503
    assert "key is locked" in text(response) and 'value="Changed while locked"' in text(response)
    response = post(client, f"{path}/retract", reason="Outdated figures.")
    assert response.status_code == 503 and "Outdated figures." in text(response)
    item = the_item(app)
    assert (item.state, item.title, item.revision) == ("published", "New EU directive", 1)


# --- moderation ------------------------------------------------------------------------------


def queue_contributions(app, *titles):
    with app.app_context():
        node = enrol_node()
        for number, title in enumerate(titles):
            document = contribution_document(node, contribution_id=f"c-{number}", title=title)
            receive_contribution(db.session, db.session.get(Node, node.node_id), document)
        return list(
            db.session.scalars(select(MemberContribution.id).order_by(MemberContribution.id))
        )


def test_the_desk_links_the_queue_with_its_count(app, client):
    queue_contributions(app, "One", "Two")
    assert "Members' contributions to moderate: 2" in text(client.get("/admin/publishing/"))


def test_the_queue_shows_each_contribution_sanitised(app, client):
    with app.app_context():
        node = enrol_node()
        document = contribution_document(
            node, title=f"Workshop {SCRIPT}", body_markdown=f"*Two days*\n\n{SCRIPT}"
        )
        receive_contribution(db.session, db.session.get(Node, node.node_id), document)
    page = text(client.get("/admin/publishing/contributions"))
    assert "<em>Two days</em>" in page and "<script" not in page
    assert "Workshop &lt;script&gt;" in page
    assert "Atina" in page and "node-atina-1" in page and "Event" in page
    assert 'name="audience" value="public" checked' in page


def test_approving_and_rejecting_from_the_queue(app, client):
    approved_id, rejected_id = queue_contributions(app, "To approve", "To reject")
    location = location_of(
        post(client, f"/admin/publishing/contributions/{approved_id}/approve", audience="members")
    )
    assert "Approved" in text(client.get(location))
    response = post(client, f"/admin/publishing/contributions/{rejected_id}/reject", reason=" ")
    assert response.status_code == 400 and "Tell the member why" in text(response)
    reason = "Please add the contact of the organisers."
    location_of(
        post(client, f"/admin/publishing/contributions/{rejected_id}/reject", reason=reason)
    )
    page = text(client.get("/admin/publishing/contributions"))
    assert "Nothing is waiting." in page
    assert f"rejected: {reason}" in page and "approved: <a href" in page
    item = the_item(app)
    assert (item.title, item.state, item.audience) == ("To approve", "published", "members")
    assert item.credit["organisation_name"] == "Atina"
    again = post(client, f"/admin/publishing/contributions/{approved_id}/approve")
    assert again.status_code == 409


def test_approving_with_a_locked_key_says_so_and_changes_nothing(app, client, monkeypatch):
    [waiting] = queue_contributions(app, "Waiting")
    lock_hub_key(app, monkeypatch)
    response = post(client, f"/admin/publishing/contributions/{waiting}/approve")
    assert response.status_code == 503 and "key is locked" in text(response)
    assert items(app) == []


def test_the_audit_log_names_the_publishing_actions(app, client):
    [contribution] = queue_contributions(app, "Proposed")
    _, path = published_item(app, client)
    post(client, f"{path}/retract", reason="Wrong.")
    post(client, f"/admin/publishing/contributions/{contribution}/reject", reason="No.")
    page = text(client.get("/admin/audit"))
    for label in (
        "Wrote a new item",
        "Published an item",
        "Retracted an item",
        "A member proposed an item",
        "Rejected a member's item",  # labels are trusted text from the catalog
    ):
        assert label in page
