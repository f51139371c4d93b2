"""The hub: directory, enrolment, relay and publishing for the member NGOs' nodes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from hub.extensions import db
from ponte.appfactory import base_app

# One blueprint per capability; each module exposes ``blueprint``.
BLUEPRINTS = [
    "hub.home",
    "hub.directory_api",
    "hub.directory_pages",
    "hub.openapi",
    "hub.enrolment_api",
    "hub.profile_api",
    "hub.hsds_api",
    "hub.oauth",
    "hub.admin",
    "hub.membership_pages",
    "hub.relay_api",
    "hub.publishing_pages",
    "hub.news_pages",
    "hub.feeds",
    "hub.publications_api",
]


def create_app(data_dir: Path, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the hub app on ``data_dir`` and create its database tables if missing."""
    app = base_app(__name__, "hub", db, data_dir, overrides, BLUEPRINTS)
    with app.app_context():
        _open_search_index(app)
    return app


def _open_search_index(app: Flask) -> None:
    """Open the index; rebuild it if it is missing while the database has entries (a new
    data dir copied without its index, or an index deleted to recover from damage)."""
    from directory.catalogue import organisation_count, rebuild_index
    from hub.search_index import init_search_index

    index = init_search_index(app)
    if index.count() == 0 and organisation_count(db.session):
        rebuild_index(db.session, index)
