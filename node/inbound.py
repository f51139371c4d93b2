"""Applying an opened envelope from a partner to this node's cases (no commit here).

The caller (``node.sync``) commits the change, the replay-set entry and the pending
acknowledgement together, so that each message takes effect exactly once.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from sqlalchemy.orm import Session

from node.attachments import receive_attachments
from node.keys import NodeKeys
from node.lifecycle import TransitionRefused, check_transition
from node.models import Referral
from node.outbox import PartnerUnavailable, as_datetime, partner_record, queue_envelope
from node.peers import peer_view
from node.publications import apply_publication
from node.referrals import add_event, offer_siblings, set_status
from ponte.msgids import N_
from protocol import Kind, OpenedMessage, b64url_decode, b64url_encode

# Reasons kept on a case: they travel to the partner in English and the case page translates
# them (node.stored_text), for the partner's page as for ours.
WITHDRAWN_FOR_ANOTHER = N_("Another partner organisation accepted this referral first.")
NO_REASON_GIVEN = N_("no reason given")
KNOWN_REASONS = (WITHDRAWN_FOR_ANOTHER, NO_REASON_GIVEN)


class NotApplied(Exception):
    """An authentic message that does not fit this node's cases; the message says why."""


class CaseNotKnownYet(NotApplied):
    """An authentic update or receipt for a thread this node has no case for (yet): its
    referral may still be on the way, so the caller holds it back instead of setting it aside."""


def apply_message(
    session: Session, keys: NodeKeys, opened: OpenedMessage, *, now: int | None = None
) -> str:
    """Apply one opened message; return a short description. Raises :class:`NotApplied`."""
    now = int(time.time()) if now is None else now
    kind = opened.header.kind
    if kind is Kind.REFERRAL:
        return apply_referral(session, keys, opened, now)
    if kind is Kind.REFERRAL_UPDATE:
        return apply_update(session, keys, opened, now)
    if kind is Kind.RECEIPT:
        return apply_receipt(session, opened)
    if kind is Kind.NEWSLETTER:
        return apply_newsletter(session, keys, opened)
    raise NotApplied(f"{kind.value} messages are not handled by this node yet")


def apply_referral(session: Session, keys: NodeKeys, opened: OpenedMessage, now: int) -> str:
    header, payload = opened.header, opened.payload
    thread = b64url_encode(header.thread)
    if session.get(Referral, thread) is not None:
        raise NotApplied(f"a case with thread {thread} already exists here")
    message_id = b64url_encode(header.message_id)
    case = Referral(
        id=thread,
        role="recipient",
        partner_node_id=header.sender,
        partner_organisation_id=peer_view(session, header.sender).organisation_id,
        status="sent",
        payload=payload,
        message_id=message_id,
        author=payload["sender_contact"]["name"],
        created=as_datetime(header.created),
        updated=as_datetime(now),
    )
    session.add(case)
    add_event(session, case, message_id, "in", header.sender, "sent")
    receive_attachments(session, keys, case, header.sender, payload.get("attachments", []))
    set_status(session, case, "delivered", None, "local", "this node")
    receipt = {"message_id": message_id, "status": "delivered"}
    _reply(session, keys, case, Kind.RECEIPT, receipt, now)
    return f"new referral {thread}"


def _reply(
    session: Session, keys: NodeKeys, case: Referral, kind: Kind, payload: dict[str, Any], now: int
) -> None:
    # The sender's keys were refreshed just before the message was opened: no hub call here,
    # which would commit in the middle of this message's transaction.
    record = partner_record(session, keys, case.partner_node_id, refresh=False)
    queue_envelope(
        session, keys, record, kind, payload, thread=_thread(case), referral_id=case.id, now=now
    )


def _thread(case: Referral) -> bytes:
    return b64url_decode(case.id, length=16)


def _case_of(session: Session, opened: OpenedMessage) -> Referral:
    thread = b64url_encode(opened.header.thread)
    case = session.get(Referral, thread)
    if case is None:
        raise CaseNotKnownYet(f"no case with thread {thread} here")
    if case.partner_node_id != opened.header.sender:
        raise NotApplied(f"{opened.header.sender} is not the partner on case {thread}")
    if case.erased_at is not None:  # on request or by retention: nothing more is kept of it
        raise NotApplied(f"case {thread} was erased on this node")
    return case


def apply_update(session: Session, keys: NodeKeys, opened: OpenedMessage, now: int) -> str:
    case, payload = _case_of(session, opened), opened.payload
    message_id = b64url_encode(opened.header.message_id)
    status = payload.get("status")
    details = {"message": payload.get("message"), "reason": payload.get("reason")}
    receive_attachments(session, keys, case, case.partner_node_id, payload.get("attachments", []))
    if status is None:
        add_event(session, case, message_id, "in", case.partner_node_id, None, **details)
        return f"message on {case.id}"
    partner_role = "recipient" if case.role == "sender" else "sender"
    try:
        check_transition(case.status, status, partner_role)
    except TransitionRefused as refused:
        raise NotApplied(f"case {case.id}: {refused}") from refused
    set_status(session, case, status, message_id, "in", case.partner_node_id, **details)
    if status == "accepted":
        _withdraw_other_offers(session, keys, case, now)
    return f"case {case.id} is now {status}"


def _withdraw_other_offers(session: Session, keys: NodeKeys, case: Referral, now: int) -> None:
    """First accept wins: tell the other candidates the referral was withdrawn."""
    for other in offer_siblings(session, case):
        try:
            check_transition(other.status, "withdrawn", "sender")
        except TransitionRefused:
            continue
        update = {"status": "withdrawn", "reason": WITHDRAWN_FOR_ANOTHER}
        # A revoked candidate cannot be told, but the case is closed here all the same.
        with contextlib.suppress(PartnerUnavailable):
            _reply(session, keys, other, Kind.REFERRAL_UPDATE, update, now)
        set_status(
            session, other, "withdrawn", None, "out", "this node", reason=WITHDRAWN_FOR_ANOTHER
        )


def apply_receipt(session: Session, opened: OpenedMessage) -> str:
    case, payload = _case_of(session, opened), opened.payload
    message_id = b64url_encode(opened.header.message_id)
    if payload["status"] == "rejected":
        reason = payload.get("reason", NO_REASON_GIVEN)
        add_event(session, case, message_id, "in", case.partner_node_id, reason=reason)
        return f"the partner could not read a message on {case.id}: {reason}"
    if payload["message_id"] == case.message_id and case.status == "sent":
        set_status(session, case, "delivered", message_id, "in", case.partner_node_id)
    return f"case {case.id}: delivery confirmed"


def apply_newsletter(session: Session, keys: NodeKeys, opened: OpenedMessage) -> str:
    """A members-only item. Only the hub pinned at enrolment may send one (SPEC.md 7.3): from
    anyone else it is set aside unread. Its document is then verified with the pinned hub key
    by ``node.publications`` (PublicationRejected, recorded by the caller, if it fails)."""
    hub_id = keys.enrolment.hub_record.node_id
    if opened.header.sender != hub_id:
        raise NotApplied(
            f"a newsletter from {opened.header.sender}: only the hub {hub_id} sends them"
        )
    item = apply_publication(session, keys, opened.payload, "relay")
    revision = opened.payload["statement"]["revision"]
    if item is None:
        return f"item revision {revision} ignored: this node holds the same or a newer one"
    return f"item {item.item_id} revision {revision} ({item.status})"
