"""What the hub's and the node's app factories share: config from the data dir, the database,
problem-detail errors, ``/healthz`` and ``/readyz``, logs, request ids and ``/metrics``."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from ponte import datadir, migrations
from ponte.config import load_settings
from ponte.csrf import csrf
from ponte.datadir import ensure_data_dir, load_or_create_secret
from ponte.headers import init_security_headers
from ponte.health import health_blueprint
from ponte.i18n import init_i18n
from ponte.limits import init_limits
from ponte.observability import init_observability, observability_config
from ponte.problems import register_problem_handlers
from ponte.serve import trust_proxies
from ponte.sqlite import engine_options

MAX_REQUEST_BYTES = 4 * 1024 * 1024


def base_app(
    import_name: str,
    service: str,
    db: SQLAlchemy,
    data_dir: Path,
    overrides: Mapping[str, Any] | None,
    blueprints: Sequence[str] = (),
) -> Flask:
    """A Flask app for ``service`` ("hub" or "node") with its database at ``data_dir`` and
    the named blueprint modules (each exposes ``blueprint``) registered, its database
    ready (``ponte.migrations.prepare_database``: created on first start; refused, with
    ``DatabaseNotReady``, when it needs ``ponte <service> upgrade-db``).

    ``DATABASE_URL`` selects another database than the embedded SQLite file.
    """
    settings = load_settings(service)  # a bad setting stops every start here, naming it
    data_dir = ensure_data_dir(data_dir)
    secret_key = load_or_create_secret(data_dir / datadir.SECRET_KEY_FILE)
    app = Flask(import_name)
    app.config.from_mapping(
        DATA_DIR=data_dir,
        SECRET_KEY=secret_key,
        SQLALCHEMY_DATABASE_URI=datadir.database_url(data_dir, service),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        **_session_config(service, secret_key),
        **observability_config(),
    )
    app.config.from_mapping(settings.flask_config())
    app.config.from_mapping(overrides or {})
    trust_proxies(app)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    init_observability(app, service)  # first: its request hooks wrap the others'
    init_i18n(app)
    init_security_headers(app)
    db.init_app(app)
    csrf.init_app(app)
    register_problem_handlers(app)
    app.register_blueprint(health_blueprint(db, service))
    for name in blueprints:
        app.register_blueprint(importlib.import_module(name).blueprint)
    init_limits(app)  # wraps views by endpoint: after every blueprint
    migrations.init_migrations(app, db, service)
    if app.config.get(migrations.PREPARE_DATABASE, True):  # upgrade-db turns it off
        migrations.prepare_database(app, db, service)
    return app


def _session_config(service: str, secret_key: str) -> dict[str, Any]:
    """Cookie and session settings. The cookie's name is unique per installation: cookies do
    not tell ports apart, so a hub and nodes on one host (``ponte demo``) would clobber each
    other's sign-ins. It comes from the session secret, not the data dir's path, so that the
    instances of one hub (docs/scale-out.md), which share the secret, share sign-ins too.
    Secure cookies come with TLS."""
    installation = hashlib.sha256(f"ponte cookie name\0{secret_key}".encode()).hexdigest()[:8]
    return {
        "SESSION_COOKIE_NAME": f"ponte_{service}_{installation}",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        "PREFERRED_URL_SCHEME": "http",
        "PONTE_SESSION_LIFETIME": dt.timedelta(hours=12),
        "PONTE_SESSION_IDLE_TIMEOUT": dt.timedelta(minutes=30),
    }
