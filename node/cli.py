"""``ponte node ...``: run and administer the node."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask

from node.audit_cli import COMMANDS as AUDIT_COMMANDS
from ponte.account_cli import add_account, totp_option
from ponte.backup_cli import backup_commands
from ponte.migration_cli import new_migration_command, upgrade_db_command
from ponte.options import (
    BadInput,
    config_option,
    data_dir_option,
    examples,
    host_option,
    port_option,
    production_option,
)
from ponte.progress import spinner
from ponte.serve import serve as serve_app
from ponte.serve import serve_production
from protocol.publication import ITEM_KINDS

if TYPE_CHECKING:
    from ponte.config import Settings
    from ponte.config_check import Finding

DEFAULT_PORT = 5081
NODE_DIR = "/var/lib/ponte/node"  # the data dir in the examples


@examples(
    "PONTE_PASSPHRASE=... ponte node init --data-dir /var/lib/ponte/node \\\n"
    "  --hub https://hub.example.org --invite ponte-inv-...",
    "ponte node serve --data-dir /var/lib/ponte/node --port 5081",
    "ponte node refer --help",
)
@click.group()
def node() -> None:
    """Run and administer an NGO's Ponte node (keys, referrals, newsletters).

    Every command works on one data dir (--data-dir): the database, the sealed keys and the
    enrolment. Start with `ponte node init`; `ponte node COMMAND --help` says more.
    """


for _command in backup_commands("node"):  # backup, restore
    node.add_command(_command)
node.add_command(upgrade_db_command("node"))
node.add_command(new_migration_command("node"))
for _command in AUDIT_COMMANDS:  # audit, cases, purge
    node.add_command(_command)


@examples(
    "ponte node serve --data-dir /var/lib/ponte/node --port 5081",
    "# under gunicorn, with the sync beside it:",
    "PONTE_PASSPHRASE=... ponte node serve --production --data-dir /var/lib/ponte/node --port 5081",
    "PONTE_PASSPHRASE=... ponte node sync --loop --data-dir /var/lib/ponte/node",
)
@node.command()
@data_dir_option
@host_option
@port_option(DEFAULT_PORT)
@production_option
@config_option
def serve(data_dir: Path, host: str, port: int, production: bool) -> None:
    """Start the node's web app, creating its database on first start.

    \b
    Without --production: the development server, and once the keys are unlocked a
    background thread syncs with the hub's relay every NODE_SYNC_INTERVAL seconds
    (default 5; 0 turns it off).
    With --production: gunicorn and no sync thread (each worker would run one): run
    `ponte node sync --loop` beside it. The passphrase must come from PONTE_PASSPHRASE
    (or the config file): every worker unlocks the keys itself.
    """
    from node import create_app
    from node.keys import EXTENSION_KEY
    from ponte.config import load_settings

    app = create_app(data_dir)
    unlock_into(app, data_dir, ask=not production)
    if production:
        click.echo("No sync here: run `ponte node sync --loop` beside it (ponte-node-sync).")
        serve_production(app, "node", host, port)
    interval = load_settings("node")["NODE_SYNC_INTERVAL"]
    if interval > 0 and EXTENSION_KEY in app.extensions:
        from node.sync import start_sync_worker

        start_sync_worker(app, interval)
    serve_app(app, "node", host, port)


@examples("ponte node check-config --data-dir /var/lib/ponte/node --config /etc/ponte/node.toml")
@node.command("check-config")
@data_dir_option
@config_option
def check_config_command(data_dir: Path) -> None:
    """Show the effective settings (secrets hidden) and check that they work.

    Checks that the data dir is writable, the database answers and, for an enrolled node,
    that PONTE_PASSPHRASE opens its keystore. Lists every problem and exits 2 if there is
    any; changes nothing.
    """
    from ponte.config_check import check_config

    raise click.exceptions.Exit(check_config("node", data_dir, _node_keys_check))


def _node_keys_check(settings: Settings, data_dir: Path) -> list[Finding]:
    from node.enrolment import load_enrolment, own_fingerprint, unlock
    from node.keys import is_enrolled
    from ponte.config_check import note, ok, problem
    from protocol import KeystoreError

    if not is_enrolled(data_dir):
        return [note("not enrolled yet: `ponte node init` joins a hub")]
    if not settings["PASSPHRASE"]:
        return [problem("PASSPHRASE: must be set (PONTE_PASSPHRASE): the node is enrolled and "
                        "its keys are sealed with it")]  # fmt: skip
    try:
        identities = unlock(data_dir, settings["PASSPHRASE"])
    except KeystoreError as error:
        return [problem(f"PASSPHRASE: does not open the node's keystore: {error}")]
    enrolment = load_enrolment(data_dir)
    assert enrolment is not None  # is_enrolled said so
    who = f"node {enrolment.node_id} of {enrolment.organisation_name}"
    found = own_fingerprint(identities[-1])
    return [ok(f"the keystore opens: {who}, fingerprint {found}; hub {enrolment.hub_url}")]


def unlock_into(app: Flask, data_dir: Path, ask: bool = True) -> None:
    """Open the node's keystore (if it is enrolled) before anything is served. The passphrase
    is the PASSPHRASE setting (PONTE_PASSPHRASE), else asked for at a terminal if ``ask``."""
    from node.keys import KeysLocked, is_enrolled, unlock_keys
    from ponte.config import load_settings
    from ponte.secret_input import read_secret

    if not is_enrolled(data_dir):
        click.echo(
            "This node is not enrolled yet: run `ponte node init --data-dir "
            f"{data_dir} --hub URL --invite TOKEN` to join a hub."
        )
        return
    passphrase = load_settings("node")["PASSPHRASE"]
    if not passphrase and ask:
        passphrase = read_secret("PONTE_PASSPHRASE", "Passphrase for this node's keys")
    try:
        unlock_keys(app, data_dir, passphrase)
    except KeysLocked as error:
        raise click.UsageError(
            f"{error}. The node's keys stay locked, so the node does not "
            "start; check PONTE_PASSPHRASE."
        ) from error


@examples(
    "PONTE_PASSPHRASE=... ponte node init --data-dir /var/lib/ponte/node \\\n"
    "  --hub https://hub.example.org --invite ponte-inv-..."
)
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
    fingerprint printed here with the one the secretariat gave you with the invitation
    (`ponte hub invite` prints both).
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
        raise hub_failure(error, "No keys were written.") from error
    click.echo(f"Node {enrolment.node_id} enrolled for {enrolment.organisation_name}.")
    click.echo(f"Hub fingerprint:  {fingerprint(enrolment.hub_record)}")
    click.echo(f"Node fingerprint: {own_fingerprint(identity)}")


@examples(
    "ponte node add-user --data-dir /var/lib/ponte/node --email lea@ngo.example --role admin",
    "# without a terminal, the password from the environment:",
    "PONTE_PASSWORD=... ponte node add-user --data-dir /var/lib/ponte/node \\\n"
    "  --email ion@ngo.example --totp",
)
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
    """
    from node import create_app
    from node.extensions import db
    from node.models import User

    with create_app(data_dir).app_context():
        add_account(db.session, User, email, role, totp_issuer="Ponte node" if totp else None)


@examples("PONTE_PASSPHRASE=... ponte node rotate-keys --data-dir /var/lib/ponte/node")
@node.command("rotate-keys")
@data_dir_option
def rotate_keys_command(data_dir: Path) -> None:
    """Replace this node's keys with new ones, registered with the hub and signed by the old.

    Partners see the change and are warned to compare the new fingerprint. The old keys stay
    in the keystore so that messages already sealed to them can still be read.
    """
    from node.enrolment import load_enrolment, own_fingerprint
    from node.rotation import RotationFailed, rotate_keys
    from ponte.secret_input import read_secret
    from protocol import KeystoreError

    enrolment = load_enrolment(data_dir)
    if enrolment is None:
        raise not_enrolled(data_dir)
    passphrase = read_secret("PONTE_PASSPHRASE", "Passphrase for this node's keys")
    try:
        new = rotate_keys(data_dir, passphrase, enrolment)
    except KeystoreError as error:
        raise BadInput(f"{error}; the keys were not changed. Check PONTE_PASSPHRASE.") from error
    except RotationFailed as error:
        raise hub_failure(error, "The keys were not changed.") from error
    click.echo(f"New keys (version {new.key_version}) registered with the hub.")
    click.echo(f"Node fingerprint: {own_fingerprint(new)}")
    click.echo("Restart the node so that it uses them; tell partners the new fingerprint.")


def not_enrolled(data_dir: Path) -> BadInput:
    """The error (exit 2) for a command that needs an enrolled node, naming the next step."""
    return BadInput(
        f"No enrolled node in {data_dir}: check --data-dir, or run `ponte node init "
        f"--data-dir {data_dir} --hub URL --invite TOKEN` first (the secretariat gives you "
        "the token)."
    )


def hub_failure(error: Exception, outcome: str) -> click.ClickException:
    """A command's error when the hub (``error``, or what caused it) failed it: exit 1 when
    the hub could not be reached, so running it again later may work; exit 2 when the hub
    refused, so something must change first. ``outcome`` says what became of the work."""
    from node.hub_client import HubError

    cause = error if isinstance(error, HubError) else error.__cause__
    if isinstance(cause, HubError) and cause.code == "unreachable":
        reason = str(cause)
        return click.ClickException(
            f"{reason[:1].upper()}{reason[1:]}. {outcome} Check the hub's address and this "
            "machine's network, then run the command again."
        )
    return BadInput(f"{error} {outcome}")


# -- referrals ---------------------------------------------------------------------------


def unlocked_app(data_dir: Path) -> Flask:
    """The node's app with its keys unlocked; an error (exit 2) if it is not enrolled."""
    from node import create_app
    from node.enrolment import load_enrolment
    from node.keys import EXTENSION_KEY

    if load_enrolment(data_dir) is None:  # before create_app, which would make the data dir
        raise not_enrolled(data_dir)
    app = create_app(data_dir)
    unlock_into(app, data_dir)
    if EXTENSION_KEY not in app.extensions:  # enrolled, but its keystore is gone
        raise BadInput(
            f"{data_dir} has an enrolment but no keystore: restore the data dir from a "
            "backup (`ponte node restore`)."
        )
    return app


@contextmanager
def unlocked_node(data_dir: Path) -> Iterator[tuple[Any, Any]]:
    """The node's database session and unlocked keys, for one command."""
    from node.extensions import db
    from node.keys import EXTENSION_KEY

    app = unlocked_app(data_dir)
    with app.app_context():
        yield db.session, app.extensions[EXTENSION_KEY]


by_option = click.option(
    "--by",
    "author",
    default="command line",
    show_default=True,
    help="Who is doing this (shown in the case history).",
)


def _load_referral(path: Path) -> dict[str, Any]:
    from protocol import Kind, ProtocolError, validate_payload

    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        validate_payload(Kind.REFERRAL, payload)
    except (OSError, ValueError) as error:
        raise click.UsageError(f"{path} is not readable JSON: {error}") from error
    except ProtocolError as error:
        raise click.UsageError(f"The referral in {path} needs a correction: {error}") from error
    return payload


def _attachment_file(path: Path) -> tuple[str, str, bytes]:
    import mimetypes

    from node.attachments import MAX_FILE_BYTES

    if path.stat().st_size > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        raise click.UsageError(f"{path.name} is larger than {limit} MiB; nothing was queued.")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.name, media_type, path.read_bytes()


@examples(
    "ponte node refer --data-dir /var/lib/ponte/node --to ORG_ID --file referral.json",
    "# to two candidate organisations at once, with a file (the first to accept gets it):",
    "ponte node refer --data-dir /var/lib/ponte/node --to ORG_ID,OTHER_ORG_ID \\\n"
    '  --file referral.json --attach assessment.pdf --by "Ioana Popescu"',
)
@node.command()
@data_dir_option
@click.option("--to", "to", required=True, help="Partner organisation id(s), comma-separated.")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The referral, as JSON (docs/examples/referral.json).",
)
@click.option(
    "--attach",
    "attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file to attach (encrypted); repeat for several.",
)
@by_option
def refer(data_dir: Path, to: str, path: Path, attach: tuple[Path, ...], author: str) -> None:
    """Refer a case to partner organisations (sealed for them; the hub only relays it).

    The referral's JSON format is described in docs/referrals.md. The referral id is printed
    last; `ponte node sync` (or the running node) sends it.
    """
    from node.hub_client import HubError
    from node.referrals import (
        AttachmentRefused,
        PartnerUnavailable,
        ReferralError,
        create_referral,
    )

    payload = _load_referral(path)
    files = [_attachment_file(file) for file in attach]
    organisations = [part.strip() for part in to.split(",") if part.strip()]
    with unlocked_node(data_dir) as (session, keys):
        try:
            cases = create_referral(
                session, keys, payload, organisations, author, attachments=files
            )
        except (ReferralError, PartnerUnavailable, AttachmentRefused) as error:
            raise BadInput(str(error)) from error
        except HubError as error:
            raise hub_failure(error, "Nothing was queued.") from error
        for case in cases:
            click.echo(f"Referral queued for {case.partner_organisation_id}:")
            click.echo(case.id)


@examples(
    "PONTE_PASSPHRASE=... ponte node referrals --data-dir /var/lib/ponte/node",
    "PONTE_PASSPHRASE=... ponte node referrals --data-dir /var/lib/ponte/node --json",
)
@node.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def referrals(data_dir: Path, as_json: bool) -> None:
    """List this node's referrals, newest activity first.

    Each line: the referral's id, this organisation's role (sender or recipient), its status
    and the partner organisation. `ponte node referral ID` shows one with its history.
    """
    from node.referrals import list_referrals, referral_summary

    with unlocked_node(data_dir) as (session, _):
        rows = [referral_summary(case) for case in list_referrals(session)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No referrals yet.")
    for row in rows:
        click.echo(
            f"{row['id']}  {row['role']:9}  {row['status']:11}  {row['partner_organisation_id']}"
        )


@examples(
    "PONTE_PASSPHRASE=... ponte node referral --data-dir /var/lib/ponte/node REFERRAL_ID",
    "PONTE_PASSPHRASE=... ponte node referral --data-dir /var/lib/ponte/node REFERRAL_ID --json",
)
@node.command()
@data_dir_option
@click.argument("referral_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the referral itself).")
def referral(data_dir: Path, referral_id: str, as_json: bool) -> None:
    """Show one referral and its history.

    REFERRAL_ID is the id `ponte node refer` printed, or one `ponte node referrals` lists.
    """
    from node import audit
    from node.audit_cli import cli_actor
    from node.referrals import (
        ReferralError,
        case_events,
        event_json,
        get_referral,
        referral_summary,
    )

    with unlocked_node(data_dir) as (session, _):
        try:
            case = get_referral(session, referral_id)
        except ReferralError as error:
            raise BadInput(f"{error} `ponte node referrals` lists the ids.") from error
        detail = {
            **referral_summary(case),
            "referral": case.payload,
            "events": [event_json(event) for event in case_events(session, case.id)],
        }
        audit.record(session, audit.VIEWED, cli_actor(), case.id)
        session.commit()
    if as_json:
        click.echo(json.dumps(detail, indent=2, ensure_ascii=False))
        return
    for name in ("id", "role", "status", "partner_organisation_id", "author", "updated"):
        click.echo(f"{name.replace('_', ' ')}: {detail[name]}")
    for event in detail["events"]:
        text = " ".join(str(event[k]) for k in ("status", "message", "reason") if event[k])
        click.echo(f"  {event['at']}  {event['direction']:5}  {event['author']}: {text}")


def _status_command(name: str, status: str, summary: str, message: str | None = None) -> None:
    """``ponte node NAME REFERRAL_ID``: move a referral to ``status``; ``message`` is the
    --message its example gives."""
    with_message = f' \\\n  --message "{message}"' if message else ""

    @examples(
        f"PONTE_PASSPHRASE=... ponte node {name} --data-dir {NODE_DIR} REFERRAL_ID{with_message}"
    )
    @node.command(name, help=f"{summary}\n\n{STATUS_HELP}")
    @data_dir_option
    @click.argument("referral_id")
    @click.option("--message", help="A message for the partner (the reason, when declining).")
    @by_option
    def command(data_dir: Path, referral_id: str, message: str | None, author: str) -> None:
        from node.hub_client import HubError
        from node.lifecycle import TransitionRefused
        from node.referrals import PartnerUnavailable, ReferralError, change_status

        text = {"reason": message} if status == "declined" else {"message": message}
        with unlocked_node(data_dir) as (session, keys):
            try:
                case = change_status(session, keys, referral_id, status, author, **text)
            except (ReferralError, TransitionRefused, PartnerUnavailable) as error:
                raise BadInput(str(error)) from error
            except HubError as error:
                raise hub_failure(error, "The referral was not changed.") from error
            click.echo(f"Referral {case.id} is now {status.replace('_', ' ')}.")


STATUS_HELP = """The partner is told on the next sync (`ponte node sync`, or the running node).
REFERRAL_ID is one `ponte node referrals` lists."""
_status_command("accept", "accepted", "Accept a referral made to this organisation.")
_status_command(
    "decline",
    "declined",
    "Decline a referral (--message gives the reason, required).",
    "No shelter place for a minor until March.",
)
_status_command("start", "in_progress", "Mark an accepted referral as in progress.")
_status_command("complete", "completed", "Mark a referral in progress as completed.")
_status_command("withdraw", "withdrawn", "Withdraw a referral this organisation made.")


@examples(
    "PONTE_PASSPHRASE=... ponte node sync --data-dir /var/lib/ponte/node",
    "PONTE_PASSPHRASE=... ponte node sync --loop --interval 10 --data-dir /var/lib/ponte/node",
)
@node.command()
@data_dir_option
@click.option(
    "--loop", is_flag=True, help="Keep going, a pass every --interval seconds, until SIGTERM."
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 86400),
    help="Seconds between passes with --loop (default: NODE_SYNC_INTERVAL, 5).",
)
@config_option
def sync(data_dir: Path, loop: bool, interval: float | None) -> None:
    """Sync with the hub's relay: send queued messages, receive, read notices.

    One pass, or with --loop a long-running sync: what runs beside `ponte node serve
    --production` (deploy/systemd/ponte-node-sync.service). SIGTERM or Ctrl-C stops the
    loop after the pass in progress, with exit 0; a failed pass is logged and retried.
    One pass that cannot reach the hub exits 1: queued messages stay queued for the next.
    """
    from node.hub_client import HubError
    from node.sync import sync_once

    if loop:
        _sync_loop(unlocked_app(data_dir), interval)
        return
    if interval is not None:
        raise click.UsageError("--interval goes with --loop.")
    with unlocked_node(data_dir) as (session, keys), spinner("Syncing with the hub"):
        try:
            summary = sync_once(session, keys)
        except HubError as error:
            raise _sync_failed(error) from error
    for problem in summary.problems:
        click.echo(problem)
    click.echo(f"Sync: {summary}.")


def _sync_failed(error: Exception) -> click.ClickException:
    """Exit 1 whether the hub could not be reached or refused: the pass failed while running;
    nothing queued is lost, and the next pass tries again."""
    failure = hub_failure(error, "Queued messages stay queued for the next sync.")
    if isinstance(failure, BadInput):  # refused: not bad input to this command
        return click.ClickException(f"The hub refused the sync: {failure.message}")
    return failure


def _sync_loop(app: Flask, interval: float | None) -> None:
    import signal
    import threading

    from node.keys import EXTENSION_KEY
    from node.sync import sync_forever
    from ponte.config import load_settings

    every = interval or load_settings("node")["NODE_SYNC_INTERVAL"]
    if not every:
        raise click.UsageError("NODE_SYNC_INTERVAL is 0 (no sync): give --interval SECONDS.")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # finish the pass, then stop
        signal.signal(signum, lambda *_: stop.set())
    hub_url = app.extensions[EXTENSION_KEY].enrolment.hub_url
    click.echo(f"Syncing with {hub_url} every {every:g} s; SIGTERM or Ctrl-C stops.")
    sync_forever(app, every, stop)
    click.echo("Sync stopped.")


# -- the reader ----------------------------------------------------------------------------


@contextmanager
def node_database(data_dir: Path) -> Iterator[Any]:
    """The node's database session, for commands that need no keys (no passphrase asked)."""
    from node import create_app
    from node.enrolment import load_enrolment
    from node.extensions import db

    if load_enrolment(data_dir) is None:
        raise not_enrolled(data_dir)
    with create_app(data_dir).app_context():
        yield db.session


@examples(
    "ponte node news --data-dir /var/lib/ponte/node",
    "ponte node news --data-dir /var/lib/ponte/node --unread --user lea@ngo.example --kind event",
)
@node.command()
@data_dir_option
@click.option("--unread", is_flag=True, help="Only items the person (--user) has not opened.")
@click.option("--user", "email", help="Whose read state --unread uses (their sign-in e-mail).")
@click.option("--kind", type=click.Choice(sorted(ITEM_KINDS)), help="Only items of this kind.")
def news(data_dir: Path, unread: bool, email: str | None, kind: str | None) -> None:
    """List the secretariat's items this node received and verified, newest first.

    Withdrawn items are not listed. Each line: publication date, kind, title, and when the
    hub's signature was verified. Needs no passphrase.
    """
    from sqlalchemy import select

    from node.models import User
    from node.publications import item_query

    if unread and not email:
        raise click.UsageError("--unread needs --user EMAIL: read state is kept per person.")
    with node_database(data_dir) as session:
        user_id = None
        if email:
            user_id = session.scalar(select(User.id).where(User.email == email.strip().lower()))
            if user_id is None:
                raise click.UsageError(
                    f"No account {email} on this node: give the e-mail a person signs in "
                    "with (`ponte node add-user` makes accounts)."
                )
        query = item_query(kind=kind or "", unread_for=user_id if unread else None)
        items = list(session.scalars(query))
        if not items:
            click.echo("No items.")
        for item in items:
            click.echo(
                f"{item.published:%Y-%m-%d}  {item.kind:17}  {item.title}  "
                f"(verified {item.verified_at:%Y-%m-%d %H:%M} UTC)"
            )


@examples(
    "SMTP_HOST=mail.ngo.example SMTP_FROM=ponte@ngo.example NODE_URL=https://ponte.ngo.example \\\n"
    "  ponte node send-digest --data-dir /var/lib/ponte/node"
)
@node.command("send-digest")
@data_dir_option
def send_digest(data_dir: Path) -> None:
    """Send the e-mail digest now to everyone who opted in and has new items.

    The running node does this after every sync; this command is for a cron job or a test.
    Mail settings come from the environment: SMTP_HOST, SMTP_PORT, SMTP_USERNAME,
    SMTP_PASSWORD, SMTP_STARTTLS (default on), SMTP_FROM and NODE_URL (the node's address,
    for links). Failed e-mails are retried on the next run; then the exit code is 1.
    """
    from flask import current_app

    from node.digest import DigestNotConfigured, digest_settings, send_digests

    with node_database(data_dir) as session:
        try:
            settings = digest_settings(current_app.config)
        except DigestNotConfigured as error:
            raise BadInput(
                f"No digest sent: {error} (the mail settings: docs/reader.md)."
            ) from error
        with spinner("Sending the e-mail digests"):
            report = send_digests(session, settings)
    click.echo(f"Digests sent: {report.sent}; failed (retried next time): {report.failed}.")
    if report.failed:
        raise click.ClickException(
            "Some digests could not be sent; see the log for why (the mail server's answer). "
            "They are sent again on the next run."
        )
