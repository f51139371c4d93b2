"""Options every ``ponte`` command spells the same way."""

from __future__ import annotations

from pathlib import Path

import click

data_dir_option = click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the database, keys and search index (created if missing).",
)
host_option = click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)


def port_option(default: int) -> click.Option:
    return click.option(
        "--port",
        default=default,
        show_default=True,
        type=click.IntRange(1, 65535),
        help="TCP port to listen on.",
    )
