"""Relay rules: accept an envelope for an enrolled node, hand a node its inbox, settle what it
acknowledges, expire what waited too long, and tell senders what became of their envelopes.

The hub reads only the clear header (Envelope.from_wire checks structure, never the body).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from directory.models import utcnow
from hub.identity import HUB_NODE_ID
from hub.metrics import count_settled
from hub.models import Node, RelayBlob, RelayMessage, RelayNotice
from protocol import Envelope, EnvelopeRejected, Header, b64url_encode
from protocol.padding import MAX_ATTACHMENT_BUCKET, is_bucket_size

INBOX_LIMIT = 100
BLOB_OVERHEAD = 40  # nonce (24) and Poly1305 tag (16)
MAX_BLOB = MAX_ATTACHMENT_BUCKET + BLOB_OVERHEAD
MAX_LIFETIME = 90 * 86400


class RelayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Accepted:
    message: RelayMessage
    created: bool  # False when the same envelope had been posted before


def accept_envelope(
    session: Session, sender: Node, wire: bytes, now: int | None = None
) -> Accepted:
    """Queue an envelope from ``sender``; posting the same bytes again is a no-op."""
    now = int(time.time()) if now is None else now
    try:
        header = Envelope.from_wire(wire).header
    except EnvelopeRejected as exc:
        raise RelayError(400, "malformed_envelope", f"Not a valid envelope: {exc}") from exc
    if header.sender != sender.id:
        raise RelayError(403, "sender_mismatch", "The envelope's sender is not this node.")
    message_id = b64url_encode(header.message_id)
    digest = hashlib.sha256(wire).hexdigest()
    earlier = session.scalars(
        select(RelayMessage).where(
            RelayMessage.sender == sender.id, RelayMessage.message_id == message_id
        )
    ).first()
    if earlier is not None:
        if earlier.digest != digest:
            raise RelayError(409, "id_conflict", "Another envelope already has this id.")
        return Accepted(earlier, created=False)
    _check_recipient(session, header.recipient)
    if header.expires <= now:
        raise RelayError(400, "expired", "The envelope has already expired.")
    message = _queue(session, header, wire, digest)
    session.commit()
    return Accepted(message, created=True)


def queue_hub_envelope(session: Session, wire: bytes) -> RelayMessage:
    """Queue an envelope the hub itself sealed (a members-only publication); no commit."""
    header = Envelope.from_wire(wire).header
    return _queue(session, header, wire, hashlib.sha256(wire).hexdigest())


def _queue(session: Session, header: Header, wire: bytes, digest: str) -> RelayMessage:
    _seqs_in_order(session, RelayMessage.__tablename__, [header.recipient])
    message = RelayMessage(
        message_id=b64url_encode(header.message_id),
        sender=header.sender,
        recipient=header.recipient,
        kind=header.kind.value,
        created=header.created,
        expires=header.expires,
        size=len(wire),
        digest=digest,
        wire=wire,
    )
    session.add(message)
    return message


def _check_recipient(session: Session, recipient_id: str) -> None:
    recipient = session.get(Node, recipient_id)
    if recipient is None:
        raise RelayError(404, "unknown_recipient", "No enrolled node has this id.")
    if not recipient.active:
        raise RelayError(403, "recipient_revoked", "The recipient node was revoked.")


def inbox(
    session: Session, node: Node, after: int, limit: int, now: int | None = None
) -> list[RelayMessage]:
    expire_due(session, now)
    query = (
        select(RelayMessage)
        .where(
            RelayMessage.recipient == node.id,
            RelayMessage.state == "queued",
            RelayMessage.seq > after,
        )
        .order_by(RelayMessage.seq)
        .limit(limit)
    )
    return list(session.scalars(query))


def acknowledge(
    session: Session, node: Node, message_ids: list[str]
) -> tuple[list[str], list[str]]:
    """Delete the bodies of this node's envelopes with these ids; tell their senders."""
    found = session.scalars(
        select(RelayMessage).where(
            RelayMessage.recipient == node.id,
            RelayMessage.state == "queued",
            RelayMessage.message_id.in_(message_ids),
        )
    ).all()
    _seqs_in_order(session, RelayNotice.__tablename__, _told(found))
    now = utcnow()
    for message in found:
        _settle(session, message, "delivered", now)
    session.commit()
    count_settled("delivered", len(found))
    done = {message.message_id for message in found}
    return sorted(done), sorted(set(message_ids) - done)


def _told(messages: Iterable[RelayMessage]) -> list[str]:
    """The senders that :func:`_settle` writes a notice for."""
    return [message.sender for message in messages if message.sender != HUB_NODE_ID]


def _settle(session: Session, message: RelayMessage, status: str, at: dt.datetime) -> None:
    """Settle a message and write its sender's notice; the caller has called
    :func:`_seqs_in_order` for the senders first."""
    message.state, message.wire, message.settled_at = status, None, at
    if message.sender == HUB_NODE_ID:
        return  # the hub's own deliveries: nobody reads notices for them
    session.add(
        RelayNotice(
            sender=message.sender,
            recipient=message.recipient,
            message_id=message.message_id,
            status=status,
            at=at,
        )
    )


def expire_due(session: Session, now: int | None = None) -> int:
    """Drop the bodies of envelopes whose time ran out; their senders are told."""
    now = int(time.time()) if now is None else now
    due = session.scalars(
        select(RelayMessage).where(RelayMessage.state == "queued", RelayMessage.expires <= now)
    ).all()
    _seqs_in_order(session, RelayNotice.__tablename__, _told(due))
    at = utcnow()
    for message in due:
        _settle(session, message, "expired", at)
    blobs = session.scalars(
        select(RelayBlob).where(RelayBlob.state == "stored", RelayBlob.expires <= now)
    ).all()
    for blob in blobs:
        blob.state, blob.data = "expired", None
    if due or blobs:
        session.commit()
    count_settled("expired", len(due))
    return len(due)


def _seqs_in_order(session: Session, table: str, readers: Iterable[str]) -> None:
    """Before rows of ``table`` are added for these nodes (an envelope's recipient, a notice's
    sender), make sure that rows for one node become visible in the order of their seqs.

    A node reads its inbox and its notices with ``seq > after`` and moves ``after`` to the last
    seq it saw. On PostgreSQL two transactions can take seqs 11 and 12 for one node and commit
    12 first: a node reading between the two commits moves past 11 and never sees it (an
    envelope then waits unread until it expires; a notice is never read). A transaction-scoped
    advisory lock per (table, node), taken before the row's seq is drawn (at the flush), makes
    the writers for one node commit one after the other; writers for other nodes go on. The
    locks of one call are taken in sorted order, so that two writers never hold one each while
    waiting for the other. SQLite has one writer at a time anyway.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for reader in sorted(set(readers)):
        digest = hashlib.sha256(f"{table}\0{reader}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)  # the lock's bigint key
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def notices(session: Session, node: Node, after: int, limit: int) -> list[RelayNotice]:
    query = (
        select(RelayNotice)
        .where(RelayNotice.sender == node.id, RelayNotice.seq > after)
        .order_by(RelayNotice.seq)
        .limit(limit)
    )
    return list(session.scalars(query))


def forget_bodies_of(session: Session, node_id: str) -> None:
    """A revoked node's queued envelopes are never delivered: drop them now."""
    session.execute(
        update(RelayMessage)
        .where(RelayMessage.sender == node_id, RelayMessage.state == "queued")
        .values(state="expired", wire=None, settled_at=utcnow())
    )
    session.execute(
        update(RelayBlob)
        .where(RelayBlob.sender == node_id, RelayBlob.state == "stored")
        .values(state="expired", data=None)
    )


# -- attachment blobs ---------------------------------------------------------------------


def is_blob_size(size: int) -> bool:
    """A blob is a padded attachment bucket plus the nonce and tag, nothing else."""
    return is_bucket_size(size - BLOB_OVERHEAD, MAX_ATTACHMENT_BUCKET)


def accept_blob(
    session: Session,
    sender: Node,
    blob_id: str,
    recipient_id: str,
    expires: int,
    data: bytes,
    now: int | None = None,
) -> tuple[RelayBlob, bool]:
    """Store an attachment blob; posting the same bytes again is a no-op (``created`` False)."""
    now = int(time.time()) if now is None else now
    if not is_blob_size(len(data)):
        raise RelayError(400, "bad_blob_size", "A blob is a padded bucket plus 40 bytes.")
    digest = hashlib.sha256(data).hexdigest()
    earlier = session.scalars(
        select(RelayBlob).where(RelayBlob.sender == sender.id, RelayBlob.blob_id == blob_id)
    ).first()
    if earlier is not None:
        if earlier.digest != digest or earlier.recipient != recipient_id:
            raise RelayError(409, "id_conflict", "Another blob already has this id.")
        return earlier, False
    _check_recipient(session, recipient_id)
    if not now < expires <= now + MAX_LIFETIME:
        raise RelayError(400, "bad_expiry", "expires must be in the next 90 days.")
    blob = RelayBlob(
        blob_id=blob_id,
        sender=sender.id,
        recipient=recipient_id,
        size=len(data),
        digest=digest,
        data=data,
        expires=expires,
    )
    session.add(blob)
    session.commit()
    return blob, True


def blob_for(
    session: Session, node: Node, sender: str, blob_id: str, now: int | None = None
) -> RelayBlob | None:
    """The stored blob, if ``node`` is its recipient; None otherwise (existence not revealed)."""
    expire_due(session, now)
    blob = session.scalars(
        select(RelayBlob).where(RelayBlob.sender == sender, RelayBlob.blob_id == blob_id)
    ).first()
    if blob is None or blob.recipient != node.id or blob.state != "stored":
        return None
    return blob


def drop_blob(session: Session, node: Node, sender: str, blob_id: str) -> bool:
    """The recipient has stored the blob: drop its bytes. False if there was none for it."""
    blob = blob_for(session, node, sender, blob_id)
    if blob is None:
        return False
    blob.state, blob.data = "fetched", None
    session.commit()
    return True
