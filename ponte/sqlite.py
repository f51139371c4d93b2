"""SQLite as an embedded default that copes with several threads and processes at once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_S = 30


def engine_options(url: str) -> dict[str, Any]:
    """Wait for a lock instead of failing at once ("database is locked") under concurrency."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": BUSY_TIMEOUT_S}}
    # A server database may restart under us: test each pooled connection before use rather
    # than answer the first requests after a restart with errors.
    return {"pool_pre_ping": True}


@event.listens_for(Engine, "connect")
def _write_ahead_log(connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer writes; foreign keys are off by default.
    if type(connection).__module__.startswith("sqlite3"):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten rows are zeroed, not left in free space: an erased case's
        # personal data and a delivered envelope's body must not stay readable in the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
