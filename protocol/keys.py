"""Node identity: key pairs, the public key record, fingerprints and signed statements."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing

from protocol.canonical import b64url_decode, b64url_encode, canonical_json, parse_json
from protocol.errors import EncodingError, SignatureError, ValidationError

RECORD_VERSION = 1
DEFAULT_KEY_LIFETIME = 2 * 365 * 24 * 3600
NODE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
FINGERPRINT_ITERATIONS = 5200
_FINGERPRINT_DOMAIN = b"ponte-fingerprint-v1\x00"
_STATEMENT_DOMAIN = b"ponte-statement-v1\x00"
IDENTITY_FIELDS = frozenset(
    {"node_id", "sign_seed", "box_secret", "created", "expires", "key_version"}
)
RECORD_FIELDS = frozenset(
    {"v", "node_id", "sign_key", "box_key", "created", "expires", "key_version"}
)


def check_node_id(value: object, field: str = "node_id") -> str:
    """Node ids are 3-63 characters of lowercase ASCII letters, digits and '-'."""
    if not isinstance(value, str) or not NODE_ID_PATTERN.fullmatch(value):
        raise ValidationError(field, "must be 3-63 characters of a-z, 0-9 and '-'")
    return value


def check_key_version(value: object, field: str) -> int:
    if type(value) is not int or not 1 <= value < 2**31:
        raise ValidationError(field, "must be a whole number from 1 to 2**31 - 1")
    return value


def check_timestamp(value: object, field: str) -> int:
    """Timestamps are whole seconds since the Unix epoch (UTC), 0 <= t < 2**53."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        raise ValidationError(field, "must be a whole number of seconds since 1970-01-01 UTC")
    return value


@dataclass(frozen=True)
class PublicKeyRecord:
    """What a node publishes about itself: who it is and the two public keys it uses now."""

    node_id: str
    sign_key: bytes
    box_key: bytes
    created: int
    expires: int
    key_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "node_id": self.node_id,
            "sign_key": b64url_encode(self.sign_key),
            "box_key": b64url_encode(self.box_key),
            "created": self.created,
            "expires": self.expires,
            "key_version": self.key_version,
        }

    @cached_property
    def canonical(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: object) -> PublicKeyRecord:
        if not isinstance(data, dict):
            raise ValidationError("key_record", "must be a JSON object")
        if set(data) != RECORD_FIELDS:
            raise ValidationError("key_record", f"fields must be exactly {sorted(RECORD_FIELDS)}")
        if type(data["v"]) is not int or data["v"] != RECORD_VERSION:
            raise ValidationError("key_record.v", f"unsupported version {data['v']!r}")
        version = check_key_version(data["key_version"], "key_record.key_version")
        created = check_timestamp(data["created"], "key_record.created")
        expires = check_timestamp(data["expires"], "key_record.expires")
        if expires <= created:
            raise ValidationError("key_record.expires", "must be after created")
        try:
            sign_key = b64url_decode(data["sign_key"], length=32)
            box_key = b64url_decode(data["box_key"], length=32)
        except EncodingError as exc:
            raise ValidationError("key_record", f"bad public key: {exc}") from exc
        return cls(
            node_id=check_node_id(data["node_id"], "key_record.node_id"),
            sign_key=sign_key,
            box_key=box_key,
            created=created,
            expires=expires,
            key_version=version,
        )

    @classmethod
    def from_json(cls, data: bytes) -> PublicKeyRecord:
        return cls.from_dict(parse_json(data))

    @cached_property
    def verify_key(self) -> nacl.signing.VerifyKey:
        return nacl.signing.VerifyKey(self.sign_key)

    @cached_property
    def public_box_key(self) -> nacl.public.PublicKey:
        return nacl.public.PublicKey(self.box_key)

    def is_valid_at(self, now: int) -> bool:
        return self.created <= now <= self.expires


@dataclass(frozen=True)
class NodeIdentity:
    """A node's private keys. Keep it in a sealed keystore (protocol.keystore), never in clear."""

    node_id: str
    sign_seed: bytes
    box_secret: bytes
    created: int
    expires: int
    key_version: int = 1

    @classmethod
    def generate(
        cls,
        node_id: str,
        *,
        now: int | None = None,
        lifetime: int = DEFAULT_KEY_LIFETIME,
        key_version: int = 1,
    ) -> NodeIdentity:
        created = int(time.time()) if now is None else now
        return cls(
            node_id=check_node_id(node_id),
            sign_seed=bytes(nacl.signing.SigningKey.generate()),
            box_secret=bytes(nacl.public.PrivateKey.generate()),
            created=created,
            expires=created + lifetime,
            key_version=key_version,
        )

    # Cached: building a key object from its seed costs a scalar multiplication.
    @cached_property
    def signing_key(self) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey(self.sign_seed)

    @cached_property
    def private_box_key(self) -> nacl.public.PrivateKey:
        return nacl.public.PrivateKey(self.box_secret)

    def public_record(self) -> PublicKeyRecord:
        return PublicKeyRecord(
            node_id=self.node_id,
            sign_key=bytes(self.signing_key.verify_key),
            box_key=bytes(self.private_box_key.public_key),
            created=self.created,
            expires=self.expires,
            key_version=self.key_version,
        )

    def to_private_dict(self) -> dict[str, Any]:
        """The secret form stored inside a sealed keystore."""
        return {
            "node_id": self.node_id,
            "sign_seed": b64url_encode(self.sign_seed),
            "box_secret": b64url_encode(self.box_secret),
            "created": self.created,
            "expires": self.expires,
            "key_version": self.key_version,
        }

    @classmethod
    def from_private_dict(cls, data: object) -> NodeIdentity:
        if not isinstance(data, dict) or set(data) != IDENTITY_FIELDS:
            raise ValidationError("identity", f"fields must be exactly {sorted(IDENTITY_FIELDS)}")
        identity = cls(
            node_id=check_node_id(data["node_id"]),
            sign_seed=b64url_decode(data["sign_seed"], length=32),
            box_secret=b64url_decode(data["box_secret"], length=32),
            created=check_timestamp(data["created"], "identity.created"),
            expires=check_timestamp(data["expires"], "identity.expires"),
            key_version=check_key_version(data["key_version"], "identity.key_version"),
        )
        if identity.expires <= identity.created:
            raise ValidationError("identity.expires", "must be after created")
        return identity

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        return f"NodeIdentity(node_id={self.node_id!r}, key_version={self.key_version})"


def _fingerprint_half(record: PublicKeyRecord) -> str:
    keys = record.sign_key + record.box_key
    digest = hashlib.sha512(
        _FINGERPRINT_DOMAIN + record.node_id.encode("ascii") + b"\x00" + keys
    ).digest()
    # Iterated like Signal's safety numbers so that finding a look-alike key costs more.
    for _ in range(FINGERPRINT_ITERATIONS):
        digest = hashlib.sha512(digest + keys).digest()
    chunks = (digest[i : i + 5] for i in range(0, 30, 5))
    return "".join(f"{int.from_bytes(chunk, 'big') % 100000:05d}" for chunk in chunks)


def _group(digits: str) -> str:
    return " ".join(digits[i : i + 5] for i in range(0, len(digits), 5))


def fingerprint(record: PublicKeyRecord) -> str:
    """One node's fingerprint: 6 groups of 5 digits, shown on its directory page."""
    return _group(_fingerprint_half(record))


def safety_number(ours: PublicKeyRecord, theirs: PublicKeyRecord) -> str:
    """12 groups of 5 digits, the same on both sides: two caseworkers read it out by phone."""
    halves = sorted([_fingerprint_half(ours), _fingerprint_half(theirs)])
    return _group("".join(halves))


def _statement_bytes(context: str, document: object) -> bytes:
    if not isinstance(context, str) or not re.fullmatch(r"[a-z0-9-]{1,64}", context):
        raise ValidationError("context", "must be 1-64 characters of a-z, 0-9 and '-'")
    return _STATEMENT_DOMAIN + context.encode("ascii") + b"\x00" + canonical_json(document)


def sign_statement(key: nacl.signing.SigningKey, context: str, document: object) -> bytes:
    """Sign a JSON document for one purpose (e.g. ``key-attestation``): a detached signature.

    The context string keeps a signature made for one purpose from being reused for another.
    """
    return key.sign(_statement_bytes(context, document)).signature


def verify_statement(
    key: bytes | nacl.signing.VerifyKey, context: str, document: object, signature: bytes
) -> None:
    """Raise :class:`SignatureError` unless ``signature`` signs ``document`` for ``context``."""
    verify_key = key if isinstance(key, nacl.signing.VerifyKey) else _verify_key(key)
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise SignatureError("signature must be 64 bytes")
    try:
        verify_key.verify(_statement_bytes(context, document), signature)
    except nacl.exceptions.BadSignatureError as exc:
        raise SignatureError("bad signature") from exc


def _verify_key(raw: bytes) -> nacl.signing.VerifyKey:
    try:
        return nacl.signing.VerifyKey(raw)
    except (nacl.exceptions.ValueError, nacl.exceptions.TypeError) as exc:
        raise SignatureError("not an Ed25519 public key") from exc


def signed_document(
    key: nacl.signing.SigningKey,
    context: str,
    statement: dict[str, Any],
) -> dict[str, Any]:
    """A statement with its detached signature, as documents travel between hub and nodes:
    ``{"statement": {...}, "signature": b64url}``."""
    signature = sign_statement(key, context, statement)
    return {"statement": statement, "signature": b64url_encode(signature)}


def split_signed_document(
    document: object,
    fields: frozenset[str],
    name: str,
) -> tuple[dict[str, Any], bytes]:
    """Check a signed document's shape (exactly ``fields`` in the statement) and return the
    statement and the raw signature; the caller verifies it with the right key."""
    if not isinstance(document, dict) or set(document) != {"statement", "signature"}:
        raise ValidationError(name, "must hold exactly statement and signature")
    statement = document["statement"]
    if not isinstance(statement, dict) or set(statement) != fields:
        raise ValidationError(f"{name}.statement", f"fields must be exactly {sorted(fields)}")
    try:
        signature = b64url_decode(document["signature"], length=64)
    except EncodingError as exc:
        raise ValidationError(f"{name}.signature", str(exc)) from exc
    return statement, signature
