"""The node: each NGO's own app, where referrals are written, encrypted and read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from node.extensions import db
from ponte.appfactory import base_app


def create_app(data_dir: Path, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the node app on ``data_dir`` and create its database tables if missing."""
    app = base_app(__name__, "node", db, data_dir, overrides)

    from node import home

    app.register_blueprint(home.blueprint)
    with app.app_context():
        db.create_all()
    return app
