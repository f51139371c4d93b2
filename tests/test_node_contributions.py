"""A node admin proposes items from the node's page; the secretariat approves or rejects them
on the live hub; the node shows what became of each after a sync."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub.contributions import approve_contribution, reject_contribution
from hub.extensions import db as hub_db
from hub.models import MemberContribution
from node.extensions import db
from node.hub_client import HubClient
from node.models import NewsContribution, NewsItem
from tests.conftest import free_port
from tests.test_enrolment import hub
from tests.test_node_reader import add_account, cheap_hashing, reader_node
from tests.test_referral_pages import csrf, page, signed_in

__all__ = ["cheap_hashing", "hub"]

ADMIN, CASEWORKER = "admin@payoke.example", "case@payoke.example"


@pytest.fixture(scope="module")
def member(hub, tmp_path_factory, cheap_hashing):
    node = reader_node(hub, tmp_path_factory, "Payoke", "contributor")
    add_account(node, ADMIN, "admin")
    add_account(node, CASEWORKER, "caseworker")
    return node


def propose(browser, title: str, **fields):
    token = csrf(page(browser, "/news/contribute"))
    data = {
        "csrf_token": token,
        "action": "send",
        "kind": "news",
        "title": title,
        "body": f"Why **{title}** matters.",
        "language": "en",
        "topics": ["identification"],
        "countries": "BE, nl",
        **fields,
    }
    return browser.post("/news/contribute", data=data)


def queued(hub, title: str) -> MemberContribution:
    with hub.app.app_context():
        for contribution in hub_db.session.scalars(select(MemberContribution)):
            if contribution.item["title"] == title:
                hub_db.session.expunge(contribution)
                return contribution
    raise AssertionError(f"{title} is not on the hub")


def decide(hub, title: str, reason: str | None = None) -> None:
    with hub.app.app_context():
        contribution = hub_db.session.get(MemberContribution, queued(hub, title).id)
        if reason is None:
            approve_contribution(hub_db.session, contribution, "secretariat@platform.example")
        else:
            reject_contribution(
                hub_db.session, contribution, reason, "secretariat@platform.example"
            )


def row(html: str, title: str) -> str:
    match = re.search(rf"<tr>\s*<td>{re.escape(title)}</td>.*?</tr>", html, re.DOTALL)
    assert match, f"{title} is not listed"
    return match.group(0)


def test_a_proposal_goes_to_the_hub_and_comes_back_approved(member, hub):
    browser = signed_in(member, ADMIN)
    response = propose(browser, "Joint identification guidelines")
    assert response.status_code == 302, response.get_data(as_text=True)
    listed = page(browser, "/news/contributions")
    assert "Waiting for the secretariat" in row(listed, "Joint identification guidelines")
    on_hub = queued(hub, "Joint identification guidelines")
    assert on_hub.state == "pending" and on_hub.node_id == member.keys.enrolment.node_id
    assert on_hub.item["countries"] == ["BE", "NL"] and on_hub.item["topics"] == ["identification"]
    decide(hub, "Joint identification guidelines")
    member.sync()
    shown = row(page(browser, "/news/contributions"), "Joint identification guidelines")
    assert "Published" in shown and "Read the published item" in shown
    with member.app.app_context():  # the published item itself arrived, credited to us
        item = db.session.scalars(
            select(NewsItem).where(NewsItem.title == "Joint identification guidelines")
        ).one()
        item_id = item.item_id
    html = page(browser, f"/news/{item_id}")
    assert "Contributed by Payoke" in html and "Why <strong>Joint identification" in html


def test_a_rejected_proposal_shows_the_secretariats_reason(member, hub):
    browser = signed_in(member, ADMIN)
    assert propose(browser, "An advert for our gala").status_code == 302
    decide(hub, "An advert for our gala", reason="Fundraising is out of scope for the newsletter.")
    member.sync()
    shown = row(page(browser, "/news/contributions"), "An advert for our gala")
    assert "Not accepted" in shown
    assert "Reason: Fundraising is out of scope for the newsletter." in shown


def test_an_event_proposal_carries_its_utc_times(member, hub):
    browser = signed_in(member, ADMIN)
    missing = propose(browser, "Roundtable in Antwerp", kind="event")
    assert missing.status_code == 400
    assert "needs the date and time it starts" in missing.get_data(as_text=True)
    backwards = propose(
        browser,
        "Roundtable in Antwerp",
        kind="event",
        event_starts="2031-03-05T10:00",
        event_ends="2031-03-05T09:00",
    )
    assert "cannot end before it starts" in backwards.get_data(as_text=True)
    sent = propose(
        browser,
        "Roundtable in Antwerp",
        kind="event",
        event_starts="2031-03-05T10:00",
        event_ends="2031-03-05T16:30",
        event_place="Antwerp",
    )
    assert sent.status_code == 302
    event = queued(hub, "Roundtable in Antwerp").item["event"]
    assert event == {"starts": 1930471200, "ends": 1930494600, "place": "Antwerp"}


def test_the_preview_renders_the_text_and_sends_nothing(member, hub):
    browser = signed_in(member, ADMIN)
    token = csrf(page(browser, "/news/contribute"))
    response = browser.post(
        "/news/contribute",
        data={
            "csrf_token": token,
            "action": "preview",
            "kind": "news",
            "title": "Only a preview",
            "body": "Some **bold** words <script>alert(1)</script>",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Some <strong>bold</strong> words" in html
    assert "<script" not in html and "Nothing has been sent yet" in html
    with member.app.app_context():
        titles = set(db.session.scalars(select(NewsContribution.title)))
    assert "Only a preview" not in titles


def test_an_unreachable_hub_keeps_the_text_in_the_form(member, hub):
    browser = signed_in(member, ADMIN)
    token = csrf(page(browser, "/news/contribute"))
    real = member.keys.hub
    member.keys.hub = HubClient(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    try:
        response = browser.post(
            "/news/contribute",
            data={
                "csrf_token": token,
                "action": "send",
                "kind": "call_for_partners",
                "title": "Partners wanted in Greece",
                "body": "A long text that took an hour to write.",
                "language": "en",
            },
        )
    finally:
        member.keys.hub = real
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and "could not be reached" in html
    assert 'value="Partners wanted in Greece"' in html
    assert "A long text that took an hour to write." in html
    with member.app.app_context():
        assert "Partners wanted in Greece" not in db.session.scalars(select(NewsContribution.title))


def test_the_hubs_refusal_is_shown_with_the_text_kept(member, hub):
    browser = signed_in(member, ADMIN)
    response = propose(browser, "A bell in the text", body="Ring \x07 the bell.")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The hub did not accept it: The text holds control characters." in html
    assert 'value="A bell in the text"' in html
    wrong = propose(browser, "No such language", language="xx")  # the node's own check
    assert wrong.status_code == 400 and "two-letter code" in wrong.get_data(as_text=True)


def test_caseworkers_cannot_propose_items(member):
    browser = signed_in(member, CASEWORKER)
    assert browser.get("/news/contribute").status_code == 403
    assert browser.get("/news/contributions").status_code == 403
    assert "Propose an item" not in page(browser, "/news/")
