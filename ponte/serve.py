"""Serving an app from the command line (embedded defaults; gunicorn comes with --production)."""

from __future__ import annotations

import click
from flask import Flask
from werkzeug.serving import run_simple


def serve(app: Flask, service: str, host: str, port: int) -> None:
    click.echo(f"Ponte {service} on http://{host}:{port}/ (data in {app.config['DATA_DIR']})")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
