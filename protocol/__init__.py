"""Ponte's wire protocol: identities, sealed keystores, envelopes and message kinds.

A pure library (PyNaCl and the standard library only); ``SPEC.md`` beside this file is the
byte-level specification and ``vectors/`` holds the test vectors.
"""

from protocol.attachments import AttachmentError, decrypt_attachment, encrypt_attachment
from protocol.attestation import (
    Attested,
    attest,
    enrolment_proof,
    invitation_hash,
    rotation_signature,
    verify_attestation,
    verify_enrolment_proof,
    verify_rotation,
)
from protocol.canonical import b64url_decode, b64url_encode, canonical_json, parse_json
from protocol.envelope import (
    Envelope,
    Header,
    MemorySeenIds,
    OpenedMessage,
    SeenIds,
    new_id,
    open_envelope,
    seal,
)
from protocol.errors import (
    EncodingError,
    EnvelopeRejected,
    KeystoreError,
    ProtocolError,
    Reason,
    SignatureError,
    ValidationError,
)
from protocol.keys import (
    NodeIdentity,
    PublicKeyRecord,
    fingerprint,
    safety_number,
    sign_statement,
    verify_statement,
)
from protocol.keystore import KdfLimits, open_keystore, read_keystore, seal_keystore, write_keystore
from protocol.messages import Kind, validate_payload
from protocol.profile import ProfileUpdate, profile_update, verify_profile_update

__all__ = [
    "AttachmentError",
    "Attested",
    "EncodingError",
    "Envelope",
    "EnvelopeRejected",
    "Header",
    "KdfLimits",
    "KeystoreError",
    "Kind",
    "MemorySeenIds",
    "NodeIdentity",
    "OpenedMessage",
    "ProfileUpdate",
    "ProtocolError",
    "PublicKeyRecord",
    "Reason",
    "SeenIds",
    "SignatureError",
    "ValidationError",
    "attest",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "decrypt_attachment",
    "encrypt_attachment",
    "enrolment_proof",
    "fingerprint",
    "invitation_hash",
    "new_id",
    "open_envelope",
    "open_keystore",
    "parse_json",
    "profile_update",
    "read_keystore",
    "rotation_signature",
    "safety_number",
    "seal",
    "seal_keystore",
    "sign_statement",
    "validate_payload",
    "verify_attestation",
    "verify_enrolment_proof",
    "verify_profile_update",
    "verify_rotation",
    "verify_statement",
    "write_keystore",
]
