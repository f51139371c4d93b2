"""People's accounts, shared by the hub (secretariat) and the node (caseworkers, node admins).

Table mixins for a user and a server-side session, and the plain functions the views, the
command line and the tests call. Passwords are hashed with Argon2id; a session is known to the
database only by the SHA-256 of its token. Every function that depends on the time takes
``now`` so that tests can move the clock. Nothing here imports the hub or the node.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass
from functools import cache
from typing import ClassVar, TypeVar

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, or_, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, scoped_session

from ponte.msgids import N_

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing megabytes of "password" is a denial of service
MAX_EMAIL_LENGTH = 320
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MAX_LOCKOUT = dt.timedelta(days=1)
TOTP_VALID_WINDOW = 1  # accept the code of the previous and the next 30-second step too

# argon2-cffi's defaults are Argon2id with RFC 9106's low-memory parameters.
PASSWORD_HASHER = PasswordHasher()

# The sign-in page shows this translated (ponte.login.refusal_text).
NOT_RECOGNISED = N_("E-mail, password or code not recognised.")

DbSession = Session | scoped_session[Session]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UserMixin:
    """Columns of an account table; the concrete class sets ``__tablename__`` and ``roles``
    (role -> label for people; the first role is the default)."""

    roles: ClassVar[dict[str, str]]

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(MAX_EMAIL_LENGTH), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def role_label(self) -> str:
        return self.roles.get(self.role, self.role)


class SessionMixin:
    """Columns of a server-side session table; the concrete class sets ``__tablename__`` and
    ``user_table`` (the table its ``user_id`` refers to). ``id`` is the SHA-256 (hex) of the
    token in the browser's cookie; the token itself is never stored."""

    user_table: ClassVar[str]

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)

    @declared_attr
    def user_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey(f"{cls.user_table}.id", ondelete="CASCADE"), index=True)


U = TypeVar("U", bound=UserMixin)


class AccountError(ValueError):
    """An account cannot be created as asked; the message says why, in words for people."""


class LoginRefused(Exception):
    """A login attempt failed; ``message`` is safe to show (it never says whether the e-mail
    exists)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LockedOut(LoginRefused):
    def __init__(self, minutes: int) -> None:
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many attempts; try again in {minutes} {unit}.")
        self.minutes = minutes


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: dt.timedelta = dt.timedelta(hours=12)  # absolute, from sign-in
    idle_timeout: dt.timedelta = dt.timedelta(minutes=30)


DEFAULT_SESSION_POLICY = SessionPolicy()


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str  # otpauth://totp/... for an authenticator app's QR code


# --- creating accounts -------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    """The e-mail as stored (trimmed, lower-cased), or :class:`AccountError`."""
    email = normalise_email(email)
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise AccountError(f"{email or 'An empty value'} is not an e-mail address.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise AccountError(f"The e-mail address is longer than {MAX_EMAIL_LENGTH} characters.")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")


def create_user(
    db: DbSession,
    user_model: type[U],
    email: str,
    password: str,
    role: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> U:
    """Add an account (committed); :class:`AccountError` if the e-mail, password or role is
    not acceptable or the e-mail already has an account."""
    email = check_email(email)
    check_password(password)
    role = role or next(iter(user_model.roles))
    if role not in user_model.roles:
        raise AccountError(f"The role must be one of: {', '.join(user_model.roles)}.")
    if find_user(db, user_model, email) is not None:
        raise AccountError(f"There is already an account for {email}.")
    user = user_model(
        email=email,
        password_hash=PASSWORD_HASHER.hash(password),
        role=role,
        created=now or utcnow(),
        failed_logins=0,
    )
    db.add(user)
    db.commit()
    return user


def find_user(db: DbSession, user_model: type[U], email: str) -> U | None:
    return db.scalar(select(user_model).where(user_model.email == normalise_email(email)))


def enable_totp(db: DbSession, user: UserMixin, issuer: str) -> TotpEnrolment:
    """Give ``user`` a new TOTP secret (committed): from now on sign-in needs a code."""
    secret = pyotp.random_base32()
    user.totp_secret = secret
    db.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)
    return TotpEnrolment(secret=secret, uri=uri)


# --- signing in --------------------------------------------------------------------------------


def authenticate(
    db: DbSession,
    user_model: type[U],
    email: str,
    password: str,
    code: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> U:
    """The user whose e-mail, password and (if they have TOTP) one-time code these are, or
    :class:`LoginRefused`. Five failures lock the account for 15 minutes, each further one for
    twice as long (:func:`lockout_after`); a success resets
    the count. Unknown e-mails cost the same hash verification as known ones."""
    now = as_utc(now or utcnow())
    user = find_user(db, user_model, email)
    if user is None:
        _verify_dummy(password)
        raise LoginRefused(NOT_RECOGNISED)
    _refuse_if_locked(user, now)
    if not (_password_matches(user, password) and _code_matches(user, code, now)):
        raise _record_failure(db, user, now)
    _record_success(db, user, password, now)
    return user


def _verify_dummy(password: str) -> None:
    with contextlib.suppress(VerificationError):
        PASSWORD_HASHER.verify(_dummy_hash(), password)


@cache
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash(secrets.token_urlsafe(16))


def _refuse_if_locked(user: UserMixin, now: dt.datetime) -> None:
    if user.locked_until is None:
        return
    remaining = as_utc(user.locked_until) - now
    if remaining > dt.timedelta(0):
        raise LockedOut(math.ceil(remaining / dt.timedelta(minutes=1)))
    # The lock has run out, but the count stays: the next failure locks again at once, for
    # twice as long (back-off), until a success resets it.
    user.locked_until = None


def _password_matches(user: UserMixin, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _code_matches(user: UserMixin, code: str | None, now: dt.datetime) -> bool:
    if user.totp_secret is None:
        return True
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return False
    return pyotp.TOTP(user.totp_secret).verify(code, for_time=now, valid_window=TOTP_VALID_WINDOW)


def _record_failure(db: DbSession, user: UserMixin, now: dt.datetime) -> LoginRefused:
    """Count the failure (committed) and return what to tell the person."""
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins < MAX_FAILED_LOGINS:
        db.commit()
        return LoginRefused(NOT_RECOGNISED)
    lockout = lockout_after(user.failed_logins)
    user.locked_until = now + lockout
    db.commit()
    return LockedOut(math.ceil(lockout / dt.timedelta(minutes=1)))


def lockout_after(failures: int) -> dt.timedelta:
    """15 minutes at the fifth failure in a row, then doubling with each further one
    (30, 60, … minutes), at most a day: slow enough to stop guessing, short enough that a
    person who mistypes is not shut out for long."""
    doublings = min(failures - MAX_FAILED_LOGINS, 10)
    return min(LOCKOUT * 2**doublings, MAX_LOCKOUT)


def _record_success(db: DbSession, user: UserMixin, password: str, now: dt.datetime) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login = now
    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = PASSWORD_HASHER.hash(password)
    db.commit()


# --- sessions ----------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    db: DbSession,
    session_model: type[SessionMixin],
    user: UserMixin,
    *,
    now: dt.datetime | None = None,
    policy: SessionPolicy = DEFAULT_SESSION_POLICY,
) -> str:
    """A new session for ``user``; returns the token for the cookie (only its hash is kept).
    Sessions that have run out are swept away on the way."""
    now = as_utc(now or utcnow())
    purge_expired_sessions(db, session_model, now=now, policy=policy)
    token = secrets.token_urlsafe(32)
    db.add(
        session_model(
            id=token_digest(token),
            user_id=user.id,
            created=now,
            last_seen=now,
            expires=now + policy.lifetime,
        )
    )
    db.commit()
    return token


def resolve_session(
    db: DbSession,
    session_model: type[SessionMixin],
    user_model: type[U],
    token: str,
    *,
    now: dt.datetime | None = None,
    policy: SessionPolicy = DEFAULT_SESSION_POLICY,
) -> U | None:
    """The user signed in with ``token``, or None. An expired session (absolute lifetime or
    idle timeout) is deleted; a live one is marked as seen now."""
    now = as_utc(now or utcnow())
    record = db.get(session_model, token_digest(token))
    if record is None:
        return None
    user = db.get(user_model, record.user_id)
    if user is None or _session_expired(record, now, policy):
        db.delete(record)
        db.commit()
        return None
    record.last_seen = now
    db.commit()
    return user


def _session_expired(record: SessionMixin, now: dt.datetime, policy: SessionPolicy) -> bool:
    return now >= as_utc(record.expires) or now - as_utc(record.last_seen) >= policy.idle_timeout


def end_session(db: DbSession, session_model: type[SessionMixin], token: str) -> None:
    """Sign out: the server forgets the session, so the cookie is worthless from now on."""
    db.execute(delete(session_model).where(session_model.id == token_digest(token)))
    db.commit()


def purge_expired_sessions(
    db: DbSession,
    session_model: type[SessionMixin],
    *,
    now: dt.datetime | None = None,
    policy: SessionPolicy = DEFAULT_SESSION_POLICY,
) -> None:
    now = as_utc(now or utcnow())
    db.execute(
        delete(session_model).where(
            or_(
                session_model.expires <= now,
                session_model.last_seen <= now - policy.idle_timeout,
            )
        )
    )


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
