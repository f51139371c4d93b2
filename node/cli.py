"""``ponte node ...``: run and administer the node."""

from __future__ import annotations

from pathlib import Path

import click

from ponte.options import data_dir_option, host_option, port_option
from ponte.serve import serve as serve_app

DEFAULT_PORT = 5081


@click.group()
def node() -> None:
    """Run and administer an NGO's Ponte node (keys, referrals, newsletters)."""


@node.command()
@data_dir_option
@host_option
@port_option(DEFAULT_PORT)
def serve(data_dir: Path, host: str, port: int) -> None:
    """Start the node's web app, creating its database on first start.

    \b
    Example:
      ponte node serve --data-dir /var/lib/ponte/node --port 5081
    """
    from node import create_app

    serve_app(create_app(data_dir), "node", host, port)
