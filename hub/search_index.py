"""The hub's search index: one per app, in the data dir, opened on first use."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, current_app
from prometheus_client import Histogram

from directory.search import DirectoryIndex, IndexBusy, SearchQuery, SearchResult
from hub.metrics import hub_metrics
from ponte.problems import problem

EXTENSION_KEY = "ponte.search_index"
INDEX_DIR = "index"  # in the data dir, unless SEARCH_INDEX_DIR says otherwise


def init_search_index(app: Flask) -> DirectoryIndex:
    path = Path(app.config.get("SEARCH_INDEX_DIR") or Path(app.config["DATA_DIR"]) / INDEX_DIR)
    index = TimedIndex(path, hub_metrics(app).search_seconds)
    app.extensions[EXTENSION_KEY] = index
    app.register_error_handler(IndexBusy, _index_busy)
    return index


def _index_busy(error: IndexBusy) -> Response:
    response = problem(503, "Search index busy", "The directory is being updated; try again.")
    response.headers["Retry-After"] = "5"
    return response


def search_index() -> DirectoryIndex:
    return current_app.extensions[EXTENSION_KEY]


class TimedIndex(DirectoryIndex):
    """The app's index, its searches (API and pages alike) timed into the search histogram."""

    def __init__(self, path: Path, latency: Histogram) -> None:
        super().__init__(path)
        self._latency = latency

    def search(self, query: SearchQuery) -> SearchResult:
        with self._latency.time():
            return super().search(query)


def index_ready() -> bool:
    """Readiness: count() checks the index's generation on disk and reopens its searcher if
    it changed, so an index removed or unreadable since startup fails here."""
    search_index().count()
    return True
