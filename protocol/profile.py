"""A node's signed update of its own organisation's directory entry (context
``directory-update``, SPEC.md 4.5).

The node signs ``{"node_id", "organisation_id", "submitted_at", "changes"}`` with its current
key; the hub checks the signature with the key it holds for that node, then applies
``changes`` to that organisation only. ``changes`` is a closed set of fields: each member that
is present replaces that part of the entry, a member that is absent leaves it as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from protocol.errors import EncodingError, ValidationError
from protocol.fields import Check, choice, list_of, obj, required, text
from protocol.keys import (
    NodeIdentity,
    PublicKeyRecord,
    check_node_id,
    check_timestamp,
    signed_document,
    split_signed_document,
    verify_statement,
)

CONTEXT = "directory-update"
STATEMENT_FIELDS = frozenset({"node_id", "organisation_id", "submitted_at", "changes"})
# How far submitted_at may be from the hub's clock, either way, for the hub to apply it.
SUBMISSION_WINDOW = 600
MAX_SERVICES = 50
MAX_LANGUAGES = 50
MAX_PHONES = 20
ORGANISATION_ID = r"[^\s]{1,100}"
TERM_CODE = r"[a-z0-9][a-z0-9-]{0,99}"
LANGUAGE_CODE = r"[a-z]{2}"
EMAIL = r"[^@\s]+@[^@\s]+"
URL = r"https?://\S+"
PHONE = r"[0-9+()./ -]{4,40}"


@dataclass(frozen=True)
class ProfileUpdate:
    """A verified directory-update statement."""

    node_id: str
    organisation_id: str
    submitted_at: int
    changes: dict[str, Any]


def nullable(check: Check) -> Check:
    """``check``, or JSON null (which clears the value)."""

    def check_or_null(value: Any, path: str) -> None:
        if value is not None:
            check(value, path)

    return check_or_null


def true_false_or_null(value: Any, path: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise ValidationError(path, "must be true, false or null (not known)")


def formatted(max_length: int, pattern: str, meaning: str) -> Check:
    """Text of at most ``max_length`` characters matching ``pattern``, which ``meaning``
    describes for the error message."""
    compiled = re.compile(pattern)
    check_text = text(max_length)

    def check(value: Any, path: str) -> None:
        check_text(value, path)
        if not compiled.fullmatch(value):
            raise ValidationError(path, f"must be {meaning}")

    return check


language_code = formatted(2, LANGUAGE_CODE, "an ISO 639-1 code: two lowercase letters")
term_code = formatted(100, TERM_CODE, "a taxonomy term code: lowercase letters, digits and '-'")
email_address = formatted(320, EMAIL, "an e-mail address")
web_address = formatted(500, URL, "a web address starting with http:// or https://")
phone_number = formatted(
    40, PHONE, "a phone number: 4-40 characters of digits, spaces and + ( ) . / -"
)


SERVICE = {
    "term": required(term_code),
    "name": required(text(300)),
    "open_24_7": required(true_false_or_null),
    "wait_time": required(nullable(text(200))),
    "eligibility": required(nullable(text(2000))),
}
PHONE_FIELDS = {
    "number": required(phone_number),
    "type": required(choice("voice", "fax")),
}
# Every member of ``changes`` is optional; where null is allowed, it clears the value.
CHANGES: dict[str, Check] = {
    "services": list_of(obj(SERVICE), max_items=MAX_SERVICES),
    "languages": list_of(language_code, max_items=MAX_LANGUAGES),
    "interpreters_available": true_false_or_null,
    "email": nullable(email_address),
    "website": nullable(web_address),
    "phones": list_of(obj(PHONE_FIELDS), max_items=MAX_PHONES),
    "description": nullable(text(4000)),
}
CHANGE_FIELDS = tuple(CHANGES)


def check_changes(changes: object, path: str = "changes") -> dict[str, Any]:
    """Raise :class:`ValidationError` naming the field unless ``changes`` is well formed."""
    if not isinstance(changes, dict):
        raise ValidationError(path, "must be a JSON object")
    if not changes:
        raise ValidationError(path, f"must hold at least one of {', '.join(CHANGE_FIELDS)}")
    unknown = sorted(str(name) for name in changes if name not in CHANGES)
    if unknown:
        raise ValidationError(f"{path}.{unknown[0]}", "is not a field of a directory update")
    for name, check in CHANGES.items():
        if name in changes:
            check(changes[name], f"{path}.{name}")
    _check_service_names(changes.get("services", []), f"{path}.services")
    return changes


def _check_service_names(services: list[dict[str, Any]], path: str) -> None:
    seen: set[str] = set()
    for index, service in enumerate(services):
        name = service["name"].strip().casefold()
        if name in seen:
            raise ValidationError(f"{path}[{index}].name", "repeats another service's name")
        seen.add(name)


_organisation_id = formatted(100, ORGANISATION_ID, "an organisation id without spaces")


def _check_organisation_id(value: object, path: str) -> str:
    _organisation_id(value, path)
    return str(value)


def profile_update(
    identity: NodeIdentity, organisation_id: str, changes: dict[str, Any], now: int
) -> dict[str, Any]:
    """The signed update document: ``{"statement": {...}, "signature": b64url}``."""
    statement = {
        "node_id": identity.node_id,
        "organisation_id": _check_organisation_id(organisation_id, "organisation_id"),
        "submitted_at": check_timestamp(now, "submitted_at"),
        "changes": check_changes(changes),
    }
    return signed_document(identity.signing_key, CONTEXT, statement)


def verify_profile_update(record: PublicKeyRecord, document: object) -> ProfileUpdate:
    """Check the shape, that ``record``'s key signed it, then every field; raise a
    ProtocolError (naming the field where there is one) otherwise."""
    statement, signature = split_signed_document(document, STATEMENT_FIELDS, "update")
    if statement["node_id"] != record.node_id:
        raise ValidationError("statement.node_id", "is not the node whose key was given")
    try:
        verify_statement(record.sign_key, CONTEXT, statement, signature)
    except EncodingError as exc:  # a float, a huge number: nothing a signer could have signed
        raise ValidationError("statement", f"is not valid canonical JSON: {exc}") from exc
    return ProfileUpdate(
        node_id=check_node_id(statement["node_id"], "statement.node_id"),
        organisation_id=_check_organisation_id(
            statement["organisation_id"], "statement.organisation_id"
        ),
        submitted_at=check_timestamp(statement["submitted_at"], "statement.submitted_at"),
        changes=check_changes(statement["changes"]),
    )
