"""Schema migrations for the hub and the node, on SQLite and on a real PostgreSQL server.

Every test picks its database explicitly (a SQLite file, or a fresh PostgreSQL database from
the ``postgres`` fixture), so the whole file runs in the normal suite and in
PONTE_TEST_DATABASE=postgresql mode alike.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from flask import Flask

import ponte.datadir
import ponte.migrations
from ponte.cli import main
from ponte.migrations import (
    DatabaseNotReady,
    current_revision,
    downgrade_database,
    head_revision,
    migration_app,
    upgrade_database,
)
from tests.conftest import free_port

SERVICES = ["hub", "node"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, monkeypatch) -> str:
    """Every app this test builds, in process, uses this one database."""
    if request.param == "sqlite":
        url = ponte.datadir.sqlite_url(tmp_path, "migrations.sqlite3")
    else:
        url = request.getfixturevalue("postgres").database(f"m_{uuid.uuid4().hex[:20]}")
    monkeypatch.setattr(ponte.datadir, "database_url", lambda _data_dir, _service: url)
    return url


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Apps to close after the test: PostgreSQL connections are counted."""
    made: list[Flask] = []
    yield made
    for app in made:
        with app.app_context():
            app.extensions["migrate"].db.engine.dispose()


def bare_app(service: str, data_dir: Path, apps: list[Flask]) -> Flask:
    """An app that leaves its database as it finds it (what upgrade-db uses)."""
    app = migration_app(service, data_dir)
    apps.append(app)
    return app


def full_app(service: str, data_dir: Path, apps: list[Flask]) -> Flask:
    app = importlib.import_module(service).create_app(data_dir)
    apps.append(app)
    return app


def db_of(app: Flask):
    return app.extensions["migrate"].db


def table_names(app: Flask) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db_of(app).engine).get_table_names())


def schema_differences(app: Flask) -> list:
    """What Alembic's autogenerate finds between the database and the models."""
    with app.app_context(), db_of(app).engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db_of(app).metadata)


def run(*args: object):
    return CliRunner().invoke(main, [str(arg) for arg in args])


# --- the migrations themselves --------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_an_empty_database_upgrades_to_head_and_matches_the_models(
    service, database_url, data_dir, apps
):
    app = bare_app(service, data_dir, apps)
    upgrade = upgrade_database(app, db_of(app), service)
    assert (upgrade.before, upgrade.after) == (None, head_revision(service))
    assert table_names(app) == {*db_of(app).metadata.tables, "alembic_version"}
    # The test that fails when someone changes a model without a migration (and the proof
    # that create_all + stamp, what a first start does, gives the migrations' schema).
    assert schema_differences(app) == [], (
        f"the {service}'s models and migrations differ: run "
        f"`ponte {service} new-migration -m '...'` (docs/migrations.md)"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_head_downgrades_to_base_and_upgrades_again(service, database_url, data_dir, apps):
    app = bare_app(service, data_dir, apps)
    upgrade_database(app, db_of(app), service)
    down = downgrade_database(app, db_of(app), "base")
    assert (down.before, down.after) == (head_revision(service), None)
    assert table_names(app) == {"alembic_version"}
    again = upgrade_database(app, db_of(app), service)
    assert (again.before, again.after) == (None, head_revision(service))
    assert schema_differences(app) == []


# --- starting an app ------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_a_first_start_creates_the_tables_and_stamps_head(service, database_url, data_dir, apps):
    app = full_app(service, data_dir, apps)
    assert current_revision(app, db_of(app)) == head_revision(service)
    assert schema_differences(app) == []
    with app.app_context():  # usable: every table answers
        for table in db_of(app).metadata.sorted_tables:
            assert db_of(app).session.scalar(sa.select(sa.func.count()).select_from(table)) == 0
    again = full_app(service, data_dir, apps)  # at head: nothing to do
    assert current_revision(again, db_of(again)) == head_revision(service)


def test_apps_starting_together_prepare_the_database_once(database_url, data_dir, apps):
    # gunicorn's workers build their apps at the same moment on one empty database.
    bare_app("node", data_dir, apps)  # the data dir and its secret key exist, the tables not
    errors: list[BaseException] = []

    def start() -> None:
        try:
            full_app("node", data_dir, apps)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with apps[0].app_context(), db_of(apps[0]).engine.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert versions == [(head_revision("node"),)]


def legacy_metadata(metadata: sa.MetaData) -> sa.MetaData:
    """The tables as a Ponte from before migrations made them: constraints left unnamed
    (SQLite keeps them so, PostgreSQL names them itself)."""
    legacy = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(legacy)
    for table in legacy.tables.values():
        for constraint in table.constraints:
            constraint.name = None
    return legacy


def to_first_revision(service: str, app: Flask) -> None:
    """Take a legacy database made from today's models down to the first revision's schema,
    the one a Ponte from before migrations had (when newer revisions exist)."""
    scripts = ponte.migrations.script_directory(service)
    base = scripts.get_base()
    if base == scripts.get_current_head():
        return
    with app.app_context(), db_of(app).engine.begin() as connection:
        MigrationContext.configure(connection).stamp(scripts, "head")
    downgrade_database(app, db_of(app), base)
    with app.app_context(), db_of(app).engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")


def has_newer_revisions(service: str) -> bool:
    scripts = ponte.migrations.script_directory(service)
    return scripts.get_base() != scripts.get_current_head()


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_from_before_migrations_is_adopted(service, database_url, data_dir, apps):
    app = bare_app(service, data_dir, apps)
    legacy = legacy_metadata(db_of(app).metadata)
    newest, *older = reversed(legacy.sorted_tables)  # an older Ponte lacked a table
    with app.app_context(), db_of(app).engine.begin() as connection:
        legacy.create_all(connection, tables=older)
    to_first_revision(service, app)
    present = table_names(app)
    # a table of the first revision that refers to no other: a row needs no other rows
    kept = next(table for table in reversed(older) if table.name in present)
    with app.app_context(), db_of(app).engine.begin() as connection:
        columns = {c.name: _sample(c) for c in kept.columns if not c.nullable}
        connection.execute(kept.insert().values(columns))

    if has_newer_revisions(service):  # starting refuses; upgrade-db adopts, then upgrades
        with pytest.raises(DatabaseNotReady, match="made before migrations"):
            full_app(service, data_dir, apps)
        upgraded = run(service, "upgrade-db", "--data-dir", data_dir)
        assert upgraded.exit_code == 0 and "Adopted" in upgraded.output, upgraded.output
    adopted = full_app(service, data_dir, apps)

    assert current_revision(adopted, db_of(adopted)) == head_revision(service)
    assert newest.name in table_names(adopted)
    with adopted.app_context(), db_of(adopted).engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(kept)).scalar() == 1
    if database_url.startswith("postgresql"):
        # PostgreSQL's own names are the naming convention's: nothing differs.
        assert schema_differences(adopted) == []


def _sample(column: sa.Column) -> object:
    samples = [
        (sa.JSON, {}),
        (sa.String, "x"),
        (sa.Integer, 1),
        (sa.Boolean, False),
        (sa.LargeBinary, b"x"),
        (sa.DateTime, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        (sa.Date, dt.date(2026, 1, 1)),
    ]
    return next(value for kind, value in samples if isinstance(column.type, kind))


@pytest.fixture
def newer_migrations(tmp_path, monkeypatch):
    """Make this Ponte's migrations one revision newer (a copy with ``<service>_0002``);
    returns a function that does it for a service."""

    def newer(service: str, probe: bool = True) -> str:
        copy = tmp_path / f"{service}-migrations"
        shutil.copytree(ponte.migrations.migrations_directory(service), copy)
        head = head_revision(service)
        real = ponte.migrations.migrations_directory
        monkeypatch.setattr(
            ponte.migrations,
            "migrations_directory",
            lambda name: copy if name == service else real(name),
        )
        if not probe:
            return head
        revision = f"{service}_{int(head.split('_')[1]) + 1:04d}"
        (copy / "versions" / f"{revision}_probe.py").write_text(
            f'"""A probe table."""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
            f"revision = {revision!r}\ndown_revision = {head!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade() -> None:\n"
            '    op.create_table("probe", sa.Column("id", sa.Integer(), primary_key=True))\n\n\n'
            "def downgrade() -> None:\n"
            '    op.drop_table("probe")\n'
        )
        return revision

    return newer


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_at_an_older_revision_is_refused_until_upgraded(
    service, database_url, data_dir, apps, newer_migrations
):
    full_app(service, data_dir, apps)  # at today's head
    older = head_revision(service)
    newer = newer_migrations(service)

    with pytest.raises(DatabaseNotReady) as refused:
        full_app(service, data_dir, apps)
    message = str(refused.value)
    assert f"is at revision {older}" in message and newer in message
    assert f"`ponte {service} upgrade-db --data-dir {data_dir.resolve()}`" in message
    served = run(service, "serve", "--data-dir", data_dir)
    assert served.exit_code == 2 and "upgrade-db" in served.output

    upgraded = run(service, "upgrade-db", "--data-dir", data_dir)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"from {older} to {newer}" in upgraded.output
    app = full_app(service, data_dir, apps)
    assert current_revision(app, db_of(app)) == newer
    assert "probe" in table_names(app)


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_newer_than_this_ponte_is_refused(service, database_url, data_dir, apps):
    app = full_app(service, data_dir, apps)
    with app.app_context(), db_of(app).engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{service}_9999'")
    with pytest.raises(DatabaseNotReady, match="does not know"):
        full_app(service, data_dir, apps)
    refused = run(service, "upgrade-db", "--data-dir", data_dir)
    assert refused.exit_code == 2 and "does not know" in refused.output


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_db_upgrades_once_and_then_has_nothing_to_do(service, database_url, data_dir):
    head = head_revision(service)
    first = run(service, "upgrade-db", "--data-dir", data_dir)
    assert first.exit_code == 0, first.output
    assert f"Upgraded the {service} database from empty to {head}." in first.output
    second = run(service, "upgrade-db", "--data-dir", data_dir)
    assert second.exit_code == 0, second.output
    assert f"is at {head}, the newest: nothing to do" in second.output


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_db_adopts_a_database_from_before_migrations(service, database_url, data_dir, apps):
    app = bare_app(service, data_dir, apps)
    with app.app_context(), db_of(app).engine.begin() as connection:
        legacy_metadata(db_of(app).metadata).create_all(connection)
    to_first_revision(service, app)
    result = run(service, "upgrade-db", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert "Adopted" in result.output
    assert current_revision(app, db_of(app)) == head_revision(service)


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_db_on_an_unreachable_database_exits_2(service, tmp_path):
    # A real process: DATABASE_URL as an admin would set it, to a port nobody listens on.
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql+psycopg://ponte:secret@127.0.0.1:{free_port()}/ponte",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ponte.cli", service, "upgrade-db", "--data-dir", tmp_path],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Cannot reach the database" in result.stderr
    assert "secret" not in result.stderr  # the password is not printed


def test_the_wsgi_app_fails_loudly_on_a_database_it_cannot_use(tmp_path, monkeypatch):
    data_dir = tmp_path / "hub"
    sqlite = ponte.datadir.sqlite_url(data_dir.resolve(), "hub.sqlite3")  # what hub.wsgi opens
    monkeypatch.setattr(ponte.datadir, "database_url", lambda _data_dir, _service: sqlite)
    env = {**os.environ, "PONTE_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    run("hub", "upgrade-db", "--data-dir", data_dir)  # the embedded SQLite file, at head
    with sa.create_engine(sqlite).begin() as db:
        db.exec_driver_sql("UPDATE alembic_version SET version_num = 'hub_9999'")
    result = subprocess.run(
        [sys.executable, "-c", "import hub.wsgi"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DatabaseNotReady" in result.stderr and "hub_9999" in result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_new_migration_writes_what_the_models_changed(service, newer_migrations, monkeypatch):
    head = newer_migrations(service, probe=False)  # a scratch copy to write into
    metadata = importlib.import_module(f"{service}.extensions").db.metadata
    unchanged = run(service, "new-migration", "-m", "nothing")
    assert unchanged.exit_code == 0, unchanged.output
    assert "match its migrations: nothing to write" in unchanged.output

    probe = sa.Table(  # a new model
        "probe",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label", sa.String(40), unique=True),
    )
    try:
        written = run(service, "new-migration", "-m", "probe label")
    finally:
        metadata.remove(probe)
    assert written.exit_code == 0, written.output
    path = Path(written.output.split("Wrote ")[1].split(";")[0])
    assert path.name == f"{service}_{int(head.split('_')[1]) + 1:04d}_probe_label.py"
    text = path.read_text()
    assert f'down_revision = "{head}"' in text and 'op.create_table(\n        "probe"' in text
    assert '"probe_label_key"' in text  # the unique constraint, named as PostgreSQL would
