"""The hub: directory, enrolment, relay and publishing for the member NGOs' nodes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from hub.extensions import db
from ponte.appfactory import base_app


def create_app(data_dir: Path, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the hub app on ``data_dir`` and create its database tables if missing."""
    app = base_app(__name__, "hub", db, data_dir, overrides)

    from hub import home

    app.register_blueprint(home.blueprint)
    with app.app_context():
        db.create_all()
    return app
