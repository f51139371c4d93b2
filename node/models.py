"""The node's tables (its own database, separate from any hub)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy.orm import DeclarativeBase

from ponte.accounts import SessionMixin, UserMixin


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class User(UserMixin, Base):
    """A person working at this NGO: a caseworker, or a node admin who also manages the node."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL
    roles: ClassVar[dict[str, str]] = {"caseworker": "Caseworker", "admin": "Node admin"}


class UserSession(SessionMixin, Base):
    """A signed-in session on the node; the id is the hash of the cookie's token."""

    __tablename__ = "user_session"
    user_table = "user_account"
