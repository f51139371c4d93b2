"""Options every ``ponte`` command spells the same way, and what every command's help and
errors share: the examples section and the exit-2 error for bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

data_dir_option = click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the database, keys and search index.",
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


class BadInput(click.ClickException):
    """Bad input, or a target that is not ready (a missing data dir): the message says what to
    do next, nothing was changed, and the exit code is 2 (as for a usage error, without the
    usage text, which would not help here)."""

    exit_code = 2


def existing_data_dir(data_dir: Path, service: str, first_step: str) -> Path:
    """``data_dir`` if it is a directory, else a :class:`BadInput` naming ``first_step``, the
    command that makes one. Commands that only work on an existing hub or node check this
    first: a mistyped --data-dir must not quietly start an empty one."""
    if not data_dir.is_dir():
        raise BadInput(
            f"No {service} data dir at {data_dir}: check --data-dir, or run `{first_step}` "
            "first to make one."
        )
    return data_dir


CommandT = TypeVar("CommandT", bound=click.Command)


def examples(*lines: str) -> Callable[[CommandT], CommandT]:
    """Show ``lines`` under "Example:" (or "Examples:") at the end of a command's help, as
    written: click keeps a ``\\b`` paragraph's line breaks. Put it above ``@group.command()``.

    Each line is a command as typed, ``ponte`` first, after any ``NAME=value`` settings; a
    line may go on over several with a trailing backslash. A line starting with ``#`` says
    what the next one is for. tests/test_cli_help.py parses every example with the options of
    the command it names, so the examples stay real.
    """
    commands = sum(1 for line in lines if not line.startswith("#"))
    heading = "Example:" if commands == 1 else "Examples:"
    shown = "\n".join("  " + line.replace("\n", "\n  ") for line in lines)
    block = f"\b\n{heading}\n{shown}"

    def attach(command: CommandT) -> CommandT:
        if not isinstance(command, click.Command):
            raise TypeError("@examples goes above the @group.command() decorator")
        command.epilog = f"{block}\n\n{command.epilog}" if command.epilog else block
        return command

    return attach
