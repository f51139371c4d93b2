"""The hub's relay: ciphertext in, ciphertext out, to the right node only, once."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from directory.models import Organization
from hub import create_app
from hub.enrolment import create_invitation, redeem_invitation, revoke_node
from hub.extensions import db
from hub.identity import hub_identity
from hub.models import RelayMessage
from hub.relay import inbox as relay_inbox
from node.oauth_client import token_request_form
from protocol import NodeIdentity, b64url_decode, enrolment_proof, open_envelope, seal
from protocol.envelope import MemorySeenIds
from tests.postgres import stored_bytes

SETTINGS = {
    "HUB_PASSPHRASE": "hub passphrase for tests",
    "KEYSTORE_KDF": "interactive",
    "TESTING": True,
}
MARKER = "ZQX-MARKER-7f3a9c"


@pytest.fixture
def hub(tmp_path):
    return enrolled_hub(tmp_path / "hub")


def enrolled_hub(data_dir, settings=None):
    """A hub with three enrolled nodes, ``app.nodes`` their identities by name (a, b, c)."""
    app = create_app(data_dir, {**SETTINGS, **(settings or {})})
    nodes = {}
    with app.app_context():
        for name in ("a", "b", "c"):
            db.session.add(
                Organization(id=f"org-{name}", name=f"NGO {name}", kind="ngo", country="IT")
            )
            db.session.commit()
            identity = NodeIdentity.generate(f"node-{name}{name}{name}")
            token = create_invitation(db.session, f"org-{name}", "test").token
            redeem_invitation(
                db.session,
                hub_identity(),
                token,
                identity.public_record().to_dict(),
                enrolment_proof(identity, token),
            )
            nodes[name] = identity
    app.nodes = nodes
    return app


def bearer(app, identity, scope="relay"):
    form = token_request_form(identity, "http://localhost/oauth/token", scope)
    response = app.test_client().post("/oauth/token", data=form)
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def referral(marker=MARKER):
    return {
        "request_type": "shelter",
        "urgency": "urgent",
        "sender_contact": {"name": f"Caseworker {marker}"},
        "person": {
            "case_code": "IT-2026-77",
            "gender": "female",
            "age_band": "25-34",
            "minor": False,
        },
        "consent": {
            "given": True,
            "form": "written",
            "date": "2026-11-20",
            "scope": ["share_with_recipient"],
        },
        "restricted_notes": f"{marker} notes",
        "case": {"summary": f"summary {marker}"},
    }


def envelope(app, sender="a", recipient="b", payload=None, **kwargs):
    nodes = app.nodes
    return seal(
        nodes[sender], nodes[recipient].public_record(), "referral", payload or referral(), **kwargs
    )


def post(app, wire, sender="a"):
    return app.test_client().post(
        "/api/v1/relay/envelopes",
        data=wire,
        headers={**bearer(app, app.nodes[sender]), "Content-Type": "application/octet-stream"},
    )


def test_an_envelope_travels_once_and_its_body_is_deleted_on_ack(hub):
    sent = envelope(hub)
    first = post(hub, sent.to_wire())
    assert first.status_code == 201
    again = post(hub, sent.to_wire())
    assert again.status_code == 200 and again.get_json() == first.get_json()
    client = hub.test_client()
    b_headers = bearer(hub, hub.nodes["b"])
    [message] = client.get("/api/v1/relay/inbox", headers=b_headers).get_json()["messages"]
    wire = b64url_decode(message["wire"])
    opened = open_envelope(
        wire, hub.nodes["b"], lambda _: [hub.nodes["a"].public_record()], MemorySeenIds()
    )
    assert opened.payload == referral()
    assert (
        client.get("/api/v1/relay/inbox", headers=bearer(hub, hub.nodes["a"])).get_json()[
            "messages"
        ]
        == []
    )
    done = client.post("/api/v1/relay/ack", json={"ids": [message["id"]]}, headers=b_headers)
    assert done.get_json() == {"acknowledged": [message["id"]], "unknown": []}
    assert client.get("/api/v1/relay/inbox", headers=b_headers).get_json()["messages"] == []
    notices = client.get("/api/v1/relay/notices", headers=bearer(hub, hub.nodes["a"])).get_json()
    assert [(n["id"], n["status"]) for n in notices["notices"]] == [(message["id"], "delivered")]
    with hub.app_context():
        assert db.session.scalars(select(RelayMessage)).one().wire is None


def test_a_node_cannot_take_or_settle_another_nodes_mail(hub):
    post(hub, envelope(hub).to_wire())
    client = hub.test_client()
    c_headers = bearer(hub, hub.nodes["c"])
    assert client.get("/api/v1/relay/inbox", headers=c_headers).get_json()["messages"] == []
    b_inbox = client.get("/api/v1/relay/inbox", headers=bearer(hub, hub.nodes["b"])).get_json()
    message_id = b_inbox["messages"][0]["id"]
    answer = client.post("/api/v1/relay/ack", json={"ids": [message_id]}, headers=c_headers)
    assert answer.get_json() == {"acknowledged": [], "unknown": [message_id]}
    again = client.get("/api/v1/relay/inbox", headers=bearer(hub, hub.nodes["b"])).get_json()
    assert [m["id"] for m in again["messages"]] == [message_id]


def test_the_sender_must_be_the_token_holder(hub):
    forged = envelope(hub, sender="c", recipient="b")
    response = post(hub, forged.to_wire(), sender="a")
    assert response.status_code == 403 and response.get_json()["code"] == "sender_mismatch"


@pytest.mark.parametrize(
    ("wire", "status", "code"),
    [
        (b"not an envelope", 400, "malformed_envelope"),
        (b"PNTE" + b"\x00" * 10, 400, "malformed_envelope"),
    ],
)
def test_malformed_envelopes_are_refused(hub, wire, status, code):
    response = post(hub, wire)
    assert response.status_code == status and response.get_json()["code"] == code


def test_oversized_envelopes_are_refused_with_413(hub):
    response = post(hub, b"PNTE" + b"\x00" * (3 * 1024 * 1024))
    assert response.status_code == 413


def test_conflicting_reuse_of_an_id_is_refused(hub):
    first = envelope(hub, message_id=b"\x01" * 16)
    second = envelope(hub, message_id=b"\x01" * 16, payload=referral("other"))
    assert post(hub, first.to_wire()).status_code == 201
    response = post(hub, second.to_wire())
    assert response.status_code == 409 and response.get_json()["code"] == "id_conflict"


def test_unknown_and_revoked_recipients(hub):
    stranger = NodeIdentity.generate("node-stranger")
    wire = seal(hub.nodes["a"], stranger.public_record(), "referral", referral()).to_wire()
    response = post(hub, wire)
    assert response.status_code == 404 and response.get_json()["code"] == "unknown_recipient"
    with hub.app_context():
        revoke_node(db.session, hub_identity(), hub.nodes["c"].node_id, "test")
    response = post(hub, envelope(hub, recipient="c").to_wire())
    assert response.status_code == 403 and response.get_json()["code"] == "recipient_revoked"


def test_expired_envelopes_leave_the_inbox_and_the_sender_is_told(hub):
    sent = envelope(hub, ttl=60)
    post(hub, sent.to_wire())
    with hub.app_context():
        from hub.models import Node

        b_node = db.session.get(Node, hub.nodes["b"].node_id)
        assert len(relay_inbox(db.session, b_node, 0, 10, now=sent.header.created + 30)) == 1
        assert relay_inbox(db.session, b_node, 0, 10, now=sent.header.created + 61) == []
        assert db.session.scalars(select(RelayMessage)).one().wire is None
    notices = (
        hub.test_client()
        .get("/api/v1/relay/notices", headers=bearer(hub, hub.nodes["a"]))
        .get_json()["notices"]
    )
    assert [n["status"] for n in notices] == ["expired"]


def test_the_relay_needs_the_relay_scope(hub):
    client = hub.test_client()
    assert client.get("/api/v1/relay/inbox").status_code == 401
    feeds_only = bearer(hub, hub.nodes["b"], scope="feeds:read")
    assert client.get("/api/v1/relay/inbox", headers=feeds_only).status_code == 403


@pytest.mark.parametrize("query", ["after=-1", "limit=0", "limit=101", "after=x", "colour=1"])
def test_bad_paging_is_a_400(hub, query):
    response = hub.test_client().get(
        f"/api/v1/relay/inbox?{query}", headers=bearer(hub, hub.nodes["b"])
    )
    assert response.status_code == 400


@pytest.mark.parametrize("body", [{"ids": []}, {"ids": "x"}, {"ids": ["short"]}, {"id": []}])
def test_bad_acks_are_400(hub, body):
    response = hub.test_client().post(
        "/api/v1/relay/ack", json=body, headers=bearer(hub, hub.nodes["b"])
    )
    assert response.status_code == 400


def test_the_hub_keeps_no_referral_text_anywhere(hub):
    for index in range(5):
        post(hub, envelope(hub, payload=referral(f"{MARKER}-{index}")).to_wire())
    client = hub.test_client()
    b_headers = bearer(hub, hub.nodes["b"])
    messages = client.get("/api/v1/relay/inbox", headers=b_headers).get_json()["messages"]
    client.post(
        "/api/v1/relay/ack", json={"ids": [m["id"] for m in messages[:2]]}, headers=b_headers
    )
    with hub.app_context():
        db.session.remove()
        db.engine.dispose()  # flush SQLite's pages to the files we scan
    marker = MARKER.encode()
    forms = [
        marker,
        marker.hex().encode(),
        base64.b64encode(marker),
        base64.urlsafe_b64encode(marker),
        MARKER.lower().encode(),
    ]
    data_dir = hub.config["DATA_DIR"]
    stored = {path: path.read_bytes() for path in data_dir.rglob("*") if path.is_file()}
    stored["database"] = stored_bytes(hub.config["SQLALCHEMY_DATABASE_URI"])
    for where, content in stored.items():
        for form in forms:
            assert form not in content, (where, form)
