"""The hub's attestation of a node's key record: which organisation it belongs to, and whether
it is active or revoked, signed with the hub's key (a signed statement, context
``key-attestation``). Nodes verify it against the hub key they pinned at enrolment."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from protocol.canonical import b64url_decode, b64url_encode
from protocol.errors import EncodingError, ValidationError
from protocol.keys import (
    NodeIdentity,
    PublicKeyRecord,
    check_node_id,
    check_timestamp,
    sign_statement,
    signed_document,
    split_signed_document,
    verify_statement,
)

CONTEXT = "key-attestation"
STATUSES = ("active", "revoked")
STATEMENT_FIELDS = frozenset({"record", "organisation_id", "status", "attested_at", "attester"})


@dataclass(frozen=True)
class Attested:
    record: PublicKeyRecord
    organisation_id: str
    status: str
    attested_at: int

    @property
    def active(self) -> bool:
        return self.status == "active"


def attest(
    hub: NodeIdentity, record: PublicKeyRecord, organisation_id: str, status: str, now: int
) -> dict[str, Any]:
    """The attestation document: ``{"statement": {...}, "signature": b64url}``."""
    if status not in STATUSES:
        raise ValidationError("status", f"must be one of {', '.join(STATUSES)}")
    statement = {
        "record": record.to_dict(),
        "organisation_id": organisation_id,
        "status": status,
        "attested_at": now,
        "attester": hub.node_id,
    }
    return signed_document(hub.signing_key, CONTEXT, statement)


def verify_attestation(hub: PublicKeyRecord, document: object) -> Attested:
    """Check the hub's signature and the statement's shape; raise a ProtocolError otherwise."""
    statement, signature = split_signed_document(document, STATEMENT_FIELDS, "attestation")
    if statement["attester"] != hub.node_id:
        raise ValidationError("attestation.attester", "not the hub this node trusts")
    verify_statement(hub.sign_key, CONTEXT, statement, signature)
    if statement["status"] not in STATUSES:
        raise ValidationError("attestation.status", "unknown status")
    if not isinstance(statement["organisation_id"], str) or not statement["organisation_id"]:
        raise ValidationError("attestation.organisation_id", "must be text")
    record = PublicKeyRecord.from_dict(statement["record"])
    check_node_id(record.node_id)
    return Attested(
        record,
        statement["organisation_id"],
        statement["status"],
        check_timestamp(statement["attested_at"], "attestation.attested_at"),
    )


# --- enrolment: the node proves it holds the key it registers -------------------------------

ENROLMENT_CONTEXT = "enrolment"


def invitation_hash(token: str) -> str:
    """SHA-256 (hex) of an invitation token: the hub stores only this, the proof names it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def enrolment_statement(token: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"invitation": invitation_hash(token), "key_record": record}


def enrolment_proof(identity: NodeIdentity, token: str) -> str:
    """Signed by the new key itself, for this invitation only (base64url)."""
    statement = enrolment_statement(token, identity.public_record().to_dict())
    return b64url_encode(sign_statement(identity.signing_key, ENROLMENT_CONTEXT, statement))


def verify_enrolment_proof(record: PublicKeyRecord, token: str, proof: object) -> None:
    """Raise a ProtocolError unless ``proof`` was made with ``record``'s key for ``token``."""
    try:
        signature = b64url_decode(proof, length=64)
    except EncodingError as exc:
        raise ValidationError("proof", str(exc)) from exc
    statement = enrolment_statement(token, record.to_dict())
    verify_statement(record.sign_key, ENROLMENT_CONTEXT, statement, signature)


# --- rotation: the current key vouches for the next one -------------------------------------

ROTATION_CONTEXT = "key-rotation"


def rotation_signature(current: NodeIdentity, new: PublicKeyRecord) -> str:
    """Signed by the node's current key over its next key record (base64url)."""
    statement = {
        "node_id": current.node_id,
        "previous_version": current.key_version,
        "key_record": new.to_dict(),
    }
    return b64url_encode(sign_statement(current.signing_key, ROTATION_CONTEXT, statement))


def verify_rotation(current: PublicKeyRecord, new: PublicKeyRecord, signature: object) -> None:
    """Raise a ProtocolError unless ``current``'s key signed ``new`` as its successor."""
    try:
        raw = b64url_decode(signature, length=64)
    except EncodingError as exc:
        raise ValidationError("signature", str(exc)) from exc
    statement = {
        "node_id": current.node_id,
        "previous_version": current.key_version,
        "key_record": new.to_dict(),
    }
    verify_statement(current.sign_key, ROTATION_CONTEXT, statement, raw)
