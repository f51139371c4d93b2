"""The hub's own tables: member nodes and their keys, invitations, OAuth tokens, secretariat
accounts. They share the directory's metadata (one database)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from directory.models import Base, Organization, utcnow
from ponte.accounts import SessionMixin, UserMixin


class Invitation(Base):
    """A single-use invitation for an organisation's node. Only the token's hash is stored."""

    __tablename__ = "invitation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(320))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    used_by_node: Mapped[str | None] = mapped_column(String(63))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    organization: Mapped[Organization] = relationship()


class Node(Base):
    """An enrolled member node: one organisation's Ponte installation."""

    __tablename__ = "node"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)  # the protocol's node id
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    enrolled: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    organization: Mapped[Organization] = relationship()
    keys: Mapped[list[NodeKey]] = relationship(
        back_populates="node", order_by="NodeKey.key_version", cascade="all, delete-orphan"
    )

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def current_key(self) -> NodeKey:
        return self.keys[-1]


class NodeKey(Base):
    """One key version of a node, with the hub's signed attestation of it."""

    __tablename__ = "node_key"
    __table_args__ = (UniqueConstraint("node_id", "key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("node.id"), index=True)
    key_version: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]] = mapped_column()  # PublicKeyRecord.to_dict()
    attestation: Mapped[dict[str, Any]] = mapped_column()  # signed by the hub
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    node: Mapped[Node] = relationship(back_populates="keys")


class OAuthToken(Base):
    """An access token issued to a node; only its hash is stored."""

    __tablename__ = "oauth_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("node.id"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class UsedAssertion(Base):
    """A client assertion's jti, kept until it expires, so that it cannot be replayed."""

    __tablename__ = "used_assertion"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(63))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditEntry(Base):
    """What the secretariat did (invitations, revocations): who, what, when."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


class DirectoryUpdate(Base):
    """A node's signed update of its organisation's directory entry, kept as applied: the
    signed document proves who asked for what, ``fields`` says what it changed."""

    __tablename__ = "directory_update"
    # Two copies of one document cannot both be applied, even if they arrive together.
    __table_args__ = (UniqueConstraint("node_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("node.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    submitted_at: Mapped[int] = mapped_column(BigInteger)  # seconds since the epoch, as signed
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    fields: Mapped[list[Any]] = mapped_column()
    document: Mapped[dict[str, Any]] = mapped_column()  # {"statement", "signature"}


class AdminUser(UserMixin, Base):
    """A secretariat account on the hub (``ponte hub create-admin``)."""

    __tablename__ = "admin_user"
    roles: ClassVar[dict[str, str]] = {"secretariat": _l("Secretariat")}  # label per page


class AdminSession(SessionMixin, Base):
    """A secretariat member's signed-in session; the id is the hash of the cookie's token."""

    __tablename__ = "admin_session"
    user_table = "admin_user"


class RelayMessage(Base):
    """An envelope in transit: the clear header's routing facts and the wire bytes. The body
    is deleted once the recipient acknowledges it, or when it expires."""

    __tablename__ = "relay_message"
    __table_args__ = (UniqueConstraint("sender", "message_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(22))
    sender: Mapped[str] = mapped_column(String(63), index=True)
    recipient: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    created: Mapped[int] = mapped_column(BigInteger)  # as in the header (seconds)
    expires: Mapped[int] = mapped_column(BigInteger, index=True)
    size: Mapped[int] = mapped_column(Integer)  # padded: all the hub may know of the length
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the wire, for idempotency
    wire: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(10), default="queued")  # queued|delivered|expired
    posted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RelayNotice(Base):
    """What the sender is told about its envelope: delivered or expired."""

    __tablename__ = "relay_notice"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63), index=True)
    recipient: Mapped[str] = mapped_column(String(63))
    message_id: Mapped[str] = mapped_column(String(22))
    status: Mapped[str] = mapped_column(String(10))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RelayBlob(Base):
    """An encrypted attachment in transit (``nonce || secretbox(pad(file))``), from ``sender``
    for ``recipient``. The bytes are dropped once the recipient has stored them, or expired."""

    __tablename__ = "relay_blob"
    __table_args__ = (UniqueConstraint("sender", "blob_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blob_id: Mapped[str] = mapped_column(String(22))
    sender: Mapped[str] = mapped_column(String(63), index=True)
    recipient: Mapped[str] = mapped_column(String(63), index=True)
    size: Mapped[int] = mapped_column(Integer)  # padded bucket + 40: all the hub may know
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 hex, for idempotency
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires: Mapped[int] = mapped_column(BigInteger, index=True)
    state: Mapped[str] = mapped_column(String(10), default="stored")  # stored|fetched|expired
    posted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PublicationItem(Base):
    """An item the secretariat writes: its current text and where it is in its life
    (draft, scheduled, published, retracted). Every live version is also kept signed
    (``SignedPublication``); every saved version is kept in ``ItemRevision``."""

    __tablename__ = "publication_item"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body_markdown: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(20))
    topics: Mapped[list[Any]] = mapped_column(default=list)
    countries: Mapped[list[Any]] = mapped_column(default=list)
    audience: Mapped[str] = mapped_column(String(10), default="public")  # public|members
    state: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    url: Mapped[str | None] = mapped_column(String(2000))
    event: Mapped[dict[str, Any] | None] = mapped_column()  # starts, ends, place, online_url
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_media_type: Mapped[str | None] = mapped_column(String(100))
    file_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    credit: Mapped[dict[str, Any] | None] = mapped_column()  # a member's contribution
    publish_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    revision: Mapped[int] = mapped_column(Integer, default=0)  # last signed revision
    retraction_reason: Mapped[str | None] = mapped_column(Text)


class ItemRevision(Base):
    """One saved version of an item: who saved it, when, what it said."""

    __tablename__ = "item_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("publication_item.id"), index=True)
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    saved_by: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(20))  # created|edited|published|retracted...
    snapshot: Mapped[dict[str, Any]] = mapped_column()


class SignedPublication(Base):
    """A revision of an item as signed by the hub key (``{"statement", "signature"}``), in
    the order of signing: the public API and the feeds' cache version follow ``seq``."""

    __tablename__ = "signed_publication"
    __table_args__ = (UniqueConstraint("item_id", "revision"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("publication_item.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    audience: Mapped[str] = mapped_column(String(10), index=True)
    document: Mapped[dict[str, Any]] = mapped_column()
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MemberContribution(Base):
    """An item a member node proposed (its signed document), waiting for the secretariat."""

    __tablename__ = "member_contribution"
    __table_args__ = (UniqueConstraint("node_id", "contribution_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("node.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"))
    contribution_id: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    document: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("publication_item.id"))
    organization: Mapped[Organization] = relationship()

    @property
    def item(self) -> dict[str, Any]:
        return self.document["statement"]["item"]
