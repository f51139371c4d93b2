"""The hub as an OAuth 2.0 authorization server for its member nodes (Authlib).

Nodes use the client credentials grant and authenticate with ``private_key_jwt`` (RFC 7523):
a short JWT signed with the node's Ed25519 key (EdDSA), checked against the node's current key
record. The hub answers with a random bearer token, valid for minutes, of which it keeps only
the SHA-256 hash. Node-facing endpoints take it through :func:`require_token`.

Choices (RFC 7523 section 3, RFC 6749 section 3.3):

- Every failed client assertion (bad signature, another node's key, expired, exp too far
  ahead, wrong aud, missing or replayed jti, unknown or revoked node) is ``invalid_client``.
- ``scope`` is required: a node asks for what it needs (``relay``, ``directory:write``,
  ``feeds:read``, ``contribute``), so no token carries more than that by accident.
- A refused token request changes nothing: its transaction is rolled back, jti included.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    TokenMixin,
)
from authlib.oauth2.rfc6749.errors import ForbiddenError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import (
    BearerTokenGenerator,
    BearerTokenValidator,
    InsufficientScopeError,
    InvalidTokenError,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import OKPKey
from joserfc.jws import JWSAlgModel, JWSRegistry
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.extensions import db
from hub.models import Node, OAuthToken, UsedAssertion
from ponte.csrf import csrf
from protocol import PublicKeyRecord
from protocol.canonical import b64url_encode
from protocol.errors import ProtocolError
from protocol.keys import NODE_ID_PATTERN

SCOPES = ("relay", "directory:write", "feeds:read", "contribute")
GRANT_TYPE = "client_credentials"
AUTH_METHOD = "private_key_jwt"
ASSERTION_ALG = "EdDSA"
TOKEN_PATH = "/oauth/token"
METADATA_PATH = "/.well-known/oauth-authorization-server"
REALM = "ponte-hub"
DEFAULT_TOKEN_LIFETIME = 10 * 60
MAX_TOKEN_LIFETIME = 15 * 60
MAX_ASSERTION_LIFETIME = 5 * 60  # how far ahead an assertion's exp may be
CLOCK_SKEW = 60
MAX_JTI_LENGTH = 200  # the UsedAssertion.jti column
EXTENSION = "ponte_oauth"

View = TypeVar("View", bound=Callable[..., Any])

blueprint = Blueprint("oauth", __name__)
csrf.exempt(blueprint)  # nodes authenticate with signed assertions and tokens, not cookies


def current_time() -> int:
    """Seconds since the epoch; one place so tests can move the clock."""
    return int(time.time())


def _as_datetime(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _seconds(value: dt.datetime) -> int:
    # SQLite hands back naive datetimes; everything the hub stores is UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_lifetime(config: Mapping[str, Any]) -> int:
    """``OAUTH_TOKEN_LIFETIME`` in seconds (default 600); a longer one is a setup error."""
    lifetime = config.get("OAUTH_TOKEN_LIFETIME", DEFAULT_TOKEN_LIFETIME)
    if type(lifetime) is not int or not 0 < lifetime <= MAX_TOKEN_LIFETIME:
        raise ValueError(f"OAUTH_TOKEN_LIFETIME must be 1 to {MAX_TOKEN_LIFETIME} seconds")
    return lifetime


def issuer() -> str:
    """The hub's base URL: ``HUB_URL`` if set (set it behind a proxy), else this request's."""
    return str(current_app.config.get("HUB_URL") or request.url_root).rstrip("/")


def token_endpoint() -> str:
    return issuer() + TOKEN_PATH


class _EdDSAOnly(JWSRegistry):
    """Accept EdDSA and nothing else (no ``none``, no HMAC key confusion).

    joserfc warns that RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519"; with an
    Ed25519 key both mean the same signature, so that warning is not repeated on every request.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != ASSERTION_ALG:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


# --- the client (a node) and its tokens, as Authlib sees them ---------------------------------


@dataclass
class NodeClient(ClientMixin):
    node: Node

    def get_client_id(self) -> str:
        return self.node.id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        # The grant has already refused a missing or unknown scope; this only normalises it.
        requested = set((scope or "").split())
        return " ".join(s for s in SCOPES if s in requested) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # nodes have no shared secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE

    def public_key(self, now: int) -> OKPKey:
        """The node's current Ed25519 key as an OKP JWK; an expired key authenticates nobody."""
        try:
            record = PublicKeyRecord.from_dict(self.node.current_key.record)
        except (IndexError, ProtocolError) as exc:
            raise InvalidClientError(description="The node has no usable public key.") from exc
        if now > record.expires:
            raise InvalidClientError(
                description="The node's key has expired; rotate it before asking for tokens."
            )
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(record.sign_key)}
        return OKPKey.import_key(jwk)


@dataclass
class NodeToken(TokenMixin):
    row: OAuthToken
    node: Node

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.node.id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return _seconds(self.row.expires_at) - _seconds(self.row.issued_at)

    def is_expired(self) -> bool:
        return current_time() >= _seconds(self.row.expires_at)

    def is_revoked(self) -> bool:
        return self.row.revoked


def _query_client(client_id: object) -> NodeClient | None:
    # The id comes from the assertion's claims before its signature is checked: whatever is
    # not a node id names no client (and a NUL would make PostgreSQL fail the lookup).
    if not isinstance(client_id, str) or not NODE_ID_PATTERN.fullmatch(client_id):
        return None
    node = db.session.get(Node, client_id)
    return NodeClient(node) if node is not None else None


# --- client authentication: private_key_jwt ----------------------------------------------------


def _refuse(description: str) -> InvalidClientError:
    return InvalidClientError(description=f"Client assertion refused: {description}")


class NodeAssertion(JWTBearerClientAssertion):
    """RFC 7523 client authentication with the node's Ed25519 key."""

    CLIENT_AUTH_METHOD = AUTH_METHOD

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=CLOCK_SKEW)

    def __call__(self, query_client: Callable[[str], Any], oauth_request: Any) -> NodeClient | None:
        client = super().__call__(query_client, oauth_request)
        claimed = oauth_request.form.get("client_id")
        # RFC 7521 section 4.2: a client_id sent alongside must name the same client.
        if client is not None and claimed is not None and claimed != client.get_client_id():
            raise _refuse("client_id does not match the assertion's sub.")
        return client

    def get_audiences(self) -> list[str]:
        # RFC 7523 section 3: the token endpoint URL, or the issuer identifier.
        return [token_endpoint(), issuer(), issuer() + "/"]

    def resolve_client_public_key(self, client: NodeClient) -> OKPKey:
        return client.public_key(current_time())

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, registry=_EdDSAOnly())
        except BadSignatureError as exc:
            raise _refuse("the signature does not verify with the node's current key.") from exc
        except JoseError as exc:
            raise _refuse(exc.description or exc.error) from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: dict[str, Any]) -> None:
        """Signature checked; now the claims. The jti is stored last, once all else holds."""
        now = current_time()
        _check_registered_claims(claims, now, self.leeway)
        if claims["iss"] != claims["sub"]:
            raise _refuse("iss and sub must both be the client id (the node id).")
        self._check_audience(claims["aud"])
        if claims["exp"] > now + MAX_ASSERTION_LIFETIME:
            raise _refuse(f"exp is more than {MAX_ASSERTION_LIFETIME} seconds ahead.")
        jti = claims["jti"]
        if not isinstance(jti, str) or "\x00" in jti:  # PostgreSQL cannot store a NUL
            raise _refuse("jti must be a string without NUL characters.")
        if len(jti) > MAX_JTI_LENGTH:
            raise _refuse(f"jti is longer than {MAX_JTI_LENGTH} characters.")
        if not self.validate_jti(claims, jti):
            raise _refuse("this assertion (jti) was used before; sign a new one per request.")

    def _check_audience(self, aud: object) -> None:
        # A single audience only: an assertion meant for several servers could be replayed
        # by any of them (the audience injection issue of draft-ietf-oauth-rfc7523bis).
        values = aud if isinstance(aud, list) and len(aud) == 1 else [aud]
        if len(values) != 1 or values[0] not in self.get_audiences():
            raise _refuse(f"aud must be the token endpoint, {token_endpoint()}")

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        """Remember the jti until the assertion could no longer be accepted anyway.

        The row is flushed, not committed: a request refused later rolls it back. The primary
        key makes two concurrent uses of one jti collide even if both passed the lookup.
        """
        if db.session.get(UsedAssertion, jti) is not None:
            return False
        expires = _as_datetime(int(claims["exp"]) + self.leeway)
        db.session.add(UsedAssertion(jti=jti, node_id=claims["sub"], expires_at=expires))
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            return False
        return True

    def authenticate_client(self, client: NodeClient) -> NodeClient:
        if client.node.revoked_at is not None:
            raise InvalidClientError(description="This node has been revoked by the hub.")
        return cast(NodeClient, super().authenticate_client(client))


def _check_registered_claims(claims: dict[str, Any], now: int, leeway: int) -> None:
    """exp, iss, sub and jti present and well-typed; exp not past, iat and nbf not ahead."""
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True},
        sub={"essential": True},
        aud={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise _refuse("it has expired (exp is in the past).") from exc
    except MissingClaimError as exc:
        raise _refuse(f"missing claim(s) {exc.claim}.") from exc
    except JoseError as exc:
        raise _refuse(exc.description or exc.error) from exc


# --- the grant and the server ---------------------------------------------------------------


class NodeCredentialsGrant(ClientCredentialsGrant):
    """client_credentials, authenticated by private_key_jwt only, with a required scope."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [AUTH_METHOD]

    def validate_token_request(self) -> None:
        _check_form(self.request)
        super().validate_token_request()

    def validate_requested_scope(self) -> None:
        requested = (self.request.payload.scope or "").split()
        if not requested:
            raise InvalidScopeError(description=f"Ask for a scope: one of {' '.join(SCOPES)}.")
        unknown = sorted(set(requested) - set(SCOPES))
        if unknown:
            raise InvalidScopeError(
                description=f"Unknown scope {' '.join(unknown)[:100]}; "
                f"this hub grants {' '.join(SCOPES)}."
            )


def _check_form(oauth_request: Any) -> None:
    # Credentials in a URL end up in logs; RFC 6749 section 3.2 forbids repeated parameters.
    if oauth_request.args:
        raise InvalidRequestError(description="Send the parameters in the form body, not the URL.")
    for name in ("grant_type", "scope", "client_id", "client_assertion", "client_assertion_type"):
        if len(oauth_request.form.getlist(name)) > 1:
            raise InvalidRequestError(description=f"Give {name} once.")


def _new_access_token(**_: Any) -> str:
    return secrets.token_urlsafe(32)


def _save_token(token: dict[str, Any], oauth_request: Any) -> None:
    now = current_time()
    db.session.add(
        OAuthToken(
            token_hash=token_hash(token["access_token"]),
            node_id=oauth_request.client.get_client_id(),
            scope=token["scope"],
            issued_at=_as_datetime(now),
            expires_at=_as_datetime(now + int(token["expires_in"])),
        )
    )
    purge_expired(db.session, now)  # keeps both tables small without a separate job
    db.session.commit()


class HubAuthorizationServer(AuthorizationServer):
    def create_bearer_token_generator(self, config: Mapping[str, Any]) -> BearerTokenGenerator:
        return BearerTokenGenerator(_new_access_token, expires_generator=token_lifetime(config))

    def handle_error_response(self, oauth_request: Any, error: OAuth2Error) -> Response:
        # Some Authlib errors (unsupported_grant_type) compute their description instead of
        # setting it, and then leave error_description out of the body.
        if not error.description:
            error.description = error.get_error_description()
        return cast(Response, super().handle_error_response(oauth_request, error))


def init_oauth(app: Flask) -> HubAuthorizationServer:
    """Set up the authorization server for ``app`` (called when the blueprint registers)."""
    server = HubAuthorizationServer()
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.scopes_supported = list(SCOPES)
    server.register_client_auth_method(AUTH_METHOD, NodeAssertion())
    server.register_grant(NodeCredentialsGrant)
    app.extensions[EXTENSION] = server
    return server


blueprint.record_once(lambda state: init_oauth(state.app))


@blueprint.post(TOKEN_PATH)
def token() -> Response:
    server: HubAuthorizationServer = current_app.extensions[EXTENSION]
    try:
        response = server.create_token_response()
    except OAuth2Error as error:  # e.g. insecure_transport, raised before Authlib's own handler
        response = server.handle_error_response(None, error)
    if response.status_code != 200:
        db.session.rollback()  # a refused request keeps nothing, not even its jti
    return cast(Response, response)


@blueprint.get(METADATA_PATH)
def metadata() -> Response:
    """RFC 8414 authorization server metadata."""
    return jsonify(
        {
            "issuer": issuer(),
            "token_endpoint": token_endpoint(),
            "grant_types_supported": [GRANT_TYPE],
            "token_endpoint_auth_methods_supported": [AUTH_METHOD],
            "token_endpoint_auth_signing_alg_values_supported": [ASSERTION_ALG],
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],  # no authorization endpoint: nodes are machines
        }
    )


# --- protecting node-facing endpoints -------------------------------------------------------


class NodeTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> NodeToken | None:
        row = db.session.scalar(
            select(OAuthToken).where(OAuthToken.token_hash == token_hash(token_string))
        )
        if row is None:
            return None
        return NodeToken(row, db.session.get_one(Node, row.node_id))

    def validate_token(
        self, token: NodeToken | None, scopes: list[str], oauth_request: Any
    ) -> None:
        if token is None:
            raise InvalidTokenError(description="Unknown access token.")
        if token.node.revoked_at is not None:
            raise InvalidTokenError(description="This node has been revoked by the hub.")
        if token.is_revoked():
            raise InvalidTokenError(description="The access token has been revoked.")
        if token.is_expired():
            raise InvalidTokenError(description="The access token has expired; get a new one.")
        if self.scope_insufficient(token.get_scope(), scopes):
            raise InsufficientScopeError(
                description=f"This endpoint needs a token with scope {' '.join(scopes)}."
            )


def bearer_error(error: OAuth2Error, scope: str) -> Response:
    """An RFC 6750 error: JSON body, and the WWW-Authenticate challenge."""
    challenge = [f'realm="{REALM}"']
    # Section 3.1: no error code when the request carried no (usable) credentials at all.
    if not isinstance(error, ForbiddenError):
        challenge += [f'error="{error.error}"', f'error_description="{error.description}"']
    if isinstance(error, InsufficientScopeError):
        challenge.append(f'scope="{scope}"')
    response = jsonify(dict(error.get_body()))
    response.status_code = error.status_code
    response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(challenge)
    response.headers["Cache-Control"] = "no-store"
    return response


class NodeResourceProtector(ResourceProtector):
    def raise_error_response(self, error: OAuth2Error) -> None:
        # abort() with a response bypasses the app's problem handler, which would drop
        # the WWW-Authenticate header.
        abort(bearer_error(error, ""))


protector = NodeResourceProtector()
protector.register_token_validator(NodeTokenValidator(realm=REALM))


def require_token(scope: str) -> Callable[[View], View]:
    """Let a view run only for a valid, unexpired token of an active node with ``scope``.

    Sets ``flask.g.node`` to the :class:`Node` the token was issued to.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")  # a typo here would lock every node out

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                node_token: NodeToken = protector.acquire_token([scope])
            except OAuth2Error as error:
                return bearer_error(error, scope)
            g.node = node_token.node
            return view(*args, **kwargs)

        return cast(View, wrapped)

    return decorator


# --- revocation and housekeeping ------------------------------------------------------------


def revoke_node_tokens(session: Session, node_id: str) -> int:
    """Mark every token of the node revoked (the caller commits); returns how many."""
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.node_id == node_id, OAuthToken.revoked.is_(False))
        .values(revoked=True)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(session: Session, now: int | None = None) -> tuple[int, int]:
    """Delete used-assertion and token rows past their expiry; returns (assertions, tokens)."""
    cutoff = _as_datetime(current_time() if now is None else now)
    assertions = session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < cutoff))
    tokens = session.execute(delete(OAuthToken).where(OAuthToken.expires_at < cutoff))
    return int(getattr(assertions, "rowcount", 0) or 0), int(getattr(tokens, "rowcount", 0) or 0)
