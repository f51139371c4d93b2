"""The hub's search index: one per app, in the data dir, opened on first use."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from directory.search import DirectoryIndex

EXTENSION_KEY = "ponte.search_index"


def init_search_index(app: Flask) -> DirectoryIndex:
    path = Path(app.config.get("SEARCH_INDEX_DIR") or Path(app.config["DATA_DIR"]) / "index")
    index = DirectoryIndex(path)
    app.extensions[EXTENSION_KEY] = index
    return index


def search_index() -> DirectoryIndex:
    return current_app.extensions[EXTENSION_KEY]
