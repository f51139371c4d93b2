"""``ponte hub ...``: run and administer the hub."""

from __future__ import annotations

from pathlib import Path

import click

from ponte.options import data_dir_option, host_option, port_option
from ponte.serve import serve as serve_app

DEFAULT_PORT = 5080


@click.group()
def hub() -> None:
    """Run and administer the Ponte hub (directory, relay, publishing)."""


@hub.command()
@data_dir_option
@host_option
@port_option(DEFAULT_PORT)
def serve(data_dir: Path, host: str, port: int) -> None:
    """Start the hub's web app, creating its database on first start.

    \b
    Example:
      ponte hub serve --data-dir /var/lib/ponte/hub --port 5080
    """
    from hub import create_app

    serve_app(create_app(data_dir), "hub", host, port)
