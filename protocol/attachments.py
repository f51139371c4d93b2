"""Attachments: encrypted once with a fresh key; key and hash ride inside the signed payload.

The blob (what the relay stores) is ``nonce(24) || XSalsa20-Poly1305(key, pad(file))``; the
attachment reference in the payload names its id, size, media type, key and SHA-256 of the blob.
"""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils

from protocol.canonical import b64url_decode, b64url_encode
from protocol.envelope import new_id
from protocol.errors import EncodingError, ProtocolError, ValidationError
from protocol.messages import ATTACHMENT
from protocol.padding import MAX_ATTACHMENT_BUCKET, pad, unpad


class AttachmentError(ProtocolError):
    """An attachment blob does not match its reference or does not decrypt."""


def encrypt_attachment(data: bytes, name: str, media_type: str) -> tuple[dict[str, Any], bytes]:
    """Return ``(reference, blob)``: put the reference in the payload, upload the blob."""
    key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    return encrypt_attachment_with(data, name, media_type, new_id(), key, nonce)


def encrypt_attachment_with(
    data: bytes, name: str, media_type: str, attachment_id: bytes, key: bytes, nonce: bytes
) -> tuple[dict[str, Any], bytes]:
    """:func:`encrypt_attachment` with given id, key and nonce (for reproducible vectors)."""
    blob = bytes(nacl.secret.SecretBox(key).encrypt(pad(data, MAX_ATTACHMENT_BUCKET), nonce))
    reference = {
        "id": b64url_encode(attachment_id),
        "name": name,
        "media_type": media_type,
        "size": len(data),
        "key": b64url_encode(key),
        "sha256": b64url_encode(hashlib.sha256(blob).digest()),
    }
    return reference, blob


def decrypt_attachment(reference: dict[str, Any], blob: bytes) -> bytes:
    """Check the blob against its reference (from a verified payload) and return the file."""
    try:
        ATTACHMENT(reference, "attachment")
    except ValidationError as exc:
        raise AttachmentError(f"bad attachment reference: {exc}") from exc
    if not isinstance(blob, bytes):
        raise AttachmentError("an attachment blob is bytes")
    if hashlib.sha256(blob).digest() != b64url_decode(reference["sha256"], length=32):
        raise AttachmentError("the attachment does not match its SHA-256")
    box = nacl.secret.SecretBox(b64url_decode(reference["key"], length=32))
    try:
        data = unpad(box.decrypt(blob), MAX_ATTACHMENT_BUCKET)
    except nacl.exceptions.CryptoError as exc:
        raise AttachmentError("the attachment does not decrypt with its key") from exc
    except EncodingError as exc:
        raise AttachmentError(f"the attachment's padding is wrong: {exc}") from exc
    if len(data) != reference["size"]:
        raise AttachmentError("the attachment size differs from its reference")
    return data
