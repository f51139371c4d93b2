"""The envelope: a clear routing header and a signed-then-encrypted body.

    H = canonical(header)                  routing facts the hub needs, in the clear
    P = canonical(payload)                 what the message says
    S = Ed25519-sign(sender, "ponte-envelope-v1" 0x00 || u32be(len H) || H || P)
    body = crypto_box_seal(recipient_x25519, pad(S || P))

The signature covers the header, so the hub cannot re-address, re-thread, re-date or replay a
body under another header; it covers the recipient, so a recipient cannot forward a signed body
to a third node as if it were addressed there. SPEC.md gives the byte-level rules.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import nacl.exceptions
import nacl.public

from protocol.canonical import b64url_decode, b64url_encode, canonical_json, parse_json
from protocol.errors import EnvelopeRejected, ProtocolError, Reason, ValidationError
from protocol.keys import NodeIdentity, PublicKeyRecord, check_node_id, check_timestamp
from protocol.messages import Kind, parse_kind, validate_payload
from protocol.padding import MAX_ENVELOPE_BUCKET, is_bucket_size, pad, unpad

VERSION = 1
SIGNATURE_DOMAIN = b"ponte-envelope-v1\x00"
SIGNATURE_SIZE = 64
DEFAULT_TTL = 30 * 24 * 3600
MAX_TTL = 90 * 24 * 3600
CLOCK_SKEW = 600
HEADER_FIELDS = frozenset(
    {"v", "id", "kind", "sender", "recipient", "thread", "created", "expires"}
)
WIRE_MAGIC = b"PNTE"
MAX_HEADER_BYTES = 1024
SEAL_OVERHEAD = 48  # crypto_box_seal: ephemeral public key (32) + Poly1305 tag (16)


def new_id() -> bytes:
    """A random 128-bit identifier (message ids, thread ids, attachment ids)."""
    return secrets.token_bytes(16)


@dataclass(frozen=True)
class Header:
    message_id: bytes
    kind: Kind
    sender: str
    recipient: str
    thread: bytes
    created: int
    expires: int
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "id": b64url_encode(self.message_id),
            "kind": self.kind.value,
            "sender": self.sender,
            "recipient": self.recipient,
            "thread": b64url_encode(self.thread),
            "created": self.created,
            "expires": self.expires,
        }

    @cached_property
    def canonical(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: object) -> Header:
        """Parse a clear header; raises :class:`EnvelopeRejected` (malformed or version)."""
        if not isinstance(data, dict):
            raise EnvelopeRejected(Reason.MALFORMED, "header must be a JSON object")
        version = data.get("v")
        if type(version) is not int:  # bool is not a version either
            raise EnvelopeRejected(Reason.MALFORMED, "header version v must be an integer")
        if version != VERSION:
            raise EnvelopeRejected(Reason.UNSUPPORTED_VERSION, "only version 1 is supported")
        if set(data) != HEADER_FIELDS:
            raise EnvelopeRejected(Reason.MALFORMED, "header fields are not the v1 set")
        try:
            header = cls(
                message_id=b64url_decode(data["id"], length=16),
                kind=parse_kind(data["kind"]),
                sender=check_node_id(data["sender"], "sender"),
                recipient=check_node_id(data["recipient"], "recipient"),
                thread=b64url_decode(data["thread"], length=16),
                created=check_timestamp(data["created"], "created"),
                expires=check_timestamp(data["expires"], "expires"),
            )
        except ProtocolError as exc:
            raise EnvelopeRejected(Reason.MALFORMED, str(exc)) from exc
        if not header.created < header.expires <= header.created + MAX_TTL:
            raise EnvelopeRejected(
                Reason.MALFORMED, "expires must be after created, within 90 days"
            )
        return header


@dataclass(frozen=True)
class Envelope:
    """Header and sealed body. On the wire (binary, what the relay stores and serves):

        "PNTE" || u32be(len H) || H || body        H = canonical(header) when sealed

    ``header_bytes`` is H exactly as sealed or received: the signature covers these bytes, so
    a relay must pass them on verbatim, and a receiver need not re-encode the header.
    """

    header: Header
    body: bytes
    header_bytes: bytes = b""

    def __post_init__(self) -> None:
        if not self.header_bytes:
            object.__setattr__(self, "header_bytes", self.header.canonical)

    def to_wire(self) -> bytes:
        length = struct.pack(">I", len(self.header_bytes))
        return WIRE_MAGIC + length + self.header_bytes + self.body

    @classmethod
    def from_wire(cls, data: bytes) -> Envelope:
        """Parse the binary form; checks structure only (sizes, header), not the body."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise EnvelopeRejected(Reason.MALFORMED, "an envelope is bytes")
        data = bytes(data)
        if len(data) < 8 or data[:4] != WIRE_MAGIC:
            raise EnvelopeRejected(Reason.MALFORMED, "not a Ponte envelope")
        (length,) = struct.unpack(">I", data[4:8])
        if length > MAX_HEADER_BYTES or len(data) < 8 + length:
            raise EnvelopeRejected(Reason.MALFORMED, "bad header length")
        header_bytes, body = data[8 : 8 + length], data[8 + length :]
        try:
            parsed = parse_json(header_bytes)
        except ProtocolError as exc:
            raise EnvelopeRejected(Reason.MALFORMED, f"header: {exc}") from exc
        header = Header.from_dict(parsed)
        if not is_bucket_size(len(body) - SEAL_OVERHEAD, MAX_ENVELOPE_BUCKET):
            raise EnvelopeRejected(Reason.MALFORMED, "body length is not a padded bucket size")
        return cls(header, body, header_bytes)


@dataclass(frozen=True)
class OpenedMessage:
    header: Header
    payload: dict[str, Any]


class SeenIds(Protocol):
    """Where a receiver remembers accepted (sender, message id) pairs until they expire.

    A node backs this with its database; entries must outlive the message's ``expires``, after
    which the expiry check refuses a replay on its own. Keyed by sender too, so that one node
    cannot burn another node's message id by using it first.
    """

    def seen(self, sender: str, message_id: bytes) -> bool: ...

    def remember(self, sender: str, message_id: bytes, expires: int) -> None: ...


class MemorySeenIds:
    """An in-memory :class:`SeenIds`, for tests and short-lived tools."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, bytes], int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def seen(self, sender: str, message_id: bytes) -> bool:
        return (sender, message_id) in self._ids

    def remember(self, sender: str, message_id: bytes, expires: int) -> None:
        self._ids[(sender, message_id)] = expires

    def purge(self, now: int) -> None:
        self._ids = {key: exp for key, exp in self._ids.items() if exp >= now}


KeyResolver = Callable[[str], Iterable[PublicKeyRecord]]


def signed_bytes(header: bytes, payload: bytes) -> bytes:
    return SIGNATURE_DOMAIN + struct.pack(">I", len(header)) + header + payload


def seal(
    sender: NodeIdentity,
    recipient: PublicKeyRecord,
    kind: Kind | str,
    payload: dict[str, Any],
    *,
    thread: bytes | None = None,
    now: int | None = None,
    ttl: int = DEFAULT_TTL,
    message_id: bytes | None = None,
) -> Envelope:
    """Validate ``payload``, sign it with the sender's key and encrypt it to the recipient."""
    now = int(time.time()) if now is None else now
    kind = parse_kind(kind)
    validate_payload(kind, payload)
    for name, value in (("message_id", message_id), ("thread", thread)):
        if value is not None and (not isinstance(value, bytes) or len(value) != 16):
            raise ValidationError(name, "must be 16 bytes")
    if not 0 < ttl <= MAX_TTL:
        raise ValidationError("ttl", "must be between 1 second and 90 days")
    if not recipient.is_valid_at(now):
        raise ValidationError("recipient", "the recipient's key record is not valid now")
    if not sender.created <= now <= sender.expires:
        raise ValidationError("sender", "our own key is not valid now (rotate the keys)")
    header = Header(
        message_id=message_id or new_id(),
        kind=kind,
        sender=sender.node_id,
        recipient=recipient.node_id,
        thread=thread or new_id(),
        created=now,
        expires=now + ttl,
    )
    payload_bytes = canonical_json(payload)
    if SIGNATURE_SIZE + len(payload_bytes) >= MAX_ENVELOPE_BUCKET:
        raise ValidationError("payload", f"is {len(payload_bytes)} bytes; at most 2 MiB fit")
    padded = padded_plaintext(sender, header, payload_bytes)
    return Envelope(header, nacl.public.SealedBox(recipient.public_box_key).encrypt(padded))


def padded_plaintext(sender: NodeIdentity, header: Header, payload: bytes) -> bytes:
    """``pad(S || P)``: what gets sealed to the recipient (S signs header and payload)."""
    signature = sender.signing_key.sign(signed_bytes(header.canonical, payload)).signature
    return pad(signature + payload)


def open_envelope(
    envelope: Envelope | bytes,
    recipient: NodeIdentity | Sequence[NodeIdentity],
    resolve_sender: KeyResolver,
    seen: SeenIds,
    *,
    now: int | None = None,
) -> OpenedMessage:
    """Check, decrypt and verify an envelope, in the order SPEC.md gives; remember its id.

    Raises :class:`EnvelopeRejected` naming the first check that failed. ``recipient`` may list
    several identities (current and earlier key versions) of the receiving node.
    """
    now = int(time.time()) if now is None else now
    # An Envelope object is re-read from its wire form, so that the header checked below is
    # exactly the header that the signature covers.
    wire = envelope.to_wire() if isinstance(envelope, Envelope) else envelope
    envelope = Envelope.from_wire(wire)
    header = envelope.header
    identities = [recipient] if isinstance(recipient, NodeIdentity) else list(recipient)
    ours = [identity for identity in identities if identity.node_id == header.recipient]
    if not ours:
        raise EnvelopeRejected(Reason.WRONG_RECIPIENT, f"addressed to {header.recipient}")
    if now > header.expires:
        raise EnvelopeRejected(Reason.EXPIRED, "the message expired")
    if header.created > now + CLOCK_SKEW:
        raise EnvelopeRejected(Reason.NOT_YET_VALID, "created in the future")
    if seen.seen(header.sender, header.message_id):
        raise EnvelopeRejected(Reason.REPLAY, "this message id was already accepted")
    signature, payload_bytes = _decrypt(envelope.body, ours)
    _verify(envelope, signature, payload_bytes, resolve_sender)
    payload = _parse_payload(header.kind, payload_bytes)
    seen.remember(header.sender, header.message_id, header.expires)
    return OpenedMessage(header, payload)


def _decrypt(body: bytes, identities: Sequence[NodeIdentity]) -> tuple[bytes, bytes]:
    for identity in identities:
        try:
            padded = nacl.public.SealedBox(identity.private_box_key).decrypt(body)
        except nacl.exceptions.CryptoError:
            continue
        try:
            plain = unpad(padded)
        except ProtocolError as exc:
            raise EnvelopeRejected(Reason.BAD_PADDING, str(exc)) from exc
        if len(plain) < SIGNATURE_SIZE:
            raise EnvelopeRejected(Reason.BAD_PADDING, "body shorter than a signature")
        return plain[:SIGNATURE_SIZE], plain[SIGNATURE_SIZE:]
    raise EnvelopeRejected(Reason.DECRYPTION_FAILED, "no key of ours opens this body")


def _verify(
    envelope: Envelope, signature: bytes, payload: bytes, resolve_sender: KeyResolver
) -> None:
    header = envelope.header
    records = [r for r in resolve_sender(header.sender) if r.node_id == header.sender]
    if not records:
        raise EnvelopeRejected(Reason.UNKNOWN_SENDER, f"no key known for {header.sender}")
    message = signed_bytes(envelope.header_bytes, payload)
    for record in records:
        try:
            record.verify_key.verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            continue
        if record.created <= header.created <= record.expires:
            return
    raise EnvelopeRejected(Reason.BAD_SIGNATURE, "no key of the sender signed this")


def _parse_payload(kind: Kind, payload_bytes: bytes) -> dict[str, Any]:
    # The signature covers these exact bytes, so their spelling cannot be altered in transit;
    # the strict parser (no duplicate keys, no floats) leaves one meaning for them.
    try:
        payload = parse_json(payload_bytes)
        validate_payload(kind, payload)
    except ProtocolError as exc:
        raise EnvelopeRejected(Reason.INVALID_PAYLOAD, str(exc)) from exc
    return payload
