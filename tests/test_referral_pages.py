"""The caseworkers' referral pages on two live nodes: search a partner, send the form, answer
it on the other side, and see the thread move on both."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from node.extensions import db
from node.inbound import WITHDRAWN_FOR_ANOTHER
from node.keys import EXTENSION_KEY
from node.models import Referral, User
from node.referral_form import SPECS
from ponte import accounts
from tests.test_enrolment import hub
from tests.test_referrals import TestNode, example, make_node

__all__ = ["hub"]

PASSWORD = "a long enough password"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CASE_LINK = re.compile(r"/cases/([A-Za-z0-9_-]{22})\b")


@contextmanager
def nodes_with_caseworkers(hub, tmp_path_factory, name: str) -> Iterator[tuple[TestNode, TestNode]]:
    """Atina's and Payoke's nodes, unlocked, each with a caseworker (case@atina.example,
    case@payoke.example); password hashing made cheap while they live."""
    hasher = accounts.PASSWORD_HASHER
    accounts.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._dummy_hash.cache_clear()
    try:
        a = make_node(hub, tmp_path_factory.mktemp(f"{name}-a"), "Atina")
        b = make_node(hub, tmp_path_factory.mktemp(f"{name}-b"), "Payoke")
        for node, email in ((a, "case@atina.example"), (b, "case@payoke.example")):
            node.app.extensions[EXTENSION_KEY] = node.keys
            with node.app.app_context():
                accounts.create_user(db.session, User, email, PASSWORD, "caseworker")
        yield a, b
    finally:
        accounts.PASSWORD_HASHER = hasher
        accounts._dummy_hash.cache_clear()


@pytest.fixture(scope="module")
def sites(hub, tmp_path_factory):
    """Atina's and Payoke's nodes, unlocked, each with a caseworker."""
    with nodes_with_caseworkers(hub, tmp_path_factory, "pages") as pair:
        yield pair


@pytest.fixture(scope="module")
def third(sites, hub, tmp_path_factory):
    """A third candidate: Asociatia FREE's node, with a caseworker."""
    c = make_node(hub, tmp_path_factory.mktemp("pages-c"), "Asociatia FREE")
    c.app.extensions[EXTENSION_KEY] = c.keys
    with c.app.app_context():
        accounts.create_user(db.session, User, "case@free.example", PASSWORD, "caseworker")
    return c


def signed_in(node: TestNode, email: str):
    browser = node.app.test_client()
    token = csrf(browser.get("/login").get_data(as_text=True))
    response = browser.post(
        "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302
    return browser


def csrf(html: str) -> str:
    return CSRF_FIELD.search(html).group(1)


def page(browser, url: str, status: int = 200) -> str:
    response = browser.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "<script" not in html
    return html


def _form_value(kind: str, value: Any) -> Any:
    if kind == "yesno":
        return "yes" if value else "no"
    if kind == "check":
        return "y" if value else ""
    if kind == "languages":
        return ", ".join(value)
    return value if isinstance(value, list) else str(value)


def form_data(payload: dict[str, Any]) -> dict[str, Any]:
    """What a caseworker types into the form to make ``payload``."""
    data: dict[str, Any] = {}
    for spec in SPECS.values():
        value: Any = payload
        for key in spec.path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            data[spec.name] = _form_value(spec.kind, value)
    return data


def with_code(code: str) -> dict[str, Any]:
    payload = example()
    payload["person"]["case_code"] = code
    return payload


def send_form(browser, b: TestNode, payload: dict[str, Any]):
    url = f"/cases/new?organisation={b.organisation_id}"
    token = csrf(page(browser, url))
    return browser.post(url, data={"csrf_token": token, **form_data(payload)})


def send_case(a: TestNode, b: TestNode, code: str) -> str:
    """A referral sent from A's form and delivered to B; its id."""
    response = send_form(signed_in(a, "case@atina.example"), b, with_code(code))
    assert response.status_code == 302, response.get_data(as_text=True)
    referral_id = CASE_LINK.search(response.headers["Location"]).group(1)
    a.sync()
    b.sync()
    return referral_id


def count_cases(node: TestNode) -> int:
    with node.app.app_context():
        return db.session.scalar(select(func.count()).select_from(Referral))


def test_a_caseworker_refers_a_case_and_the_partner_accepts_it(sites):
    a, b = sites
    atina = signed_in(a, "case@atina.example")
    found = page(atina, "/cases/new?q=Payoke")
    assert f"/cases/new?organisation={b.organisation_id}" in found
    response = send_form(atina, b, with_code("RO-2026-0501"))
    assert response.status_code == 302, response.get_data(as_text=True)
    referral_id = CASE_LINK.search(response.headers["Location"]).group(1)
    sent = a.case(referral_id)
    assert sent.status == "sent" and sent.payload == with_code("RO-2026-0501")
    assert "RO-2026-0501" in page(atina, "/cases/")
    a.sync()
    b.sync()

    payoke = signed_in(b, "case@payoke.example")
    listing = page(payoke, "/cases/")
    waiting = listing[listing.index("What is waiting") : listing.index("All cases")]
    assert "Referrals to answer" in waiting and "RO-2026-0501" in waiting
    case_page = page(payoke, f"/cases/{referral_id}")
    assert "Decline the referral" in case_page and "Withdraw" not in case_page
    # The receiving side reads the sender's contact from its own point of view.
    assert "Contact at the referring organisation" in case_page
    assert "Your contact" not in case_page
    response = payoke.post(
        f"/cases/{referral_id}/status",
        data={"csrf_token": csrf(case_page), "status": "accepted", "message": "We can help."},
    )
    assert response.status_code == 302
    b.sync()
    a.sync()
    shown = page(atina, f"/cases/{referral_id}")
    assert "<strong>accepted</strong>" in shown and "We can help." in shown
    assert "Your contact" in shown and "Contact at the referring organisation" not in shown
    assert "Withdraw the referral" in shown


def test_a_full_name_as_initials_is_refused_next_to_the_field_and_nothing_is_lost(sites):
    a, b = sites
    payload = with_code("RO-2026-0502")
    payload["person"]["initials"] = "Maria Pop"
    before = count_cases(a)
    response = send_form(signed_in(a, "case@atina.example"), b, payload)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "<script" not in html
    field = re.search(r'<input[^>]*id="person_initials"[^>]*>\s*<span class="field-error"', html)
    assert field and "never a name" in html[field.end() : field.end() + 200]
    assert 'value="Maria Pop"' in html and 'value="RO-2026-0502"' in html
    assert "No known contact from the recruiters" in html  # the risk assessment's summary
    assert count_cases(a) == before


def test_declining_needs_a_reason(sites):
    a, b = sites
    referral_id = send_case(a, b, "RO-2026-0503")
    payoke = signed_in(b, "case@payoke.example")
    token = csrf(page(payoke, f"/cases/{referral_id}"))
    refused = payoke.post(
        f"/cases/{referral_id}/status",
        data={"csrf_token": token, "status": "declined", "reason": " "},
    )
    assert refused.status_code == 400 and "reason" in refused.get_data(as_text=True)
    assert b.case(referral_id).status == "delivered"
    declined = payoke.post(
        f"/cases/{referral_id}/status",
        data={"csrf_token": token, "status": "declined", "reason": "No place before August."},
    )
    assert declined.status_code == 302 and b.case(referral_id).status == "declined"


def test_actions_and_messages_need_the_csrf_token(sites):
    a, b = sites
    referral_id = send_case(a, b, "RO-2026-0504")
    payoke = signed_in(b, "case@payoke.example")
    response = payoke.post(f"/cases/{referral_id}/status", data={"status": "accepted"})
    assert response.status_code == 400 and b.case(referral_id).status == "delivered"


def test_a_message_joins_the_thread(sites):
    a, b = sites
    referral_id = send_case(a, b, "RO-2026-0505")
    atina = signed_in(a, "case@atina.example")
    token = csrf(page(atina, f"/cases/{referral_id}"))
    response = atina.post(
        f"/cases/{referral_id}/message",
        data={"csrf_token": token, "message": "She can travel on Monday."},
    )
    assert response.status_code == 302
    a.sync()
    b.sync()
    payoke = signed_in(b, "case@payoke.example")
    assert "She can travel on Monday." in page(payoke, response.location)


@pytest.mark.parametrize("path", ["/cases/", "/cases/new", "/cases/new?q=Payoke", "/cases/x"])
def test_anonymous_people_are_sent_to_sign_in(sites, path):
    a, _ = sites
    response = a.app.test_client().get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_pages_link_the_stylesheet_and_cases(sites):
    a, _ = sites
    atina = signed_in(a, "case@atina.example")
    html = page(atina, "/cases/")
    assert 'href="/static/node.css"' in html and 'href="/cases/"' in html
    assert a.app.test_client().get("/static/node.css").status_code == 200


def name(node: TestNode) -> str:
    return node.keys.enrolment.organisation_name


def test_a_case_offered_to_two_partners_goes_to_the_first_to_accept(sites, third):
    a, b = sites
    c = third
    atina = signed_in(a, "case@atina.example")
    found = page(atina, "/cases/new?q=Payoke")
    assert (
        f'type="checkbox" id="organisation-1" name="organisation" value="{b.organisation_id}"'
        in found
    )
    chosen = [b.organisation_id, c.organisation_id]
    step_2 = page(atina, f"/cases/new?organisation={chosen[0]}&organisation={chosen[1]}")
    assert (
        f"This referral is offered to: {name(b)}, {name(c)}. The first to accept takes it" in step_2
    )
    for organisation_id in chosen:
        assert f'type="hidden" name="organisation" value="{organisation_id}"' in step_2
    before = count_cases(a)
    payload = with_code("RO-2026-0506")
    response = atina.post(
        "/cases/new",
        data={"csrf_token": csrf(step_2), "organisation": chosen, **form_data(payload)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    first = a.case(CASE_LINK.search(response.headers["Location"]).group(1))
    assert first.offer_id is not None and count_cases(a) == before + 2
    with a.app.app_context():
        query = select(Referral).where(Referral.offer_id == first.offer_id)
        offer = {case.partner_organisation_id: case.id for case in db.session.scalars(query)}
    assert set(offer) == set(chosen)
    assert "Offered to 2 organisations" in page(atina, "/cases/")
    assert "The first to accept takes it" in page(atina, f"/cases/{first.id}")

    a.sync()
    b.sync()
    c.sync()
    copy_b, copy_c = offer[b.organisation_id], offer[c.organisation_id]
    assert b.case(copy_b).status == c.case(copy_c).status == "delivered"
    payoke = signed_in(b, "case@payoke.example")
    token = csrf(page(payoke, f"/cases/{copy_b}"))
    accepted = payoke.post(
        f"/cases/{copy_b}/status", data={"csrf_token": token, "status": "accepted"}
    )
    assert accepted.status_code == 302
    b.sync()
    a.sync()
    c.sync()

    assert c.case(copy_c).status == "withdrawn"
    free = page(signed_in(c, "case@free.example"), f"/cases/{copy_c}")
    assert "<strong>withdrawn</strong>" in free and WITHDRAWN_FOR_ANOTHER in free
    assert "Accept the referral" not in free
    assert (a.case(copy_b).status, a.case(copy_c).status) == ("accepted", "withdrawn")
    for url in ("/cases/", f"/cases/{copy_c}", f"/cases/{copy_b}"):
        assert f"{name(b)} took it" in page(atina, url)


def test_an_offer_to_more_than_five_partners_is_refused(sites):
    a, b = sites
    atina = signed_in(a, "case@atina.example")
    six = [b.organisation_id, *(f"organisation-{n}" for n in range(5))]
    query = "&".join(f"organisation={organisation_id}" for organisation_id in six)
    refused = page(atina, f"/cases/new?q=Payoke&{query}", status=400)
    assert "You chose 6 organisations: a referral can be offered to at most 5 at once" in refused
    assert f'value="{b.organisation_id}" checked' in refused  # the ticks are kept
    before = count_cases(a)
    token = csrf(page(atina, f"/cases/new?organisation={b.organisation_id}"))
    response = atina.post(
        "/cases/new",
        data={"csrf_token": token, "organisation": six, **form_data(with_code("RO-2026-0507"))},
    )
    assert response.status_code == 400 and "at most 5" in response.get_data(as_text=True)
    assert count_cases(a) == before
