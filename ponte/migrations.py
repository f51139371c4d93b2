"""Schema migrations (Alembic through Flask-Migrate): the rules the hub and the node share.

Each service keeps its migration environment in ``<service>/migrations`` (its ``env.py``
calls ``run_environment``); revision ids are ``<service>_<NNNN>``. Starting an app calls
``prepare_database``, which only ever does what cannot lose data:

- no Ponte tables yet: create them from the models and stamp the newest revision (a test
  proves the models and the migrations make the same schema, and this is much faster than
  replaying every migration for each of the hundreds of apps the tests build);
- at the newest revision: nothing;
- Ponte's tables but no revision (a database made by a Ponte from before migrations): adopt
  it, once: create the tables it lacks and stamp it (its schema is the first revision's;
  once newer revisions exist, ``upgrade-db`` adopts it and then upgrades it);
- an older revision, or one this Ponte does not know: refuse to start (``DatabaseNotReady``)
  and name the command that upgrades it, ``ponte <service> upgrade-db``.
"""

from __future__ import annotations

import functools
import importlib
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

if TYPE_CHECKING:
    from alembic.operations.ops import MigrationScript

# App config key: False builds an app that leaves its database as it finds it (upgrade-db).
PREPARE_DATABASE = "PONTE_PREPARE_DATABASE"
VERSION_TABLE = "alembic_version"


class DatabaseNotReady(click.ClickException):
    """The database's schema is not the one this Ponte works with; nothing was changed.

    A ClickException so that every ``ponte`` command prints the message and exits 2; a WSGI
    server fails to load the app with it.
    """

    exit_code = 2


@dataclass(frozen=True)
class Migration:
    """What ``upgrade_database`` or ``downgrade_database`` did: the revisions before and
    after, and whether it adopted a database made before migrations."""

    before: str | None
    after: str | None
    adopted: bool = False


@dataclass(frozen=True)
class _State:
    tables: bool  # any of the service's tables
    revisions: tuple[str, ...]  # in alembic_version (empty when it is missing)


# --- the migration environment -------------------------------------------------------------


def migrations_directory(service: str) -> Path:
    """The service's migration environment, shipped inside its package."""
    return Path(importlib.import_module(f"{service}.migrations").__file__ or "").parent


@functools.cache
def _scripts(directory: str) -> ScriptDirectory:
    # Reading the revision files once per process keeps building an app cheap.
    return ScriptDirectory(directory)


def script_directory(service: str) -> ScriptDirectory:
    return _scripts(str(migrations_directory(service)))


def head_revision(service: str) -> str:
    """The newest revision of the service's schema."""
    head = script_directory(service).get_current_head()
    assert head is not None, f"{service} has no migrations"
    return head


def init_migrations(app: Flask, db: SQLAlchemy, service: str) -> None:
    """Register Flask-Migrate (``flask db ...`` works too) with Ponte's Alembic settings."""
    migrate = Migrate(
        app,
        db,
        directory=str(migrations_directory(service)),
        compare_type=True,
        render_as_batch=True,  # SQLite can only ALTER a table by copying it
    )
    migrate.configure(_configure_alembic)


def _configure_alembic(config: Config) -> Config:
    # Files named like their ids (hub_0002_add_summary.py); env.py also runs for revisions
    # written by hand, so that they get the next id too.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.set_main_option("revision_environment", "true")
    if find_spec("ruff") is not None:  # a dev install: new revisions come out lint-clean
        hooks = {"ruff_format": "format --quiet", "ruff_fix": "check --fix --exit-zero --quiet"}
        config.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
        for name, options in hooks.items():
            config.set_section_option("post_write_hooks", f"{name}.type", "module")
            config.set_section_option("post_write_hooks", f"{name}.module", "ruff")
            config.set_section_option(
                "post_write_hooks", f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME"
            )
    return config


def run_environment(service: str) -> None:
    """The body of ``<service>/migrations/env.py``: run Alembic on the current app's database."""
    from alembic import context

    settings = current_app.extensions["migrate"]
    _import_models(service)
    options = {
        **settings.configure_args,
        "target_metadata": settings.db.metadata,
        "process_revision_directives": _revision_directives(service, context.config),
    }
    if context.is_offline_mode():  # `flask db upgrade --sql`: print the SQL instead
        context.configure(url=settings.db.engine.url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    with settings.db.engine.connect() as connection, _sqlite_foreign_keys_off(connection):
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


@contextmanager
def _sqlite_foreign_keys_off(connection: sa.Connection) -> Iterator[None]:
    # Batch mode copies a SQLite table into a new one and drops the old: with foreign keys
    # enforced (ponte.sqlite turns them on), that drop would fail or cascade. The pragma is
    # ignored inside a transaction, hence the commits.
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _revision_directives(
    service: str, config: Config
) -> Callable[[Any, Any, list[MigrationScript]], None]:
    def directives(_context: Any, _revision: Any, scripts: list[MigrationScript]) -> None:
        script = scripts[0]
        autogenerate = getattr(config.cmd_opts, "autogenerate", False)
        if autogenerate and script.upgrade_ops is not None and script.upgrade_ops.is_empty():
            scripts[:] = []  # the models did not change: write no empty revision
            return
        if not str(script.rev_id).startswith(f"{service}_"):
            script.rev_id = _next_revision_id(service, ScriptDirectory.from_config(config))

    return directives


def _next_revision_id(service: str, scripts: ScriptDirectory) -> str:
    numbers = [int(rev.split("_")[-1]) for rev in scripts.get_heads() if rev.startswith(service)]
    return f"{service}_{max(numbers, default=0) + 1:04d}"


def _import_models(service: str) -> None:
    # The metadata is complete only once every model module is imported (the blueprints do
    # it for a full app; upgrade-db builds one without them).
    importlib.import_module(f"{service}.models")


# --- starting an app -----------------------------------------------------------------------


def prepare_database(app: Flask, db: SQLAlchemy, service: str) -> None:
    """Make the database ready for this Ponte when that is safe, else raise
    ``DatabaseNotReady`` without changing anything (see the module's docstring)."""
    for attempt in range(_SQLITE_ATTEMPTS):
        try:
            return _prepare_once(app, db, service)
        except sa.exc.OperationalError as error:
            # SQLite answers "database is locked" at once, without waiting out its busy
            # timeout, in a few races of workers opening a new file together (switching it
            # to WAL, upgrading a read snapshot). Trying again is safe: the work is done
            # under the write lock and skipped once another worker has done it.
            if "database is locked" not in str(error) or attempt == _SQLITE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


_SQLITE_ATTEMPTS = 5


def _prepare_once(app: Flask, db: SQLAlchemy, service: str) -> None:
    scripts = script_directory(service)
    head = head_revision(service)
    _import_models(service)
    with app.app_context():
        engine = db.engine
    with engine.connect() as connection:
        if _revisions(connection) == (head,):
            return  # the usual start
        connection.rollback()
        with _exclusive(connection, service):
            state = _state(connection, db.metadata)
            if state.revisions == (head,):
                return  # another process got here first
            if not state.tables:
                db.metadata.create_all(connection)
                _stamp(connection, scripts, head)
            elif not state.revisions and scripts.get_base() == head:
                _adopt(connection, db.metadata, scripts)
                app.logger.warning(
                    "Adopted the %s database made before migrations: stamped %s.", service, head
                )
            else:
                raise _refusal(service, state, scripts, app.config.get("DATA_DIR"))


def _state(connection: sa.Connection, metadata: sa.MetaData) -> _State:
    names = set(sa.inspect(connection).get_table_names())
    return _State(tables=bool(names & set(metadata.tables)), revisions=_revisions(connection))


def _revisions(connection: sa.Connection) -> tuple[str, ...]:
    # What MigrationContext.get_current_heads reads, without its two log lines per start.
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return ()
    query = sa.text(f"SELECT version_num FROM {VERSION_TABLE}")
    return tuple(connection.execute(query).scalars())


@contextmanager
def _exclusive(connection: sa.Connection, service: str) -> Iterator[None]:
    """One transaction that one process at a time runs: gunicorn's workers all start at
    once, and only one of them may create or stamp the tables. Commits at the end."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, taken now
    elif connection.dialect.name == "postgresql":
        key = zlib.crc32(f"ponte-migrations-{service}".encode())
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    yield
    connection.commit()


def _stamp(connection: sa.Connection, scripts: ScriptDirectory, revision: str) -> None:
    MigrationContext.configure(connection).stamp(scripts, revision)


def _adopt(connection: sa.Connection, metadata: sa.MetaData, scripts: ScriptDirectory) -> None:
    """Take over a database a Ponte from before migrations made with ``create_all``: its
    schema is the first revision's. While that is also the newest, the models describe it,
    and the tables an even older Ponte did not have yet are created from them. Once newer
    revisions exist the models describe the newest schema instead: the first revision
    itself creates what is missing, and the upgrade that follows does the rest."""
    baseline = scripts.get_base()
    assert baseline is not None
    if baseline == scripts.get_current_head():
        metadata.create_all(connection)
    else:
        _create_missing(connection, scripts, baseline)
    _stamp(connection, scripts, baseline)


def _create_missing(connection: sa.Connection, scripts: ScriptDirectory, revision: str) -> None:
    """Run ``revision`` (the first, which creates tables and their indexes, nothing else),
    leaving out the tables the database already has."""
    script = scripts.get_revision(revision)
    assert script is not None
    existing = set(sa.inspect(connection).get_table_names())
    context = MigrationContext.configure(connection)
    impl = context.impl  # this context's own: what the revision's operations execute with
    create_table, create_index = impl.create_table, impl.create_index

    def table_if_missing(table: sa.Table, **kw: Any) -> None:
        if table.name not in existing:
            create_table(table, **kw)

    def index_if_missing(index: sa.Index, **kw: Any) -> None:
        if index.table is None or index.table.name not in existing:
            create_index(index, **kw)

    impl.create_table, impl.create_index = table_if_missing, index_if_missing  # type: ignore[method-assign]
    with Operations.context(context):
        script.module.upgrade()


def _known(scripts: ScriptDirectory) -> set[str]:
    return {script.revision for script in scripts.walk_revisions()}


def _refusal(
    service: str, state: _State, scripts: ScriptDirectory, data_dir: Path | None
) -> DatabaseNotReady:
    at = ", ".join(state.revisions)
    if not set(state.revisions) <= _known(scripts):
        return DatabaseNotReady(
            f"The {service} database is at revision {at}, which this version of Ponte does "
            "not know: a newer Ponte upgraded it, or it is another service's database (the "
            "hub and each node need a database of their own). Run the Ponte that matches "
            "it, or restore a backup."
        )
    command_line = f"ponte {service} upgrade-db --data-dir {data_dir or 'DIR'}"
    before = "was made before migrations" if not state.revisions else f"is at revision {at}"
    return DatabaseNotReady(
        f"The {service} database {before}; this version of Ponte needs revision "
        f"{scripts.get_current_head()}. Back it up, then run `{command_line}`, and start "
        "Ponte again."
    )


# --- upgrading and downgrading -------------------------------------------------------------


def migration_app(
    service: str, data_dir: Path, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """An app with the service's database and migrations but no blueprints, which leaves the
    database as it finds it: what upgrade-db works with."""
    from ponte.appfactory import base_app

    _import_models(service)
    db = importlib.import_module(f"{service}.extensions").db
    return base_app(service, service, db, data_dir, {PREPARE_DATABASE: False, **(overrides or {})})


def upgrade_database(app: Flask, db: SQLAlchemy, service: str, revision: str = "head") -> Migration:
    """Run the migrations up to ``revision``, adopting a database made before migrations
    first. Running it again changes nothing."""
    scripts = script_directory(service)
    _import_models(service)
    with app.app_context():
        with db.engine.connect() as connection, _exclusive(connection, service):
            state = _state(connection, db.metadata)
            if not set(state.revisions) <= _known(scripts):
                raise _refusal(service, state, scripts, app.config.get("DATA_DIR"))
            adopted = state.tables and not state.revisions
            if adopted:
                _adopt(connection, db.metadata, scripts)
        before = None if adopted else next(iter(state.revisions), None)
        command.upgrade(_alembic_config(app), revision)
        return Migration(before, current_revision(app, db), adopted=adopted)


def downgrade_database(app: Flask, db: SQLAlchemy, revision: str) -> Migration:
    """Run the migrations down to ``revision`` ("base" drops every table of the service)."""
    with app.app_context():
        before = current_revision(app, db)
        command.downgrade(_alembic_config(app), revision)
        return Migration(before, current_revision(app, db))


def current_revision(app: Flask, db: SQLAlchemy) -> str | None:
    """The database's revision, or None (no migrations applied, or none recorded)."""
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _alembic_config(app: Flask, opts: Iterable[str] = ()) -> Config:
    return app.extensions["migrate"].migrate.get_config(opts=list(opts))


# --- writing a new revision (developers) ---------------------------------------------------


def new_revision(service: str, message: str) -> Path | None:
    """Write a revision with what the models changed since the newest revision (Alembic's
    autogenerate, against a scratch SQLite database upgraded to it); None when nothing did.
    It goes into ``<service>/migrations/versions`` and wants a review by hand."""
    from ponte.datadir import sqlite_url

    with tempfile.TemporaryDirectory(prefix="ponte-migration-") as scratch:
        url = sqlite_url(Path(scratch), "scratch.sqlite3")
        app = migration_app(service, Path(scratch), {"SQLALCHEMY_DATABASE_URI": url})
        db = app.extensions["migrate"].db
        upgrade_database(app, db, service)
        with app.app_context():
            written = command.revision(
                _alembic_config(app, ["autogenerate"]), message=message, autogenerate=True
            )
            db.engine.dispose()  # the scratch file goes away next
    if isinstance(written, list):
        written = written[0] if written else None
    return Path(written.path) if written is not None else None
