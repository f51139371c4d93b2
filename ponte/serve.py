"""Serving an app from the command line: Werkzeug's threaded server on embedded defaults, or
gunicorn with ``--production``; and, for either, a proxy's forwarded headers when trusted."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import run_simple

from ponte.config import load_settings


def serve(app: Flask, service: str, host: str, port: int) -> None:
    click.echo(f"Ponte {service} on http://{host}:{port}/ (data in {app.config['DATA_DIR']})")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def gunicorn_config_file() -> Path:
    """The gunicorn settings shipped inside the package (deploy/gunicorn.conf.py imports them),
    so that ``--production`` finds them wherever Ponte is installed."""
    return Path(__file__).with_name("gunicorn_conf.py")


def serve_production(app: Flask, service: str, host: str, port: int) -> NoReturn:
    """Become gunicorn serving ``<service>.wsgi:app`` on ``host:port``.

    ``app``, built by the caller, was the pre-flight: settings checked, database created or
    refused, (node) keys unlocked, before any worker starts; so a bad start fails once, with
    its message and exit 2, and workers do not race to create tables. Exec, not a child
    process: systemd's main PID, SIGHUP (reload workers) and SIGTERM (graceful stop) reach
    gunicorn's master itself. Workers find the data dir in ``PONTE_DATA_DIR``.
    """
    settings = load_settings(service)
    data_dir = app.config["DATA_DIR"]
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    click.echo(
        f"Ponte {service} on http://{bind}/ under gunicorn, {settings['WORKERS']} workers of "
        f"{settings['THREADS']} threads (data in {data_dir})"
    )
    sys.stdout.flush()  # exec drops whatever is still buffered
    sys.stderr.flush()
    command = [sys.executable, "-m", "gunicorn", "--config", str(gunicorn_config_file())]
    command += ["--bind", bind, "--name", f"ponte-{service}", f"{service}.wsgi:app"]
    # In production, logs are JSON lines (with request ids) unless the admin chose otherwise.
    log_format = os.environ.get("PONTE_LOG_FORMAT") or "json"
    environment = {**os.environ, "PONTE_DATA_DIR": str(data_dir), "PONTE_LOG_FORMAT": log_format}
    os.execve(sys.executable, command, environment)


def trust_proxies(app: Flask) -> None:
    """Take the client's address, scheme and host from X-Forwarded-For/-Proto/-Host as set by
    the ``TRUSTED_PROXIES`` proxies in front. 0 (the default) trusts none: without a proxy
    that overwrites them, any client could claim another address or HTTPS."""
    count = int(app.config.get("TRUSTED_PROXIES") or 0)
    if count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count
        )
