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


def _use_config_file(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """``--config FILE`` acts as ``PONTE_CONFIG=FILE`` for this command: the app factory and
    the gunicorn workers it starts read the file through the environment. The variable is put
    back when the command ends (in-process callers, like tests, keep their environment)."""
    import os

    from ponte.config import CONFIG_VARIABLE

    if value is None:
        return
    before = os.environ.get(CONFIG_VARIABLE)
    os.environ[CONFIG_VARIABLE] = str(value.resolve())

    def restore() -> None:
        if before is None:
            os.environ.pop(CONFIG_VARIABLE, None)
        else:
            os.environ[CONFIG_VARIABLE] = before

    ctx.call_on_close(restore)


config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    expose_value=False,
    callback=_use_config_file,
    help="A TOML settings file (else PONTE_CONFIG); environment variables win over it.",
)

production_option = click.option(
    "--production",
    is_flag=True,
    help="Serve with gunicorn (PONTE_WORKERS processes; ponte/gunicorn_conf.py) instead of "
    "the development server.",
)
