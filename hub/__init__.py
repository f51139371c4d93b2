"""The hub: directory, enrolment, relay and publishing for the member NGOs' nodes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from hub.extensions import db
from ponte.appfactory import base_app
from ponte.health import add_readiness_check

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
    from hub.metrics import init_hub_metrics
    from hub.search_index import index_ready

    app = base_app(__name__, "hub", db, data_dir, overrides, BLUEPRINTS)
    init_hub_metrics(app)
    with app.app_context():
        _open_search_index(app)
    add_readiness_check(app, "search_index", index_ready)
    return app


def _open_search_index(app: Flask) -> None:
    """Open the index and bring it up to date with the directory's change log; rebuild it if
    it is missing while the database has entries (a new instance's data dir, or an index
    deleted to recover from damage). hub/search_follower.py says when else."""
    from hub.search_follower import init_search_follower
    from hub.search_index import init_search_index

    init_search_follower(app, init_search_index(app))
