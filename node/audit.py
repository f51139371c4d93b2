"""The node's audit log: who viewed, sent, changed, exported or erased which case, and when.

An append-only, hash-chained table (``audit_entry``). Entry ``n`` holds

    hash = SHA-256( JCS({"seq": n, "at": AT, "actor": ..., "action": ..., "case": ID | null,
                         "detail": ..., "prev_hash": HASH OF ENTRY n-1}) )

as lower-case hex, where JCS is the protocol's canonical JSON (protocol/canonical.py, RFC 8785),
``AT`` the entry's time in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, and the first entry's
``prev_hash`` is 64 zeros. ``audit_head`` keeps the last entry's number and hash, so that a
deleted last entry is noticed too. :func:`verify` walks the chain and names the first entry
that does not fit: edited, deleted, inserted or moved.

The log never holds personal data of the person a case is about: a case is named by its id
(the thread id), the detail says what kind of thing happened (a status, "a message", a count),
never what was written.

:func:`record` only notes the entry on the session; it is written when the session commits,
in the same transaction as the change it describes (a rolled-back change leaves no entry).
The append takes a lock first (SQLite's write lock; a PostgreSQL advisory lock, held to the
commit), after everything else of that transaction has been flushed: two workers committing
at once add their entries one after the other and the chain never forks, and no transaction
waits for a row lock while it holds the audit lock.

Who (``actor``): the person's sign-in e-mail on a page; ``cli:<user>`` or the ``--by`` of a
command; ``sync`` for what arrived from a partner; ``system`` for what this node decided by
itself (a delivery, an expiry); ``retention`` for the daily purge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from dataclasses import dataclass

from sqlalchemy import event, insert, select, text, update
from sqlalchemy.orm import Session, SessionTransaction

from node.models import AuditEntry, AuditHead, Referral, utcnow
from protocol.canonical import canonical_json

GENESIS = "0" * 64
HEAD_ID = 1
PENDING = "ponte.audit.pending"  # the session.info key of entries waiting for the commit
LOCK_KEY = zlib.crc32(b"ponte-node-audit")  # the PostgreSQL advisory lock of appends
DETAIL_LENGTH = 500

# What an entry can say happened (docs/audit-and-retention.md lists them).
VIEWED = "viewed"
CREATED = "created"
SENT = "sent"
RECEIVED = "received"
STATUS_CHANGED = "status_changed"
NOTE_ADDED = "note_added"
ATTACHMENT_VIEWED = "attachment_viewed"
EXPORTED = "exported"
ERASED = "erased"
PURGED = "purged"
ACTIONS = frozenset(
    {
        VIEWED,
        CREATED,
        SENT,
        RECEIVED,
        STATUS_CHANGED,
        NOTE_ADDED,
        ATTACHMENT_VIEWED,
        EXPORTED,
        ERASED,
        PURGED,
    }
)

SYNC = "sync"
SYSTEM = "system"
RETENTION = "retention"
THIS_NODE = "this node"  # how case events name this node itself (node.referrals)


@dataclass(frozen=True)
class PendingEntry:
    at: dt.datetime
    actor: str
    action: str
    case_id: str | None
    detail: str


def record(
    session: Session,
    action: str,
    actor: str,
    case_id: str | None = None,
    detail: str = "",
    *,
    at: dt.datetime | None = None,
) -> None:
    """Note an entry; it is appended to the chain when ``session`` commits (no commit here).

    ``detail`` is a short note in English that holds no personal data of the case's person.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = PendingEntry(_utc(at or utcnow()), actor[:320], action, case_id, detail[:DETAIL_LENGTH])
    session.connection()  # begins the session's transaction: a rollback now drops the entry
    session.info.setdefault(PENDING, []).append(entry)


def record_case_event(
    session: Session,
    case: Referral,
    direction: str,
    author: str,
    status: str | None,
    has_message: bool,
    has_reason: bool,
) -> None:
    """The entry for one event of a case's history (node.referrals.add_event): what kind of
    event, never its text."""
    partner = case.partner_node_id
    extra = "".join(
        (" with a message" if has_message else "", " with a reason" if has_reason else "")
    )
    if direction == "in":
        if status is None:
            action, detail = RECEIVED, f"message from {partner}{extra}"
        elif status == "sent":
            action, detail = RECEIVED, f"referral from {partner}"
        else:
            action, detail = STATUS_CHANGED, f"{status} by the partner {partner}{extra}"
        record(session, action, SYNC, case.id, detail)
        return
    actor = SYSTEM if author == THIS_NODE else author
    if direction == "out" and status is None:
        record(session, SENT, actor, case.id, f"message to {partner}{extra}")
    elif direction == "out":
        record(session, STATUS_CHANGED, actor, case.id, f"{status}, sent to {partner}{extra}")
    elif status is not None:
        record(session, STATUS_CHANGED, actor, case.id, f"{status}{extra}")
    else:
        record(session, NOTE_ADDED, actor, case.id, f"a note by this node{extra}")


# -- the chain ------------------------------------------------------------------------------


def moment(at: dt.datetime) -> str:
    """An entry's time as it is hashed: UTC, microseconds, ``Z``."""
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    case_id: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    """The hash of one entry, chained to the one before (the module's docstring)."""
    document = {
        "seq": seq,
        "at": moment(at),
        "actor": actor,
        "action": action,
        "case": case_id,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def _utc(at: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back without their zone; they were stored in UTC.
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    """Append the entries :func:`record` noted, as the transaction commits."""
    if session.in_nested_transaction() or not session.info.get(PENDING):
        return  # nothing noted, or a savepoint: the outer commit appends them
    pending = session.info.pop(PENDING)
    session.flush()  # this transaction's own row locks first, then the audit lock
    _lock_appends(session)
    seq, last = _head(session)
    for entry in pending:
        seq, prev = seq + 1, last
        last = entry_hash(
            seq, entry.at, entry.actor, entry.action, entry.case_id, entry.detail, prev
        )
        session.execute(
            insert(AuditEntry).values(
                seq=seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                case_id=entry.case_id,
                detail=entry.detail,
                prev_hash=prev,
                hash=last,
            )
        )
    _move_head(session, seq, last)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without committing them (rolled back, closed) takes its
    entries with it: what they describe did not happen."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)


def _lock_appends(session: Session) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    else:  # SQLite: a write (that changes nothing) takes the database's write lock now
        connection.execute(update(AuditHead).values(seq=AuditHead.seq))


def _head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)
    ).first()
    return (0, GENESIS) if row is None else (row.seq, row.hash)


def _move_head(session: Session, seq: int, hash_: str) -> None:
    moved = session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=seq, hash=hash_)
    )
    if moved.rowcount == 0:  # the first entry ever (we hold the lock: nobody else inserts)
        session.execute(insert(AuditHead).values(id=HEAD_ID, seq=seq, hash=hash_))


# -- reading and checking -------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: how many entries, and the first problem (None: intact)."""

    entries: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    broken_at: int | None = None  # the number of the first entry that does not fit

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(session: Session) -> ChainReport:
    """Walk the chain from the first entry; stop at the first one that does not fit."""
    count, expected, last_hash = 0, 1, GENESIS
    query = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=500)
    for entry in session.scalars(query):
        problem = _misfit(entry, expected, last_hash)
        if problem is not None:
            return ChainReport(count, expected - 1, last_hash, problem, min(entry.seq, expected))
        count, expected, last_hash = count + 1, expected + 1, entry.hash
    return _check_head(session, count, last_hash)


def _misfit(entry: AuditEntry, expected: int, last_hash: str) -> str | None:
    """Why ``entry`` cannot be entry ``expected`` after one whose hash is ``last_hash``."""
    if entry.seq > expected:
        missing = f"{expected}" if entry.seq == expected + 1 else f"{expected} to {entry.seq - 1}"
        where = f"follows entry {expected - 1}" if expected > 1 else "is the first"
        return f"entry {missing} is missing (deleted): entry {entry.seq} {where}"
    if entry.seq < expected:
        return f"entry {entry.seq} does not belong before entry 1 (inserted)"
    computed = entry_hash(
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.case_id,
        entry.detail,
        entry.prev_hash,
    )
    if computed != entry.hash:
        return f"entry {entry.seq} was changed or moved: its content does not match its hash"
    if entry.prev_hash != last_hash:
        before = f"entry {expected - 1}" if expected > 1 else "the start of the log"
        return (
            f"entry {entry.seq} does not follow {before}: it was chained to another entry "
            "(an entry was rewritten, inserted or removed here)"
        )
    return None


def _check_head(session: Session, count: int, last_hash: str) -> ChainReport:
    """The log must end where the head says it does (else its last entries were deleted)."""
    head = session.get(AuditHead, HEAD_ID)
    problem, at = None, None
    if head is None and count:
        problem, at = "the log's recorded end (the audit_head row) was deleted", count
    elif head is not None and head.seq > count:
        missing = f"{count + 1}" if head.seq == count + 1 else f"{count + 1} to {head.seq}"
        problem = f"entry {missing} is missing (deleted from the end): the log ends at {count}"
        at = count + 1
    elif head is not None and head.seq < count:
        problem = f"entry {head.seq + 1} was added behind the log's recorded end ({head.seq})"
        at = head.seq + 1
    elif head is not None and head.hash != last_hash:
        problem = f"entry {count} was changed: the log's recorded end has another hash for it"
        at = count
    return ChainReport(count, count, last_hash, problem, at)


def latest(session: Session, limit: int = 50, case_id: str | None = None) -> list[AuditEntry]:
    """The newest entries (of one case, if given), newest first."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if case_id is not None:
        query = query.where(AuditEntry.case_id == case_id)
    return list(session.scalars(query))


def entries_of(session: Session, case_ids: list[str]) -> list[AuditEntry]:
    """Every entry about these cases, oldest first (a case's export includes them)."""
    query = select(AuditEntry).where(AuditEntry.case_id.in_(case_ids)).order_by(AuditEntry.seq)
    return list(session.scalars(query))


def entry_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": moment(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "case": entry.case_id,
        "detail": entry.detail,
        "hash": entry.hash,
    }
