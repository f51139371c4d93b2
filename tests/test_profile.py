"""Self-service directory entries: a node signs an update of its own organisation's entry and
the hub applies it to that organisation only; every refused update changes nothing."""

from __future__ import annotations

import datetime as dt
import re
import time
from html.parser import HTMLParser
from itertools import count

import pytest
from argon2 import PasswordHasher
from markupsafe import escape
from sqlalchemy import select

from directory.importer import shipped_term_labels
from hub.enrolment import revoke_node
from hub.extensions import db
from hub.identity import hub_identity
from hub.models import AuditEntry, DirectoryUpdate
from node import create_app as create_node_app
from node.extensions import db as node_db
from node.hub_client import HubClient, HubError
from node.keys import install_keys
from node.models import User
from ponte import accounts
from protocol import (
    NodeIdentity,
    b64url_encode,
    profile_update,
    rotation_signature,
    sign_statement,
)
from protocol.profile import CONTEXT
from tests.test_enrolment import enrol, hub

__all__ = ["hub"]

X, Y = "Atina", "Payoke"
PASSWORD = "a long enough password"
# Distinct submitted_at values for one node's successive updates, all within the hub's window.
_ticks = count()


def now() -> int:
    return int(time.time()) - 300 + next(_ticks)


NEW_SERVICE = {
    "term": "peer-support",
    "name": "Kintsugi peer circle",
    "open_24_7": False,
    "wait_time": "about one week",
    "eligibility": "Women who have left a trafficking situation",
}
SHELTER = {
    "term": "shelter",
    "name": "Safe house",
    "open_24_7": True,
    "wait_time": None,
    "eligibility": None,
}
CHANGES = {"services": [SHELTER, NEW_SERVICE], "languages": ["sr", "en", "de"]}


@pytest.fixture
def node_x(hub, tmp_path):
    return enrol(hub, tmp_path / "x", X)


@pytest.fixture
def node_y(hub, tmp_path):
    return enrol(hub, tmp_path / "y", Y)


def send(hub, identity, organisation_id, document, scope="directory:write"):
    client = HubClient(hub.url)
    token = client.access_token(identity, scope)
    return client.http.post(
        f"{hub.url}/api/v1/organisations/{organisation_id}/profile",
        json=document,
        headers={"Authorization": f"Bearer {token}"},
    )


def entry(hub, organisation_id):
    """The public entry, without its list of nodes (which enrolments and revocations change)."""
    found = HubClient(hub.url).organisation(organisation_id)
    del found["nodes"]
    return found


def signed(identity, statement):
    signature = sign_statement(identity.signing_key, CONTEXT, statement)
    return {"statement": statement, "signature": b64url_encode(signature)}


def search(hub, **params):
    response = HubClient(hub.url).http.get(f"{hub.url}/api/v1/search", params=params)
    return [result["organisation"]["id"] for result in response.json()["results"]]


def audit_entries(hub, node_id):
    with hub.app.app_context():
        query = select(AuditEntry).where(
            AuditEntry.action == "directory.update", AuditEntry.actor == f"node:{node_id}"
        )
        return [(entry.subject, entry.detail) for entry in db.session.scalars(query)]


def assert_refused(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("code", body.get("error")) == code, body
    return body


# --- the hub's API ----------------------------------------------------------------------------


def test_a_node_updates_its_own_organisations_entry(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    assert x not in search(hub, q="Kintsugi")
    response = send(hub, identity, x, profile_update(identity, x, CHANGES, now()))
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["id"] == x and updated["languages"] == ["sr", "en", "de"]
    assert updated["last_verified"] == dt.datetime.now(dt.UTC).date().isoformat()
    services = {service["name"]: service for service in updated["services"]}
    assert set(services) == {"Safe house", "Kintsugi peer circle"}
    assert services["Kintsugi peer circle"]["term"] == "peer-support"
    assert services["Kintsugi peer circle"]["wait_time"] == "about one week"
    assert services["Safe house"]["open_24_7"] is True
    assert services["Safe house"]["countries_served"] == ["RS"]
    assert services["Safe house"]["languages"] == ["sr", "en", "de"]
    assert entry(hub, x) == {key: value for key, value in updated.items() if key != "nodes"}
    assert audit_entries(hub, identity.node_id) == [(x, "services, languages")]
    assert x in search(hub, q="Kintsugi")
    assert x in search(hub, service="peer-support", country="RS")
    assert x in search(hub, language="de", country="RS")


def test_the_hub_keeps_the_signed_document(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    document = profile_update(identity, x, {"interpreters_available": True}, now())
    assert send(hub, identity, x, document).status_code == 200
    with hub.app.app_context():
        query = select(DirectoryUpdate).where(DirectoryUpdate.node_id == identity.node_id)
        [kept] = db.session.scalars(query)
        assert kept.document == document and kept.organization_id == x
        assert kept.fields == ["interpreters_available"]


def test_an_unchanged_entry_is_confirmed_and_logged_as_such(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    first = profile_update(identity, x, {"description": "Belgrade NGO."}, now())
    assert send(hub, identity, x, first).status_code == 200
    again = profile_update(identity, x, {"description": "Belgrade NGO."}, now())
    assert send(hub, identity, x, again).status_code == 200
    assert audit_entries(hub, identity.node_id)[-1] == (
        x,
        "no changes: entry confirmed as it is",
    )


def test_contacts_replace_the_imported_ones_and_answer_their_review_flags(hub, tmp_path):
    _, identity = enrol(hub, tmp_path, "HopeNow")  # its imported e-mail was flagged for review
    organisation = hub.organisation("HopeNow")
    before = entry(hub, organisation)
    assert "contact.email" in {flag["field"] for flag in before["review_flags"]}
    contacts = {
        "email": "contact@hopenow.example",
        "website": "https://hopenow.example/",
        "phones": [{"number": "+45 12 34 56 78", "type": "voice"}],
    }
    document = profile_update(identity, organisation, contacts, now())
    response = send(hub, identity, organisation, document)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["email"] == "contact@hopenow.example"
    assert updated["phones"] == [{"number": "+45 12 34 56 78", "type": "voice"}]
    assert not any(flag["field"].startswith("contact.") for flag in updated["review_flags"])
    assert updated["services"] == before["services"]  # absent from the update: left alone


def test_an_update_for_another_organisation_is_403_and_changes_nothing(hub, node_x, node_y):
    _, b = node_y
    x, y = hub.organisation(X), hub.organisation(Y)
    before = entry(hub, x)
    into_x = profile_update(b, x, {"languages": ["fr"]}, now())
    assert_refused(send(hub, b, x, into_x), 403, "not_your_organisation")
    # signed for X but sent to B's own organisation's address
    assert_refused(send(hub, b, y, into_x), 403, "not_your_organisation")
    assert entry(hub, x) == before
    assert audit_entries(hub, b.node_id) == []


def test_a_forged_signature_is_400_and_changes_nothing(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    before = entry(hub, x)
    impostor = NodeIdentity.generate(identity.node_id)  # same id, a key the hub never attested
    forged = profile_update(impostor, x, {"languages": ["fr"]}, now())
    assert_refused(send(hub, identity, x, forged), 400, "invalid_signature")
    tampered = profile_update(identity, x, {"languages": ["fr"]}, now())
    tampered["statement"]["changes"]["languages"] = ["it"]
    assert_refused(send(hub, identity, x, tampered), 400, "invalid_signature")
    assert entry(hub, x) == before


def test_a_token_without_directory_write_is_403(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    before = entry(hub, x)
    document = profile_update(identity, x, {"languages": ["fr"]}, now())
    response = send(hub, identity, x, document, scope="relay")
    assert_refused(response, 403, "insufficient_scope")
    assert 'scope="directory:write"' in response.headers["WWW-Authenticate"]
    no_token = HubClient(hub.url).http.post(
        f"{hub.url}/api/v1/organisations/{x}/profile", json=document
    )
    assert no_token.status_code == 401
    assert entry(hub, x) == before


def test_a_replayed_or_stale_update_is_refused(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    submitted = now()
    document = profile_update(identity, x, {"languages": ["ro"]}, submitted)
    assert send(hub, identity, x, document).status_code == 200
    assert_refused(send(hub, identity, x, document), 409, "replayed_update")
    older = profile_update(identity, x, {"languages": ["it"]}, submitted - 1)
    assert_refused(send(hub, identity, x, older), 409, "replayed_update")
    stale = profile_update(identity, x, {"languages": ["it"]}, int(time.time()) - 700)
    body = assert_refused(send(hub, identity, x, stale), 400, "stale_update")
    assert "behind the hub's clock" in body["detail"]
    ahead = profile_update(identity, x, {"languages": ["it"]}, int(time.time()) + 700)
    assert_refused(send(hub, identity, x, ahead), 400, "stale_update")
    assert entry(hub, x)["languages"] == ["ro"]
    assert len(audit_entries(hub, identity.node_id)) == 1


def test_a_revoked_node_is_refused(hub, tmp_path):
    _, identity = enrol(hub, tmp_path, X)
    x = hub.organisation(X)
    before = entry(hub, x)
    client = HubClient(hub.url)
    token = client.access_token(identity, "directory:write")
    with hub.app.app_context():
        revoke_node(db.session, hub_identity(), identity.node_id, "secretariat")
    response = client.http.post(
        f"{hub.url}/api/v1/organisations/{x}/profile",
        json=profile_update(identity, x, {"languages": ["fr"]}, now()),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_refused(response, 401, "invalid_token")
    assert "revoked" in response.json()["error_description"]
    with pytest.raises(HubError) as refused:
        HubClient(hub.url).access_token(identity, "directory:write")
    assert refused.value.code == "invalid_client"
    assert entry(hub, x) == before


def test_after_a_rotation_only_the_new_key_signs_updates(hub, node_x):
    enrolment, old = node_x
    x = hub.organisation(X)
    new = NodeIdentity.generate(old.node_id, key_version=2)
    client = HubClient(hub.url)
    signature = rotation_signature(old, new.public_record())
    client.register_next_key(old, enrolment.hub_record, new.public_record(), signature)
    by_old_key = profile_update(old, x, {"languages": ["fr"]}, now())
    assert_refused(send(hub, new, x, by_old_key), 400, "invalid_signature")
    by_new_key = profile_update(new, x, {"languages": ["fr"]}, now())
    assert send(hub, new, x, by_new_key).status_code == 200


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"services": [{**SHELTER, "open_24_7": "yes"}]}, "changes.services[0].open_24_7"),
        ({"services": [{**SHELTER, "term": "spaceflight"}]}, "changes.services[0].term"),
        (
            {"services": [{k: v for k, v in SHELTER.items() if k != "name"}]},
            "changes.services[0].name",
        ),
        (
            {"services": [SHELTER, {**NEW_SERVICE, "name": "safe HOUSE"}]},
            "changes.services[1].name",
        ),
        ({"languages": ["sr", "zz"]}, "changes.languages[1]"),
        ({"languages": ["Serbian"]}, "changes.languages[0]"),
        ({"phones": [{"number": "call us", "type": "voice"}]}, "changes.phones[0].number"),
        ({"phones": [{"number": "+381 11 123", "type": "pager"}]}, "changes.phones[0].type"),
        ({"email": "not an address"}, "changes.email"),
        ({"hours": "9-17"}, "changes.hours"),
        ({}, "changes"),
        ("languages: sr", "changes"),
    ],
)
def test_malformed_changes_are_400_naming_the_field(hub, node_x, changes, field):
    _, identity = node_x
    x = hub.organisation(X)
    before = entry(hub, x)
    statement = {
        "node_id": identity.node_id,
        "organisation_id": x,
        "submitted_at": now(),
        "changes": changes,
    }
    body = assert_refused(
        send(hub, identity, x, signed(identity, statement)), 400, "invalid_update"
    )
    assert body["invalid_params"][0]["name"] == field
    assert body["detail"].startswith(f"{field}: ")
    assert entry(hub, x) == before


@pytest.mark.parametrize(
    "document",
    [None, [], {"statement": {}}, {"statement": {}, "signature": "", "extra": 1}],
)
def test_a_malformed_document_is_400(hub, node_x, document):
    _, identity = node_x
    response = send(hub, identity, hub.organisation(X), document)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_a_statement_with_a_float_or_a_huge_number_is_400(hub, node_x):
    _, identity = node_x
    x = hub.organisation(X)
    statement = {
        "node_id": identity.node_id,
        "organisation_id": x,
        "submitted_at": now() + 0.5,
        "changes": {"languages": ["sr"]},
    }
    document = {"statement": statement, "signature": "A" * 86}
    assert_refused(send(hub, identity, x, document), 400, "invalid_update")


# --- the node's page ---------------------------------------------------------------------------


class FormReader(HTMLParser):
    """What a browser would post for the first form with method=post after ``csrf_token``."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        name = attributes.get("name")
        if tag == "input" and name:
            if attributes.get("type") != "checkbox" or "checked" in attributes:
                self.values[name] = attributes.get("value") or ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            # the selected option, else the first one
            if "selected" in attributes or self._select not in self.values:
                self.values[self._select] = attributes.get("value") or ""
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def _without_first_newline(text):
    """Browsers drop the newline that starts a textarea's content."""
    return re.sub(r"\A\r?\n", "", text)


def form_values(html):
    start = html.index('<form class="profile"')
    reader = FormReader()
    reader.feed(html[start : html.index("</form>", start)])
    return {name: _without_first_newline(value) for name, value in reader.values.items()}


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def node_site(hub, node_x, tmp_path, monkeypatch):
    """Atina's node, unlocked, with a caseworker and a node admin."""
    monkeypatch.setattr(
        accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    accounts._dummy_hash.cache_clear()
    enrolment, identity = node_x
    app = create_node_app(tmp_path / "x", {"TESTING": True})
    install_keys(app, [identity], enrolment)
    with app.app_context():
        accounts.create_user(node_db.session, User, "case@atina.example", PASSWORD, "caseworker")
        accounts.create_user(node_db.session, User, "admin@atina.example", PASSWORD, "admin")
    yield app
    accounts._dummy_hash.cache_clear()


def signed_in(app, email):
    browser = app.test_client()
    token = CSRF_FIELD.search(browser.get("/login").get_data(as_text=True)).group(1)
    response = browser.post(
        "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302
    return browser


def test_the_profile_page_is_for_node_admins_only(node_site):
    assert node_site.test_client().get("/profile").status_code == 302  # to sign in
    caseworker = signed_in(node_site, "case@atina.example")
    response = caseworker.get("/profile")
    assert response.status_code == 403 and "not available to you" in response.get_data(True)


def test_the_page_says_so_when_the_node_has_not_joined_a_hub(node_site, tmp_path):
    bare = create_node_app(tmp_path / "bare", {"TESTING": True})
    with bare.app_context():
        accounts.create_user(node_db.session, User, "admin@new.example", PASSWORD, "admin")
    response = signed_in(bare, "admin@new.example").get("/profile")
    assert response.status_code == 503
    assert "has not joined a hub yet" in response.get_data(as_text=True)


def test_a_node_admin_updates_the_entry_from_the_form(hub, node_site):
    x = hub.organisation(X)
    admin = signed_in(node_site, "admin@atina.example")
    page = admin.get("/profile")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script" not in html and 'name="csrf_token"' in html
    current = entry(hub, x)
    for service in current["services"]:
        assert service["name"] in html
    values = form_values(html)
    for key in [k for k in values if k.endswith("-term") and not values[k]]:
        if values[key.replace("-term", "-name")]:
            values[key] = "identification"  # imported services without a type get one
    new_row = len(current["services"])
    values.update(
        {
            f"services-{new_row}-term": "legal",
            f"services-{new_row}-name": "Legal aid clinic",
            f"services-{new_row}-open_24_7": "no",
            f"services-{new_row}-wait_time": "two days",
            "languages": "sr, en",
            "interpreters_available": "yes",
            "website": "https://atina.example/",
        }
    )
    response = admin.post("/profile", data=values)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "directory entry is updated" in admin.get("/profile").get_data(as_text=True)
    updated = entry(hub, x)
    assert "Legal aid clinic" in {service["name"] for service in updated["services"]}
    assert updated["languages"] == ["sr", "en"] and updated["interpreters_available"] is True
    assert updated["website"] == "https://atina.example/"
    assert x in search(hub, q="Legal aid clinic", country="RS")


def test_the_form_says_what_is_wrong_and_sends_nothing(hub, node_site):
    x = hub.organisation(X)
    before = entry(hub, x)
    admin = signed_in(node_site, "admin@atina.example")
    values = form_values(admin.get("/profile").get_data(as_text=True))
    new_row = len(before["services"])
    values.update({f"services-{new_row}-name": "A service without a type", "languages": "Serbian"})
    response = admin.post("/profile", data=values)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Choose the type of this service." in html and "Give two-letter codes" in html
    assert entry(hub, x) == before


def test_the_hubs_refusal_is_shown_plainly(hub, node_site):
    x = hub.organisation(X)
    admin = signed_in(node_site, "admin@atina.example")
    values = form_values(admin.get("/profile").get_data(as_text=True))
    for key in [k for k in values if k.endswith("-term") and not values[k]]:
        if values[key.replace("-term", "-name")]:
            values[key] = "identification"
    values["languages"] = "sr, zz"
    before = entry(hub, x)
    response = admin.post("/profile", data=values)
    assert response.status_code == 502
    html = response.get_data(as_text=True)
    assert "The hub did not accept the update: language 2: &#39;zz&#39; is not an ISO 639-1" in html
    assert entry(hub, x) == before


def test_the_form_needs_its_csrf_token(hub, node_site):
    x = hub.organisation(X)
    before = entry(hub, x)
    admin = signed_in(node_site, "admin@atina.example")
    values = form_values(admin.get("/profile").get_data(as_text=True))
    del values["csrf_token"]
    response = admin.post("/profile", data={**values, "languages": "fr"})
    assert response.status_code == 400 and "form had expired" in response.get_data(True)
    assert entry(hub, x) == before


def test_service_types_are_offered_in_the_pages_language(hub, node_site):
    admin = signed_in(node_site, "admin@atina.example")
    for language, label in shipped_term_labels()["identification"].items():
        html = admin.get("/profile", headers={"Accept-Language": language}).get_data(as_text=True)
        assert f'<option value="identification">{escape(label)}</option>' in html, language
