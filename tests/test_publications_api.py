"""The publications API (signed documents of public items, resources' files) and members'
contributions over real HTTP from really enrolled nodes; every answer checked against the
OpenAPI description."""

from __future__ import annotations

import hashlib
import time
import uuid
from itertools import count

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from directory.models import Organization
from hub import create_app
from hub.contributions import approve_contribution, reject_contribution
from hub.enrolment import create_invitation, redeem_invitation
from hub.extensions import db
from hub.identity import hub_identity
from hub.models import MemberContribution, PublicationItem
from hub.openapi import openapi_document
from hub.publishing import edit_item
from node.hub_client import HubClient
from protocol import NodeIdentity, PublicKeyRecord, b64url_decode, enrolment_proof
from protocol.publication import sign_contribution, verify_publication
from tests.test_enrolment import enrol, hub
from tests.test_feeds import PDF, SETTINGS, build_corpus, draft, publish
from tests.test_relay import bearer

__all__ = ["hub"]

DOCUMENT = openapi_document()
REGISTRY = Registry().with_resource(
    "urn:ponte", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def conforms(path: str, method: str, status: int, media: str, body: object) -> None:
    """``body`` is what the OpenAPI description says this path answers with ``status``."""
    pointer = f"/paths/{_escape(path)}/{method}/responses/{status}"
    response = DOCUMENT["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        pointer = response["$ref"][1:]
        response = DOCUMENT["components"]["responses"][pointer.rsplit("/", 1)[1]]
    assert media in response["content"], (path, status, media)
    schema = {"$ref": f"urn:ponte#{pointer}/content/{_escape(media)}/schema"}
    Draft202012Validator(schema, registry=REGISTRY).validate(body)


def check(response, path: str, method: str = "get") -> dict:
    """The Flask test client's response, checked against the description; its JSON."""
    body = response.get_json()
    conforms(path, method, response.status_code, response.mimetype, body)
    return body


# -- the public API, on one hub with one of every kind of item ---------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("hub"), SETTINGS)
    corpus = build_corpus(app)
    with app.app_context():
        db.session.add(Organization(id="org-m", name="Member NGO", kind="ngo", country="IT"))
        db.session.commit()
        member = NodeIdentity.generate("node-member")
        token = create_invitation(db.session, "org-m", "test").token
        record = member.public_record().to_dict()
        proof = enrolment_proof(member, token)
        redeem_invitation(db.session, hub_identity(), token, record, proof)
    corpus.member = member
    return corpus


@pytest.fixture
def client(corpus):
    return corpus.app.test_client()


def hub_key(client) -> PublicKeyRecord:
    return PublicKeyRecord.from_dict(client.get("/api/v1/hub/key").get_json()["key_record"])


def test_the_list_holds_every_signed_public_revision_in_order(client, corpus):
    body = check(client.get("/api/v1/publications"), "/api/v1/publications")
    rows = body["publications"]
    assert [row["seq"] for row in rows] == sorted(row["seq"] for row in rows)
    assert body["next_after"] == rows[-1]["seq"]
    revisions = [(row["item_id"], row["revision"]) for row in rows]
    assert sorted(revisions) == sorted(
        [
            (corpus.news, 1),
            (corpus.event, 1),
            (corpus.resource, 1),
            (corpus.retracted, 1),
            (corpus.retracted, 2),
            (corpus.due, 1),  # released by this very request: its time had come
        ]
    )
    key = hub_key(client)
    for row in rows:
        verified = verify_publication(key, row["document"])
        assert (verified.item_id, verified.revision) == (row["item_id"], row["revision"])
        assert verified.statement["audience"] == "public"
    statuses = [
        r["document"]["statement"]["status"] for r in rows if r["item_id"] == corpus.retracted
    ]
    assert statuses == ["published", "retracted"]


def test_paging_follows_after(client):
    everything = client.get("/api/v1/publications").get_json()["publications"]
    pages, after = [], 0
    while True:
        body = check(
            client.get(f"/api/v1/publications?after={after}&limit=2"), "/api/v1/publications"
        )
        if not body["publications"]:
            assert body["next_after"] == after
            break
        assert len(body["publications"]) <= 2
        pages.extend(body["publications"])
        after = body["next_after"]
    assert pages == everything
    assert client.get("/api/v1/publications?after=999999").get_json() == {
        "publications": [],
        "next_after": 999999,
    }


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("after=-1", "after"),
        ("after=x", "after"),
        ("limit=1&limit=2", "limit"),
        ("colour=red", "colour"),
    ],
)
def test_bad_paging_parameters_are_400_problems(client, query, parameter):
    body = check(client.get(f"/api/v1/publications?{query}"), "/api/v1/publications")
    assert body["status"] == 400 and body["invalid_params"][0]["name"] == parameter


def test_an_items_signed_document_verifies_with_the_hub_key(client, corpus):
    path = "/api/v1/publications/{item_id}"
    body = check(client.get(f"/api/v1/publications/{corpus.event}"), path)
    key = client.get("/api/v1/hub/key").get_json()
    assert body["key"] == {
        "node_id": key["key_record"]["node_id"],
        "key_version": key["key_record"]["key_version"],
        "fingerprint": key["fingerprint"],
    }
    statement = verify_publication(hub_key(client), body["document"]).statement
    assert statement["title"] == "Partners meeting in Rome"
    assert statement["credit"] == {"organisation_id": "org-atina", "organisation_name": "Atina"}
    assert statement["event"]["place"] == "Via Roma 1, Roma"
    assert statement["status"] == "published" and statement["audience"] == "public"


def test_a_retracted_item_answers_with_its_signed_retraction(client, corpus):
    path = "/api/v1/publications/{item_id}"
    body = check(client.get(f"/api/v1/publications/{corpus.retracted}"), path)
    statement = verify_publication(hub_key(client), body["document"]).statement
    assert (statement["status"], statement["reason"], statement["revision"]) == (
        "retracted",
        "Wrong",
        2,
    )


def test_what_is_not_public_is_a_404_like_what_does_not_exist(client, corpus):
    path = "/api/v1/publications/{item_id}"
    answers = []
    for item_id in (corpus.members, corpus.draft, corpus.scheduled, "no-such-item", "a b", "é"):
        response = client.get(f"/api/v1/publications/{item_id}")
        answers.append(check(response, path))
    assert all(answer == answers[-1] for answer in answers)
    assert answers[0]["status"] == 404


def test_an_edit_is_served_as_the_next_revision(tmp_path):
    app = create_app(tmp_path / "hub", SETTINGS)
    item_id = publish(app, "First")
    with app.app_context():
        edit_item(db.session, db.session.get(PublicationItem, item_id), draft("Second"), "sec")
    client = app.test_client()
    body = client.get(f"/api/v1/publications/{item_id}").get_json()
    statement = verify_publication(hub_key(client), body["document"]).statement
    assert (statement["revision"], statement["title"]) == (2, "Second")
    listed = client.get("/api/v1/publications").get_json()["publications"]
    assert [(row["revision"], row["document"]["statement"]["title"]) for row in listed] == [
        (1, "First"),
        (2, "Second"),
    ]


# -- files -----------------------------------------------------------------------------------------

FILE_PATH = "/api/v1/publications/{item_id}/file"


def test_a_public_file_matches_its_signed_size_and_hash(client, corpus):
    response = client.get(f"/api/v1/publications/{corpus.resource}/file")
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=guide.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "public" in response.headers["Cache-Control"]
    document = client.get(f"/api/v1/publications/{corpus.resource}").get_json()["document"]
    signed = verify_publication(hub_key(client), document).statement["file"]
    assert signed["size"] == len(response.data)
    assert b64url_decode(signed["sha256"]) == hashlib.sha256(response.data).digest()


def test_a_members_only_file_needs_a_feeds_read_token(client, corpus):
    path = f"/api/v1/publications/{corpus.members_resource}/file"
    anonymous = client.get(path)
    unknown = client.get("/api/v1/publications/no-such-item/file")
    assert anonymous.status_code == unknown.status_code == 404
    assert check(anonymous, FILE_PATH) == check(unknown, FILE_PATH)
    member = client.get(path, headers=bearer(corpus.app, corpus.member, "feeds:read"))
    assert member.status_code == 200 and member.data == PDF
    assert member.headers["Cache-Control"] == "private, no-store"
    wrong_scope = client.get(path, headers=bearer(corpus.app, corpus.member, "relay"))
    assert check(wrong_scope, FILE_PATH)["error"] == "insufficient_scope"
    assert wrong_scope.status_code == 403
    # A token that is sent is checked first: the answer does not depend on the item.
    forged = {"Authorization": "Bearer not-a-token"}
    answers = [
        client.get(f"/api/v1/publications/{item_id}/file", headers=forged)
        for item_id in (corpus.members_resource, corpus.resource, "no-such-item")
    ]
    assert {(a.status_code, a.get_json()["error"]) for a in answers} == {(401, "invalid_token")}
    for answer in answers:
        check(answer, FILE_PATH)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer ")


def test_no_file_for_items_that_have_none_or_are_not_published(client, corpus):
    token = bearer(corpus.app, corpus.member, "feeds:read")
    for item_id in (corpus.news, corpus.draft, corpus.retracted, corpus.members):
        response = client.get(f"/api/v1/publications/{item_id}/file", headers=token)
        assert response.status_code == 404, item_id


# -- contributions over real HTTP, from enrolled nodes ----------------------------------------

CONTRIBUTIONS = "/api/v1/contributions"
_ids = count()


@pytest.fixture(scope="module")
def atina(hub, tmp_path_factory):
    return enrol(hub, tmp_path_factory.mktemp("atina"), "Atina")


@pytest.fixture(scope="module")
def payoke(hub, tmp_path_factory):
    return enrol(hub, tmp_path_factory.mktemp("payoke"), "Payoke")


def item(**changes) -> dict:
    return {
        "item_kind": "call_for_partners",
        "title": "Looking for a shelter partner in Serbia",
        "body_markdown": "We are looking for **partners** for returns.",
        "language": "en",
        "topics": ["transnational-assistance"],
        "countries": ["RS"],
        **changes,
    }


def contribution(node, organisation_id=None, submitted_at=None, **changes) -> dict:
    enrolment, identity = node
    return sign_contribution(
        identity,
        organisation_id or enrolment.organisation_id,
        f"c-{next(_ids)}-{uuid.uuid4().hex[:8]}",
        item(**changes),
        int(time.time()) if submitted_at is None else submitted_at,
    )


def call(hub, node, method="POST", scope="contribute", **kwargs) -> requests.Response:
    client = HubClient(hub.url)
    token = client.access_token(node[1], scope)
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return client.http.request(
        method, hub.url + CONTRIBUTIONS, headers=headers, timeout=15, **kwargs
    )


def checked(response: requests.Response, method: str = "post") -> dict:
    body = response.json()
    media = response.headers["Content-Type"].split(";")[0]
    conforms(CONTRIBUTIONS, method, response.status_code, media, body)
    return body


def refused_field(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = checked(response)
    return body["invalid_params"][0]["name"]


def test_a_signed_contribution_is_queued_once(hub, atina):
    document = contribution(atina)
    first = call(hub, atina, json=document)
    assert first.status_code == 201, first.text
    status = checked(first)
    assert status == {
        "contribution_id": document["statement"]["contribution_id"],
        "state": "pending",
        "title": "Looking for a shelter partner in Serbia",
    }
    again = call(hub, atina, json=document)
    assert again.status_code == 200 and checked(again) == status
    with hub.app.app_context():
        queued = db.session.scalars(
            select(MemberContribution).where(
                MemberContribution.contribution_id == status["contribution_id"]
            )
        ).all()
        assert [(q.node_id, q.document) for q in queued] == [(atina[1].node_id, document)]


def test_a_forged_signature_is_refused(hub, atina, payoke):
    document = contribution(atina)
    document["statement"]["item"]["title"] = "Changed after signing"
    assert refused_field(call(hub, atina, json=document), 400) == "document"
    # Signed by another node's key, sent with this node's token.
    assert refused_field(call(hub, atina, json=contribution(payoke)), 400) == "document"


def test_another_organisations_id_is_forbidden(hub, atina, payoke):
    document = contribution(atina, organisation_id=payoke[0].organisation_id)
    assert refused_field(call(hub, atina, json=document), 403) == "organisation_id"


@pytest.mark.parametrize("offset", [-3600, 3600])
def test_a_stale_or_future_contribution_is_refused(hub, atina, offset):
    document = contribution(atina, submitted_at=int(time.time()) + offset)
    assert refused_field(call(hub, atina, json=document), 400) == "submitted_at"


def test_an_unknown_topic_is_refused_naming_the_field(hub, atina):
    response = call(hub, atina, json=contribution(atina, topics=["unicorns"]))
    assert refused_field(response, 400) == "topics"
    assert "unicorns" in response.json()["detail"]


def test_a_reused_contribution_id_with_other_content_is_a_conflict(hub, atina):
    document = contribution(atina)
    assert call(hub, atina, json=document).status_code == 201
    _, identity = atina
    statement = document["statement"]
    other = sign_contribution(
        identity,
        statement["organisation_id"],
        statement["contribution_id"],
        item(title="Something else"),
        int(time.time()),
    )
    assert refused_field(call(hub, atina, json=other), 409) == "contribution_id"


def test_tokens_are_required_with_the_contribute_scope(hub, atina):
    wrong = call(hub, atina, scope="relay", json=contribution(atina))
    assert wrong.status_code == 403 and checked(wrong)["error"] == "insufficient_scope"
    assert 'scope="contribute"' in wrong.headers["WWW-Authenticate"]
    anonymous = requests.post(hub.url + CONTRIBUTIONS, json=contribution(atina), timeout=15)
    assert anonymous.status_code == 401 and checked(anonymous)["error"]
    listing = requests.get(hub.url + CONTRIBUTIONS, timeout=15)
    assert listing.status_code == 401 and checked(listing, "get")
    wrong_list = call(hub, atina, "GET", scope="feeds:read")
    assert wrong_list.status_code == 403 and checked(wrong_list, "get")


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": [1, 2]}, 400),
        ({"json": {"statement": {}}}, 400),
        ({"json": {"statement": {}, "signature": "x", "extra": 1}}, 400),
        ({"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 400),
        ({"data": b"{" + b" " * (5 * 1024 * 1024) + b"}",
          "headers": {"Content-Type": "application/json"}}, 413),
    ],
)  # fmt: skip
def test_bodies_that_are_not_a_document_are_problems(hub, atina, kwargs, status):
    response = call(hub, atina, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    checked(response)


def test_a_node_sees_its_own_contributions_and_their_fate(hub, tmp_path):
    own = enrol(hub, tmp_path / "own", "Atina")
    other = enrol(hub, tmp_path / "other", "Payoke")
    rejected, approved = contribution(own), contribution(own, title="Training for caseworkers")
    for document in (rejected, approved):
        assert call(hub, own, json=document).status_code == 201
    assert call(hub, other, json=contribution(other)).status_code == 201
    with hub.app.app_context():
        queued = {
            c.contribution_id: c
            for c in db.session.scalars(
                select(MemberContribution).where(MemberContribution.node_id == own[1].node_id)
            )
        }
        first = queued[rejected["statement"]["contribution_id"]]
        reject_contribution(db.session, first, "Please add the dates of the returns.", "sec")
        second = queued[approved["statement"]["contribution_id"]]
        item_id = approve_contribution(db.session, second, "sec").item_id
    body = checked(call(hub, own, "GET"), "get")
    statuses = {status["contribution_id"]: status for status in body["contributions"]}
    assert set(statuses) == {
        rejected["statement"]["contribution_id"],
        approved["statement"]["contribution_id"],
    }
    assert statuses[rejected["statement"]["contribution_id"]]["state"] == "rejected"
    assert statuses[rejected["statement"]["contribution_id"]]["reason"] == (
        "Please add the dates of the returns."
    )
    assert statuses[approved["statement"]["contribution_id"]] == {
        "contribution_id": approved["statement"]["contribution_id"],
        "state": "approved",
        "title": "Training for caseworkers",
        "item_id": item_id,
    }
    assert len(checked(call(hub, other, "GET"), "get")["contributions"]) == 1
    # The approved item is public now, credited to the organisation.
    feed = requests.get(f"{hub.url}/feeds/kind/call_for_partners.atom", timeout=15).text
    assert "Training for caseworkers" in feed and "<name>Atina</name>" in feed
    page = requests.get(f"{hub.url}/news/{item_id}", timeout=15).text
    assert "Contributed by Atina" in page
