"""The node's tables (its own database, separate from any hub)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ponte.accounts import SessionMixin, UserMixin


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class User(UserMixin, Base):
    """A person working at this NGO: a caseworker, or a node admin who also manages the node."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL
    roles: ClassVar[dict[str, str]] = {"caseworker": "Caseworker", "admin": "Node admin"}


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
