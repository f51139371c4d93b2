"""``ponte hub ...``: run and administer the hub."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask

from ponte.options import data_dir_option, host_option, port_option
from ponte.progress import progress_bar
from ponte.serve import serve as serve_app

DEFAULT_PORT = 5080


@click.group()
def hub() -> None:
    """Run and administer the Ponte hub (directory, relay, publishing)."""


@contextmanager
def hub_context(data_dir: Path) -> Iterator[Flask]:
    from hub import create_app

    app = create_app(data_dir)
    with app.app_context():
        yield app


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


@hub.command("seed")
@data_dir_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def seed_command(data_dir: Path, file: Path | None) -> None:
    """Import directory data: the shipped seed by default, or FILE.

    FILE may be HSDS 3.0 JSON (organizations, as `ponte hub export-hsds` writes), a JSON list
    in the seed's format, or CSV (see docs/directory-import.md). Importing again updates
    entries instead of duplicating them; bad rows are reported and the rest is imported.

    \b
    Examples:
      ponte hub seed --data-dir /var/lib/ponte/hub
      ponte hub seed --data-dir /var/lib/ponte/hub partners.csv
    """
    from directory.catalogue import import_directory
    from directory.importer import ImportFileError
    from hub.extensions import db
    from hub.search_index import search_index

    with hub_context(data_dir):
        try:
            with progress_bar("Importing organisations") as progress:
                report = import_directory(db.session, search_index(), file, progress=progress)
        except ImportFileError as error:
            raise click.UsageError(str(error)) from error
    click.echo(
        f"Imported {report.imported} organisations: {report.created} new, "
        f"{report.updated} updated, {report.unchanged} unchanged; "
        f"{report.flags} contact details kept as printed and flagged for review."
    )
    for problem in report.problems:
        click.echo(
            f"  row {problem.position} ({problem.name or 'no name'}): {problem.reason}", err=True
        )
    if report.problems:
        click.echo(
            f"{len(report.problems)} rows were not imported; fix them and import again.", err=True
        )
    if report.problems and not report.imported:
        sys.exit(2)


@hub.command()
@data_dir_option
def reindex(data_dir: Path) -> None:
    """Rebuild the search index from the database.

    \b
    Example:
      ponte hub reindex --data-dir /var/lib/ponte/hub
    """
    from directory.catalogue import rebuild_index
    from hub.extensions import db
    from hub.search_index import search_index

    with hub_context(data_dir), progress_bar("Indexing organisations") as progress:
        count = rebuild_index(db.session, search_index(), progress=progress)
    click.echo(f"Indexed {count} organisations.")


@hub.command("export-hsds")
@data_dir_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output).",
)
def export_hsds(data_dir: Path, output: Path | None) -> None:
    """Export the directory as HSDS 3.0 JSON (fully nested organizations).

    Confidential addresses are never exported.

    \b
    Example:
      ponte hub export-hsds --data-dir /var/lib/ponte/hub -o directory.json
    """
    from directory.hsds import export_all
    from hub.extensions import db

    with hub_context(data_dir):
        text = json.dumps(export_all(db.session), ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
