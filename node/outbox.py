"""Sealing envelopes for partners and queueing them for the relay.

A partner's key is always the newest one the hub attested and that is not revoked: nothing is
sealed to a revoked partner.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from node.hub_client import HubError
from node.keys import NodeKeys
from node.models import OutboxItem
from node.peers import record_peer_keys, usable_peer_records
from protocol import PublicKeyRecord, b64url_encode, seal


class PartnerUnavailable(Exception):
    """No usable key for the partner: unknown to the hub, or revoked by the secretariat."""


def as_datetime(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def refresh_peer_keys(session: Session, keys: NodeKeys, node_id: str) -> None:
    """Fetch the partner's attested keys from the hub and store them (commits)."""
    identity = keys.identities[-1]
    attested = keys.hub.node_keys(identity, keys.enrolment.hub_record, node_id)
    record_peer_keys(session, node_id, attested)


def partner_record(
    session: Session, keys: NodeKeys, node_id: str, *, refresh: bool = True
) -> PublicKeyRecord:
    """The partner's newest usable key; with ``refresh``, ask the hub first (which commits)."""
    if refresh:
        try:
            refresh_peer_keys(session, keys, node_id)
        except HubError as error:
            if not usable_peer_records(session, node_id):
                raise PartnerUnavailable(
                    _(
                        "The partner's keys could not be fetched from the hub: %(error)s",
                        error=error,
                    )
                ) from error
    records = usable_peer_records(session, node_id)
    if not records:
        raise PartnerUnavailable(
            _(
                "Partner node %(node)s has no usable key (it may have been revoked by the "
                "secretariat), so nothing can be sent to it.",
                node=node_id,
            )
        )
    return max(records, key=lambda record: record.key_version)


def queue_envelope(
    session: Session,
    keys: NodeKeys,
    recipient: PublicKeyRecord,
    kind: str,
    payload: dict[str, Any],
    *,
    thread: bytes,
    referral_id: str | None,
    now: int,
) -> OutboxItem:
    """Seal ``payload`` with our current key and add it to the outbox (no commit)."""
    envelope = seal(keys.identities[-1], recipient, kind, payload, thread=thread, now=now)
    item = OutboxItem(
        id=b64url_encode(envelope.header.message_id),
        recipient=recipient.node_id,
        referral_id=referral_id,
        kind=kind,
        wire=envelope.to_wire(),
        state="queued",
        attempts=0,
        next_attempt=as_datetime(now),
        expires=as_datetime(envelope.header.expires),
    )
    session.add(item)
    return item
