"""``ponte hub check-config`` and ``ponte node check-config``: the effective settings (secrets
hidden) and whether the data dir, the database and the keys work with them.

Every problem is listed, not just the first; the command exits 2 if there is any. Nothing is
created or changed: a missing data dir or SQLite file is reported as made on first start.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ponte.config import Settings, masked_database_url, read_settings
from ponte.datadir import sqlite_url
from ponte.sqlite import engine_options

CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "note" or "problem"
    text: str


KeysCheck = Callable[[Settings, Path], list[Finding]]


def ok(text: str) -> Finding:
    return Finding("ok", text)


def note(text: str) -> Finding:
    """Worth knowing, not wrong (e.g. a SQLite file made on first start)."""
    return Finding("note", text)


def problem(text: str) -> Finding:
    return Finding("problem", text)


def check_config(service: str, data_dir: Path, keys_check: KeysCheck) -> int:
    """Print the settings and the checks; the exit code (0, or 2 with problems)."""
    settings, problems = read_settings(service)
    _print_settings(service, settings)
    findings = [problem(text) for text in problems]
    data_dir = data_dir.expanduser().resolve()
    findings += check_data_dir(data_dir)
    if not any(text.startswith("DATABASE_URL:") for text in problems):
        url = settings["DATABASE_URL"] or sqlite_url(data_dir, f"{service}.sqlite3")
        findings += check_database(url)
    findings += keys_check(settings, data_dir)
    click.echo("\nChecks:")
    for finding in findings:
        click.echo(f"  {finding.level:<8} {finding.text}")
    count = sum(finding.level == "problem" for finding in findings)
    if count:
        click.echo(f"\n{count} problem{'' if count == 1 else 's'}: fix and check again.", err=True)
        return 2
    click.echo("\nNo problems found.")
    return 0


def _print_settings(service: str, settings: Settings) -> None:
    source = settings.config_file or "none (--config FILE or PONTE_CONFIG)"
    click.echo(f"Ponte {service} settings; config file: {source}")
    click.echo("(environment variables win over the file; secrets are never shown)")
    for name, shown, origin in settings.display():
        if name == "DATA_DIR" and not settings.is_set(name):
            continue  # only the WSGI entry points use it; the command has --data-dir
        click.echo(f"  {name:<26} {shown}   [{origin}]")


def check_data_dir(data_dir: Path) -> list[Finding]:
    if not data_dir.exists():
        parent = next(p for p in data_dir.parents if p.exists())
        if os.access(parent, os.W_OK | os.X_OK):
            return [note(f"data dir {data_dir} does not exist yet; it is created on first start")]
        return [
            problem(
                f"data dir {data_dir} does not exist and {parent} is not "
                "writable: create it for the service's user",
            )
        ]
    if not data_dir.is_dir():
        return [problem(f"data dir {data_dir} is not a directory")]
    try:  # really write: os.access says yes to root whatever the mode
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as error:
        return [problem(f"data dir {data_dir} is not writable: {error.strerror}")]
    findings = [ok(f"data dir {data_dir} is writable")]
    if os.geteuid() == 0 and data_dir.stat().st_uid != 0:
        findings.append(
            note(
                "checked as root; run it as the service's user (sudo -u ponte -E "
                "...) to check what the service itself can do",
            )
        )
    return findings


def check_database(url: str) -> list[Finding]:
    shown = masked_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and not Path(parsed.database).exists():
            return [note(f"database {shown} does not exist yet; it is created on first start")]
        options = engine_options(url)
    else:
        options = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    engine = create_engine(url, **options)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        if parsed.password:
            reason = reason.replace(parsed.password, "***")
        return [problem(f"DATABASE_URL: {shown} cannot be reached: {reason}")]
    finally:
        engine.dispose()
    return [ok(f"database {shown} answers")]
