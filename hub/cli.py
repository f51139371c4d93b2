"""``ponte hub ...``: run and administer the hub."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import mimetypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask

from ponte.account_cli import add_account, totp_option
from ponte.backup_cli import backup_commands
from ponte.migration_cli import new_migration_command, upgrade_db_command
from ponte.options import (
    BadInput,
    config_option,
    data_dir_option,
    examples,
    existing_data_dir,
    host_option,
    port_option,
    production_option,
)
from ponte.progress import progress_bar, spinner
from ponte.serve import serve as serve_app
from ponte.serve import serve_production

if TYPE_CHECKING:
    from hub.enrolment import EnrolmentError
    from hub.publishing import ItemFile, PublishingError
    from ponte.config import Settings
    from ponte.config_check import Finding
    from protocol import NodeIdentity

DEFAULT_PORT = 5080


@examples(
    "ponte hub seed --data-dir /var/lib/ponte/hub",
    "ponte hub serve --data-dir /var/lib/ponte/hub --port 5080",
    "ponte hub serve --help",
)
@click.group()
def hub() -> None:
    """Run and administer the Ponte hub (directory, relay, publishing).

    Every command works on one data dir (--data-dir): the database, keys and search index.
    `ponte hub COMMAND --help` says more, with examples.
    """


for _command in backup_commands("hub"):  # backup, restore
    hub.add_command(_command)
hub.add_command(upgrade_db_command("hub"))
hub.add_command(new_migration_command("hub"))


@contextmanager
def hub_context(data_dir: Path, *, create: bool = False) -> Iterator[Flask]:
    """The hub's app, in context. Without ``create``, a data dir that is not there is an
    error (exit 2) that says how to make one, rather than a new empty hub."""
    from hub import create_app

    if not create:
        existing_data_dir(data_dir, "hub", f"ponte hub seed --data-dir {data_dir}")
    app = create_app(data_dir)
    with app.app_context():
        yield app


@examples(
    "ponte hub serve --data-dir /var/lib/ponte/hub --port 5080",
    "ponte hub serve --production --data-dir /var/lib/ponte/hub --port 5080",
    "ponte hub serve --config /etc/ponte/hub.toml --data-dir /var/lib/ponte/hub",
)
@hub.command()
@data_dir_option
@host_option
@port_option(DEFAULT_PORT)
@production_option
@config_option
def serve(data_dir: Path, host: str, port: int, production: bool) -> None:
    """Start the hub's web app, creating its database on first start.

    The development server by default; with --production, gunicorn (PONTE_WORKERS worker
    processes of PONTE_THREADS threads; SIGHUP reloads them, SIGTERM stops gracefully).
    A bad setting stops the start with exit 2 (check them with `ponte hub check-config`).
    """
    from hub import create_app

    app = create_app(data_dir)  # the pre-flight: settings, database, index
    if production:
        serve_production(app, "hub", host, port)
    from hub.search_follower import follow_search_index

    follow_search_index(app)
    serve_app(app, "hub", host, port)


@examples("ponte hub check-config --data-dir /var/lib/ponte/hub --config /etc/ponte/hub.toml")
@hub.command("check-config")
@data_dir_option
@config_option
def check_config_command(data_dir: Path) -> None:
    """Show the effective settings (secrets hidden) and check that they work.

    Checks that the data dir is writable, the database answers and, when
    PONTE_HUB_PASSPHRASE is set, that it opens the hub's keystore. Lists every problem and
    exits 2 if there is any; changes nothing.
    """
    from ponte.config_check import check_config

    raise click.exceptions.Exit(check_config("hub", data_dir, _hub_keys_check))


def _hub_keys_check(settings: Settings, data_dir: Path) -> list[Finding]:
    from hub.identity import keystore_path
    from ponte.config_check import note, ok, problem
    from protocol import KeystoreError, fingerprint
    from protocol.keystore import read_keystore

    path, passphrase = keystore_path(data_dir), settings["HUB_PASSPHRASE"]
    if not passphrase:
        return [note("HUB_PASSPHRASE is not set: the hub serves the directory but cannot enrol "
                     "nodes, revoke them or sign publications")]  # fmt: skip
    if not path.exists():
        return [note(f"no hub keystore yet: {path} is made with HUB_PASSPHRASE on first use")]
    try:
        identity = read_keystore(path, passphrase)[-1]
    except KeystoreError as error:
        return [problem(f"HUB_PASSPHRASE: does not open {path}: {error}")]
    return [ok(f"the hub keystore opens; fingerprint {fingerprint(identity.public_record())}")]


@examples(
    "# the shipped directory of partner organisations:",
    "ponte hub seed --data-dir /var/lib/ponte/hub",
    "# your own list (CSV, HSDS 3.0 JSON or the seed's JSON):",
    "ponte hub seed --data-dir /var/lib/ponte/hub partners.csv",
)
@hub.command("seed")
@data_dir_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def seed_command(data_dir: Path, file: Path | None) -> None:
    """Import directory data: the shipped seed by default, or FILE.

    FILE may be HSDS 3.0 JSON (organizations, as `ponte hub export-hsds` writes), a JSON list
    in the seed's format, or CSV (see docs/directory-import.md). Importing again updates
    entries instead of duplicating them; bad rows are reported and the rest is imported.
    Makes the data dir if it is not there: on a new hub, this comes first.
    """
    from directory.catalogue import import_directory
    from directory.importer import ImportFileError
    from hub.enrolment import audit
    from hub.extensions import db
    from hub.search_index import search_index

    with hub_context(data_dir, create=True):
        try:
            with progress_bar("Importing organisations") as progress:
                report = import_directory(db.session, search_index(), file, progress=progress)
        except ImportFileError as error:
            hint = "Nothing was imported; the formats are in docs/directory-import.md."
            raise BadInput(f"{error} {hint}") from error
        counts = f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged"
        source = file.name if file else "the shipped seed"
        audit(db.session, _actor(None), "directory.import", source[:200], counts)
        db.session.commit()
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


@examples("ponte hub reindex --data-dir /var/lib/ponte/hub")
@hub.command()
@data_dir_option
def reindex(data_dir: Path) -> None:
    """Rebuild the search index from the database.

    Only this data dir's index: each hub instance keeps its own (docs/scale-out.md). A hub
    also rebuilds its index by itself at start when the index is missing.
    """
    from hub.extensions import db
    from hub.search_follower import search_follower

    with hub_context(data_dir), progress_bar("Indexing organisations") as progress:
        count = search_follower().rebuild(db.session, progress)
    click.echo(f"Indexed {count} organisations.")


@examples(
    "ponte hub export-hsds --data-dir /var/lib/ponte/hub -o directory.json",
    "ponte hub export-hsds --data-dir /var/lib/ponte/hub > directory.json",
)
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

    Confidential addresses are never exported. `ponte hub seed` imports the file again.
    """
    from directory.hsds import export_all
    from hub.extensions import db

    with hub_context(data_dir), spinner("Exporting organisations"):
        organizations = export_all(db.session)
        text = json.dumps(organizations, ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        # To stderr: standard output is where the JSON goes without --output.
        click.echo(f"Exported {len(organizations)} organisations to {output}.", err=True)
    else:
        click.echo(text, nl=False)


@examples(
    "# find the organisation's id first: ponte hub export-hsds, or the directory's pages",
    "ponte hub invite --data-dir /var/lib/ponte/hub --org 2f0c...-uuid",
    "ponte hub invite --data-dir /var/lib/ponte/hub --org 2f0c...-uuid --days 14",
)
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
    fingerprint (printed too when the hub key is unlocked) so they can check it. They run
    `ponte node init` with it.
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
            raise _enrolment_refused(error, "No invitation was made.") from error
        organisation = issued.invitation.organization.name
        expires = issued.invitation.expires.date().isoformat()
        fingerprint = _hub_fingerprint_if_unlocked()
    click.echo(f"Invitation {issued.invitation.id} for {organisation}, valid until {expires}.")
    if fingerprint:
        click.echo(
            f"Hub fingerprint (the node prints the same at `ponte node init`): {fingerprint}"
        )
    click.echo(issued.token)


# Where to find the id a command was given, when the hub knows no such thing.
WHERE_IDS_ARE = {
    "unknown_organisation": "Find its id with `ponte hub export-hsds`, or on its directory page.",
    "unknown_invitation": "It is the id `ponte hub invite` printed; /admin/invitations lists them.",
    "unknown_node": "/admin/nodes lists the member nodes and their ids.",
}


def _enrolment_refused(error: EnrolmentError, outcome: str = "") -> BadInput:
    """The hub's refusal as an error (exit 2), with where to find the right id if that was it."""
    parts = (error.message, outcome, WHERE_IDS_ARE.get(error.code, ""))
    return BadInput(" ".join(part for part in parts if part))


def _hub_fingerprint_if_unlocked() -> str | None:
    from hub.identity import hub_fingerprint
    from ponte.problems import ProblemError

    try:
        return hub_fingerprint()
    except ProblemError:
        return None


@examples("ponte hub revoke-invitation --data-dir /var/lib/ponte/hub 7d1e...-uuid")
@hub.command("revoke-invitation")
@data_dir_option
@click.argument("invitation_id")
def revoke_invitation_command(data_dir: Path, invitation_id: str) -> None:
    """Withdraw an invitation that was not used yet.

    INVITATION_ID is the id `ponte hub invite` printed first ("Invitation ID for ...").
    """
    from hub.enrolment import EnrolmentError, revoke_invitation
    from hub.extensions import db

    with hub_context(data_dir):
        try:
            invitation = revoke_invitation(db.session, invitation_id, "cli")
        except EnrolmentError as error:
            raise _enrolment_refused(error) from error
        state = "was already used" if invitation.used_at else "is withdrawn"
    click.echo(f"Invitation {invitation_id} {state}.")


@examples(
    "ponte hub create-admin --data-dir /var/lib/ponte/hub --email ana@secretariat.example --totp",
    "# without a terminal, the password from the environment:",
    "PONTE_PASSWORD=... ponte hub create-admin --data-dir /var/lib/ponte/hub \\\n"
    "  --email ana@secretariat.example",
)
@hub.command("create-admin")
@data_dir_option
@click.option("--email", required=True, help="The secretariat member's e-mail (their sign-in).")
@totp_option
def create_admin(data_dir: Path, email: str, totp: bool) -> None:
    """Create a secretariat account for the hub's /admin pages.

    The password comes from PONTE_PASSWORD, or is asked for (twice, hidden). At least 12
    characters.
    """
    from hub.enrolment import audit
    from hub.extensions import db
    from hub.models import AdminUser

    with hub_context(data_dir, create=True):  # a first step on a new hub, like seed
        issuer = "Ponte hub" if totp else None
        add_account(db.session, AdminUser, email, "secretariat", totp_issuer=issuer)
        audit(db.session, _actor(None), "admin.create", email.strip().lower())
        db.session.commit()


@examples(
    "PONTE_HUB_PASSPHRASE=... ponte hub revoke-node --data-dir /var/lib/ponte/hub node-atina-1"
)
@hub.command("revoke-node")
@data_dir_option
@click.argument("node_id")
def revoke_node_command(data_dir: Path, node_id: str) -> None:
    """Revoke a member node. This cannot be undone.

    Its access tokens stop working at once, and every key version is re-attested as revoked,
    so peers refuse new messages from it. Re-attesting needs the hub key: set
    PONTE_HUB_PASSPHRASE.
    """
    from hub.enrolment import EnrolmentError, node_keys, revoke_node
    from hub.extensions import db

    with hub_context(data_dir):
        try:
            node = node_keys(db.session, node_id)
        except EnrolmentError as error:
            raise _enrolment_refused(error, "Nothing was changed.") from error
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


def _unlocked_hub_identity(
    why: str = "revoking a node re-attests its keys as revoked, which needs the hub key",
) -> NodeIdentity:
    """The hub key, or an error (exit 2) naming what is missing and ``why`` it is needed."""
    from flask import current_app

    from hub.identity import hub_identity
    from ponte.problems import ProblemError

    # The config file's passphrase is in the app's config; the environment's is read live.
    if not (current_app.config.get("HUB_PASSPHRASE") or os.environ.get("PONTE_HUB_PASSPHRASE")):
        raise BadInput(
            f"Set PONTE_HUB_PASSPHRASE to the hub's passphrase: {why}. Nothing was changed."
        )
    try:
        return hub_identity()
    except ProblemError as error:
        raise BadInput(f"{error.detail} Nothing was changed.") from error


# --- publishing ----------------------------------------------------------------------------

SIGNING_NEEDS_KEY = "publishing signs the item with the hub key"


def _actor(email: str | None) -> str:
    """Who the audit log and the item's history name: ``--as``, else the system user."""
    if email:
        return email
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "cli"


def _moment(value: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 date and time with its zone (``2030-06-30T14:00:00+02:00``, or ``Z``)."""
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(
            "give an ISO 8601 date and time, e.g. 2030-06-30T14:00:00+02:00", param_hint=option
        ) from error
    if moment.tzinfo is None:
        raise click.BadParameter(
            "give the time zone too, e.g. 2030-06-30T14:00:00Z for UTC", param_hint=option
        )
    return moment


def _read_body(path: Path) -> str:
    from hub.publishing import MAX_BODY_CHARS
    from hub.publishing_pages import MAX_BODY_BYTES

    try:
        with path.open("rb") as handle:
            # A byte past the most any allowed body takes is enough to refuse a larger one.
            data = handle.read(MAX_BODY_BYTES + 4)
    except OSError as error:
        raise click.BadParameter(
            f"cannot read {path}: {error.strerror}", param_hint="--body-file"
        ) from error
    if len(data) > MAX_BODY_BYTES + 3:  # a UTF-8 byte order mark may come first
        raise click.BadParameter(
            f"the text is too long: at most {MAX_BODY_CHARS:,} characters.",
            param_hint="--body-file",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise click.BadParameter(
            f"{path} is not UTF-8 text (byte {error.start}); save it as UTF-8.",
            param_hint="--body-file",
        ) from error


def _read_file(path: Path | None) -> ItemFile | None:
    from hub.publishing import MAX_FILE_BYTES, ItemFile

    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # one byte more: the rules refuse it
    except OSError as error:
        raise click.BadParameter(
            f"cannot read {path}: {error.strerror}", param_hint="--file"
        ) from error
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return ItemFile(path.name, media_type, data)


# The option to name when the rules refuse a field (most are spelled like the field).
OPTION_OF = {
    "body_markdown": "--body-file",
    "topics": "--topic",
    "countries": "--country",
    "publish_at": "--at",
    "event": "--event-starts",
    "audience": "--members-only",
}


def _refused(error: PublishingError) -> click.UsageError:
    option = OPTION_OF.get(error.field, "--" + error.field.replace("_", "-"))
    return click.UsageError(f"{option}: {error.message} Nothing was stored.")


@examples(
    "PONTE_HUB_PASSPHRASE=... ponte hub publish --data-dir /var/lib/ponte/hub \\\n"
    '  --kind news --title "New EU directive in force" --body-file news.md \\\n'
    "  --topic eu-legislation --country RO --country IT",
    "# a draft, to finish and publish at /admin/publishing:",
    "ponte hub publish --data-dir /var/lib/ponte/hub --draft \\\n"
    '  --kind newsletter --title "Newsletter, June" --body-file june.md --topic programmes',
    "# scheduled (then `ponte hub publish-due` from a timer sends it on time):",
    "ponte hub publish --data-dir /var/lib/ponte/hub --at 2030-06-30T09:00:00+02:00 \\\n"
    '  --kind news --title "Call for partners" --body-file call.md --topic programmes',
)
@hub.command()
@data_dir_option
@click.option("--title", required=True, help="The item's title (one line, up to 300 characters).")
@click.option(
    "--body-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The item's text: a UTF-8 Markdown file.",
)
@click.option("--kind", required=True, help="newsletter, news, event, call_for_partners, "
              "policy_update or resource.")  # fmt: skip
@click.option(
    "--topic", "topics", multiple=True, required=True, help="A topic code; repeat for more."
)
@click.option(
    "--country", "countries", multiple=True, help="An ISO country code (RO); repeat for more."
)
@click.option("--language", default="en", show_default=True, help="ISO 639-1 language code.")
@click.option("--members-only", is_flag=True, help="Only for member nodes (sent encrypted).")
@click.option("--draft", is_flag=True, help="Save it as a draft; publish it later.")
@click.option("--at", "at_text", help="Publish it at this time (ISO 8601 with its zone).")
@click.option("--url", help="A web address (for a resource: where it is).")
@click.option("--event-starts", help="For an event: when it starts (ISO 8601 with its zone).")
@click.option("--event-ends", help="For an event: when it ends (ISO 8601 with its zone).")
@click.option("--event-place", help="For an event: where.")
@click.option("--event-online-url", help="For an event: where to join online.")
@click.option(
    "--file",
    "file_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="For a resource: a file of at most 3 MiB.",
)
@click.option("--as", "as_email", help="Who publishes, for the history (default cli:<user>).")
def publish(
    data_dir: Path,
    title: str,
    body_file: Path,
    kind: str,
    topics: tuple[str, ...],
    countries: tuple[str, ...],
    language: str,
    members_only: bool,
    draft: bool,
    at_text: str | None,
    url: str | None,
    event_starts: str | None,
    event_ends: str | None,
    event_place: str | None,
    event_online_url: str | None,
    file_path: Path | None,
    as_email: str | None,
) -> None:
    """Write an item and publish it now, save it as a draft (--draft) or schedule it (--at).

    Publishing now signs the item with the hub key: set PONTE_HUB_PASSPHRASE. Topics:
    newest-developments, victims-characteristics, sectors-and-forms, flows-and-routes,
    programmes, eu-legislation, events, international-tools, protection-and-assistance,
    access-to-justice, identification, transnational-assistance. The last line printed is
    the item's id and its state.
    """
    from hub.extensions import db
    from hub.publishing import (
        ItemDraft,
        PublishingError,
        check_draft,
        check_publish_at,
        create_item,
        event_fields,
        publish_item,
        schedule_item,
    )

    if draft and at_text:
        raise click.UsageError("Choose --draft or --at, not both. Nothing was stored.")
    item_draft = ItemDraft(
        kind=kind,
        title=title,
        body_markdown=_read_body(body_file),
        language=language,
        topics=list(topics),
        countries=list(countries),
        audience="members" if members_only else "public",
        url=url,
        event=event_fields(
            _moment(event_starts, "--event-starts"),
            _moment(event_ends, "--event-ends"),
            event_place,
            event_online_url,
        ),
        file=_read_file(file_path),
    )
    at, actor = _moment(at_text, "--at"), _actor(as_email)
    with hub_context(data_dir):
        try:
            check_draft(item_draft)
            at = check_publish_at(at) if at is not None else None
            # The key before anything is stored: a locked hub must not leave a stray draft.
            identity = None if draft or at else _unlocked_hub_identity(SIGNING_NEEDS_KEY)
            item = create_item(db.session, item_draft, actor)
            if at is not None:
                schedule_item(db.session, item, at, actor)
            elif identity is not None:
                publish_item(db.session, item, actor, identity)
        except PublishingError as error:
            raise _refused(error) from error
        item_id, state = item.id, item.state
    if at is not None:
        click.echo(f"Scheduled for {at:%Y-%m-%d %H:%M} UTC.")
    click.echo(f"{item_id} {state}")


@examples(
    "# every 5 minutes, from a timer (deploy/systemd) or cron (*/5 * * * *):",
    "PONTE_HUB_PASSPHRASE=... ponte hub publish-due --data-dir /var/lib/ponte/hub",
)
@hub.command("publish-due")
@data_dir_option
def publish_due(data_dir: Path) -> None:
    """Publish the scheduled items whose time has come; prints how many.

    The hub also does this whenever the news, the feeds, the API or the relay are used; run
    this from a timer so that items also go out on time when nobody is reading. Needs
    PONTE_HUB_PASSPHRASE (publishing signs with the hub key); deploy/systemd has a timer.
    """
    from hub.extensions import db
    from hub.publishing import release_due

    with hub_context(data_dir):
        released = release_due(db.session, _unlocked_hub_identity(SIGNING_NEEDS_KEY))
    click.echo(f"Published {released} scheduled item{'' if released == 1 else 's'}.")


@examples(
    "PONTE_HUB_PASSPHRASE=... ponte hub retract --data-dir /var/lib/ponte/hub \\\n"
    '  2f0c...-uuid --reason "The date of the event was wrong; see the new item."'
)
@hub.command()
@data_dir_option
@click.argument("item_id")
@click.option("--reason", required=True, help="Why (readers and member nodes see it).")
@click.option("--as", "as_email", help="Who retracts, for the history (default cli:<user>).")
def retract(data_dir: Path, item_id: str, reason: str, as_email: str | None) -> None:
    """Retract a published item: it leaves the feeds and nodes receive a signed retraction.

    This cannot be undone. Needs PONTE_HUB_PASSPHRASE (the retraction is signed). ITEM_ID
    is the id `ponte hub publish` printed last.
    """
    from hub.extensions import db
    from hub.models import PublicationItem
    from hub.publishing import PublishingError, retract_item

    with hub_context(data_dir):
        item = db.session.get(PublicationItem, item_id)
        if item is None:
            raise BadInput(
                "No item has this id. Nothing was changed. It is the id `ponte hub publish` "
                "printed; /admin/publishing lists the items."
            )
        identity = _unlocked_hub_identity("a retraction is signed with the hub key")
        try:
            retract_item(db.session, item, reason, _actor(as_email), identity)
        except PublishingError as error:
            raise click.UsageError(f"{error.message} Nothing was changed.") from error
        title = item.title
    click.echo(f"Retracted “{title}”.")
    click.echo(f"{item_id} retracted")
