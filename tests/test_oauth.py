"""The hub's OAuth 2.0 authorization server: private_key_jwt client credentials, bearer tokens."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, g, jsonify
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

import hub.oauth
from directory.models import Organization
from hub import create_app
from hub.extensions import db
from hub.models import Node, NodeKey, OAuthToken, UsedAssertion
from hub.oauth import purge_expired, require_token, revoke_node_tokens
from node.oauth_client import (
    ASSERTION_TYPE,
    assertion_claims,
    client_assertion,
    sign_claims,
    token_request_form,
)
from protocol import NodeIdentity

TOKEN_URL = "http://localhost/oauth/token"
PROBE = "/test/relay-probe"


@dataclass
class Hub:
    app: Flask
    client: FlaskClient
    a: NodeIdentity
    b: NodeIdentity

    def token_response(self, form: dict[str, str], query: str = "") -> Any:
        return self.client.post("/oauth/token" + query, data=form)

    def token(self, identity: NodeIdentity, scope: str = "relay") -> str:
        response = self.token_response(token_request_form(identity, TOKEN_URL, scope))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    def probe(self, token: str) -> Any:
        return self.client.get(PROBE, headers={"Authorization": f"Bearer {token}"})

    def counts(self) -> tuple[int, int]:
        with self.app.app_context():
            used = db.session.scalar(select(func.count()).select_from(UsedAssertion))
            tokens = db.session.scalar(select(func.count()).select_from(OAuthToken))
            return used, tokens

    def refused(self, form: dict[str, str], error: str, says: str, query: str = "") -> None:
        """The request gets ``error`` with a description containing ``says``; no row changes."""
        before = self.counts()
        response = self.token_response(form, query)
        body = response.get_json()
        assert response.status_code == 400, body
        assert body["error"] == error, body
        assert says in body["error_description"], body
        assert response.headers["Cache-Control"] == "no-store"
        assert self.counts() == before


def add_node(app: Flask, identity: NodeIdentity) -> None:
    with app.app_context():
        node = Node(id=identity.node_id, organization_id="org-1")
        record = identity.public_record().to_dict()
        node.keys.append(NodeKey(key_version=1, record=record, attestation={}))
        db.session.add(node)
        db.session.commit()


def make_hub(tmp_path: Any, overrides: dict[str, Any] | None = None) -> Hub:
    app = create_app(tmp_path / "data", overrides)

    @app.get(PROBE)
    @require_token("relay")
    def relay_probe() -> Any:
        return jsonify(node=g.node.id)

    with app.app_context():
        db.session.add(Organization(id="org-1", name="Org", kind="ngo", country="DE"))
        db.session.commit()
    a, b = NodeIdentity.generate("node-a"), NodeIdentity.generate("node-b")
    add_node(app, a)
    add_node(app, b)
    return Hub(app, app.test_client(), a, b)


@pytest.fixture
def hub_app(tmp_path) -> Hub:
    return make_hub(tmp_path)


def form_with(assertion: str, scope: str = "relay") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def signed(identity: NodeIdentity, signer: NodeIdentity | None = None, **changes: Any) -> str:
    """An assertion for ``identity`` with claims changed (None removes one), signed by
    ``signer`` (default: the identity itself)."""
    claims = assertion_claims(identity, TOKEN_URL)
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return sign_claims(signer or identity, claims)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the good path ---------------------------------------------------------------------------


def test_token_issued_for_good_assertion_and_accepted(hub_app):
    response = hub_app.token_response(token_request_form(hub_app.a, TOKEN_URL, "relay"))
    body = response.get_json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "relay"
    assert body["expires_in"] == 600
    assert "refresh_token" not in body
    assert response.headers["Cache-Control"] == "no-store"
    probe = hub_app.probe(body["access_token"])
    assert probe.status_code == 200
    assert probe.get_json() == {"node": "node-a"}


def test_several_scopes_and_the_issuer_as_audience(hub_app):
    assertion = signed(hub_app.a, aud="http://localhost")
    response = hub_app.token_response(form_with(assertion, "feeds:read relay relay"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "relay feeds:read"


def test_metadata_document(hub_app):
    response = hub_app.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.get_json() == {
        "issuer": "http://localhost",
        "token_endpoint": TOKEN_URL,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "scopes_supported": ["relay", "directory:write", "feeds:read", "contribute"],
        "response_types_supported": [],
    }


def test_hub_url_sets_issuer_and_audience(tmp_path):
    hub = make_hub(tmp_path, {"HUB_URL": "https://hub.example.org/"})
    metadata = hub.client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["issuer"] == "https://hub.example.org"
    assert metadata["token_endpoint"] == "https://hub.example.org/oauth/token"
    good = token_request_form(hub.a, "https://hub.example.org/oauth/token", "relay")
    assert hub.token_response(good).status_code == 200
    # The request's own host is no audience once HUB_URL says where the hub is.
    local = token_request_form(hub.a, TOKEN_URL, "relay")
    hub.refused(local, "invalid_client", "aud must be the token endpoint")


def test_assertion_shape():
    identity = NodeIdentity.generate("node-a")
    header, payload, _ = client_assertion(identity, TOKEN_URL, now=1_000_000).split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "EdDSA", "typ": "JWT"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["iss"] == claims["sub"] == "node-a"
    assert claims["aud"] == TOKEN_URL
    assert (claims["iat"], claims["exp"]) == (1_000_000, 1_000_060)
    assert len(claims["jti"]) >= 32
    assert client_assertion(identity, TOKEN_URL) != client_assertion(identity, TOKEN_URL)


# --- refused client assertions: invalid_client, nothing stored --------------------------------


def test_forged_signature(hub_app):
    header, _, signature = signed(hub_app.a).split(".")
    claims = assertion_claims(hub_app.a, TOKEN_URL)
    claims["exp"] += 30  # any change to the signed claims
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    hub_app.refused(form_with(forged), "invalid_client", "signature does not verify")


def test_assertion_signed_by_another_nodes_key(hub_app):
    assertion = signed(hub_app.a, signer=hub_app.b)  # claims to be node-a, signed by node-b
    hub_app.refused(form_with(assertion), "invalid_client", "signature does not verify")


def test_expired_assertion(hub_app):
    old = client_assertion(hub_app.a, TOKEN_URL, now=int(time.time()) - 200)
    hub_app.refused(form_with(old), "invalid_client", "expired")


def test_exp_too_far_ahead(hub_app):
    assertion = signed(hub_app.a, exp=int(time.time()) + 3600)
    hub_app.refused(form_with(assertion), "invalid_client", "more than 300 seconds ahead")


def test_issued_in_the_future(hub_app):
    now = int(time.time())
    assertion = signed(hub_app.a, iat=now + 120, exp=now + 180)
    hub_app.refused(form_with(assertion), "invalid_client", "issued in the future")


@pytest.mark.parametrize(
    "aud",
    [
        "https://evil.example/oauth/token",
        "http://localhost/oauth/token/",
        [TOKEN_URL, "https://evil.example/oauth/token"],
        [],
    ],
)
def test_wrong_audience(hub_app, aud):
    assertion = signed(hub_app.a, aud=aud)
    hub_app.refused(form_with(assertion), "invalid_client", "aud")


@pytest.mark.parametrize("claim", ["jti", "exp", "aud", "iss"])
def test_missing_claim(hub_app, claim):
    assertion = signed(hub_app.a, **{claim: None})
    hub_app.refused(form_with(assertion), "invalid_client", f"missing claim(s) {claim}")


def test_overlong_jti(hub_app):
    assertion = signed(hub_app.a, jti="x" * 201)
    hub_app.refused(form_with(assertion), "invalid_client", "jti is longer than 200")


def test_iss_differs_from_sub(hub_app):
    assertion = signed(hub_app.a, iss="node-b")
    hub_app.refused(form_with(assertion), "invalid_client", "iss and sub must both be")


def test_replayed_jti(hub_app):
    form = token_request_form(hub_app.a, TOKEN_URL, "relay")
    assert hub_app.token_response(form).status_code == 200
    hub_app.refused(form, "invalid_client", "used before")


def test_replay_still_refused_after_a_purge(hub_app, monkeypatch):
    """A jti is kept until its assertion's exp plus the allowed clock skew."""
    form = token_request_form(hub_app.a, TOKEN_URL, "relay")
    assert hub_app.token_response(form).status_code == 200
    later = int(time.time()) + 100  # the assertion (exp + 60 s leeway) is still acceptable
    monkeypatch.setattr(hub.oauth, "current_time", lambda: later)
    with hub_app.app.app_context():
        purge_expired(db.session)
        db.session.commit()
    hub_app.refused(form, "invalid_client", "used before")


def test_unknown_client(hub_app):
    stranger = NodeIdentity.generate("node-zzz")
    form = token_request_form(stranger, TOKEN_URL, "relay")
    hub_app.refused(form, "invalid_client", "does not exist")


def test_unsigned_or_hmac_assertion(hub_app):
    claims = b64(json.dumps(assertion_claims(hub_app.a, TOKEN_URL)).encode())
    none = b64(b'{"alg":"none"}') + "." + claims + "."
    hub_app.refused(form_with(none), "invalid_client", "not allowed")
    hmac = b64(b'{"alg":"HS256"}') + "." + claims + "." + b64(b"x" * 32)
    hub_app.refused(form_with(hmac), "invalid_client", "not allowed")


def test_garbage_assertion(hub_app):
    hub_app.refused(form_with("not-a-jwt"), "invalid_client", "Invalid JWT")


def test_no_client_assertion(hub_app):
    form = {"grant_type": "client_credentials", "scope": "relay", "client_id": "node-a"}
    hub_app.refused(form | {"client_secret": "x"}, "invalid_client", "cannot authenticate")


def test_client_id_must_match_assertion(hub_app):
    form = token_request_form(hub_app.a, TOKEN_URL, "relay") | {"client_id": "node-b"}
    hub_app.refused(form, "invalid_client", "client_id does not match")


def test_expired_node_key(hub_app):
    old = NodeIdentity.generate("node-old", now=int(time.time()) - 1000, lifetime=100)
    add_node(hub_app.app, old)
    form = token_request_form(old, TOKEN_URL, "relay")
    hub_app.refused(form, "invalid_client", "key has expired")


# --- revocation ------------------------------------------------------------------------------


def test_revoked_node_refused_and_its_tokens_stop_at_once(hub_app):
    token = hub_app.token(hub_app.a)
    other = hub_app.token(hub_app.b)
    assert hub_app.probe(token).status_code == 200
    with hub_app.app.app_context():
        db.session.get_one(Node, "node-a").revoked_at = dt.datetime.now(dt.UTC)
        db.session.commit()
    # The existing token stops working even before its tokens are marked revoked.
    probe = hub_app.probe(token)
    assert probe.status_code == 401
    assert probe.get_json()["error"] == "invalid_token"
    assert "revoked" in probe.get_json()["error_description"]
    assert 'error="invalid_token"' in probe.headers["WWW-Authenticate"]
    form = token_request_form(hub_app.a, TOKEN_URL, "relay")
    hub_app.refused(form, "invalid_client", "node has been revoked")
    assert hub_app.probe(other).status_code == 200  # other nodes are unaffected


def test_revoke_node_tokens(hub_app):
    tokens = [hub_app.token(hub_app.a), hub_app.token(hub_app.a, "feeds:read")]
    other = hub_app.token(hub_app.b)
    with hub_app.app.app_context():
        assert revoke_node_tokens(db.session, "node-a") == 2
        db.session.commit()
    probe = hub_app.probe(tokens[0])
    assert probe.status_code == 401
    assert probe.get_json()["error_description"] == "The access token has been revoked."
    assert hub_app.probe(other).status_code == 200


# --- scopes ----------------------------------------------------------------------------------


def test_wrong_scope_requested(hub_app):
    form = token_request_form(hub_app.a, TOKEN_URL, "relay admin")
    hub_app.refused(form, "invalid_scope", "Unknown scope admin")


def test_scope_required(hub_app):
    form = token_request_form(hub_app.a, TOKEN_URL, "")
    hub_app.refused(form, "invalid_scope", "Ask for a scope")


def test_token_for_another_scope_is_insufficient(hub_app):
    token = hub_app.token(hub_app.a, "feeds:read")
    probe = hub_app.probe(token)
    assert probe.status_code == 403
    assert probe.get_json()["error"] == "insufficient_scope"
    challenge = probe.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="ponte-hub"')
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="relay"' in challenge


def test_require_token_refuses_unknown_scope():
    with pytest.raises(ValueError, match="unknown scope"):
        require_token("relays")


# --- bearer tokens on node-facing endpoints ----------------------------------------------------


def test_missing_or_unknown_token(hub_app):
    missing = hub_app.client.get(PROBE)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="ponte-hub"'  # RFC 6750 3.1
    assert missing.get_json()["error"] == "missing_authorization"
    unknown = hub_app.probe("not-a-token")
    assert unknown.status_code == 401
    assert unknown.get_json() == {
        "error": "invalid_token",
        "error_description": "Unknown access token.",
    }
    basic = hub_app.client.get(PROBE, headers={"Authorization": "Basic bm9kZTp4"})
    assert basic.status_code == 401
    assert basic.headers["WWW-Authenticate"] == 'Bearer realm="ponte-hub"'


def test_expired_token(hub_app, monkeypatch):
    token = hub_app.token(hub_app.a)
    now = int(time.time())
    monkeypatch.setattr(hub.oauth, "current_time", lambda: now + 599)
    assert hub_app.probe(token).status_code == 200
    monkeypatch.setattr(hub.oauth, "current_time", lambda: now + 601)
    probe = hub_app.probe(token)
    assert probe.status_code == 401
    assert probe.get_json()["error_description"] == "The access token has expired; get a new one."


def test_token_not_stored_in_clear(hub_app):
    token = hub_app.token(hub_app.a)
    with hub_app.app.app_context():
        row = db.session.scalars(select(OAuthToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in repr(vars(row))
    database = hub_app.app.config["DATA_DIR"] / "hub.sqlite3"
    stored = b"".join(path.read_bytes() for path in database.parent.glob("hub.sqlite3*"))
    assert token.encode() not in stored


def test_token_lifetime_at_most_15_minutes(hub_app, tmp_path):
    hub_app.token(hub_app.a)
    with hub_app.app.app_context():
        row = db.session.scalars(select(OAuthToken)).one()
        assert dt.timedelta(0) < row.expires_at - row.issued_at <= dt.timedelta(minutes=15)
    for lifetime in (901, 0, "600"):
        with pytest.raises(ValueError, match="OAUTH_TOKEN_LIFETIME"):
            create_app(tmp_path / f"bad-{lifetime}", {"OAUTH_TOKEN_LIFETIME": lifetime})


def test_token_lifetime_configurable(tmp_path):
    hub = make_hub(tmp_path, {"OAUTH_TOKEN_LIFETIME": 120})
    form = token_request_form(hub.a, TOKEN_URL, "relay")
    assert hub.token_response(form).get_json()["expires_in"] == 120


# --- malformed token requests ----------------------------------------------------------------


def test_only_client_credentials(hub_app):
    form = token_request_form(hub_app.a, TOKEN_URL, "relay") | {"grant_type": "password"}
    hub_app.refused(form, "unsupported_grant_type", "grant_type=password")


def test_parameters_in_the_url_or_repeated(hub_app):
    form = token_request_form(hub_app.a, TOKEN_URL, "relay")
    hub_app.refused(form, "invalid_request", "form body", query="?scope=relay")
    before = hub_app.counts()
    repeated = hub_app.client.post(
        "/oauth/token", data=MultiDict([*form.items(), ("scope", "feeds:read")])
    )
    assert repeated.get_json()["error"] == "invalid_request"
    assert hub_app.counts() == before


def test_plain_http_refused_off_loopback(hub_app):
    """Behind a TLS proxy the hub must see https (ProxyFix), or Authlib refuses."""
    form = token_request_form(hub_app.a, "http://hub.example.org/oauth/token", "relay")
    before = hub_app.counts()
    response = hub_app.client.post("/oauth/token", data=form, base_url="http://hub.example.org")
    assert response.status_code == 400
    assert response.get_json()["error"] == "insecure_transport"
    assert hub_app.counts() == before


# --- housekeeping ----------------------------------------------------------------------------


def test_purge_expired(hub_app):
    hub_app.token(hub_app.a)
    hub_app.token(hub_app.b)
    later = int(time.time()) + 3600
    with hub_app.app.app_context():
        assert purge_expired(db.session, later) == (2, 2)
        db.session.commit()
    assert hub_app.counts() == (0, 0)
