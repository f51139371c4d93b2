"""The node's tables (its own database, separate from any hub)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ponte.accounts import SessionMixin, UserMixin
from ponte.naming import named_metadata


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = named_metadata()  # the same constraint names on SQLite and PostgreSQL
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class User(UserMixin, Base):
    """A person working at this NGO: a caseworker, or a node admin who also manages the node."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL
    roles: ClassVar[dict[str, Any]] = {"caseworker": _l("Caseworker"), "admin": _l("Node admin")}


class UserSession(SessionMixin, Base):
    """A signed-in session on the node; the id is the hash of the cookie's token."""

    __tablename__ = "user_session"
    user_table = "user_account"


class PeerKey(Base):
    """A partner node's key version as the hub attested it, and whether a person here has
    compared its fingerprint with the partner (by phone, out of band)."""

    __tablename__ = "peer_key"
    __table_args__ = (UniqueConstraint("node_id", "key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(63), index=True)
    key_version: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[str] = mapped_column(String(36))
    record: Mapped[dict[str, Any]] = mapped_column()
    fingerprint: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # active | revoked (as attested)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[str | None] = mapped_column(String(320))


class Referral(Base):
    """A case referred between this node and one partner node; ``id`` is the thread id.

    ``payload`` is the referral as sent or received: it holds personal data, so it lives in
    this node's database only (the hub only ever sees it sealed).
    """

    __tablename__ = "referral"

    id: Mapped[str] = mapped_column(String(22), primary_key=True)  # thread id, base64url
    role: Mapped[str] = mapped_column(String(10))  # sender | recipient
    partner_node_id: Mapped[str] = mapped_column(String(63), index=True)
    partner_organisation_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(12))
    payload: Mapped[dict[str, Any]] = mapped_column()
    message_id: Mapped[str] = mapped_column(String(22))  # the referral envelope's id
    offer_id: Mapped[str | None] = mapped_column(String(22), index=True)  # one request, n offers
    author: Mapped[str] = mapped_column(
        String(320)
    )  # who wrote the referral (staff, not the person)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When it reached a closed status (node.lifecycle.CLOSED): the retention period runs from
    # here. When its personal data was erased (on request, or by retention): only the
    # statistics tombstone is left (node.retention).
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CaseEvent(Base):
    """Something that happened on a case: a status change, a message, a delivery notice."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(22))
    direction: Mapped[str] = mapped_column(String(8))  # out | in | local
    author: Mapped[str] = mapped_column(String(320))
    status: Mapped[str | None] = mapped_column(String(12))
    message: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxItem(Base):
    """A sealed envelope waiting to be posted to the hub, or already posted (``id`` is its
    message id). State: queued | sent | delivered | expired | refused."""

    __tablename__ = "outbox_item"

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(63))
    referral_id: Mapped[str | None] = mapped_column(String(22), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    wire: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SeenMessage(Base):
    """A (sender, message id) pair accepted from the relay, kept until the message expires:
    the replay set of SPEC.md 6.1 check 11."""

    __tablename__ = "seen_message"

    sender: Mapped[str] = mapped_column(String(63), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(22), primary_key=True)
    expires: Mapped[int] = mapped_column(Integer, index=True)


class PendingAck(Base):
    """An inbox message handled here but not yet acknowledged to the hub."""

    __tablename__ = "pending_ack"

    message_id: Mapped[str] = mapped_column(String(22), primary_key=True)


class HeldMessage(Base):
    """A verified, decrypted message for a case this node does not know yet (its referral is
    still on the way): kept until the case arrives or the message expires. ``payload`` holds
    personal data, like ``Referral.payload``."""

    __tablename__ = "held_message"

    sender: Mapped[str] = mapped_column(String(63), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(22), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(63))
    thread: Mapped[str] = mapped_column(String(22), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    created: Mapped[int] = mapped_column(Integer)
    expires: Mapped[int] = mapped_column(Integer, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    held_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SyncState(Base):
    """How far this node has read its inbox and its delivery notices (one row)."""

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_after: Mapped[int] = mapped_column(Integer, default=0)
    notices_after: Mapped[int] = mapped_column(Integer, default=0)
    # The last daily retention run (node.retention.purge_if_due).
    retention_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxBlob(Base):
    """An encrypted attachment blob to upload before the envelope ``envelope_id`` that
    references it (``id`` is the attachment id). State: queued | sent."""

    __tablename__ = "outbox_blob"

    id: Mapped[str] = mapped_column(String(22), primary_key=True)
    envelope_id: Mapped[str] = mapped_column(String(22), index=True)
    recipient: Mapped[str] = mapped_column(String(63))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once on the hub
    expires: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default="queued")


class CaseAttachment(Base):
    """A file of a case, as sent or received (decrypted). ``data`` is None when the file
    could not be fetched or checked: ``problem`` says why."""

    __tablename__ = "case_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), index=True)
    attachment_id: Mapped[str] = mapped_column(String(22))
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    problem: Mapped[str | None] = mapped_column(Text)

    @property
    def available(self) -> bool:
        return self.data is not None


class AuditEntry(Base):
    """One entry of the node's hash-chained audit log (node.audit): who did what to which
    case, and when. Never any personal data of the person the case is about: the case is
    named by its id only. Appended only; ``hash`` chains it to the entry before."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(22), index=True)
    detail: Mapped[str] = mapped_column(String(500))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The audit log's last entry (one row): appends lock it, and ``audit verify`` checks
    that the log still ends there, so a deleted last entry is noticed too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class PendingBlobDrop(Base):
    """A blob stored here whose bytes the hub has not yet been told to drop."""

    __tablename__ = "pending_blob_drop"

    sender: Mapped[str] = mapped_column(String(63), primary_key=True)
    blob_id: Mapped[str] = mapped_column(String(22), primary_key=True)


# -- the reader: the secretariat's items, as this node received and verified them ----------


class NewsItem(Base):
    """The newest verified revision of one item the secretariat published (SPEC.md 4.6).

    ``document`` is the signed publication exactly as it arrived, so the item page can check
    it again with the pinned hub key; the other columns are copies for lists, filters and
    search. A retraction keeps the row (so an older revision can never bring the item back)
    but empties ``body_markdown``: the reader shows nothing of a withdrawn text.
    """

    __tablename__ = "news_item"

    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), index=True)  # published | retracted
    audience: Mapped[str] = mapped_column(String(10))  # public | members
    kind: Mapped[str] = mapped_column(String(30), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(20))
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # ",a,b," copies of the lists: a LIKE '%,a,%' filter works on SQLite and PostgreSQL alike
    # (topic and country codes cannot hold a comma or a LIKE wildcard).
    topic_tags: Mapped[str] = mapped_column(Text, default=",")
    country_tags: Mapped[str] = mapped_column(Text, default=",")
    reason: Mapped[str | None] = mapped_column(Text)  # why it was retracted
    published: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    document: Mapped[dict[str, Any]] = mapped_column()
    source: Mapped[str] = mapped_column(String(10))  # relay | feed
    verified_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

    @property
    def statement(self) -> dict[str, Any]:
        return self.document["statement"]


class PublicationProblem(Base):
    """An item that failed verification and was not stored: what, where from, why (no body)."""

    __tablename__ = "publication_problem"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(10))  # relay | feed
    item_id: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str] = mapped_column(Text)


class NewsFeedState(Base):
    """How far this node has read the hub's list of signed public items (one row)."""

    __tablename__ = "news_feed_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_after: Mapped[int] = mapped_column(Integer, default=0)


class NewsRead(Base):
    """A person here has opened this item."""

    __tablename__ = "news_read"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    read_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NewsContribution(Base):
    """An item this node proposed to the secretariat, and what the hub last said of it.
    State: pending | approved | rejected (the hub's words)."""

    __tablename__ = "news_contribution"

    contribution_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    document: Mapped[dict[str, Any] | None] = mapped_column()  # None: known from the hub only
    submitted_by: Mapped[str] = mapped_column(String(320))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    item_id: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DigestSubscription(Base):
    """A person here who asked for the e-mail digest of new items (sent to their sign-in
    e-mail). Items received before ``since`` are never sent to them."""

    __tablename__ = "digest_subscription"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DigestSent(Base):
    """This item went to this person in a digest: it is never sent to them again."""

    __tablename__ = "digest_sent"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UnsubscribeToken(Base):
    """An unsubscribe link of one digest e-mail, known here only by the SHA-256 (hex) of its
    random token; every digest gets a new one and older links keep working."""

    __tablename__ = "unsubscribe_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
