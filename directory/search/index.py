"""The directory's search index on disk: opening it, writing to it, and searching it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whoosh import index as whoosh_index
from whoosh.index import LockError
from whoosh.writing import CLEAR

from directory.search.analysis import WORD
from directory.search.documents import document_for, term_documents
from directory.search.highlight import query_patterns
from directory.search.planner import Planner
from directory.search.query import SearchQuery, SearchResult
from directory.search.query_text import clean_query_text
from directory.search.ranking import Ranking
from directory.search.results import allowed_by_filters, page_by_name, page_by_rank
from directory.search.schema import SCHEMA
from directory.search.view import View

if TYPE_CHECKING:
    from directory.models import Organization

# Bump when the schema or the analysis changes: a new name means a fresh, empty index, which the
# caller sees as count() == 0 and rebuilds; an index of the current version is only opened.
# v2: the module became a package, and the schema pickles WordAnalyzer by its import path
# (now directory.search.analysis.WordAnalyzer), so indexes written as v1 are rebuilt.
INDEX_NAME = "directory_v2"
WRITER_TIMEOUT = 30.0  # seconds to wait for another writer (maybe another process) to finish


class IndexBusy(LockError):
    """Another writer (maybe in another process) held the index for WRITER_TIMEOUT seconds.
    Catch this one, not whoosh's LockError; it still is a LockError, for older callers."""


class DirectoryIndex:
    """The directory's search index, in one directory on disk.

    Safe to share between threads: searches share one searcher under a lock, and it is
    refreshed when a writer (in this process or another) has committed. Writers wait up to
    WRITER_TIMEOUT seconds for each other, then raise IndexBusy."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        if whoosh_index.exists_in(str(path), indexname=INDEX_NAME):
            self._index = whoosh_index.open_dir(str(path), indexname=INDEX_NAME)
        else:
            self._index = whoosh_index.create_in(str(path), SCHEMA, indexname=INDEX_NAME)
        self._lock = threading.RLock()
        self._view: View | None = None

    # -- writing

    def rebuild(
        self,
        organisations: Iterable[Organization],
        progress: Callable[[int, int], None] | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Replace the whole index with these organisations; return how many there are. Load
        them with their services and terms (selectinload) to spare a query per service."""
        organisations = list(organisations)
        writer = self._writer(timeout, limitmb=256)
        try:
            documents = []
            for done, org in enumerate(organisations, start=1):
                documents.append(document_for(org))
                writer.add_document(**documents[-1])
                if progress and (done % 500 == 0 or done == len(organisations)):
                    progress(done, len(organisations))
            for document in term_documents(documents):
                writer.add_document(**document)
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=CLEAR)
        return len(organisations)

    def update(
        self,
        organisations: Iterable[Organization],
        *,
        removed: Iterable[str] = (),
        timeout: float | None = None,
    ) -> None:
        """Add these organisations, or replace their documents (and their terms' labels), and
        delete the documents of the ``removed`` ids, in one commit."""
        documents = [document_for(org) for org in organisations]
        ids = list(removed)

        def action(writer: Any) -> None:
            for org_id in ids:
                writer.delete_by_term("id", org_id)
            _update_all(writer, [*documents, *term_documents(documents)])

        self._write(action, timeout)

    def remove(self, organisation_ids: Iterable[str]) -> None:
        self.update([], removed=organisation_ids)

    def _write(self, action: Callable[[Any], Any], timeout: float | None = None) -> None:
        writer = self._writer(timeout)
        try:
            action(writer)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    def _writer(self, timeout: float | None, **options: Any) -> Any:
        """A writer, once any other writer is done: IndexBusy after ``timeout`` seconds
        (default WRITER_TIMEOUT; 0: one attempt, for callers that would rather try again later
        than wait)."""
        timeout = WRITER_TIMEOUT if timeout is None else timeout
        try:
            return self._index.writer(timeout=timeout, **options)
        except LockError as error:
            raise IndexBusy(f"the search index stayed locked for {timeout} s") from error

    # -- reading

    def count(self) -> int:
        """How many organisations are indexed."""
        with self._lock:
            return self._current().size

    def search(self, query: SearchQuery) -> SearchResult:
        with self._lock:
            view = self._current()
            allowed = allowed_by_filters(view, query)
            if not WORD.search(clean_query_text(query.text)):  # no words: everything, by name
                return page_by_name(view, query, allowed)
            clauses = Planner(view).plan(query.text)
            ranking = Ranking(view, clauses, allowed)
            return page_by_rank(view, query, ranking, query_patterns(clauses))

    def close(self) -> None:
        with self._lock:
            if self._view is not None:
                self._view.searcher.close()
                self._view = None

    def _current(self) -> View:
        if self._view is None:
            self._view = View(self._index.searcher())
        elif not self._view.searcher.up_to_date():
            # A new searcher rather than refresh(): refresh reuses the old segment readers with
            # their old deletions, so an updated organisation would be found twice.
            self._view.searcher.close()
            self._view = View(self._index.searcher())
        return self._view


def _update_all(writer: Any, documents: list[dict[str, Any]]) -> None:
    for document in documents:
        writer.update_document(**document)
