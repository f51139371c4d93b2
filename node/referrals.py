"""Referring a case to partner organisations and moving it through its lifecycle.

Every change is sealed to the partner (signed with our current key, encrypted to the
partner's newest usable key) and queued in the outbox in the same transaction as the change
itself; ``node.sync`` posts it.
"""

from __future__ import annotations

import time
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from node import audit
from node.attachments import (
    AttachmentLimits,
    AttachmentRefused,
    NewFile,
    keep_files,
    link_blobs,
    new_files,
    queue_blobs,
)
from node.keys import NodeKeys
from node.lifecycle import CLOSED, check_transition
from node.models import CaseEvent, Referral, utcnow
from node.outbox import PartnerUnavailable, as_datetime, partner_record, queue_envelope
from node.peers import peer_view
from protocol import Kind, b64url_decode, b64url_encode, new_id, validate_payload

__all__ = [
    "AttachmentRefused",
    "PartnerUnavailable",
    "ReferralError",
    "change_status",
    "create_referral",
]


class ReferralError(Exception):
    """The referral could not be created or changed; the message says why (in the page's
    language when a page asked, else in English)."""


def partner_nodes(keys: NodeKeys, organisation_id: str) -> list[str]:
    """The active Ponte nodes of an organisation, as the hub's directory lists them."""
    entry = keys.hub.organisation(organisation_id)
    nodes = [node["node_id"] for node in entry.get("nodes", []) if node.get("active", True)]
    if not nodes:
        name = entry.get("name", organisation_id)
        raise ReferralError(
            _(
                "%(organisation)s has no active Ponte node yet, so it cannot receive referrals.",
                organisation=name,
            )
        )
    return nodes


def _targets(session: Session, keys: NodeKeys, organisation_ids: list[str]) -> list[Any]:
    targets = []
    for organisation_id in organisation_ids:
        for node_id in partner_nodes(keys, organisation_id):
            if node_id == keys.enrolment.node_id:
                raise ReferralError(
                    _("A referral goes to a partner organisation, not to this node.")
                )
            record = partner_record(session, keys, node_id)  # refreshes keys (commits)
            if peer_view(session, node_id).organisation_id != organisation_id:
                raise ReferralError(
                    _(
                        "The hub lists node %(node)s for %(organisation)s, but its key belongs "
                        "to another organisation; nothing was sent.",
                        node=node_id,
                        organisation=organisation_id,
                    )
                )
            targets.append((organisation_id, record))
    return targets


def create_referral(
    session: Session,
    keys: NodeKeys,
    payload: dict[str, Any],
    organisation_ids: list[str],
    author: str,
    *,
    now: int | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
    limits: AttachmentLimits | None = None,
) -> list[Referral]:
    """Validate the referral, then seal and queue one copy per partner node (one case each).

    Several partners make one offer: the first to accept gets the case, the others are told
    it was withdrawn. ``attachments`` are ``(name, media_type, data)``, encrypted for each
    partner. Raises ValidationError (naming the field), :class:`ReferralError` or
    AttachmentRefused (before anything is queued).
    """
    now = int(time.time()) if now is None else now
    validate_payload(Kind.REFERRAL, payload)
    files = new_files(attachments or [], limits)
    if not organisation_ids:
        raise ReferralError(_("Name at least one partner organisation."))
    targets = _targets(session, keys, organisation_ids)
    offer_id = b64url_encode(new_id()) if len(targets) > 1 else None
    cases = [
        _queue_referral(session, keys, payload, files, org, record, author, offer_id, now)
        for org, record in targets
    ]
    session.commit()
    return cases


def _queue_referral(
    session: Session,
    keys: NodeKeys,
    payload: dict[str, Any],
    files: list[NewFile],
    organisation_id: str,
    record: Any,
    author: str,
    offer_id: str | None,
    now: int,
) -> Referral:
    thread = new_id()
    case = Referral(
        id=b64url_encode(thread),
        role="sender",
        partner_node_id=record.node_id,
        partner_organisation_id=organisation_id,
        status="draft",
        payload=payload,
        offer_id=offer_id,
        author=author,
        created=as_datetime(now),
        updated=as_datetime(now),
    )
    queued = queue_blobs(session, files, record.node_id)
    references = [reference for reference, _data in queued]
    if references:
        case.payload = payload = {**payload, "attachments": references}
    item = queue_envelope(
        session, keys, record, Kind.REFERRAL, payload, thread=thread, referral_id=case.id, now=now
    )
    case.message_id = item.id
    session.add(case)
    files_note = f", {len(files)} files" if files else ""
    audit.record(session, audit.CREATED, author, case.id, f"for {organisation_id}{files_note}")
    link_blobs(session, references, item)
    set_status(session, case, "sent", item.id, "out", author)
    keep_files(session, case, queued)
    return case


def set_status(
    session: Session,
    case: Referral,
    status: str,
    message_id: str | None,
    direction: str,
    author: str,
    *,
    message: str | None = None,
    reason: str | None = None,
) -> None:
    """Record a status change (already checked) on the case and in its history."""
    check_transition(case.status, status)
    case.status, case.updated = status, utcnow()
    if status in CLOSED:
        case.closed_at = case.updated  # the retention period runs from here (node.retention)
    add_event(session, case, message_id, direction, author, status, message, reason)


def add_event(
    session: Session,
    case: Referral,
    message_id: str | None,
    direction: str,
    author: str,
    status: str | None = None,
    message: str | None = None,
    reason: str | None = None,
) -> None:
    session.flush()  # the case row first: events refer to it
    session.add(
        CaseEvent(
            referral_id=case.id,
            message_id=message_id,
            direction=direction,
            author=author,
            status=status,
            message=message,
            reason=reason,
        )
    )
    audit.record_case_event(session, case, direction, author, status, bool(message), bool(reason))


def get_referral(session: Session, referral_id: str) -> Referral:
    case = session.get(Referral, referral_id)
    if case is None:
        raise ReferralError(_("No referral %(referral)s on this node.", referral=referral_id))
    return case


def change_status(
    session: Session,
    keys: NodeKeys,
    referral_id: str,
    status: str | None,
    author: str,
    *,
    message: str | None = None,
    reason: str | None = None,
    now: int | None = None,
) -> Referral:
    """Move the case to ``status`` (or only send ``message``) and tell the partner."""
    now = int(time.time()) if now is None else now
    case = get_referral(session, referral_id)
    if case.erased_at is not None:
        raise ReferralError(_("This case's personal data was erased: nothing more can be sent."))
    if status is not None:
        check_transition(case.status, status, case.role)
    if status == "declined" and not (reason and reason.strip()):
        raise ReferralError(_("Please give a reason when declining, so the partner can plan."))
    if status is None and not (message and message.strip()):
        raise ReferralError(_("Give a status change or a message to send."))
    payload = _update_payload(status, message, reason)
    validate_payload(Kind.REFERRAL_UPDATE, payload)
    record = partner_record(session, keys, case.partner_node_id)  # commits a key refresh
    case = get_referral(session, referral_id)
    item = queue_envelope(
        session,
        keys,
        record,
        Kind.REFERRAL_UPDATE,
        payload,
        thread=b64url_decode(case.id, length=16),
        referral_id=case.id,
        now=now,
    )
    if status is None:
        add_event(session, case, item.id, "out", author, None, message, reason)
    else:
        set_status(session, case, status, item.id, "out", author, message=message, reason=reason)
    session.commit()
    return case


def _update_payload(status: str | None, message: str | None, reason: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if status is not None:
        payload["status"] = status
    if message:
        payload["message"] = message
    if reason:
        payload["reason"] = reason
    return payload


def offer_siblings(session: Session, case: Referral) -> list[Referral]:
    """The other copies of the same offer (sent to other candidate organisations)."""
    if case.offer_id is None:
        return []
    query = select(Referral).where(Referral.offer_id == case.offer_id, Referral.id != case.id)
    return list(session.scalars(query))


def list_referrals(session: Session) -> list[Referral]:
    return list(session.scalars(select(Referral).order_by(Referral.updated.desc())))


def case_events(session: Session, referral_id: str) -> list[Any]:
    query = select(CaseEvent).where(CaseEvent.referral_id == referral_id).order_by(CaseEvent.id)
    return list(session.scalars(query))


def referral_summary(case: Referral) -> dict[str, Any]:
    """A case as `ponte node referrals --json` and an export show it."""
    return {
        "id": case.id,
        "role": case.role,
        "status": case.status,
        "partner_node_id": case.partner_node_id,
        "partner_organisation_id": case.partner_organisation_id,
        "author": case.author,
        "created": case.created.isoformat(),
        "updated": case.updated.isoformat(),
    }


def event_json(event: CaseEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(timespec="seconds"),
        "message_id": event.message_id,
        "direction": event.direction,
        "author": event.author,
        "status": event.status,
        "message": event.message,
        "reason": event.reason,
    }
