"""``ponte node ...``: run and administer the node."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from ponte.account_cli import add_account, totp_option
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

    app = create_app(data_dir)
    unlock_into(app, data_dir)
    serve_app(app, "node", host, port)


def unlock_into(app: Flask, data_dir: Path) -> None:
    """Open the node's keystore (if it is enrolled) before anything is served."""
    from node.enrolment import keystore_path, load_enrolment, unlock
    from node.keys import install_keys
    from ponte.secret_input import read_secret
    from protocol import KeystoreError

    enrolment = load_enrolment(data_dir)
    if enrolment is None or not keystore_path(data_dir).exists():
        click.echo("This node is not enrolled yet: run `ponte node init` to join a hub.")
        return
    passphrase = read_secret("PONTE_PASSPHRASE", "Passphrase for this node's keys")
    try:
        identities = unlock(data_dir, passphrase)
    except KeystoreError as error:
        raise click.UsageError(
            f"{error}. The node's keys stay locked, so the node does not "
            "start; check PONTE_PASSPHRASE."
        ) from error
    install_keys(app, identities, enrolment)


@node.command()
@data_dir_option
@click.option(
    "--hub", "hub_url", required=True, help="The hub's address, e.g. https://hub.example."
)
@click.option(
    "--invite", "invitation", required=True, help="The invitation token from the secretariat."
)
def init(data_dir: Path, hub_url: str, invitation: str) -> None:
    """Set up this node: generate its keys, join the hub with an invitation, pin the hub's key.

    The keys are sealed with a passphrase (PONTE_PASSPHRASE, or asked for). Compare the hub
    fingerprint printed here with the one the secretariat gave you with the invitation.

    \b
    Example:
      PONTE_PASSPHRASE=... ponte node init --data-dir /var/lib/ponte/node \\
          --hub https://hub.example.org --invite ponte-inv-...
    """
    from node.enrolment import EnrolmentFailed, init_node, own_fingerprint
    from ponte.datadir import ensure_data_dir
    from ponte.secret_input import read_secret
    from protocol import fingerprint

    data_dir = ensure_data_dir(data_dir)
    passphrase = read_secret("PONTE_PASSPHRASE", "Passphrase for this node's keys", confirm=True)
    try:
        enrolment, identity = init_node(data_dir, hub_url, invitation, passphrase)
    except EnrolmentFailed as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"Node {enrolment.node_id} enrolled for {enrolment.organisation_name}.")
    click.echo(f"Hub fingerprint:  {fingerprint(enrolment.hub_record)}")
    click.echo(f"Node fingerprint: {own_fingerprint(identity)}")


@node.command("add-user")
@data_dir_option
@click.option("--email", required=True, help="The person's e-mail (their sign-in).")
@click.option(
    "--role",
    type=click.Choice(["caseworker", "admin"]),
    default="caseworker",
    show_default=True,
    help="caseworker: writes and reads referrals; admin: also manages the node.",
)
@totp_option
def add_user(data_dir: Path, email: str, role: str, totp: bool) -> None:
    """Create an account for a caseworker or a node admin of this NGO.

    The password comes from PONTE_PASSWORD, or is asked for (twice, hidden). At least 12
    characters.

    \b
    Example:
      ponte node add-user --data-dir /var/lib/ponte/node --email lea@ngo.example --role admin
    """
    from node import create_app
    from node.extensions import db
    from node.models import User

    with create_app(data_dir).app_context():
        add_account(db.session, User, email, role, totp_issuer="Ponte node" if totp else None)


@node.command("rotate-keys")
@data_dir_option
def rotate_keys_command(data_dir: Path) -> None:
    """Replace this node's keys with new ones, registered with the hub and signed by the old.

    Partners see the change and are warned to compare the new fingerprint. The old keys stay
    in the keystore so that messages already sealed to them can still be read.

    \b
    Example:
      PONTE_PASSPHRASE=... ponte node rotate-keys --data-dir /var/lib/ponte/node
    """
    from node.enrolment import load_enrolment, own_fingerprint
    from node.rotation import RotationFailed, rotate_keys
    from ponte.secret_input import read_secret
    from protocol import KeystoreError

    enrolment = load_enrolment(data_dir)
    if enrolment is None:
        raise click.UsageError("This node is not enrolled yet: run `ponte node init` first.")
    passphrase = read_secret("PONTE_PASSPHRASE", "Passphrase for this node's keys")
    try:
        new = rotate_keys(data_dir, passphrase, enrolment)
    except KeystoreError as error:
        raise click.UsageError(f"{error}; the keys were not changed.") from error
    except RotationFailed as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"New keys (version {new.key_version}) registered with the hub.")
    click.echo(f"Node fingerprint: {own_fingerprint(new)}")
    click.echo("Restart the node so that it uses them; tell partners the new fingerprint.")
