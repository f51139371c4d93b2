"""The node: each NGO's own app, where referrals are written, encrypted and read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from node.extensions import db
from ponte.appfactory import base_app
from ponte.health import add_readiness_check

# One blueprint per capability; each module exposes ``blueprint``.
BLUEPRINTS = [
    "node.home",
    "node.login",
    "node.profile",
    "node.partners",
    "node.referral_pages",
    "node.reader_pages",
    "node.audit_pages",
]


def create_app(data_dir: Path, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the node app on ``data_dir`` and create its database tables if missing."""
    from node.keys import has_keys
    from node.metrics import init_node_metrics
    from node.referral_pages import allow_uploads

    app = base_app(__name__, "node", db, data_dir, overrides, BLUEPRINTS)
    app.before_request_funcs.setdefault(None, []).insert(0, allow_uploads)  # before CSRF
    init_node_metrics(app)
    add_readiness_check(app, "keys", has_keys)  # unlocked by `ponte node serve`
    return app
