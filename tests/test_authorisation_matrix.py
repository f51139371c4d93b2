"""Who may call what: every endpoint of the hub's and the node's URL maps, as each role.

The table below has one row per (app, endpoint, method); a row says, for every role, what the
answer must be. The URL maps are read from the apps themselves, so a new endpoint without a
row (or a row whose endpoint is gone) fails ``test_every_endpoint_has_a_row``: nobody can add
a page or an API and forget to decide who may use it.

Roles (the columns). Each app gets every role; a role that does not exist there is sent as its
nearest equivalent, named here so that nothing is left out silently:

========================  =========================================  ==============================
role                      on the hub                                 on a node (node A's own app)
========================  =========================================  ==============================
anonymous                 a browser, no credentials                  a browser, no credentials
node A                    node A's bearer token, every scope         an anonymous browser: a node's
                                                                     hub token means nothing here
node B                    another member node's token, used on       an anonymous browser
                          node A's objects (its relay messages,
                          blobs, contributions, directory entry)
revoked node              the token of a node the secretariat        a caseworker's session cookie
                          revoked (taken before the revocation)      replayed after sign-out
caseworker                an anonymous browser (no hub accounts)     signed in; wrote the case
node admin                an anonymous browser (no hub accounts)     signed in, role admin
secretariat               signed in at /admin                        an anonymous browser (no node
                                                                     accounts)
second caseworker         -                                          signed in; did not write the
                                                                     case (a node keeps no case
                                                                     owner: every caseworker of the
                                                                     NGO works on all its cases)
========================  =========================================  ==============================

Path arguments are real objects made with the project's own functions (node A's relay message,
a case caseworker 1 wrote, a pending contribution, ...), so each request reaches the permission
code rather than a 404. Forms carry a valid CSRF token of the role's own session, so that the
answer is about authorisation, not CSRF. Requests that would change something send a
deliberately empty body where they can: a role that is let in then gets a 400 that changes
nothing, or acts on an object made for that purpose (a draft to publish, a contribution to
approve).
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from directory.catalogue import import_directory
from directory.models import Organization
from hub import create_app as create_hub_app
from hub.enrolment import create_invitation, revoke_node
from hub.extensions import db as hub_db
from hub.identity import hub_identity
from hub.models import AdminUser, ItemRevision, MemberContribution, Node, RelayMessage
from hub.publishing import ItemDraft, ItemFile, create_item, publish_item, schedule_item
from hub.relay import accept_blob, accept_envelope, acknowledge
from hub.search_index import search_index
from node.contributions import submit_contribution
from node.extensions import db as node_db
from node.models import CaseAttachment, UnsubscribeToken, User
from node.oauth_client import token_request_form
from node.publications import pull_public_items
from node.referrals import create_referral
from ponte.accounts import create_user, token_digest
from protocol import NodeIdentity, b64url_encode, seal
from tests.test_enrolment import HUB_SETTINGS, LiveHub, enrol
from tests.test_node_reader import PASSWORD, add_account, cheap_hashing, reader_node
from tests.test_referral_pages import csrf, signed_in
from tests.test_referrals import TestNode, example
from tests.test_relay import referral

__all__ = ["cheap_hashing"]

HUB, NODE = "hub", "node"
TOKEN_URL = "http://localhost/oauth/token"  # the test client's host
ALL_SCOPES = "relay directory:write feeds:read contribute"
METRICS_TOKEN = "metrics token for the matrix"
SECRETARIAT_EMAIL = "secretariat@matrix.example"
CASEWORKER_EMAIL, CASEWORKER_2_EMAIL = "case1@atina.example", "case2@atina.example"
NODE_ADMIN_EMAIL, SIGNED_OUT_EMAIL = "admin@atina.example", "gone@atina.example"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class Outcome(enum.Enum):
    ALLOW = "allow"  # let in: 2xx, 3xx (not to sign-in), or 400/409/422 for an empty body
    DENY_AUTH = "deny: sign in"  # 401, or a redirect to the sign-in page
    DENY_FORBIDDEN = "deny: forbidden"  # 403
    HIDDEN = "hidden"  # 404 for an object that exists: not revealed to this caller
    NOT_YOURS = "not yours"  # 2xx that neither shows nor touches node A's object (a probe says)


ALLOW, DENY_AUTH, DENY_FORBIDDEN = Outcome.ALLOW, Outcome.DENY_AUTH, Outcome.DENY_FORBIDDEN
HIDDEN, NOT_YOURS = Outcome.HIDDEN, Outcome.NOT_YOURS

HUB_ROLES = (
    "anonymous",
    "node_a",
    "node_b",
    "revoked",
    "caseworker",
    "node_admin",
    "secretariat",
)
NODE_ROLES = (*HUB_ROLES, "caseworker_2")
ROLES = {HUB: HUB_ROLES, NODE: NODE_ROLES}
# Intruders before owners: node B tries node A's message before node A acknowledges it.
RUN_ORDER = (
    "anonymous",
    "revoked",
    "node_b",
    "caseworker_2",
    "caseworker",
    "node_admin",
    "secretariat",
    "node_a",
)

Probe = Callable[[TestResponse, "World"], bool]


@dataclass(frozen=True)
class Check:
    """One row: an endpoint and method of one app, and the outcome each role must get."""

    app: str
    endpoint: str
    method: str
    expect: Mapping[str, Outcome]
    args: Mapping[str, str] = field(default_factory=dict)  # URL argument -> World.ids key
    csrf: bool = True  # a browser form: send the role's own CSRF token
    json: Callable[[World], Any] | None = None
    probe: Probe | None = None  # for NOT_YOURS cells

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.app, self.endpoint, self.method)


def roles(app: str, default: Outcome, **overrides: Outcome) -> dict[str, Outcome]:
    unknown = set(overrides) - set(ROLES[app])
    assert not unknown, f"no such role on the {app}: {unknown}"
    expect = {role: overrides.get(role, default) for role in ROLES[app]}
    if app == NODE and "caseworker_2" not in overrides:
        expect["caseworker_2"] = expect["caseworker"]  # cases belong to the NGO, not a person
    return expect


# --- row builders --------------------------------------------------------------------------


def everyone(app: str, endpoint: str, method: str = "GET", **kwargs: Any) -> Check:
    """Public: every role is let in (sign-in pages, the directory, feeds, health, ...)."""
    return Check(app, endpoint, method, roles(app, ALLOW), **kwargs)


def public_api(endpoint: str, method: str = "GET", **kwargs: Any) -> Check:
    """Public JSON; a node token sent along (even a revoked one) is simply not looked at."""
    return Check(HUB, endpoint, method, roles(HUB, ALLOW), csrf=False, **kwargs)


def secretariat_page(endpoint: str, method: str = "GET", **kwargs: Any) -> Check:
    return Check(HUB, endpoint, method, roles(HUB, DENY_AUTH, secretariat=ALLOW), **kwargs)


def node_api(endpoint: str, method: str = "GET", node_b: Outcome = ALLOW, **kwargs: Any) -> Check:
    """A bearer-token API: node A is let in; node B gets ``node_b`` on node A's objects; the
    revoked node's token and every browser (no token) are told to authenticate."""
    expect = roles(HUB, DENY_AUTH, node_a=ALLOW, node_b=node_b)
    return Check(HUB, endpoint, method, expect, csrf=False, **kwargs)


def staff_page(endpoint: str, method: str = "GET", **kwargs: Any) -> Check:
    """Any signed-in person of the node: caseworkers and node admins."""
    expect = roles(NODE, DENY_AUTH, caseworker=ALLOW, node_admin=ALLOW)
    return Check(NODE, endpoint, method, expect, **kwargs)


def admin_page(endpoint: str, method: str = "GET", **kwargs: Any) -> Check:
    """Node admins only; a caseworker is told the page is not for their role."""
    expect = roles(NODE, DENY_AUTH, caseworker=DENY_FORBIDDEN, node_admin=ALLOW)
    return Check(NODE, endpoint, method, expect, **kwargs)


def lacks(*names: str) -> Probe:
    """The answer mentions none of these objects of node A's."""

    def probe(response: TestResponse, world: World) -> bool:
        text = response.get_data(as_text=True)
        return not any(str(world.ids[name]) in text for name in names)

    return probe


def ack_ignored(response: TestResponse, world: World) -> bool:
    """Node B's ack of node A's message acknowledged nothing, and the message still waits."""
    message_id = world.ids["message_to_ack"]
    with world.hub.app.app_context():
        state = hub_db.session.scalar(
            select(RelayMessage.state).where(RelayMessage.message_id == message_id)
        )
    return response.get_json()["acknowledged"] == [] and state == "queued"


# --- the table -----------------------------------------------------------------------------

METRICS_ON_HUB = roles(
    HUB,
    DENY_AUTH,  # no bearer token: 401 asking for the metrics token
    node_a=DENY_FORBIDDEN,  # a node's token is not the metrics token
    node_b=DENY_FORBIDDEN,
    revoked=DENY_FORBIDDEN,
)
MEMBERS_FILE = roles(
    HUB,
    HIDDEN,  # without a token a members-only item does not exist
    node_a=ALLOW,
    node_b=ALLOW,  # members-only means every member node
    revoked=DENY_AUTH,  # a token that is sent is checked before the item is looked up
)

ALL_HIDDEN = roles(HUB, HIDDEN)

EXPECTATIONS: tuple[Check, ...] = (
    # -- hub: public pages and APIs --
    everyone(HUB, "home.index"),
    everyone(HUB, "static", args={"filename": "hub_stylesheet"}),
    everyone(HUB, "language.choose", args={"code": "language"}),
    everyone(HUB, "health.healthz"),
    everyone(HUB, "health.readyz"),
    Check(HUB, "metrics", "GET", METRICS_ON_HUB),
    everyone(HUB, "directory_pages.search_page"),
    everyone(HUB, "directory_pages.country_page", args={"code": "country"}),
    everyone(HUB, "directory_pages.organisation_page", args={"organisation_id": "organisation_a"}),
    everyone(HUB, "news_pages.news_list"),
    # members-only items are on no public page, whoever asks: members get them by relay
    Check(HUB, "news_pages.news_item", "GET", ALL_HIDDEN, args={"item_id": "members_item"}),
    Check(HUB, "news_pages.news_file", "GET", ALL_HIDDEN, args={"item_id": "members_item"}),
    everyone(HUB, "feeds.feeds_page"),
    everyone(HUB, "feeds.all_feed", args={"ext": "feed_format"}),
    everyone(HUB, "feeds.country_feed", args={"code": "country", "ext": "feed_format"}),
    everyone(HUB, "feeds.kind_feed", args={"kind": "item_kind", "ext": "feed_format"}),
    everyone(HUB, "feeds.topic_feed", args={"topic": "topic", "ext": "feed_format"}),
    public_api("openapi.openapi_json"),
    public_api("oauth.metadata"),
    public_api("oauth.token", "POST"),  # the signed assertion is the credential
    public_api("enrolment_api.enrol", "POST"),  # the invitation is the credential
    public_api("enrolment_api.hub_key"),
    public_api("directory_api.search"),
    public_api("directory_api.organisation", args={"id": "organisation_a"}),
    public_api("directory_api.country", args={"code": "country"}),
    public_api("hsds.about"),
    public_api("hsds.organizations"),
    public_api("hsds.organization", args={"id": "organisation_a"}),
    public_api("hsds.services"),
    public_api("hsds.service", args={"id": "hsds_service"}),
    public_api("hsds.service_at_locations"),
    public_api("hsds.service_at_location", args={"id": "hsds_service_at_location"}),
    public_api("hsds.taxonomies"),
    public_api("hsds.taxonomy", args={"id": "hsds_taxonomy"}),
    public_api("hsds.taxonomy_terms"),
    public_api("hsds.taxonomy_term", args={"id": "hsds_taxonomy_term"}),
    public_api("publications_api.publications"),
    Check(
        HUB,
        "publications_api.publication",
        "GET",
        ALL_HIDDEN,
        args={"item_id": "members_item"},
        csrf=False,
    ),
    Check(
        HUB,
        "publications_api.publication_file",
        "GET",
        MEMBERS_FILE,
        args={"item_id": "members_item"},
        csrf=False,
    ),
    # -- hub: the secretariat's sign-in (open to all) and its pages (secretariat only) --
    everyone(HUB, "admin.account.login"),
    everyone(HUB, "admin.account.login", "POST"),
    everyone(HUB, "admin.account.logout", "POST"),
    secretariat_page("admin.index"),
    secretariat_page("membership.audit_log"),
    secretariat_page("membership.invitations"),
    secretariat_page("membership.new_invitation"),
    secretariat_page("membership.create", "POST"),
    secretariat_page("membership.withdraw", "POST", args={"invitation_id": "invitation"}),
    secretariat_page("membership.nodes"),
    secretariat_page("membership.node_detail", args={"node_id": "node_a"}),
    secretariat_page("membership.confirm_revoke", args={"node_id": "node_a"}),
    # on the node already revoked: revoking it again changes nothing
    secretariat_page("membership.revoke", "POST", args={"node_id": "revoked_node"}),
    secretariat_page("publishing.items"),
    secretariat_page("publishing.new_item"),
    secretariat_page("publishing.create", "POST"),
    secretariat_page("publishing.item_page", args={"item_id": "draft"}),
    secretariat_page("publishing.edit_page", args={"item_id": "draft"}),
    secretariat_page("publishing.save_edit", "POST", args={"item_id": "draft"}),
    secretariat_page("publishing.publish", "POST", args={"item_id": "draft_to_publish"}),
    secretariat_page("publishing.schedule", "POST", args={"item_id": "draft"}),
    secretariat_page("publishing.unschedule", "POST", args={"item_id": "scheduled_item"}),
    secretariat_page("publishing.confirm_retract", args={"item_id": "public_item"}),
    secretariat_page("publishing.retract", "POST", args={"item_id": "public_item"}),
    secretariat_page(
        "publishing.revision_page", args={"item_id": "draft", "revision_id": "draft_revision"}
    ),
    secretariat_page("publishing.contributions"),
    secretariat_page(
        "publishing.approve", "POST", args={"contribution_id": "contribution_to_approve"}
    ),
    secretariat_page(
        "publishing.reject", "POST", args={"contribution_id": "contribution_to_reject"}
    ),
    # -- hub: the node-facing APIs (bearer tokens) --
    node_api("enrolment_api.ping"),
    # any member reads a partner's attested keys: that is how it encrypts to it
    node_api("enrolment_api.node_keys", args={"node_id": "node_a"}),
    node_api(
        "enrolment_api.rotate_keys", "POST", node_b=DENY_FORBIDDEN, args={"node_id": "node_a"}
    ),
    node_api(
        "profile_api.update_profile",
        "POST",
        node_b=DENY_FORBIDDEN,
        args={"organisation_id": "organisation_a"},
    ),
    node_api("relay_api.post_envelope", "POST"),
    node_api("relay_api.inbox", node_b=NOT_YOURS, probe=lacks("message_in_inbox")),
    node_api(
        "relay_api.ack",
        "POST",
        node_b=NOT_YOURS,
        json=lambda world: {"ids": [world.ids["message_to_ack"]]},
        probe=ack_ignored,
    ),
    node_api("relay_api.notices", node_b=NOT_YOURS, probe=lacks("notice_of_a")),
    node_api("relay_api.post_blob", "POST"),
    node_api(
        "relay_api.get_blob", node_b=HIDDEN, args={"sender": "node_b", "blob_id": "blob_to_get"}
    ),
    node_api(
        "relay_api.delete_blob",
        "DELETE",
        node_b=HIDDEN,
        args={"sender": "node_b", "blob_id": "blob_to_delete"},
    ),
    node_api("publications_api.contribute", "POST"),  # node B proposes for its own NGO
    node_api(
        "publications_api.contributions",
        node_b=NOT_YOURS,
        probe=lacks("contribution_to_approve_id", "contribution_to_reject_id"),
    ),
    # -- node: public --
    everyone(NODE, "home.index"),
    everyone(NODE, "static", args={"filename": "node_stylesheet"}),
    everyone(NODE, "language.choose", args={"code": "language"}),
    everyone(NODE, "health.healthz"),
    everyone(NODE, "health.readyz"),
    Check(NODE, "metrics", "GET", roles(NODE, DENY_AUTH)),  # only the metrics token opens it
    everyone(NODE, "account.login"),
    everyone(NODE, "account.login", "POST"),
    everyone(NODE, "account.logout", "POST"),
    # the link in a digest e-mail: its token is the credential, whoever follows it
    everyone(NODE, "news.unsubscribe", args={"token": "unsubscribe_token"}),
    everyone(NODE, "news.unsubscribe", "POST", args={"token": "unsubscribe_token"}),
    # -- node: every signed-in person --
    staff_page("cases.list_cases"),
    staff_page("cases.new_case"),
    staff_page("cases.new_case", "POST"),
    staff_page("cases.show_case", args={"referral_id": "case"}),
    staff_page(
        "cases.download_attachment", args={"referral_id": "case", "attachment_id": "attachment"}
    ),
    staff_page("cases.set_case_status", "POST", args={"referral_id": "case"}),
    staff_page("cases.send_message", "POST", args={"referral_id": "case"}),
    staff_page("news.list_items"),
    staff_page("news.show_item", args={"item_id": "public_item"}),
    staff_page("news.download_file", args={"item_id": "public_item"}),
    staff_page("news.unread", "POST", args={"item_id": "public_item"}),
    staff_page("news.read_all", "POST"),
    staff_page("news.subscription"),
    staff_page("news.subscription", "POST"),
    # comparing a partner's safety number is for whoever is on the phone with the partner
    staff_page("partners.list_partners"),
    staff_page("partners.refresh", "POST"),
    staff_page("partners.confirm", "POST", args={"node_id": "node_b"}),
    # -- node: node admins only --
    admin_page("profile.edit"),
    admin_page("profile.edit", "POST"),
    admin_page("news.problems"),
    admin_page("news.contribute"),
    admin_page("news.contribute", "POST"),
    admin_page("news.list_contributions"),
    admin_page("audit.log"),
)


# --- the world: a live hub, node A's app, and the objects the rows name ---------------------


@dataclass
class Browser:
    """One role's browser (or API client) on one app."""

    client: FlaskClient
    headers: dict[str, str] = field(default_factory=dict)
    replay_cookie: tuple[str, str] | None = None  # (name, value) set again before each request

    def prepare(self) -> None:
        if self.replay_cookie is not None:
            self.client.set_cookie(*self.replay_cookie)


@dataclass
class World:
    hub: LiveHub
    node: TestNode
    ids: dict[str, Any]
    browsers: dict[tuple[str, str], Browser] = field(default_factory=dict)

    def app(self, name: str) -> Flask:
        return self.hub.app if name == HUB else self.node.app


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory) -> Iterator[LiveHub]:
    app = create_hub_app(
        tmp_path_factory.mktemp("matrix-hub"), {**HUB_SETTINGS, "METRICS_TOKEN": METRICS_TOKEN}
    )
    with app.app_context():
        import_directory(hub_db.session, search_index())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveHub(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


@pytest.fixture(scope="module")
def world(live_hub, tmp_path_factory, cheap_hashing) -> World:
    hub = live_hub
    node = reader_node(hub, tmp_path_factory, "Atina", "matrix-node-a")
    node.app.config["METRICS_TOKEN"] = METRICS_TOKEN
    _, identity_b = enrol(hub, tmp_path_factory.mktemp("matrix-node-b"), "Payoke")
    _, identity_r = enrol(hub, tmp_path_factory.mktemp("matrix-node-r"), "Asociatia FREE")
    identity_a = node.keys.identities[-1]
    ids: dict[str, Any] = {
        "node_a": identity_a.node_id,
        "node_b": identity_b.node_id,
        "revoked_node": identity_r.node_id,
        "organisation_a": node.organisation_id,
        "language": "en",
        "feed_format": "atom",
        "item_kind": "news",
        "topic": "identification",
        "hub_stylesheet": "ponte.css",
        "node_stylesheet": "node.css",
    }
    tokens = {
        name: bearer(hub.app, identity)
        for name, identity in (("node_a", identity_a), ("node_b", identity_b))
    }
    tokens["revoked"] = bearer(hub.app, identity_r)  # taken while the node was still active
    ids.update(hub_objects(hub, identity_a, identity_b, identity_r))
    ids.update(hsds_ids(hub.app))
    ids.update(node_objects(hub, node, ids))
    world = World(hub, node, ids)
    world.browsers.update(hub_browsers(hub.app, tokens))
    world.browsers.update(node_browsers(node))
    return world


def bearer(app: Flask, identity: NodeIdentity) -> dict[str, str]:
    form = token_request_form(identity, TOKEN_URL, ALL_SCOPES)
    response = app.test_client().post("/oauth/token", data=form)
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def hub_objects(
    hub: LiveHub, a: NodeIdentity, b: NodeIdentity, revoked: NodeIdentity
) -> dict[str, Any]:
    """Relay traffic, publishing items and an invitation, made as the hub's code makes them;
    then the third node is revoked and the secretariat gets an account."""
    with hub.app.app_context():
        session = hub_db.session
        ids = relay_objects(a, b)
        ids.update(publishing_objects())
        ids["country"] = session.get_one(Organization, organisation_of(a.node_id)).country
        invitation = create_invitation(session, organisation_of(b.node_id), "matrix")
        ids["invitation"] = invitation.invitation.id
        revoke_node(session, hub_identity(), revoked.node_id, "matrix")
        create_user(session, AdminUser, SECRETARIAT_EMAIL, PASSWORD)
        return ids


def organisation_of(node_id: str) -> str:
    """The hub's organisation id of an enrolled node (inside the hub's app context)."""
    return hub_db.session.get_one(Node, node_id).organization_id


def relay_objects(a: NodeIdentity, b: NodeIdentity) -> dict[str, str]:
    """Two envelopes and two blobs from B waiting for A; a notice for A about one A sent."""
    session = hub_db.session
    node_a, node_b = session.get_one(Node, a.node_id), session.get_one(Node, b.node_id)

    def envelope(sender: NodeIdentity, node: Node, recipient: NodeIdentity) -> str:
        wire = seal(sender, recipient.public_record(), "referral", referral()).to_wire()
        return accept_envelope(session, node, wire).message.message_id

    def blob() -> str:
        blob_id = b64url_encode(os.urandom(16))
        expires = int(time.time()) + 86400
        accept_blob(session, node_b, blob_id, a.node_id, expires, os.urandom(1024 + 40))
        return blob_id

    notice_of_a = envelope(a, node_a, b)
    acknowledge(session, node_b, [notice_of_a])  # B received it: A's notice says delivered
    return {
        "message_in_inbox": envelope(b, node_b, a),
        "message_to_ack": envelope(b, node_b, a),
        "notice_of_a": notice_of_a,
        "blob_to_get": blob(),
        "blob_to_delete": blob(),
    }


def publishing_objects() -> dict[str, Any]:
    session, actor = hub_db.session, SECRETARIAT_EMAIL

    def item(title: str, **fields: Any) -> Any:
        draft = ItemDraft(
            kind=fields.pop("kind", "news"), title=title, body_markdown=f"About {title}.", **fields
        )
        return create_item(session, draft, actor)

    def resource(title: str, audience: str) -> str:
        guide = ItemFile("guide.txt", "text/plain", f"The {title}.".encode())
        made = item(title, kind="resource", audience=audience, file=guide)
        return publish_item(session, made, actor).id

    draft = item("Matrix draft")
    scheduled = item("Matrix scheduled")
    schedule_item(session, scheduled, dt_in(days=3), actor)
    revision = session.scalars(select(ItemRevision.id).where(ItemRevision.item_id == draft.id))
    return {
        "public_item": resource("public guide", "public"),
        "members_item": resource("members' guide", "members"),
        "draft": draft.id,
        "draft_revision": revision.first(),
        "draft_to_publish": item("Matrix draft to publish").id,
        "scheduled_item": scheduled.id,
    }


def dt_in(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


def hsds_ids(app: Flask) -> dict[str, str]:
    """The first service, service-at-location, taxonomy and term of the seed directory."""
    client = app.test_client()

    def first(path: str) -> str:
        return client.get(path).get_json()["contents"][0]["id"]

    return {
        "hsds_service": first("/hsds/services"),
        "hsds_service_at_location": first("/hsds/service_at_locations"),
        "hsds_taxonomy": first("/hsds/taxonomies"),
        "hsds_taxonomy_term": first("/hsds/taxonomy_terms"),
    }


def node_objects(hub: LiveHub, node: TestNode, ids: Mapping[str, Any]) -> dict[str, Any]:
    """On node A: its people, a case caseworker 1 wrote (with a file), the hub's public item,
    a digest unsubscribe link, and two contributions waiting on the hub."""
    for email, role in (
        (CASEWORKER_EMAIL, "caseworker"),
        (CASEWORKER_2_EMAIL, "caseworker"),
        (NODE_ADMIN_EMAIL, "admin"),
        (SIGNED_OUT_EMAIL, "caseworker"),
    ):
        add_account(node, email, role)
    with hub.app.app_context():
        organisation_b = organisation_of(ids["node_b"])
    with node.app.app_context():
        made = case_of_caseworker_1(node, organisation_b)
        pull_public_items(node_db.session, node.keys)
        made["unsubscribe_token"] = unsubscribe_link()
        proposed = [
            submit_contribution(
                node_db.session, node.keys, news_item(title), NODE_ADMIN_EMAIL
            ).contribution_id
            for title in ("Matrix proposal to approve", "Matrix proposal to reject")
        ]
    made.update(hub_contribution_ids(hub, proposed))
    return made


def case_of_caseworker_1(node: TestNode, organisation_id: str) -> dict[str, str]:
    session = node_db.session
    [case] = create_referral(
        session,
        node.keys,
        example(),
        [organisation_id],
        CASEWORKER_EMAIL,
        attachments=[("note.txt", "text/plain", b"a note about the case")],
    )
    query = select(CaseAttachment.attachment_id).where(CaseAttachment.referral_id == case.id)
    return {"case": case.id, "attachment": session.scalars(query).one()}


def unsubscribe_link() -> str:
    """The token of a digest e-mail's unsubscribe link, as one sent to caseworker 1 carries."""
    session, token = node_db.session, "matrix-unsubscribe-token"
    reader = session.scalars(select(User.id).where(User.email == CASEWORKER_EMAIL)).one()
    session.add(UnsubscribeToken(token_hash=token_digest(token), user_id=reader))
    session.commit()
    return token


def news_item(title: str) -> dict[str, Any]:
    return {
        "item_kind": "news",
        "title": title,
        "body_markdown": f"Why {title} matters.",
        "language": "en",
        "topics": [],
        "countries": [],
    }


def hub_contribution_ids(hub: LiveHub, contribution_ids: list[str]) -> dict[str, Any]:
    with hub.app.app_context():
        rows = {
            row.contribution_id: row.id
            for row in hub_db.session.scalars(select(MemberContribution))
        }
    to_approve, to_reject = contribution_ids
    return {
        "contribution_to_approve": rows[to_approve],
        "contribution_to_reject": rows[to_reject],
        "contribution_to_approve_id": to_approve,  # as the API shows them to their node
        "contribution_to_reject_id": to_reject,
    }


def hub_browsers(app: Flask, tokens: Mapping[str, dict[str, str]]) -> dict[Any, Browser]:
    browsers = {(HUB, role): Browser(app.test_client()) for role in HUB_ROLES}
    for role, headers in tokens.items():
        browsers[HUB, role].headers = headers
    secretariat = browsers[HUB, "secretariat"].client
    login = {"email": SECRETARIAT_EMAIL, "password": PASSWORD}
    token = csrf(secretariat.get("/admin/login").get_data(as_text=True))
    response = secretariat.post("/admin/login", data={"csrf_token": token, **login})
    assert response.status_code == 302
    return browsers


def node_browsers(node: TestNode) -> dict[Any, Browser]:
    app = node.app
    browsers = {(NODE, role): Browser(app.test_client()) for role in NODE_ROLES}
    for role, email in (
        ("caseworker", CASEWORKER_EMAIL),
        ("caseworker_2", CASEWORKER_2_EMAIL),
        ("node_admin", NODE_ADMIN_EMAIL),
    ):
        browsers[NODE, role] = Browser(signed_in(node, email))
    browsers[NODE, "revoked"] = signed_out_browser(node)
    return browsers


def signed_out_browser(node: TestNode) -> Browser:
    """A caseworker's browser whose cookie from before sign-out is put back each time."""
    browser = signed_in(node, SIGNED_OUT_EMAIL)
    name = node.app.config["SESSION_COOKIE_NAME"]
    cookie = browser.get_cookie(name)
    assert cookie is not None
    browser.post("/logout", data={"csrf_token": csrf_token(browser)})
    return Browser(browser, replay_cookie=(name, cookie.value))


# --- sending and judging -------------------------------------------------------------------


def csrf_token(client: FlaskClient) -> str:
    """A valid CSRF token of this browser's own session, as its form pages would carry."""
    with (
        client.session_transaction() as browser_session,
        client.application.test_request_context(),
    ):
        session.update(browser_session)
        token = generate_csrf()
        browser_session.update(session)
    return token


def url(world: World, check: Check) -> str:
    values = {arg: world.ids[name] for arg, name in check.args.items()}
    adapter = world.app(check.app).url_map.bind("localhost")
    return adapter.build(check.endpoint, values, method=check.method)


def send(world: World, check: Check, role: str) -> TestResponse:
    browser = world.browsers[check.app, role]
    browser.prepare()
    options: dict[str, Any] = {"method": check.method, "headers": browser.headers}
    if check.json is not None:
        options["json"] = check.json(world)
    elif check.method in UNSAFE and check.csrf:
        options["data"] = {"csrf_token": csrf_token(browser.client)}
    return browser.client.open(url(world, check), **options)


def to_sign_in(response: TestResponse) -> bool:
    """A redirect to a sign-in page that brings the person back (``?next=``)."""
    if response.status_code not in (301, 302, 303, 307):
        return False
    target = urlsplit(response.headers.get("Location", ""))
    return target.path.endswith("/login") and "next" in parse_qs(target.query)


def classify(response: TestResponse) -> Outcome | int:
    status = response.status_code
    if status == 401 or to_sign_in(response):
        return DENY_AUTH
    if status == 403:
        return DENY_FORBIDDEN
    if status == 404:
        return HIDDEN
    if status < 400 or status in (400, 409, 422):
        return ALLOW
    return status  # anything else (5xx, 405, ...) is a failure whatever was expected


def observe(world: World, check: Check, role: str, response: TestResponse) -> Outcome | int:
    """The outcome class of this answer; a 2xx is NOT_YOURS where the row's probe agrees."""
    seen = classify(response)
    wanted = check.expect[role]
    if wanted is NOT_YOURS and seen is ALLOW and response.status_code < 300:
        assert check.probe is not None
        return NOT_YOURS if check.probe(response, world) else seen
    return seen


def label(outcome: Outcome | int) -> str:
    return outcome.value if isinstance(outcome, Outcome) else f"HTTP {outcome}"


def run_matrix(world: World, app: str) -> tuple[list[str], Counter[str]]:
    """Every cell of ``app``: the mismatches, and how many cells had each outcome."""
    rows = [check for check in EXPECTATIONS if check.app == app]
    # Signing out ends the role's session on the server: those rows go last.
    rows.sort(key=lambda check: check.endpoint.endswith(".logout"))
    failures: list[str] = []
    outcomes: Counter[str] = Counter()
    for check in rows:
        for role in (r for r in RUN_ORDER if r in ROLES[app]):
            response = send(world, check, role)
            seen, wanted = observe(world, check, role, response), check.expect[role]
            outcomes[label(seen)] += 1
            if seen != wanted:
                failures.append(
                    f"{app} {check.method} {url(world, check)} ({check.endpoint}) as {role}: "
                    f"expected {label(wanted)}, got {label(seen)} "
                    f"(HTTP {response.status_code} {response.headers.get('Location', '')})"
                )
    return failures, outcomes


def summary(app: str, outcomes: Counter[str]) -> str:
    rows = [check for check in EXPECTATIONS if check.app == app]
    endpoints = {check.endpoint for check in rows}
    by_outcome = ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
    return (
        f"{app}: {len(endpoints)} endpoints, {len(rows)} endpoint x method, "
        f"{len(ROLES[app])} roles, {outcomes.total()} cells ({by_outcome})"
    )


# --- the tests -----------------------------------------------------------------------------


def url_map_cells(app: Flask, name: str) -> set[tuple[str, str, str]]:
    return {
        (name, rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    }


def test_every_endpoint_has_a_row(world):
    table = [check.key for check in EXPECTATIONS]
    assert len(table) == len(set(table)), "a row is in the table twice"
    routed = url_map_cells(world.hub.app, HUB) | url_map_cells(world.node.app, NODE)
    missing = sorted(routed - set(table))
    stale = sorted(set(table) - routed)
    assert not missing, f"endpoints without a row in EXPECTATIONS: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"
    for check in EXPECTATIONS:
        assert set(check.expect) == set(ROLES[check.app]), check.key
        assert (NOT_YOURS in check.expect.values()) == (check.probe is not None), check.key


def test_the_roles_are_what_they_claim(world):
    """The matrix means something only if its credentials work where they should."""
    node_a = world.browsers[HUB, "node_a"]
    ping = node_a.client.get("/api/v1/ping", headers=node_a.headers)
    assert ping.get_json() == {"node_id": world.ids["node_a"]}
    revoked = world.browsers[HUB, "revoked"]
    refused = revoked.client.get("/api/v1/ping", headers=revoked.headers)
    assert "revoked" in refused.get_json()["error_description"]
    for role, email in (("caseworker", CASEWORKER_EMAIL), ("node_admin", NODE_ADMIN_EMAIL)):
        assert email in world.browsers[NODE, role].client.get("/").get_data(as_text=True)
    signed_out = world.browsers[NODE, "revoked"]
    signed_out.prepare()
    # "expired": the cookie named a session, which the server no longer honours
    assert "expired=1" in signed_out.client.get("/cases/").headers["Location"]
    secretariat = world.browsers[HUB, "secretariat"].client
    assert SECRETARIAT_EMAIL in secretariat.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("app", [HUB, NODE])
def test_each_role_gets_what_the_table_says(world, app):
    failures, outcomes = run_matrix(world, app)
    print(summary(app, outcomes))
    rows = sum(check.app == app for check in EXPECTATIONS)
    assert outcomes.total() == rows * len(ROLES[app])
    assert not failures, "\n".join(failures)
