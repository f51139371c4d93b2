"""The node's side of the hub's token endpoint: RFC 7523 client assertions (private_key_jwt).

A node proves who it is by signing a short JWT with its Ed25519 key (EdDSA). Each assertion is
single-use (fresh ``jti``) and lives 60 seconds. Imports nothing from the hub.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwk import OKPKey
from joserfc.jws import JWSAlgModel, JWSRegistry

from protocol import NodeIdentity
from protocol.canonical import b64url_encode

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALG = "EdDSA"
ASSERTION_LIFETIME = 60


class _EdDSAOnly(JWSRegistry):
    """Sign with EdDSA only, without joserfc's RFC 9864 naming warning on every call."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != ASSERTION_ALG:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


def signing_key(identity: NodeIdentity) -> OKPKey:
    """The node's Ed25519 signing key as a private OKP JWK (RFC 8037: ``d`` is the seed)."""
    return OKPKey.import_key(
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(bytes(identity.signing_key.verify_key)),
            "d": b64url_encode(identity.sign_seed),
        }
    )


def assertion_claims(
    identity: NodeIdentity, token_url: str, now: int | None = None
) -> dict[str, Any]:
    """iss = sub = the node id, aud = the token endpoint, a fresh jti, valid for 60 s."""
    issued = int(time.time()) if now is None else now
    return {
        "iss": identity.node_id,
        "sub": identity.node_id,
        "aud": token_url,
        "jti": secrets.token_urlsafe(24),
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }


def sign_claims(identity: NodeIdentity, claims: dict[str, Any]) -> str:
    header = {"alg": ASSERTION_ALG, "typ": "JWT"}
    return jwt.encode(header, claims, signing_key(identity), registry=_EdDSAOnly())


def client_assertion(identity: NodeIdentity, token_url: str, now: int | None = None) -> str:
    """A signed, single-use client assertion for the hub's token endpoint ``token_url``."""
    return sign_claims(identity, assertion_claims(identity, token_url, now))


def token_request_form(identity: NodeIdentity, token_url: str, scope: str) -> dict[str, str]:
    """The form body of a client credentials token request, authenticated by private_key_jwt."""
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(identity, token_url),
    }
