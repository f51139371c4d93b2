"""``ponte hub|node upgrade-db`` and ``new-migration``: the commands both services share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ponte.options import data_dir_option, examples
from ponte.progress import spinner


def upgrade_db_command(service: str) -> click.Command:
    @examples(
        f"ponte {service} backup --data-dir /var/lib/ponte/{service} -o before-upgrade.tar.gz",
        f"ponte {service} upgrade-db --data-dir /var/lib/ponte/{service}",
    )
    @click.command(
        "upgrade-db",
        help=f"""Upgrade the {service}'s database to this version of Ponte.

        Run it after installing a new version and before starting it (Ponte refuses to
        start on an older database). Back the database up first. It prints the revision
        before and after; running it again changes nothing. A database made by a Ponte
        from before migrations is adopted as it is.
        """,
    )
    @data_dir_option
    def upgrade_db(data_dir: Path) -> None:
        from ponte.migrations import migration_app, upgrade_database

        app = migration_app(service, data_dir)
        db = app.extensions["migrate"].db
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        with _database_errors(url), spinner(f"Upgrading the {service} database"):
            upgrade = upgrade_database(app, db, service)
        if upgrade.adopted:
            click.echo(f"Adopted the {service} database made before migrations.")
        if upgrade.before == upgrade.after:
            click.echo(f"The {service} database is at {upgrade.after}, the newest: nothing to do.")
        else:
            before = upgrade.before or "empty"
            click.echo(f"Upgraded the {service} database from {before} to {upgrade.after}.")

    return upgrade_db


def new_migration_command(service: str) -> click.Command:
    @examples(f'ponte {service} new-migration -m "publication item: add a summary"')
    @click.command(
        "new-migration",
        hidden=True,  # for developers, in a source checkout: docs/migrations.md
        help=f"""Write a revision with what the {service}'s models changed (developers).

        Alembic compares the models with the newest revision and writes the difference
        into {service}/migrations/versions/. Review it by hand before committing it.
        """,
    )
    @click.option("-m", "--message", required=True, help="What the revision changes.")
    def new_migration(message: str) -> None:
        from ponte.migrations import new_revision

        path = new_revision(service, message)
        if path is None:
            click.echo(f"The {service}'s models match its migrations: nothing to write.")
        else:
            click.echo(f"Wrote {path}; review it, then run the tests.")

    return new_migration


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Turn "cannot connect" and Alembic's refusals into a message and exit 2."""
    from alembic.util import CommandError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from ponte.migrations import DatabaseNotReady

    try:
        yield
    except OperationalError as error:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(error.orig or error).strip().splitlines()[0]
        raise DatabaseNotReady(
            f"Cannot reach the database {where}: {reason}. Check DATABASE_URL and that the "
            "database server is running, then run it again; nothing was changed."
        ) from error
    except CommandError as error:
        raise DatabaseNotReady(str(error)) from error
