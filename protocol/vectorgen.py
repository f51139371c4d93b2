"""Regenerate ``protocol/vectors/*.json``: ``python -m protocol.vectorgen [--check]``.

Everything is derived from fixed seeds, including the sealed boxes' ephemeral keys, so the
files come out byte-identical on every run; ``--check`` fails if the committed files differ,
which catches any accidental change to the wire format.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.public

from protocol.attachments import encrypt_attachment_with
from protocol.canonical import b64url_decode, b64url_encode, canonical_json
from protocol.envelope import WIRE_MAGIC, Envelope, Header, padded_plaintext, signed_bytes
from protocol.keys import NodeIdentity, fingerprint, safety_number, sign_statement
from protocol.keystore import KdfLimits, seal_keystore_with
from protocol.messages import Kind
from protocol.padding import pad
from protocol.publication import CONTEXT as PUBLICATION_CONTEXT
from protocol.publication import CONTRIBUTION_CONTEXT, sign_contribution, sign_publication

VECTORS_DIR = Path(__file__).parent / "vectors"
NOW = 1_790_000_000  # 2026-09-21T14:13:20Z
DAY = 24 * 3600


def seed(label: str) -> bytes:
    """32 bytes every implementation can recompute: SHA-256 of a label."""
    return hashlib.sha256(b"ponte-vector:" + label.encode()).digest()


def identity(node_id: str, version: int = 1) -> NodeIdentity:
    return NodeIdentity(
        node_id=node_id,
        sign_seed=seed(f"{node_id}/sign/{version}"),
        box_secret=seed(f"{node_id}/box/{version}"),
        created=NOW - 30 * DAY,
        expires=NOW + 700 * DAY,
        key_version=version,
    )


NODES = {name: identity(name) for name in ("ngo-alba-ro", "ngo-casa-it", "ngo-hilfe-de")}
ALBA, CASA, HILFE = NODES["ngo-alba-ro"], NODES["ngo-casa-it"], NODES["ngo-hilfe-de"]
IMPOSTOR = NodeIdentity(
    "ngo-alba-ro", seed("impostor/sign"), seed("impostor/box"), NOW - DAY, NOW + DAY
)
# The secretariat's hub: the key every node pinned at enrolment (publications.json only).
HUB = identity("ponte-hub")


def deterministic_seal(recipient_public: bytes, message: bytes, label: str) -> bytes:
    """libsodium crypto_box_seal with a chosen ephemeral key, so the output is reproducible.

    crypto_box_seal(m, pk) = epk || crypto_box_easy(m, nonce=BLAKE2b-192(epk || pk), pk, esk)
    """
    epk, esk = nacl.bindings.crypto_box_seed_keypair(seed(f"ephemeral/{label}"))
    nonce = hashlib.blake2b(epk + recipient_public, digest_size=24).digest()
    sealed = epk + nacl.bindings.crypto_box_easy(message, nonce, recipient_public, esk)
    return sealed


def referral_payload() -> dict[str, Any]:
    return {
        "request_type": "assisted_voluntary_return",
        "urgency": "urgent",
        "requested_by": "2026-10-05",
        "intake": "ngo_referral",
        "sender_contact": {
            "name": "Ioana Marin",
            "role": "caseworker",
            "organisation": "Alba (RO)",
            "email": "case@alba.example",
        },
        "person": {
            "case_code": "RO-2026-0142",
            "initials": "M.Ț.",
            "gender": "female",
            "age_band": "18-24",
            "minor": False,
            "nationality": "RO",
            "languages": ["ro", "it"],
            "interpreter_needed": True,
        },
        "consent": {
            "given": True,
            "form": "written",
            "date": "2026-09-18",
            "scope": ["share_with_recipient", "follow_up_contact"],
            "withhold_from_family": "Current city and the name of the shelter.",
        },
        "case": {
            "exploitation_forms": ["labour"],
            "documents_held": ["national_id"],
            "documents_needed": ["passport"],
        },
        "risk_assessment": {
            "summary": "Low risk of re-trafficking on return; family supportive.",
            "level": "low",
            "date": "2026-09-19",
        },
        "logistics": {
            "departure_date": "2026-10-03",
            "escort": True,
            "pickup_point": "Otopeni airport arrivals",
        },
        "follow_up": {"schedule": "Monthly calls for six months", "duration_months": 6},
        "restricted_notes": "Prefers a female caseworker. «Ünïcödé» text survives: 日本語 𝄞",
    }


def make_header(
    kind: Kind,
    sender: NodeIdentity,
    recipient: NodeIdentity,
    label: str,
    created: int = NOW - 3600,
    ttl: int = 30 * DAY,
) -> Header:
    return Header(
        message_id=seed(f"id/{label}")[:16],
        kind=kind,
        sender=sender.node_id,
        recipient=recipient.node_id,
        thread=seed("thread/RO-2026-0142")[:16],
        created=created,
        expires=created + ttl,
    )


def build(
    header: Header, payload: dict[str, Any], sender: NodeIdentity, to: NodeIdentity, label: str
) -> Envelope:
    plain = padded_plaintext(sender, header, canonical_json(payload))
    return Envelope(header, deterministic_seal(bytes(to.private_box_key.public_key), plain, label))


def hexs(data: bytes) -> str:
    return data.hex()


def positive_vectors() -> list[dict[str, Any]]:
    cases = [
        ("referral", Kind.REFERRAL, referral_payload(), ALBA, CASA),
        (
            "referral_update",
            Kind.REFERRAL_UPDATE,
            {"status": "accepted", "message": "We can receive her on 3 October."},
            CASA,
            ALBA,
        ),
        (
            "receipt",
            Kind.RECEIPT,
            {"message_id": b64url_encode(seed("id/referral")[:16]), "status": "delivered"},
            CASA,
            ALBA,
        ),
    ]
    vectors = []
    for label, kind, payload, sender, to in cases:
        header = make_header(kind, sender, to, label)
        envelope = build(header, payload, sender, to, label)
        payload_bytes = canonical_json(payload)
        signature = sender.signing_key.sign(signed_bytes(header.canonical, payload_bytes))
        vectors.append(
            {
                "name": label,
                "recipient": to.node_id,
                "known_senders": [sender.node_id],
                "now": NOW,
                "seen_ids": [],
                "wire_hex": hexs(envelope.to_wire()),
                "header": header.to_dict(),
                "expect": {
                    "header_canonical_hex": hexs(header.canonical),
                    "payload_canonical_hex": hexs(payload_bytes),
                    "signed_bytes_hex": hexs(signed_bytes(header.canonical, payload_bytes)),
                    "signature_hex": hexs(signature.signature),
                    "padded_length": len(pad(signature.signature + payload_bytes)),
                    "payload": payload,
                },
            }
        )
    return vectors


def _negative(
    name: str,
    why: str,
    wire: bytes,
    reason: str,
    *,
    recipient: NodeIdentity = CASA,
    now: int = NOW,
    seen: list[dict[str, str]] | None = None,
    known: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "description": why,
        "recipient": recipient.node_id,
        "known_senders": known if known is not None else [ALBA.node_id, HILFE.node_id],
        "now": now,
        "seen_ids": seen or [],
        "wire_hex": hexs(wire),
        "reason": reason,
    }


def _wire(header: dict[str, Any], body: bytes) -> bytes:
    encoded = canonical_json(header)
    return WIRE_MAGIC + struct.pack(">I", len(encoded)) + encoded + body


def _with_header(envelope: Envelope, **changes: Any) -> bytes:
    return _wire({**envelope.header.to_dict(), **changes}, envelope.body)


def _raw_body(header: Header, plain: bytes, to: NodeIdentity, label: str) -> bytes:
    body = deterministic_seal(bytes(to.private_box_key.public_key), plain, label)
    return Envelope(header, body).to_wire()


def negative_vectors() -> list[dict[str, Any]]:
    payload = referral_payload()
    good_header = make_header(Kind.REFERRAL, ALBA, CASA, "neg/base")
    good = build(good_header, payload, ALBA, CASA, "neg/base")
    other = build(
        make_header(Kind.REFERRAL, ALBA, CASA, "neg/other"),
        {**payload, "urgency": "routine"},
        ALBA,
        CASA,
        "neg/other",
    )
    flipped = bytearray(good.body)
    flipped[100] ^= 0x01
    to_hilfe = build(
        make_header(Kind.REFERRAL, ALBA, HILFE, "neg/hilfe"), payload, ALBA, HILFE, "neg/hilfe"
    )
    # CASA forwards ALBA's signed content to HILFE under a header addressed to HILFE.
    forwarded_header = make_header(Kind.REFERRAL, ALBA, HILFE, "neg/base")
    forwarded_plain = padded_plaintext(ALBA, good_header, canonical_json(payload))
    wrong_key_header = make_header(Kind.REFERRAL, ALBA, CASA, "neg/wrongkey")
    signature_only = ALBA.signing_key.sign(
        signed_bytes(good_header.canonical, canonical_json(payload))
    ).signature
    future = make_header(Kind.REFERRAL, ALBA, CASA, "neg/future", created=NOW + 3600)
    invalid = {k: v for k, v in payload.items() if k != "consent"}
    invalid_header = make_header(Kind.REFERRAL, ALBA, CASA, "neg/invalid")
    unknown_header = make_header(Kind.REFERRAL, ALBA, CASA, "neg/unknown")
    missing = {k: v for k, v in good_header.to_dict().items() if k != "thread"}
    return [
        _negative(
            "tampered_body",
            "one bit of the sealed body flipped",
            Envelope(good.header, bytes(flipped)).to_wire(),
            "decryption_failed",
        ),
        _negative(
            "tampered_header",
            "created moved one second later in the clear header",
            _with_header(good, created=good_header.created + 1),
            "bad_signature",
        ),
        _negative(
            "rethreaded",
            "the hub moved the body to another thread",
            _with_header(good, thread=b64url_encode(seed("thread/other")[:16])),
            "bad_signature",
        ),
        _negative(
            "header_swap",
            "header of one envelope, body of another (same parties)",
            Envelope(good.header, other.body).to_wire(),
            "bad_signature",
        ),
        _negative(
            "wrong_recipient",
            "addressed to ngo-hilfe-de, given to ngo-casa-it",
            to_hilfe.to_wire(),
            "wrong_recipient",
        ),
        _negative(
            "forwarded",
            "ngo-casa-it re-sealed ngo-alba-ro's signed body to ngo-hilfe-de",
            _raw_body(forwarded_header, forwarded_plain, HILFE, "neg/fwd"),
            "bad_signature",
            recipient=HILFE,
        ),
        _negative(
            "replayed",
            "the message id was already accepted",
            good.to_wire(),
            "replay",
            seen=[{"sender": ALBA.node_id, "id": b64url_encode(good_header.message_id)}],
        ),
        _negative(
            "expired",
            "opened one second after expires",
            good.to_wire(),
            "expired",
            now=good_header.expires + 1,
        ),
        _negative(
            "not_yet_valid",
            "created an hour in the receiver's future",
            build(future, payload, ALBA, CASA, "neg/future").to_wire(),
            "not_yet_valid",
        ),
        _negative(
            "bad_version", "header version 2", _with_header(good, v=2), "unsupported_version"
        ),
        _negative("missing_field", "header without thread", _wire(missing, good.body), "malformed"),
        _negative(
            "truncated_body",
            "body one byte short of its bucket",
            _wire(good_header.to_dict(), good.body[:-1]),
            "malformed",
        ),
        _negative(
            "bad_magic",
            "wire form without the PNTE magic",
            b"PNTX" + good.to_wire()[4:],
            "malformed",
        ),
        _negative(
            "unknown_sender",
            "the receiver knows no key for the sender",
            good.to_wire(),
            "unknown_sender",
            known=[HILFE.node_id],
        ),
        _negative(
            "impostor",
            "signed by a key that is not ngo-alba-ro's",
            build(
                make_header(Kind.REFERRAL, ALBA, CASA, "neg/impostor"),
                payload,
                IMPOSTOR,
                CASA,
                "neg/impostor",
            ).to_wire(),
            "bad_signature",
        ),
        _negative(
            "wrong_box_key",
            "sealed to ngo-hilfe-de's key but addressed to ngo-casa-it",
            _raw_body(
                wrong_key_header,
                padded_plaintext(ALBA, wrong_key_header, canonical_json(payload)),
                HILFE,
                "neg/wrongkey",
            ),
            "decryption_failed",
        ),
        _negative(
            "bad_padding",
            "signature and payload sealed without the 0x80 marker",
            _raw_body(
                good_header,
                (signature_only + canonical_json(payload)).ljust(4096, b"\x00"),
                CASA,
                "neg/pad",
            ),
            "bad_padding",
        ),
        _negative(
            "invalid_payload",
            "a correctly signed referral without consent",
            build(invalid_header, invalid, ALBA, CASA, "neg/invalid").to_wire(),
            "invalid_payload",
        ),
        _negative(
            "unknown_sender_id",
            "a sender id the receiver has never heard of",
            _with_header(
                build(unknown_header, payload, ALBA, CASA, "neg/unknown"), sender="ngo-nobody"
            ),
            "unknown_sender",
        ),
    ]


def canonical_vectors() -> list[dict[str, Any]]:
    inputs = [
        ("key_order", '{"b": 1, "a": 2, "aa": 3, "A": 4}'),
        ("nested", '{"z": [3, {"y": null, "x": true}], "a": {"c": false, "b": "é"}}'),
        ("escapes", '{"s": "quote \\" backslash \\\\ tab \\t nl \\n ctl \\u0001 del \\u007f"}'),
        ("unicode", '{"s": "\\u00e9 \\u65e5 \\ud834\\udd1e", "\\u20ac": 1, "\\ud83d\\ude00": 2}'),
        ("utf16_order", '{"\\ufb33": 1, "\\ud83d\\ude00": 2, "\\u00e9": 3}'),
        ("integers", '{"max": 9007199254740991, "min": -9007199254740991, "zero": -0}'),
        ("empty", '{"o": {}, "l": [], "s": ""}'),
    ]
    return [
        {"name": name, "input_json": text, "canonical_hex": hexs(canonical_json(json.loads(text)))}
        for name, text in inputs
    ]


def key_vectors() -> dict[str, Any]:
    nodes = [
        {
            "node_id": node.node_id,
            "sign_seed_hex": hexs(node.sign_seed),
            "box_secret_hex": hexs(node.box_secret),
            "created": node.created,
            "expires": node.expires,
            "key_version": node.key_version,
            "sign_public_hex": hexs(bytes(node.signing_key.verify_key)),
            "box_public_hex": hexs(bytes(node.private_box_key.public_key)),
            "record_canonical_hex": hexs(node.public_record().canonical),
            "fingerprint": fingerprint(node.public_record()),
        }
        for node in (*NODES.values(), IMPOSTOR)
    ]
    nodes[-1]["name"] = "impostor"
    record = CASA.public_record().to_dict()
    attestation = sign_statement(HILFE.signing_key, "key-attestation", record)
    return {
        "description": "Seeds are SHA-256('ponte-vector:' || label); see SPEC.md 'Test vectors'.",
        "nodes": nodes,
        "safety_numbers": [
            {
                "a": ALBA.node_id,
                "b": CASA.node_id,
                "safety_number": safety_number(ALBA.public_record(), CASA.public_record()),
            },
        ],
        "statements": [
            {
                "signer": HILFE.node_id,
                "context": "key-attestation",
                "document": record,
                "signed_bytes_hex": hexs(
                    b"ponte-statement-v1\x00key-attestation\x00" + canonical_json(record)
                ),
                "signature_hex": hexs(attestation),
            },
        ],
    }


def padding_vectors() -> list[dict[str, Any]]:
    return [
        {"length": n, "bucket": len(pad(bytes(n)))}
        for n in (0, 1, 1023, 1024, 4095, 4096, 65_535, 1_048_576, 2_097_151)
    ]


def keystore_vector() -> dict[str, Any]:
    limits = KdfLimits(opslimit=2, memlimit=8192 * 1024)
    sealed = seal_keystore_with(
        [ALBA],
        "correct horse battery staple",
        limits,
        seed("keystore/salt")[:16],
        seed("keystore/nonce")[:24],
    )
    return {
        "passphrase": "correct horse battery staple",
        "file": sealed.decode(),
        "expect": [ALBA.to_private_dict()],
        "wrong_passphrase": "Correct horse battery staple",
    }


def attachment_vector() -> dict[str, Any]:
    data = b"Scan of national ID card (placeholder text).\n" * 10
    reference, blob = encrypt_attachment_with(
        data,
        "id-card.txt",
        "text/plain",
        seed("attachment/id")[:16],
        seed("attachment/key"),
        seed("attachment/nonce")[:24],
    )
    return {"reference": reference, "blob_hex": hexs(blob), "plaintext_hex": hexs(data)}


def node_vector(node: NodeIdentity) -> dict[str, Any]:
    return {
        "node_id": node.node_id,
        "sign_seed_hex": hexs(node.sign_seed),
        "box_secret_hex": hexs(node.box_secret),
        "created": node.created,
        "expires": node.expires,
        "key_version": node.key_version,
        "sign_public_hex": hexs(bytes(node.signing_key.verify_key)),
        "box_public_hex": hexs(bytes(node.private_box_key.public_key)),
        "record_canonical_hex": hexs(node.public_record().canonical),
        "fingerprint": fingerprint(node.public_record()),
    }


def statement_signed_bytes(context: str, statement: dict[str, Any]) -> bytes:
    return b"ponte-statement-v1\x00" + context.encode() + b"\x00" + canonical_json(statement)


def public_news() -> dict[str, Any]:
    return {
        "publisher": HUB.node_id,
        "key_version": HUB.key_version,
        "item_id": "news-2026-0917",
        "revision": 1,
        "status": "published",
        "audience": "public",
        "item_kind": "news",
        "title": "Ponte network grows to twelve members",
        "body_markdown": "Three NGOs joined in September: **Alba** (RO), Casa (IT), Hilfe (DE).",
        "language": "en",
        "topics": ["network", "members"],
        "countries": ["RO", "IT", "DE"],
        "url": "https://ponte.example/news/2026-09-network",
        "published": NOW - 4 * DAY,
        "updated": NOW - 4 * DAY,
    }


def members_event(revision: int) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "publisher": HUB.node_id,
        "key_version": HUB.key_version,
        "item_id": "event-2026-returns-forum",
        "revision": revision,
        "status": "published",
        "audience": "members",
        "item_kind": "event",
        "title": "Forum on safe returns — Bucureşti",
        "body_markdown": "Caseworkers meet to compare return procedures.\n\n* Agenda: TBA",
        "language": "en",
        "topics": ["returns"],
        "countries": ["RO"],
        "event": {
            "starts": NOW + 20 * DAY,
            "ends": NOW + 20 * DAY + 8 * 3600,
            "place": "Casa Universitarilor, Str. Dionisie Lupu 46, Bucureşti",
            "online_url": "https://meet.ponte.example/returns-forum",
        },
        "published": NOW - 2 * DAY,
        "updated": NOW - 2 * DAY,
    }
    if revision > 1:
        statement.update(
            status="retracted",
            updated=NOW - 3600,
            reason="Postponed: the venue is no longer available. A new date will follow.",
        )
    return statement


def public_resource() -> dict[str, Any]:
    return {
        "publisher": HUB.node_id,
        "key_version": HUB.key_version,
        "item_id": "resource-ghid-intoarcere",
        "revision": 3,
        "status": "published",
        "audience": "public",
        "item_kind": "resource",
        "title": "Ghid pentru întoarcerea voluntară asistată",
        "body_markdown": "Ghidul explică pașii unei întoarceri voluntare asistate.",
        "language": "ro",
        "topics": ["returns", "guides"],
        "file": {
            "name": "ghid-intoarcere.pdf",
            "media_type": "application/pdf",
            "size": 482_133,
            "sha256": b64url_encode(hashlib.sha256(b"ghid-intoarcere.pdf").digest()),
        },
        "credit": {"organisation_id": "org-alba", "organisation_name": "Asociația Alba"},
        "published": NOW - 60 * DAY,
        "updated": NOW - 10 * DAY,
    }


def proposed_item() -> dict[str, Any]:
    return {
        "item_kind": "call_for_partners",
        "title": "Partners wanted: shelter places for returning minors",
        "body_markdown": "Alba looks for two partners in Italy with places for minors.",
        "language": "en",
        "topics": ["minors", "shelter"],
        "countries": ["IT"],
        "url": "https://alba.example/calls/2026-minors",
    }


def _contribution_statement(node: NodeIdentity, **changes: Any) -> dict[str, Any]:
    return {
        "node_id": node.node_id,
        "organisation_id": "org-alba",
        "contribution_id": "alba-2026-0042",
        "submitted_at": NOW - 60,
        "item": proposed_item(),
        **changes,
    }


def _signed(key: NodeIdentity, context: str, statement: dict[str, Any]) -> dict[str, Any]:
    """Signed as given, with no check: negative vectors need well-signed bad statements."""
    return {
        "statement": statement,
        "signature": b64url_encode(sign_statement(key.signing_key, context, statement)),
    }


def _refused(
    name: str, why: str, document: dict[str, Any], reason: str, field: str | None = None
) -> dict[str, Any]:
    case = {"name": name, "description": why, "document": document, "reason": reason}
    if field is not None:
        case["field"] = field
    return case


def publication_vectors() -> dict[str, Any]:
    positive = [
        ("public_news", "a public news item", public_news()),
        ("members_event", "a members-only event, first revision", members_event(1)),
        ("members_event_retracted", "the same event retracted (revision 2)", members_event(2)),
        (
            "public_resource",
            "a public resource with a file, credited to a member",
            public_resource(),
        ),
    ]
    good = sign_publication(HUB, public_news())
    flipped = bytearray(b64url_decode(good["signature"], length=64))
    flipped[17] ^= 0x04
    tampered = {**public_news(), "title": "Ponte network grows to thirteen members"}
    as_member = {**public_news(), "publisher": ALBA.node_id}
    # Python's 1.0 == 1: a verifier that serialised the float as 1 would accept this.
    float_document = {
        "statement": {**public_news(), "revision": 1.0},
        "signature": good["signature"],
    }
    not_event = {**public_news(), "event": {"starts": NOW + DAY}}
    ends_early = members_event(1)
    ends_early["event"] = {**ends_early["event"], "ends": ends_early["event"]["starts"] - 1}
    negative = [
        _refused(
            "bad_signature",
            "one bit of the public_news signature flipped",
            {"statement": public_news(), "signature": b64url_encode(bytes(flipped))},
            "bad_signature",
        ),
        _refused(
            "tampered_title",
            "the public_news signature with the title changed afterwards",
            {"statement": tampered, "signature": good["signature"]},
            "bad_signature",
        ),
        _refused(
            "wrong_context",
            "public_news signed by the hub key under context contribution, not publication",
            _signed(HUB, CONTRIBUTION_CONTEXT, public_news()),
            "bad_signature",
        ),
        _refused(
            "short_signature",
            "a signature of 63 bytes",
            {"statement": public_news(), "signature": b64url_encode(bytes(63))},
            "invalid",
            "signature",
        ),
        _refused(
            "publisher_not_hub",
            "a member node signs a publication naming itself as publisher",
            _signed(ALBA, PUBLICATION_CONTEXT, as_member),
            "invalid",
            "statement.publisher",
        ),
        _refused(
            "key_version_mismatch",
            "key_version 2 where the pinned hub key has version 1",
            _signed(HUB, PUBLICATION_CONTEXT, {**public_news(), "key_version": 2}),
            "invalid",
            "statement.key_version",
        ),
        _refused(
            "float_in_statement",
            "revision 1.0, a float, where public_news (signed) has the integer 1",
            float_document,
            "invalid",
            "statement",
        ),
        _refused(
            "unknown_member",
            "a signed statement with an extra member author_email",
            _signed(
                HUB, PUBLICATION_CONTEXT, {**public_news(), "author_email": "ana@ponte.example"}
            ),
            "invalid",
            "statement.author_email",
        ),
        _refused(
            "event_on_news",
            "a news item carrying event details",
            _signed(HUB, PUBLICATION_CONTEXT, not_event),
            "invalid",
            "statement.event",
        ),
        _refused(
            "event_without_date",
            "an event without event details",
            _signed(
                HUB,
                PUBLICATION_CONTEXT,
                {k: v for k, v in members_event(1).items() if k != "event"},
            ),
            "invalid",
            "statement.event",
        ),
        _refused(
            "ends_before_starts",
            "an event ending one second before it starts",
            _signed(HUB, PUBLICATION_CONTEXT, ends_early),
            "invalid",
            "statement.event.ends",
        ),
        _refused(
            "updated_before_published",
            "updated one second before published",
            _signed(HUB, PUBLICATION_CONTEXT, {**public_news(), "updated": NOW - 4 * DAY - 1}),
            "invalid",
            "statement.updated",
        ),
        _refused(
            "reason_on_published",
            "a published (not retracted) item with a reason",
            _signed(HUB, PUBLICATION_CONTEXT, {**public_news(), "reason": "Corrected a typo."}),
            "invalid",
            "statement.reason",
        ),
        _refused(
            "file_on_news",
            "a news item carrying a file",
            _signed(HUB, PUBLICATION_CONTEXT, {**public_news(), "file": public_resource()["file"]}),
            "invalid",
            "statement.file",
        ),
    ]
    return {
        "positive": [
            {
                "name": name,
                "description": why,
                "document": (document := sign_publication(HUB, statement)),
                "signed_bytes_hex": hexs(statement_signed_bytes(PUBLICATION_CONTEXT, statement)),
                "signature_hex": hexs(b64url_decode(document["signature"], length=64)),
            }
            for name, why, statement in positive
        ],
        "negative": negative,
    }


def contribution_vectors() -> dict[str, Any]:
    proposals = [
        ("call_for_partners", "ngo-alba-ro proposes a call for partners", proposed_item()),
        (
            "event",
            "ngo-alba-ro proposes an online event without an end time",
            {
                "item_kind": "event",
                "title": "Webinar: documents for returning minors",
                "body_markdown": "How to obtain a passport for a minor abroad.",
                "language": "ro",
                "event": {"starts": NOW + 9 * DAY, "online_url": "https://alba.example/webinar"},
            },
        ),
    ]
    policy = {**proposed_item(), "item_kind": "policy_update"}
    extra = {**proposed_item(), "author": "Ioana Marin"}
    negative = [
        _refused(
            "signed_by_another_node",
            "node_id ngo-alba-ro, but signed with ngo-casa-it's key",
            _signed(CASA, CONTRIBUTION_CONTEXT, _contribution_statement(ALBA)),
            "bad_signature",
        ),
        _refused(
            "publication_signature",
            "ngo-alba-ro's key signed the statement under context publication",
            _signed(ALBA, PUBLICATION_CONTEXT, _contribution_statement(ALBA)),
            "bad_signature",
        ),
        _refused(
            "node_id_mismatch",
            "ngo-casa-it's own signed contribution, checked as coming from ngo-alba-ro",
            _signed(CASA, CONTRIBUTION_CONTEXT, _contribution_statement(CASA)),
            "invalid",
            "statement.node_id",
        ),
        _refused(
            "kind_not_for_members",
            "a member proposes a policy_update",
            _signed(ALBA, CONTRIBUTION_CONTEXT, _contribution_statement(ALBA, item=policy)),
            "invalid",
            "statement.item.item_kind",
        ),
        _refused(
            "unknown_item_member",
            "the proposed item carries an extra member author",
            _signed(ALBA, CONTRIBUTION_CONTEXT, _contribution_statement(ALBA, item=extra)),
            "invalid",
            "statement.item.author",
        ),
    ]
    return {
        "positive": [
            {
                "name": name,
                "description": why,
                "node": ALBA.node_id,
                "now": NOW,
                "document": (
                    document := sign_contribution(
                        ALBA, "org-alba", f"alba-2026-{index:04d}", item, NOW - 60
                    )
                ),
                "signed_bytes_hex": hexs(
                    statement_signed_bytes(CONTRIBUTION_CONTEXT, document["statement"])
                ),
                "signature_hex": hexs(b64url_decode(document["signature"], length=64)),
            }
            for index, (name, why, item) in enumerate(proposals, start=42)
        ],
        "negative": [{"node": ALBA.node_id, **case} for case in negative],
    }


def publications_file() -> dict[str, Any]:
    record = HUB.public_record()
    return {
        "description": (
            "Signed publications and contributions, SPEC.md 4.6. Publications verify with the "
            "hub's key; a contribution with the key of the keys.json node named by 'node'."
        ),
        "hub": node_vector(HUB),
        "hub_key": {
            "node_id": record.node_id,
            "key_version": record.key_version,
            "fingerprint": fingerprint(record),
        },
        "publications": publication_vectors(),
        "contributions": contribution_vectors(),
    }


def all_files() -> dict[str, Any]:
    return {
        "canonical.json": {"vectors": canonical_vectors()},
        "keys.json": key_vectors(),
        "padding.json": {"vectors": padding_vectors()},
        "keystore.json": keystore_vector(),
        "attachments.json": attachment_vector(),
        "envelopes.json": {"positive": positive_vectors(), "negative": negative_vectors()},
        "publications.json": publications_file(),
    }


def render(content: Any) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    action: Callable[[Path, str], bool] = _differs if check else _write
    changed = [
        name for name, content in all_files().items() if action(VECTORS_DIR / name, render(content))
    ]
    if check and changed:
        print(f"vectors differ from the generator: {', '.join(changed)}", file=sys.stderr)
        return 1
    return 0


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text(encoding="utf-8") != text


def _write(path: Path, text: str) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    raise SystemExit(main())
