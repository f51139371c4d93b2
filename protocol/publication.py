"""Signed publications (context ``publication``) and members' contributions (context
``contribution``), SPEC.md 4.6.

The secretariat's hub signs every revision of every item it publishes with its Ed25519 key,
the key each node pinned at enrolment, so a node can check an item whichever way it arrived
(the public API, or a members-only envelope through the relay). A member node proposes an
item by signing a contribution with its own current key; the hub checks it before it enters
the moderation queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol.canonical import b64url_decode
from protocol.errors import EncodingError, ValidationError
from protocol.fields import (
    Field,
    b64_bytes,
    check_object,
    choice,
    integer,
    list_of,
    obj,
    optional,
    required,
    text,
)
from protocol.keys import (
    NodeIdentity,
    PublicKeyRecord,
    check_node_id,
    signed_document,
    verify_statement,
)

CONTEXT = "publication"
CONTRIBUTION_CONTEXT = "contribution"
ITEM_KINDS = ("newsletter", "news", "event", "call_for_partners", "policy_update", "resource")
CONTRIBUTION_KINDS = ("news", "event", "call_for_partners")
STATUSES = ("published", "retracted")
AUDIENCES = ("public", "members")
MAX_BODY = 1_500_000
MAX_FILE = 50 * 1024 * 1024
MAX_TIME = 2**53 - 1
COUNTRY = r"[A-Z]{2}"
LANGUAGE = r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"
TOPIC = r"[a-z0-9][a-z0-9-]{0,99}"
URL = r"https?://\S+"
MEDIA_TYPE = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}"
ITEM_ID = r"[A-Za-z0-9_-]{1,100}"
# How far a contribution's submitted_at may be from the hub's clock, either way.
SUBMISSION_WINDOW = 600

timestamp = integer(0, MAX_TIME)
web_address = text(2000, pattern=URL)

EVENT: Mapping[str, Field] = {
    "starts": required(timestamp),
    "ends": optional(timestamp),
    "place": optional(text(300)),
    "online_url": optional(web_address),
}
FILE: Mapping[str, Field] = {
    "name": required(text(200)),
    "media_type": required(text(100, pattern=MEDIA_TYPE)),
    "size": required(integer(0, MAX_FILE)),
    "sha256": required(b64_bytes(32)),
}
CREDIT: Mapping[str, Field] = {
    "organisation_id": required(text(100, pattern=r"\S+")),
    "organisation_name": required(text(300)),
}
# What an author writes; shared by publications and contributions.
ITEM: Mapping[str, Field] = {
    "item_kind": required(choice(*ITEM_KINDS)),
    "title": required(text(300)),
    "body_markdown": required(text(MAX_BODY)),
    "language": required(text(20, pattern=LANGUAGE)),
    "topics": optional(list_of(text(100, pattern=TOPIC))),
    "countries": optional(list_of(text(2, pattern=COUNTRY), max_items=60)),
    "url": optional(web_address),
    "event": optional(obj(EVENT)),
}
PUBLICATION: Mapping[str, Field] = {
    **ITEM,
    "publisher": required(check_node_id),
    "key_version": required(integer(1, 2**31 - 1)),
    "item_id": required(text(100, pattern=ITEM_ID)),
    "revision": required(integer(1, 2**31 - 1)),
    "status": required(choice(*STATUSES)),
    "audience": required(choice(*AUDIENCES)),
    "published": required(timestamp),
    "updated": required(timestamp),
    "file": optional(obj(FILE)),
    "credit": optional(obj(CREDIT)),
    "reason": optional(text(2000)),
}
CONTRIBUTION: Mapping[str, Field] = {
    "node_id": required(check_node_id),
    "organisation_id": required(text(100, pattern=r"\S+")),
    "contribution_id": required(text(100, pattern=ITEM_ID)),
    "submitted_at": required(timestamp),
    "item": required(obj(ITEM)),
}


@dataclass(frozen=True)
class Publication:
    """A publication whose signature verified with the hub's key."""

    statement: dict[str, Any]
    signature: bytes

    @property
    def item_id(self) -> str:
        return self.statement["item_id"]

    @property
    def revision(self) -> int:
        return self.statement["revision"]


@dataclass(frozen=True)
class Contribution:
    """A member's proposed item whose signature verified with that node's key."""

    statement: dict[str, Any]
    signature: bytes

    @property
    def item(self) -> dict[str, Any]:
        return self.statement["item"]


def check_item(item: object, path: str = "item") -> dict[str, Any]:
    """Raise :class:`ValidationError` naming the field unless ``item`` is a well-formed item."""
    check_object(item, ITEM, path)
    assert isinstance(item, dict)
    _item_rules(item, path)
    return item


def _item_rules(item: dict[str, Any], path: str) -> None:
    is_event = item["item_kind"] == "event"
    if is_event and "event" not in item:
        raise ValidationError(f"{path}.event", "an event needs its date (event.starts)")
    if not is_event and "event" in item:
        raise ValidationError(f"{path}.event", "only an event has event details")
    event = item.get("event", {})
    if event.get("ends", event.get("starts", 0)) < event.get("starts", 0):
        raise ValidationError(f"{path}.event.ends", "an event cannot end before it starts")


def check_publication(statement: object, path: str = "statement") -> dict[str, Any]:
    """Raise :class:`ValidationError` unless ``statement`` is a well-formed publication."""
    check_object(statement, PUBLICATION, path)
    assert isinstance(statement, dict)
    _item_rules(statement, path)
    if statement["updated"] < statement["published"]:
        raise ValidationError(f"{path}.updated", "cannot be before published")
    if "reason" in statement and statement["status"] != "retracted":
        raise ValidationError(f"{path}.reason", "only a retraction carries a reason")
    if "file" in statement and statement["item_kind"] != "resource":
        raise ValidationError(f"{path}.file", "only a resource carries a file")
    return statement


def sign_publication(hub: NodeIdentity, statement: dict[str, Any]) -> dict[str, Any]:
    """The signed document ``{"statement", "signature"}`` of one revision of an item."""
    record = hub.public_record()
    if statement.get("publisher") != record.node_id:
        raise ValidationError("statement.publisher", "must be the signing hub's node id")
    if statement.get("key_version") != record.key_version:
        raise ValidationError("statement.key_version", "must be the signing key's version")
    check_publication(statement)
    return signed_document(hub.signing_key, CONTEXT, statement)


def verify_publication(hub: PublicKeyRecord, document: object) -> Publication:
    """Check ``document`` was signed by the pinned hub key ``hub``, then every field; raise a
    ProtocolError (a ValidationError naming the field, or a SignatureError) otherwise."""
    statement, signature = _split(document, "publication")
    if statement.get("publisher") != hub.node_id:
        raise ValidationError("statement.publisher", "is not the hub this node trusts")
    version = statement.get("key_version")
    if type(version) is not int or version != hub.key_version:
        raise ValidationError("statement.key_version", "is not the version of the pinned hub key")
    _verify(hub, CONTEXT, statement, signature)
    return Publication(check_publication(statement), signature)


def sign_contribution(
    node: NodeIdentity,
    organisation_id: str,
    contribution_id: str,
    item: dict[str, Any],
    submitted_at: int,
) -> dict[str, Any]:
    """A member node's signed proposal of ``item`` for the secretariat's moderation queue."""
    statement = {
        "node_id": node.node_id,
        "organisation_id": organisation_id,
        "contribution_id": contribution_id,
        "submitted_at": submitted_at,
        "item": item,
    }
    _check_contribution(statement)
    return signed_document(node.signing_key, CONTRIBUTION_CONTEXT, statement)


def verify_contribution(record: PublicKeyRecord, document: object) -> Contribution:
    """Check ``document`` was signed by ``record``'s key (the sending node's current key),
    then every field. Time window and replay are the receiver's checks (SPEC.md 4.6)."""
    statement, signature = _split(document, "contribution")
    if statement.get("node_id") != record.node_id:
        raise ValidationError("statement.node_id", "is not the node whose key was given")
    _verify(record, CONTRIBUTION_CONTEXT, statement, signature)
    return Contribution(_check_contribution(statement), signature)


def _check_contribution(statement: object) -> dict[str, Any]:
    check_object(statement, CONTRIBUTION, "statement")
    assert isinstance(statement, dict)
    check_item(statement["item"], "statement.item")
    if statement["item"]["item_kind"] not in CONTRIBUTION_KINDS:
        raise ValidationError(
            "statement.item.item_kind", f"a member may propose {', '.join(CONTRIBUTION_KINDS)}"
        )
    return statement


def _split(document: object, name: str) -> tuple[dict[str, Any], bytes]:
    if not isinstance(document, dict) or set(document) != {"statement", "signature"}:
        raise ValidationError(name, "must hold exactly statement and signature")
    statement = document["statement"]
    if not isinstance(statement, dict):
        raise ValidationError("statement", "must be a JSON object")
    try:
        signature = b64url_decode(document["signature"], length=64)
    except EncodingError as exc:
        raise ValidationError("signature", str(exc)) from exc
    return statement, signature


def _verify(record: PublicKeyRecord, context: str, statement: dict, signature: bytes) -> None:
    try:
        verify_statement(record.sign_key, context, statement, signature)
    except EncodingError as exc:  # a float, a huge number: nothing a signer could have signed
        raise ValidationError("statement", f"is not valid canonical JSON: {exc}") from exc
