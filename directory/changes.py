"""The directory's change log: which organisations were written, in the order of the commits.

Every write to the directory (imports, self-service updates) calls :func:`record_changes` in
the transaction that writes the organisations, so the log and the rows can never disagree.
Each hub instance keeps its own search index (a cache in its data dir) current by applying the
entries after the last one it applied (``hub/search_follower.py``): with several instances on
one PostgreSQL database, a change made through one is found through all of them.

A follower remembers one number, the last ``seq`` it applied, so an entry must never become
visible after one with a higher ``seq``. On PostgreSQL two transactions could take seqs 11 and
12 and commit 12 first; a follower reading between the two commits would skip 11 for good.
:func:`record_changes` therefore locks the log's table before taking seqs, until the end of the
transaction: writers of the log commit one after another (readers are not blocked), so seqs
become visible in order. SQLite has one writer at a time anyway.

The log is not pruned: one short row per organisation written, a few hundred per import of the
whole directory, which a database holds for decades. An instance whose index is missing or
older than the database rebuilds it from the organisations, not from the log.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from directory.models import CHANGE_OPERATIONS, DirectoryChange


def record_changes(
    session: Session, organisation_ids: Iterable[str], operation: str = "upsert"
) -> None:
    """Log that these organisations were written (or removed); not committed. Call it last in
    the transaction: on PostgreSQL it holds the log's lock until the commit."""
    if operation not in CHANGE_OPERATIONS:
        raise ValueError(f"operation must be one of {CHANGE_OPERATIONS}, not {operation!r}")
    ids = list(dict.fromkeys(organisation_ids))
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        # EXCLUSIVE conflicts with other writers of the table, not with readers.
        session.execute(text(f"LOCK TABLE {DirectoryChange.__tablename__} IN EXCLUSIVE MODE"))
    session.add_all(DirectoryChange(organization_id=org_id, operation=operation) for org_id in ids)


def latest_seq(session: Session) -> int:
    """The seq of the newest entry, 0 for an empty log."""
    return session.scalar(select(func.max(DirectoryChange.seq))) or 0


def changes_after(session: Session, seq: int, limit: int) -> list[tuple[int, str]]:
    """(seq, organisation id) of the oldest ``limit`` entries after ``seq``, in order."""
    query = (
        select(DirectoryChange.seq, DirectoryChange.organization_id)
        .where(DirectoryChange.seq > seq)
        .order_by(DirectoryChange.seq)
        .limit(limit)
    )
    return [(row.seq, row.organization_id) for row in session.execute(query)]
