"""Message kinds and the rules their payloads follow.

A referral carries the minimum a partner NGO needs to help, never more: the person appears as a
case code or initials only, consent is recorded, and fields are closed lists wherever a closed
list serves. See SPEC.md section "Message kinds" for the same rules in prose.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from protocol.errors import ValidationError
from protocol.fields import (
    LONG_TEXT,
    Field,
    b64_bytes,
    boolean,
    check_object,
    choice,
    integer,
    iso_date,
    list_of,
    obj,
    optional,
    required,
    text,
)
from protocol.padding import MAX_ATTACHMENT_BUCKET
from protocol.publication import check_publication


class Kind(StrEnum):
    REFERRAL = "referral"
    REFERRAL_UPDATE = "referral_update"
    NEWSLETTER = "newsletter"
    RECEIPT = "receipt"


REQUEST_TYPES = (
    "assisted_voluntary_return",
    "family_tracing",
    "identity_documents",
    "transfer_for_protection",
    "court_hearing_travel",
    "shelter",
    "legal",
    "health",
    "other",
)
RETURN_TYPES = frozenset({"assisted_voluntary_return"})
MINOR_AGE_BANDS = frozenset({"0-11", "12-15", "16-17"})
AGE_BANDS = ("0-11", "12-15", "16-17", "18-24", "25-34", "35-49", "50-64", "65+", "unknown")
EXPLOITATION_FORMS = (
    "sexual",
    "labour",
    "forced_criminality",
    "forced_begging",
    "domestic_servitude",
    "forced_marriage",
    "organ_removal",
    "other",
)
DOCUMENTS = (
    "passport",
    "national_id",
    "birth_certificate",
    "residence_permit",
    "travel_document",
    "police_report",
    "medical_report",
    "court_summons",
    "other",
)
CONSENT_SCOPES = (
    "share_with_recipient",
    "contact_family",
    "contact_authorities",
    "share_documents",
    "follow_up_contact",
)
REFERRAL_STATUSES = ("accepted", "declined", "in_progress", "completed", "withdrawn")

# Case codes must hold a digit, so that a name cannot pass for a code ("RO-2026-014").
CASE_CODE = r"(?=[^0-9]*[0-9])[A-Za-z0-9][A-Za-z0-9/_.-]{1,39}"
COUNTRY = r"[A-Z]{2}"
LANGUAGE = r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"
ID16 = b64_bytes(16)


def initials(value: Any, path: str) -> None:
    """One to four letters, with optional dots and spaces ("M.K.", "AB", "m. k.", "ნ.ბ.").

    Letters written together must be capitals, so that a short name ("Ana") cannot pass.
    """
    text(12)(value, path)
    # NFC first: keyboards that type "Á" as A + combining accent still give one letter.
    runs = unicodedata.normalize("NFC", value).replace(".", " ").split()
    letters = "".join(runs)
    lower_run = any(len(run) > 1 and any(map(str.islower, run)) for run in runs)
    if not (1 <= len(letters) <= 4 and letters.isalpha()) or lower_run:
        raise ValidationError(path, "give one to four initials, never a name")


CONTACT_PERSON = {
    "name": required(text()),
    "role": optional(text()),
    "organisation": optional(text()),
    "email": optional(text(pattern=r"[^@\s]+@[^@\s]+")),
    "phone": optional(text(40, pattern=r"[0-9+()./ -]{4,40}")),
}

PERSON = {
    "case_code": optional(text(40, pattern=CASE_CODE)),
    "initials": optional(initials),
    "gender": required(choice("female", "male", "non_binary", "other", "not_disclosed")),
    "age_band": required(choice(*AGE_BANDS)),
    "minor": required(boolean),
    "nationality": optional(text(2, pattern=COUNTRY)),
    "languages": optional(list_of(text(20, pattern=LANGUAGE), max_items=10)),
    "interpreter_needed": optional(boolean),
    "guardian": optional(obj({"appointed": required(boolean), "details": optional(text(2000))})),
}

CONSENT = {
    "given": required(boolean),
    "form": required(choice("written", "verbal")),
    "date": required(iso_date),
    "scope": required(list_of(choice(*CONSENT_SCOPES), min_items=1)),
    "withhold_from_family": optional(text(2000)),
}

ATTACHMENT = obj(
    {
        "id": required(ID16),
        "name": required(text(200)),
        "media_type": required(text(100, pattern=r"[a-z]+/[A-Za-z0-9.+-]+")),
        "size": required(integer(0, MAX_ATTACHMENT_BUCKET - 1)),
        "key": required(b64_bytes(32)),
        "sha256": required(b64_bytes(32)),
    }
)
ATTACHMENTS = list_of(ATTACHMENT, max_items=20, unique=False)

REFERRAL: Mapping[str, Field] = {
    "request_type": required(choice(*REQUEST_TYPES)),
    "urgency": required(choice("routine", "urgent", "emergency")),
    "requested_by": optional(iso_date),
    "intake": optional(
        choice(
            "hotline",
            "outreach",
            "police",
            "labour_inspection",
            "ngo_referral",
            "self_referral",
            "health_service",
            "embassy",
            "other",
        )
    ),
    "sender_contact": required(obj(CONTACT_PERSON)),
    "recipient_contact": optional(obj(CONTACT_PERSON)),
    "person": required(obj(PERSON)),
    "consent": required(obj(CONSENT)),
    "case": optional(
        obj(
            {
                "exploitation_forms": optional(list_of(choice(*EXPLOITATION_FORMS))),
                "documents_held": optional(list_of(choice(*DOCUMENTS))),
                "documents_needed": optional(list_of(choice(*DOCUMENTS))),
                "summary": optional(text(LONG_TEXT)),
            }
        )
    ),
    "risk_assessment": optional(
        obj(
            {
                "summary": required(text(LONG_TEXT)),
                "level": required(choice("low", "medium", "high")),
                "date": required(iso_date),
            }
        )
    ),
    "logistics": optional(
        obj(
            {
                "departure_date": optional(iso_date),
                "arrival_date": optional(iso_date),
                "escort": optional(boolean),
                "pickup_point": optional(text(500)),
                "costs_covered_by": optional(text(500)),
            }
        )
    ),
    "follow_up": optional(
        obj({"schedule": required(text(2000)), "duration_months": optional(integer(1, 120))})
    ),
    "restricted_notes": optional(text(LONG_TEXT)),
    "attachments": optional(ATTACHMENTS),
}

REFERRAL_UPDATE: Mapping[str, Field] = {
    "status": optional(choice(*REFERRAL_STATUSES)),
    "message": optional(text(LONG_TEXT)),
    "reason": optional(text(2000)),
    "attachments": optional(ATTACHMENTS),
}

# A newsletter envelope carries one signed publication (publication.py, SPEC.md 4.6): the
# node checks the statement's signature with the pinned hub key before it shows the item.
NEWSLETTER: Mapping[str, Field] = {
    "statement": required(check_publication),
    "signature": required(b64_bytes(64)),
}

RECEIPT: Mapping[str, Field] = {
    "message_id": required(ID16),
    "status": required(choice("delivered", "rejected")),
    "reason": optional(text(100)),
}

SCHEMAS: Mapping[Kind, Mapping[str, Field]] = {
    Kind.REFERRAL: REFERRAL,
    Kind.REFERRAL_UPDATE: REFERRAL_UPDATE,
    Kind.NEWSLETTER: NEWSLETTER,
    Kind.RECEIPT: RECEIPT,
}


def parse_kind(value: object) -> Kind:
    try:
        return Kind(value)
    except ValueError as exc:
        shown = repr(value[:40]) if isinstance(value, str) else f"a {type(value).__name__}"
        raise ValidationError("kind", f"unknown message kind {shown}") from exc


def validate_payload(kind: Kind | str, payload: Any) -> None:
    """Raise :class:`ValidationError` (naming the field) unless ``payload`` is a valid ``kind``."""
    kind = parse_kind(kind)
    check_object(payload, SCHEMAS[kind])
    if kind is Kind.REFERRAL:
        _referral_rules(payload)
    elif kind is Kind.REFERRAL_UPDATE and not ({"status", "message"} & set(payload)):
        raise ValidationError("status", "an update carries a status, a message or both")
    elif kind is Kind.NEWSLETTER and payload["statement"]["audience"] != "members":
        # public items travel through the public API; an envelope is for members only
        raise ValidationError("statement.audience", "a newsletter carries a members-only item")


def _referral_rules(payload: dict[str, Any]) -> None:
    person, consent = payload["person"], payload["consent"]
    if "case_code" not in person and "initials" not in person:
        raise ValidationError("person.case_code", "give a case code or initials (never a name)")
    if consent["given"] is not True:
        raise ValidationError("consent.given", "a referral needs the person's informed consent")
    if "share_with_recipient" not in consent["scope"]:
        raise ValidationError("consent.scope", "consent must cover sharing with the recipient")
    _minor_rules(person)
    if payload["request_type"] in RETURN_TYPES and "risk_assessment" not in payload:
        raise ValidationError("risk_assessment", "a risk assessment is required before a return")


def _minor_rules(person: dict[str, Any]) -> None:
    band, minor = person["age_band"], person["minor"]
    if band in MINOR_AGE_BANDS and not minor:
        raise ValidationError("person.minor", f"age band {band} is a minor")
    if minor and band not in MINOR_AGE_BANDS | {"unknown"}:
        raise ValidationError("person.age_band", f"age band {band} is not a minor's")
    if minor and "guardian" not in person:
        raise ValidationError("person.guardian", "say whether a guardian is appointed for a minor")
