"""Shared builders and Hypothesis strategies for the protocol tests (no mocks: real crypto)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from protocol import (
    MemorySeenIds,
    NodeIdentity,
    PublicKeyRecord,
    b64url_encode,
    canonical_json,
    new_id,
    open_envelope,
    seal,
)
from protocol.canonical import MAX_SAFE_INTEGER
from protocol.keystore import KdfLimits
from protocol.publication import sign_publication

# A fixed clock: every identity is valid from T0 for two years; envelopes are sealed at NOW.
T0 = 1_700_000_000
NOW = T0 + 86_400
MIB = 1024 * 1024

# The cheapest Argon2id cost libsodium accepts: keystore tests stay fast.
CHEAP_KDF = KdfLimits(opslimit=1, memlimit=8192)

ALICE = NodeIdentity.generate("ngo-alba-ro", now=T0)
BOB = NodeIdentity.generate("ngo-casa-it", now=T0)
CAROL = NodeIdentity.generate("ngo-hilfe-de", now=T0)
MALLORY = NodeIdentity.generate("ngo-mallory", now=T0)
HUB = NodeIdentity.generate("ponte-hub", now=T0)

DIRECTORY: dict[str, list[PublicKeyRecord]] = {
    identity.node_id: [identity.public_record()] for identity in (ALICE, BOB, CAROL, MALLORY)
}


def resolve(node_id: str) -> list[PublicKeyRecord]:
    """The receiver's view of the directory: every node's current public record."""
    return list(DIRECTORY.get(node_id, []))


def resolve_nobody(node_id: str) -> list[PublicKeyRecord]:
    return []


def open_as(envelope: Any, recipient: Any = BOB, *, now: int = NOW, seen: Any = None) -> Any:
    return open_envelope(envelope, recipient, resolve, seen or MemorySeenIds(), now=now)


# --------------------------------------------------------------------------- valid payloads


def receipt() -> dict[str, Any]:
    return {"message_id": b64url_encode(new_id()), "status": "delivered"}


def referral(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "request_type": "shelter",
        "urgency": "urgent",
        "sender_contact": {
            "name": "Ioana Ionescu",
            "role": "caseworker",
            "organisation": "Alba",
            "email": "ioana@alba.example",
            "phone": "+40 21 555 0100",
        },
        "person": {
            "case_code": "RO-2026-014",
            "gender": "female",
            "age_band": "25-34",
            "minor": False,
            "nationality": "RO",
            "languages": ["ro", "en"],
        },
        "consent": {
            "given": True,
            "form": "written",
            "date": "2026-01-10",
            "scope": ["share_with_recipient", "contact_authorities"],
        },
    }
    payload.update(overrides)
    return payload


def minor_referral() -> dict[str, Any]:
    payload = referral()
    payload["person"].update(
        age_band="12-15", minor=True, guardian={"appointed": True, "details": "court-appointed"}
    )
    return payload


def return_referral() -> dict[str, Any]:
    return referral(
        request_type="assisted_voluntary_return",
        risk_assessment={"summary": "Low risk on return.", "level": "low", "date": "2026-01-09"},
    )


def newsletter(body: str = "# Hello\n\nNews from Alba.") -> dict[str, Any]:
    """A newsletter payload: one publication signed by HUB (publication.py)."""
    return sign_publication(HUB, publication_statement(body))


def publication_statement(body: str = "# Hello\n\nNews from Alba.") -> dict[str, Any]:
    return {
        "publisher": HUB.node_id,
        "key_version": 1,
        "item_id": "alba-2026-01",
        "revision": 1,
        "status": "published",
        "audience": "members",
        "item_kind": "newsletter",
        "title": "January news",
        "body_markdown": body,
        "language": "en",
        "topics": ["returns", "shelter"],
        "countries": ["RO", "IT"],
        "published": NOW,
        "updated": NOW,
        "url": "https://alba.example/news/2026-01",
    }


def referral_update() -> dict[str, Any]:
    return {"status": "accepted", "message": "We can take the case from Monday."}


def sealed_receipt(**kwargs: Any) -> Any:
    """A small envelope alice -> bob."""
    kwargs.setdefault("now", NOW)
    return seal(ALICE, BOB.public_record(), "receipt", receipt(), **kwargs)


def deep_copy(value: Any) -> Any:
    return copy.deepcopy(value)


def same_json(a: Any, b: Any) -> bool:
    """Equality that also compares types: True is not 1, 1.0 is not 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    return bool(a == b)


# --------------------------------------------------------------------------- strategies

# Any Unicode scalar value (lone surrogates cannot be encoded as UTF-8 and are excluded).
unicode_chars = st.characters(blacklist_categories=("Cs",))
json_text = st.text(unicode_chars, max_size=12)
safe_ints = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)

json_scalars = st.none() | st.booleans() | safe_ints | json_text
# Exactly the values parse_json can return: no floats, bounded integers, string keys.
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=16,
)
# What a generic JSON parser (e.g. a web framework's) could hand to a from_dict: floats too.
loose_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | json_text
)
loose_values = st.recursive(
    loose_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=16,
)


@st.composite
def big_text(draw: Any, max_chars: int, max_bytes: int | None = None) -> str:
    """A long text built cheaply: a short drawn chunk repeated up to a drawn size.

    The result starts with a letter (so it is never blank) and holds at most ``max_chars``
    characters and, if given, at most ``max_bytes`` bytes once written as canonical JSON.
    """
    chunk = draw(st.text(unicode_chars, min_size=1, max_size=6))
    chunk_bytes = len(canonical_json(chunk)) - 2  # escaped size, without the quotes
    limit_chars = max_chars - 1
    if max_bytes is not None:
        limit_chars = min(limit_chars, (max_bytes - 1) // chunk_bytes * len(chunk))
    target = draw(
        st.one_of(
            st.integers(0, limit_chars),
            st.integers(max(0, limit_chars - 64), limit_chars),
        )
    )
    repeated = chunk * (target // len(chunk) + 1)
    return "N" + repeated[:target]


@st.composite
def valid_referrals(draw: Any) -> dict[str, Any]:
    """Referrals that satisfy every rule, with optional parts and long restricted notes."""
    payload = referral(
        request_type=draw(
            st.sampled_from(["shelter", "legal", "family_tracing", "assisted_voluntary_return"])
        ),
        urgency=draw(st.sampled_from(["routine", "urgent", "emergency"])),
    )
    person = payload["person"]
    who = draw(st.sampled_from(["case_code", "initials", "both"]))
    if who == "initials":
        del person["case_code"]
    if who != "case_code":
        person["initials"] = draw(st.sampled_from(["M.K.", "AB", "É. Ş.", "Ж"]))
    if draw(st.booleans()):
        person.update(
            age_band=draw(st.sampled_from(["0-11", "12-15", "16-17", "unknown"])),
            minor=True,
            guardian={"appointed": draw(st.booleans())},
        )
    if payload["request_type"] == "assisted_voluntary_return" or draw(st.booleans()):
        payload["risk_assessment"] = {
            "summary": draw(big_text(2000)),
            "level": draw(st.sampled_from(["low", "medium", "high"])),
            "date": "2026-01-09",
        }
    if draw(st.booleans()):
        payload["case"] = {
            "exploitation_forms": ["labour", "forced_begging"],
            "documents_held": ["passport"],
            "summary": draw(big_text(5000)),
        }
    if draw(st.booleans()):
        payload["restricted_notes"] = draw(big_text(100_000))
    return payload
