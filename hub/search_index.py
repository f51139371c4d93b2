"""The hub's search index: one per app, in the data dir, opened on first use."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, current_app

from directory.search import DirectoryIndex, IndexBusy
from ponte.problems import problem

EXTENSION_KEY = "ponte.search_index"


def init_search_index(app: Flask) -> DirectoryIndex:
    path = Path(app.config.get("SEARCH_INDEX_DIR") or Path(app.config["DATA_DIR"]) / "index")
    index = DirectoryIndex(path)
    app.extensions[EXTENSION_KEY] = index
    app.register_error_handler(IndexBusy, _index_busy)
    return index


def _index_busy(error: IndexBusy) -> Response:
    response = problem(503, "Search index busy", "The directory is being updated; try again.")
    response.headers["Retry-After"] = "5"
    return response


def search_index() -> DirectoryIndex:
    return current_app.extensions[EXTENSION_KEY]
