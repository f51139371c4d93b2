"""The secretariat's membership pages (invitations, nodes, audit) and `ponte hub revoke-node`."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import hub
from directory.models import Organization
from hub.enrolment import EnrolmentError, create_invitation, redeem_invitation
from hub.extensions import db
from hub.identity import EXTENSION_KEY, hub_identity
from hub.models import AdminUser, AuditEntry, Invitation, Node
from node.oauth_client import token_request_form
from ponte.accounts import create_user
from ponte.cli import main
from protocol import NodeIdentity, enrolment_proof, fingerprint, invitation_hash, verify_attestation
from tests.postgres import stored_bytes

HUB_PASSPHRASE = "hub passphrase for tests"
HUB_SETTINGS = {"TESTING": True, "HUB_PASSPHRASE": HUB_PASSPHRASE, "KEYSTORE_KDF": "interactive"}
PASSWORD = "correct horse battery"
ADMIN = "ana@secretariat.example"
TOKEN_URL = "http://localhost/oauth/token"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TOKEN_TEXT = re.compile(r"ponte-inv-[A-Za-z0-9_-]+")
ORGANISATIONS = {
    "org-atina": ("Atina", "RS"),
    "org-free": ("Asociația FREE", "RO"),
    "org-weisser": ("Weißer Ring", "DE"),
}


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def app(data_dir):
    app = hub.create_app(data_dir, HUB_SETTINGS)
    with app.app_context():
        for org_id, (name, country) in ORGANISATIONS.items():
            db.session.add(Organization(id=org_id, name=name, kind="ngo", country=country))
        create_user(db.session, AdminUser, ADMIN, PASSWORD)
        db.session.commit()
    return app


def csrf_token(client, path="/admin/"):
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def client(app):
    client = app.test_client()
    data = {"csrf_token": csrf_token(client, "/admin/login"), "email": ADMIN, "password": PASSWORD}
    assert client.post("/admin/login", data=data).status_code == 302
    return client


def post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def text(response):
    return response.get_data(as_text=True)


def enrol(app, org_id="org-atina", node_id="node-atina-1"):
    """A node joins with an invitation, as `ponte node init` would (without HTTP)."""
    identity = NodeIdentity.generate(node_id)
    with app.app_context():
        token = create_invitation(db.session, org_id, "test").token
        record = identity.public_record().to_dict()
        proof = enrolment_proof(identity, token)
        redeem_invitation(db.session, hub_identity(), token, record, proof)
    return identity


def access_token(app, identity):
    response = app.test_client().post(
        "/oauth/token", data=token_request_form(identity, TOKEN_URL, "relay")
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def key_directory_status(app, token, node_id):
    headers = {"Authorization": f"Bearer {token}"}
    return app.test_client().get(f"/api/v1/nodes/{node_id}/keys", headers=headers).status_code


def invitations(app):
    with app.app_context():
        return db.session.scalars(select(Invitation)).all()


def get_node(app, node_id):
    with app.app_context():
        node = db.session.get(Node, node_id)
        return node, [key.attestation for key in node.keys], hub_identity().public_record()


# --- access ----------------------------------------------------------------------------------

PAGES = [
    "/admin/invitations",
    "/admin/invitations/new?q=atina",
    "/admin/nodes",
    "/admin/nodes/node-atina-1",
    "/admin/nodes/node-atina-1/revoke",
    "/admin/audit",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_anonymous_visitors_to_sign_in(app, path):
    enrol(app)
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_anonymous_posts_change_nothing(app):
    identity = enrol(app)
    anonymous = app.test_client()
    token = csrf_token(anonymous, "/admin/login")
    for path, data in [
        ("/admin/invitations", {"organisation_id": "org-free"}),
        (f"/admin/nodes/{identity.node_id}/revoke", {}),
    ]:
        response = anonymous.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert len(invitations(app)) == 1
    assert get_node(app, identity.node_id)[0].active


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_private_and_work_for_the_secretariat(app, client, path):
    enrol(app)
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in text(response)


def test_landing_page_links_the_membership_pages(client):
    page = text(client.get("/admin/"))
    for path in ("/admin/invitations", "/admin/nodes", "/admin/audit"):
        assert f'href="{path}"' in page


def test_unknown_node_is_404(client):
    assert client.get("/admin/nodes/node-nobody").status_code == 404
    assert post(client, "/admin/nodes/node-nobody/revoke").status_code == 404
    assert post(client, "/admin/invitations/nope/withdraw").status_code == 404


# --- invitations -----------------------------------------------------------------------------


def test_search_finds_organisations_by_part_of_their_name(client):
    def found(query):
        page = text(client.get("/admin/invitations/new", query_string={"q": query}))
        return {name for name, _ in ORGANISATIONS.values() if name in page}

    assert found("tin") == {"Atina"}
    assert found("asociatia") == {"Asociația FREE"}  # accents and case do not matter
    assert found("WEISSER") == {"Weißer Ring"}
    assert found("%") == set()
    assert "No organisation in the directory" in text(
        client.get("/admin/invitations/new?q=nothing-like-this")
    )


def test_search_says_when_an_organisation_is_already_a_member(app, client):
    enrol(app)
    page = text(client.get("/admin/invitations/new?q=atina"))
    assert "already a member: 1 active node" in page


def test_inviting_shows_the_token_once_and_keeps_only_its_hash(app, client):
    response = post(client, "/admin/invitations", organisation_id="org-free")
    page = text(response)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    [token] = set(TOKEN_TEXT.findall(page))
    with app.app_context():
        hub_key = fingerprint(hub_identity().public_record())
    assert hub_key in page
    assert (
        f"ponte node init --data-dir /var/lib/ponte/node --hub http://localhost --invite {token}"
        in page
    )
    assert "shown only on this page" in page
    [invitation] = invitations(app)
    assert invitation.organization_id == "org-free" and invitation.created_by == ADMIN
    assert invitation.token_hash == invitation_hash(token)
    stored = stored_bytes(app.config["SQLALCHEMY_DATABASE_URI"])
    assert invitation_hash(token).encode() in stored and token.encode() not in stored
    listed = text(client.get("/admin/invitations"))
    assert "Asociația FREE" in listed and "open" in listed
    assert token not in listed and not TOKEN_TEXT.search(listed)


def test_the_command_for_the_ngo_names_the_hub_url_when_it_is_set(app, client):
    app.config["HUB_URL"] = "https://hub.example.org/"
    page = text(post(client, "/admin/invitations", organisation_id="org-atina"))
    [token] = set(TOKEN_TEXT.findall(page))
    assert f"--hub https://hub.example.org --invite {token}</pre>" in page


def test_inviting_an_unknown_organisation_says_so(app, client):
    response = post(client, "/admin/invitations", organisation_id="org-nobody")
    assert response.status_code == 404
    assert "No organisation has this id." in text(response)
    assert invitations(app) == []


def test_a_locked_hub_key_is_explained_on_the_invitation_page(app, client, monkeypatch):
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE", raising=False)
    app.config["HUB_PASSPHRASE"] = None
    page = text(post(client, "/admin/invitations", organisation_id="org-atina"))
    assert TOKEN_TEXT.search(page) and "key is locked" in page
    assert len(invitations(app)) == 1


def test_withdrawn_invitation_cannot_be_redeemed(app, client):
    page = text(post(client, "/admin/invitations", organisation_id="org-atina"))
    [token] = set(TOKEN_TEXT.findall(page))
    [invitation] = invitations(app)
    response = post(client, f"/admin/invitations/{invitation.id}/withdraw")
    assert response.status_code == 302
    listed = text(client.get(response.headers["Location"]))
    assert "The invitation is withdrawn" in listed and "withdrawn on " in listed
    assert "Withdraw</button>" not in listed
    identity = NodeIdentity.generate("node-atina-2")
    with app.app_context(), pytest.raises(EnrolmentError) as refused:
        redeem_invitation(
            db.session,
            hub_identity(),
            token,
            identity.public_record().to_dict(),
            enrolment_proof(identity, token),
        )
    assert refused.value.code == "invitation_revoked"


def test_invitation_states_are_listed(app, client):
    identity = enrol(app, "org-atina")
    with app.app_context():
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
        create_invitation(db.session, "org-free", "test", now=past)
        create_invitation(db.session, "org-weisser", "test")
    page = text(client.get("/admin/invitations"))
    assert f'used by node <a href="/admin/nodes/{identity.node_id}">' in page
    assert ">expired<" in page.replace("\n", "").replace(" ", "")
    assert page.count("Withdraw</button>") == 1  # only the open one


def test_withdrawing_a_used_invitation_changes_nothing(app, client):
    identity = enrol(app)
    [invitation] = invitations(app)
    response = post(client, f"/admin/invitations/{invitation.id}/withdraw")
    assert "already used" in text(client.get(response.headers["Location"]))
    [invitation] = invitations(app)
    assert invitation.revoked_at is None and invitation.used_by_node == identity.node_id


# --- nodes -----------------------------------------------------------------------------------


def test_nodes_are_listed_with_their_key_fingerprint(app, client):
    identity = enrol(app)
    page = text(client.get("/admin/nodes"))
    assert identity.node_id in page
    assert fingerprint(identity.public_record()) in page
    assert 'href="/directory/organisations/org-atina"' in page
    assert "active" in page
    detail = text(client.get(f"/admin/nodes/{identity.node_id}"))
    assert fingerprint(identity.public_record()) in detail and "Revoke this node" in detail
    assert text(client.get("/directory/organisations/org-atina"))  # the link works


def test_revoking_asks_first_and_says_what_happens(app, client):
    identity = enrol(app)
    page = text(client.get(f"/admin/nodes/{identity.node_id}/revoke"))
    for plain_words in ("stop working at once", "refuse new messages", "cannot be undone"):
        assert plain_words in page
    assert 'method="post"' in page
    assert get_node(app, identity.node_id)[0].active  # looking changes nothing


def test_revoking_from_the_page(app, client):
    identity = enrol(app)
    token = access_token(app, identity)
    assert key_directory_status(app, token, identity.node_id) == 200
    response = post(client, f"/admin/nodes/{identity.node_id}/revoke")
    assert response.status_code == 302
    assert "The node is revoked" in text(client.get(response.headers["Location"]))
    node, attestations, hub_record = get_node(app, identity.node_id)
    assert node.revoked_at is not None
    for document in attestations:
        attested = verify_attestation(hub_record, document)
        assert attested.status == "revoked" and attested.record == identity.public_record()
    assert key_directory_status(app, token, identity.node_id) == 401
    assert "revoked" in text(client.get("/admin/nodes"))
    again = text(client.get(f"/admin/nodes/{identity.node_id}/revoke"))
    assert "already revoked" in again and "<form method" not in again


def test_revoking_needs_the_hub_key(app, client, monkeypatch):
    identity = enrol(app)
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE", raising=False)
    app.config["HUB_PASSPHRASE"] = None
    app.extensions.pop(EXTENSION_KEY)
    response = post(client, f"/admin/nodes/{identity.node_id}/revoke")
    assert response.status_code == 503
    assert "Nothing was changed" in text(response)
    app.config["HUB_PASSPHRASE"] = HUB_PASSPHRASE
    assert get_node(app, identity.node_id)[0].active


# --- CSRF ------------------------------------------------------------------------------------


def test_posts_without_the_csrf_token_are_refused(app, client):
    identity = enrol(app)
    with app.app_context():
        create_invitation(db.session, "org-free", "test")
    open_one = next(row for row in invitations(app) if row.used_at is None)
    for path, data in [
        ("/admin/invitations", {"organisation_id": "org-weisser"}),
        (f"/admin/invitations/{open_one.id}/withdraw", {}),
        (f"/admin/nodes/{identity.node_id}/revoke", {}),
    ]:
        response = client.post(path, data=data)
        assert response.status_code == 400
        assert "This form had expired" in text(response)
    assert len(invitations(app)) == 2
    assert all(row.revoked_at is None for row in invitations(app))
    assert get_node(app, identity.node_id)[0].active


# --- the command -----------------------------------------------------------------------------


def revoke_command(app, node_id):
    return CliRunner().invoke(
        main, ["hub", "revoke-node", "--data-dir", str(app.config["DATA_DIR"]), node_id]
    )


def test_revoke_node_command(app, monkeypatch):
    identity = enrol(app)
    token = access_token(app, identity)
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_PASSPHRASE)
    result = revoke_command(app, identity.node_id)
    assert result.exit_code == 0, result.output
    assert f"Node {identity.node_id} of Atina is revoked" in result.output
    node, attestations, hub_record = get_node(app, identity.node_id)
    assert node.revoked_at is not None
    assert verify_attestation(hub_record, attestations[0]).status == "revoked"
    assert key_directory_status(app, token, identity.node_id) == 401
    assert "already revoked" in revoke_command(app, identity.node_id).output


def test_revoke_node_command_fails_clearly(app, monkeypatch):
    identity = enrol(app)
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE", raising=False)
    missing = revoke_command(app, identity.node_id)
    assert missing.exit_code == 2
    assert "Set PONTE_HUB_PASSPHRASE" in missing.output
    assert get_node(app, identity.node_id)[0].active
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", "not the passphrase")
    wrong = revoke_command(app, identity.node_id)
    assert wrong.exit_code == 2 and "cannot be opened" in wrong.output
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_PASSPHRASE)
    unknown = revoke_command(app, "node-nobody")
    assert unknown.exit_code == 2 and "No node has this id." in unknown.output
    assert get_node(app, identity.node_id)[0].active


# --- audit -----------------------------------------------------------------------------------


def test_every_action_appears_in_the_audit_page(app, client, monkeypatch):
    post(client, "/admin/invitations", organisation_id="org-free")
    [invitation] = invitations(app)
    post(client, f"/admin/invitations/{invitation.id}/withdraw")
    by_page = enrol(app, "org-atina", "node-atina-1")
    by_command = enrol(app, "org-weisser", "node-weisser-1")
    post(client, f"/admin/nodes/{by_page.node_id}/revoke")
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_PASSPHRASE)
    assert revoke_command(app, by_command.node_id).exit_code == 0
    page = text(client.get("/admin/audit"))
    rows = re.findall(r"<tr>\s*<td>(.*?)</tr>", page, re.DOTALL)
    actions = [
        (ADMIN, "invitation.create", "Asociația FREE"),
        (ADMIN, "invitation.revoke", "Asociația FREE"),
        ("node:node-atina-1", "node.enrol", "Atina"),
        (ADMIN, "node.revoke", "Atina"),
        ("cli", "node.revoke", "Weißer Ring"),
    ]
    for actor, action, subject in actions:
        assert any(actor in row and action in row and subject in row for row in rows), action
    with app.app_context():
        assert len(rows) == len(db.session.scalars(select(AuditEntry)).all())
    assert "Revoked a node" in page and "Invited an organisation" in page
