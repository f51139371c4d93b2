"""``ponte hub ...``: run and administer the hub."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask

from ponte.account_cli import add_account, totp_option
from ponte.options import data_dir_option, host_option, port_option
from ponte.progress import progress_bar
from ponte.serve import serve as serve_app

if TYPE_CHECKING:
    from protocol import NodeIdentity

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


@hub.command()
@data_dir_option
@click.option("--org", "organisation_id", required=True, help="The organisation's directory id.")
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 90),
    help="Days until the invitation expires.",
)
def invite(data_dir: Path, organisation_id: str, days: int) -> None:
    """Invite an organisation's node to join; prints the one-time token as the last line.

    Give the token to the organisation's admin by a safe channel, with the hub's
    fingerprint (printed too when the hub key is unlocked) so they can check it.

    \b
    Example:
      ponte hub invite --data-dir /var/lib/ponte/hub --org 2f0c...-uuid
    """
    import datetime as dt

    from hub.enrolment import EnrolmentError, create_invitation
    from hub.extensions import db

    with hub_context(data_dir):
        try:
            issued = create_invitation(
                db.session, organisation_id, "cli", lifetime=dt.timedelta(days=days)
            )
        except EnrolmentError as error:
            raise click.UsageError(error.message) from error
        organisation = issued.invitation.organization.name
        expires = issued.invitation.expires.date().isoformat()
        fingerprint = _hub_fingerprint_if_unlocked()
    click.echo(f"Invitation {issued.invitation.id} for {organisation}, valid until {expires}.")
    if fingerprint:
        click.echo(
            f"Hub fingerprint (the node prints the same at `ponte node init`): {fingerprint}"
        )
    click.echo(issued.token)


def _hub_fingerprint_if_unlocked() -> str | None:
    from hub.identity import hub_fingerprint
    from ponte.problems import ProblemError

    try:
        return hub_fingerprint()
    except ProblemError:
        return None


@hub.command("revoke-invitation")
@data_dir_option
@click.argument("invitation_id")
def revoke_invitation_command(data_dir: Path, invitation_id: str) -> None:
    """Withdraw an invitation that was not used yet.

    \b
    Example:
      ponte hub revoke-invitation --data-dir /var/lib/ponte/hub 7d1e...-uuid
    """
    from hub.enrolment import EnrolmentError, revoke_invitation
    from hub.extensions import db

    with hub_context(data_dir):
        try:
            invitation = revoke_invitation(db.session, invitation_id, "cli")
        except EnrolmentError as error:
            raise click.UsageError(error.message) from error
        state = "was already used" if invitation.used_at else "is withdrawn"
    click.echo(f"Invitation {invitation_id} {state}.")


@hub.command("create-admin")
@data_dir_option
@click.option("--email", required=True, help="The secretariat member's e-mail (their sign-in).")
@totp_option
def create_admin(data_dir: Path, email: str, totp: bool) -> None:
    """Create a secretariat account for the hub's /admin pages.

    The password comes from PONTE_PASSWORD, or is asked for (twice, hidden). At least 12
    characters.

    \b
    Example:
      ponte hub create-admin --data-dir /var/lib/ponte/hub --email ana@secretariat.example --totp
    """
    from hub.extensions import db
    from hub.models import AdminUser

    with hub_context(data_dir):
        issuer = "Ponte hub" if totp else None
        add_account(db.session, AdminUser, email, "secretariat", totp_issuer=issuer)


@hub.command("revoke-node")
@data_dir_option
@click.argument("node_id")
def revoke_node_command(data_dir: Path, node_id: str) -> None:
    """Revoke a member node. This cannot be undone.

    Its access tokens stop working at once, and every key version is re-attested as revoked,
    so peers refuse new messages from it. Re-attesting needs the hub key: set
    PONTE_HUB_PASSPHRASE.

    \b
    Example:
      PONTE_HUB_PASSPHRASE=... ponte hub revoke-node --data-dir /var/lib/ponte/hub node-atina-1
    """
    from hub.enrolment import EnrolmentError, node_keys, revoke_node
    from hub.extensions import db

    with hub_context(data_dir):
        try:
            node = node_keys(db.session, node_id)
        except EnrolmentError as error:
            raise click.UsageError(f"{error.message} Nothing was changed.") from error
        if node.revoked_at is not None:
            click.echo(f"Node {node_id} was already revoked on {node.revoked_at:%Y-%m-%d}.")
            return
        revoke_node(db.session, _unlocked_hub_identity(), node_id, "cli")
        organisation, versions = node.organization.name, len(node.keys)
    click.echo(
        f"Node {node_id} of {organisation} is revoked: its tokens no longer work, and its "
        f"{versions} key version{'' if versions == 1 else 's'} are attested as revoked, "
        "so peers will refuse new messages from it."
    )


def _unlocked_hub_identity() -> NodeIdentity:
    """The hub key, or a usage error (exit 2) naming what is missing."""
    from hub.identity import hub_identity
    from ponte.problems import ProblemError

    if not os.environ.get("PONTE_HUB_PASSPHRASE"):
        raise click.UsageError(
            "Set PONTE_HUB_PASSPHRASE to the hub's passphrase: revoking a node re-attests its "
            "keys as revoked, which needs the hub key. Nothing was changed."
        )
    try:
        return hub_identity()
    except ProblemError as error:
        raise click.UsageError(f"{error.detail} Nothing was changed.") from error
