"""Keeping this instance's search index current by following the directory's change log.

The index in the data dir is a cache of the directory in the database. With several hub
instances on one PostgreSQL database (docs/scale-out.md), a change written through one of them
reaches the others' indexes through the change log (directory/changes.py): each index dir holds
the seq of the last entry applied to it (CURSOR_FILE, written after the index commit), and
newer entries are applied by re-reading their organisations from the database and replacing
their documents, or deleting them for an organisation that is gone (whatever the entry's
operation says: the database is the truth). Applying an entry twice does no harm, so a cursor
left behind (a crash between the index commit and the file) only costs repeated work. The
process that writes a change still updates its own index at once; its follower applies the
entry again.

When: at start-up (create_app), then every SEARCH_FOLLOW_INTERVAL seconds (default 1; 0 turns
the thread off) from a daemon thread in each serving process (:func:`follow_search_index`).

Several processes, one index dir (gunicorn workers): one of them at a time follows, under a
file lock in the index dir; the others skip the tick, and so does a follower that cannot get
Whoosh's writer lock at once (an import is writing): it tries again at the next tick. The lock
also keeps a rebuild and a follower from interleaving their cursor writes.

The index is rebuilt from the database instead when the cursor cannot be trusted: there is none
while the log has entries (a new instance, a deleted index dir), it is ahead of the log (the
database was restored from an older backup, or is another one), or the index is empty while
the directory is not (a new INDEX_NAME).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.orm import Session
from whoosh.util.filelock import FileLock, try_for

from directory.catalogue import organisation_count, organisations_with_details, rebuild_index
from directory.changes import changes_after, latest_seq
from directory.importer import Progress
from directory.search import DirectoryIndex, IndexBusy
from directory.search.index import WRITER_TIMEOUT
from hub.extensions import db

CURSOR_FILE = "applied-change"  # in the index dir: the seq of the last change log entry applied
LOCK_FILE = "follow.lock"  # in the index dir: held by whoever follows or rebuilds
BATCH = 500  # change log entries applied per index commit
DEFAULT_INTERVAL = 1.0  # seconds between two looks at the log
MAX_BACKOFF = 60.0  # seconds between attempts while following fails (the database is down)
EXTENSION_KEY = "ponte.search_follower"

log = logging.getLogger(__name__)


class FollowerBusy(IndexBusy):
    """Another process or thread is following (or rebuilding) this index right now."""


@dataclass(frozen=True)
class CatchUp:
    seq: int  # the last change log entry the index now reflects
    applied: int  # entries applied by this call
    rebuilt: bool  # the index was rebuilt from the database instead


class SearchFollower:
    """Follows the change log into one index dir; safe to share between threads."""

    def __init__(self, index: DirectoryIndex, interval: float) -> None:
        self.index = index
        self.interval = interval
        self._cursor = index.path / CURSOR_FILE
        self._lock = index.path / LOCK_FILE
        self._started = threading.Lock()
        self._thread_pid: int | None = None
        self._stop = threading.Event()

    # -- the cursor

    def applied_seq(self) -> int | None:
        """The seq of the last entry applied; None if unknown (no file, or an unreadable one)."""
        try:
            return int(self._cursor.read_text(encoding="ascii"))
        except (FileNotFoundError, ValueError):
            return None

    def _set_applied(self, seq: int) -> None:
        temporary = self._cursor.with_name(f"{CURSOR_FILE}.{os.getpid()}.tmp")
        temporary.write_text(f"{seq}\n", encoding="ascii")
        os.replace(temporary, self._cursor)  # readers see the old value or the new, never half

    # -- following

    def catch_up(self, session: Session, *, wait: float = 0.0) -> CatchUp:
        """Apply the entries after the cursor, or rebuild. Waits up to ``wait`` seconds for
        the follow lock and for Whoosh's writer, then raises FollowerBusy or IndexBusy."""
        with self._following(wait):
            applied, latest = self.applied_seq(), latest_seq(session)
            reason = self._why_rebuild(session, applied, latest)
            if reason:
                log.info("rebuilding the search index: %s", reason)
                return CatchUp(self._rebuild(session, None, wait), 0, rebuilt=True)
            if applied is None:  # an empty log, and an index that agrees: start counting
                applied = 0
                self._set_applied(applied)
            return self._apply_after(session, applied, latest, wait)

    def rebuild(
        self, session: Session, progress: Progress | None = None, *, wait: float = WRITER_TIMEOUT
    ) -> int:
        """Rebuild the index from the database (``ponte hub reindex``); return how many
        organisations it holds."""
        with self._following(wait):
            self._rebuild(session, progress, wait)
        return self.index.count()

    @contextmanager
    def _following(self, wait: float) -> Iterator[None]:
        lock = FileLock(str(self._lock))
        if not try_for(lock.acquire, timeout=wait, delay=0.05):
            raise FollowerBusy("another process is updating this search index")
        try:
            yield
        finally:
            lock.release()

    def _why_rebuild(self, session: Session, applied: int | None, latest: int) -> str | None:
        if applied is None and latest > 0:
            return "it does not say which directory changes it holds"
        if applied is not None and applied > latest:
            return f"it holds changes up to {applied}, the database only up to {latest}"
        if self.index.count() == 0 and organisation_count(session):
            return "it is empty"
        return None

    def _rebuild(self, session: Session, progress: Progress | None, wait: float) -> int:
        # The seq first: a change committed after it is in the rows read, and applied again.
        latest = latest_seq(session)
        rebuild_index(session, self.index, progress=progress, timeout=wait)
        self._set_applied(latest)
        return latest

    def _apply_after(self, session: Session, applied: int, latest: int, wait: float) -> CatchUp:
        done = 0
        while applied < latest:
            batch = changes_after(session, applied, BATCH)
            if not batch:
                break
            ids = list(dict.fromkeys(org_id for _, org_id in batch))
            session.expire_all()  # re-read: they may have changed since this session saw them
            found = organisations_with_details(session, ids)
            gone = set(ids) - {org.id for org in found}
            self.index.update(found, removed=gone, timeout=wait)
            applied, done = batch[-1][0], done + len(batch)
            self._set_applied(applied)
        return CatchUp(applied, done, rebuilt=False)

    # -- the thread

    def ensure_running(self, app: Flask) -> None:
        """Follow from a daemon thread in this process, started once (a process forked from
        this one, as gunicorn forks its workers, starts its own on its first request)."""
        if self.interval <= 0 or self._thread_pid == os.getpid():
            return
        with self._started:
            if self._thread_pid == os.getpid():
                return
            self._thread_pid, self._stop = os.getpid(), threading.Event()
            # A weak reference: an app that is dropped (as tests drop theirs) ends its thread.
            thread = threading.Thread(
                target=self._run,
                args=(weakref.ref(app), self._stop),
                name="ponte-search-follower",
                daemon=True,
            )
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, app_ref: weakref.ref[Flask], stop: threading.Event) -> None:
        failures = 0
        while not stop.wait(min(self.interval * 2**failures, MAX_BACKOFF)):
            app = app_ref()
            if app is None:
                return
            failures = 0 if self._tick(app) else min(failures + 1, 10)
            del app

    def _tick(self, app: Flask) -> bool:
        """One look at the log; False if it failed (logged)."""
        try:
            with app.app_context():
                self.catch_up(db.session)
        except IndexBusy:  # another worker is at it, or an import is writing: next tick
            return True
        except Exception as error:  # the thread must outlive a database outage
            reason = (str(error).splitlines() or [""])[0][:200]
            log.warning("following the change log failed: %s: %s", type(error).__name__, reason)
            return False
        return True


def init_search_follower(app: Flask, index: DirectoryIndex) -> SearchFollower:
    """The app's follower; brings the index up to date now (rebuilding it if it must), in an
    app context. A busy index is left to the next look."""
    interval = app.config.get("SEARCH_FOLLOW_INTERVAL")  # PONTE_SEARCH_FOLLOW_INTERVAL
    follower = SearchFollower(index, DEFAULT_INTERVAL if interval is None else float(interval))
    app.extensions[EXTENSION_KEY] = follower
    try:
        follower.catch_up(db.session, wait=WRITER_TIMEOUT)
    except IndexBusy as error:
        log.warning("the search index was not brought up to date at start: %s", error)
    return follower


def follow_search_index(app: Flask) -> None:
    """Keep following the change log while this app serves: from now on in this process, and
    from the first request in any process forked from it (gunicorn's workers)."""
    follower = search_follower(app)
    follower.ensure_running(app)
    app.before_request(lambda: follower.ensure_running(app))


def search_follower(app: Flask | None = None) -> SearchFollower:
    return (app or current_app).extensions[EXTENSION_KEY]
