"""``ponte node audit ...``, ``ponte node cases export|erase`` and ``ponte node purge``: the
audit log, a person's data request, and retention (node.audit, node.retention).

None of them needs the passphrase: what they read and erase is in the node's database.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ponte.options import BadInput, data_dir_option, examples, existing_data_dir

NODE_DIR = "/var/lib/ponte/node"  # the data dir in the examples


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "cli"


by_option = click.option(
    "--by",
    "actor",
    help="Who is doing this, for the audit log (default: cli:<your user name>).",
)
case_option = click.option(
    "--case",
    "reference",
    required=True,
    help="The case: its referral id, or the person's case code (e.g. RO-2026-0142).",
)


@contextmanager
def _node_database(data_dir: Path) -> Iterator[Any]:
    """The node's database session; these commands need no keys and no enrolment (an
    enrolment that was lost does not make the audit log or the cases go away)."""
    from node import create_app
    from node.extensions import db

    existing_data_dir(data_dir, "node", f"ponte node init --data-dir {data_dir} ...")
    with create_app(data_dir).app_context():
        yield db.session


# -- the audit log --------------------------------------------------------------------------


@examples(
    f"ponte node audit verify --data-dir {NODE_DIR}",
    f"ponte node audit show --data-dir {NODE_DIR} --limit 20",
)
@click.group("audit")
def audit_group() -> None:
    """The node's audit log: who viewed, sent, changed, exported or erased which case.

    Each entry is chained to the one before by a SHA-256 hash, so that an edited, deleted,
    inserted or reordered entry is found by `ponte node audit verify`.
    """


@examples(f"ponte node audit verify --data-dir {NODE_DIR}")
@audit_group.command("verify")
@data_dir_option
def verify_command(data_dir: Path) -> None:
    """Check the audit log's hash chain from its first entry to its last.

    Prints the number of entries and the last entry's hash: note it somewhere else, and if a
    later check shows another hash for that entry, the log was rewritten. Exit 1 names the
    first entry that was edited, deleted, inserted or moved.
    """
    from node.audit import verify

    with _node_database(data_dir) as session:
        report = verify(session)
    if not report.intact:
        raise click.ClickException(
            f"The audit log is broken: {report.problem}. The {report.entries} entries before "
            "it are intact. Compare the database with a backup to see what was changed."
        )
    click.echo(f"{report.entries} entries, chain intact.")
    if report.entries:
        click.echo(f"Last entry: {report.head_seq}, hash {report.head_hash}")


@examples(
    f"ponte node audit show --data-dir {NODE_DIR}",
    f"ponte node audit show --data-dir {NODE_DIR} --case REFERRAL_ID --json",
)
@audit_group.command("show")
@data_dir_option
@click.option("--case", "case_id", help="Only the entries about this case (its referral id).")
@click.option(
    "--limit",
    type=click.IntRange(1, 100000),
    default=50,
    show_default=True,
    help="How many of the newest entries.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def show_command(data_dir: Path, case_id: str | None, limit: int, as_json: bool) -> None:
    """Show the newest audit entries, newest first.

    Each line: the entry's number, its time (UTC), who, what, which case and a short detail.
    """
    from node.audit import entry_json, latest

    with _node_database(data_dir) as session:
        rows = [entry_json(entry) for entry in latest(session, limit, case_id)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No audit entries.")
    for row in rows:
        click.echo(
            f"{row['seq']:>6}  {row['at'][:19]}Z  {row['actor']}  {row['action']}  "
            f"{row['case'] or '-'}  {row['detail']}"
        )


# -- a person's data request ------------------------------------------------------------------


@examples(
    f"ponte node cases export --data-dir {NODE_DIR} --case RO-2026-0142 --output case.zip",
    f"ponte node cases erase --data-dir {NODE_DIR} --case REFERRAL_ID",
)
@click.group("cases")
def cases_group() -> None:
    """A person's data request: export everything about their case, or erase it.

    --case takes a referral id or the person's case code; copies of one request offered to
    several partners count as one case.
    """


@examples(
    f"ponte node cases export --data-dir {NODE_DIR} --case RO-2026-0142 --output case.zip",
    "# by referral id, naming who answers the request in the audit log:",
    f"ponte node cases export --data-dir {NODE_DIR} --case REFERRAL_ID \\\n"
    '  --output case.zip --by "lea@ngo.example"',
)
@cases_group.command("export")
@data_dir_option
@case_option
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip file to write (not overwritten; readable by you only).",
)
@by_option
def export_command(data_dir: Path, reference: str, output: Path, actor: str | None) -> None:
    """Export everything the node holds about a case into one zip, for the person's request.

    The zip holds case.json (the referral, its history, the list of its files and the audit
    entries about it) and the files themselves, decrypted. The export is recorded in the
    audit log. Hand it over the way your organisation hands over personal data.
    """
    from node.retention import export_cases

    if output.exists():
        raise BadInput(f"{output} already exists: give another --output, or move it first.")
    if not output.parent.is_dir():
        raise BadInput(f"No directory {output.parent} for --output: create it first.")
    with _node_database(data_dir) as session:
        cases = _cases(session, reference, erased_too=True)
        export = export_cases(session, cases, output, actor or cli_actor())
    click.echo(
        f"Exported {len(cases)} {_copies(len(cases))} with {len(export.files)} files to {output}."
    )


@examples(
    f"ponte node cases erase --data-dir {NODE_DIR} --case REFERRAL_ID",
    f"ponte node cases erase --data-dir {NODE_DIR} --case RO-2026-0142 --yes",
)
@cases_group.command("erase")
@data_dir_option
@case_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@by_option
def erase_command(data_dir: Path, reference: str, yes: bool, actor: str | None) -> None:
    """Erase a case's personal data on the person's request. This cannot be undone.

    Removes the referral's content, the messages and reasons of its history, its files and
    any sealed copy still waiting to be sent. Keeps a tombstone for statistics: status, dates,
    partner organisation, request type, urgency and the person's nationality. The partner
    organisation keeps its own copy: ask it to erase it too. Export first if the person also
    asked for their data.
    """
    from node.retention import erase_cases

    with _node_database(data_dir) as session:
        cases = _cases(session, reference)
        for case in cases:
            click.echo(
                f"  {case.id}  {case.role:9}  {case.status:11}  {case.partner_organisation_id}"
            )
        if not yes:
            click.confirm(
                f"Erase the personal data of {'this case' if len(cases) == 1 else 'these copies'}?"
                " This cannot be undone.",
                abort=True,
            )
        erased = erase_cases(session, cases, actor or cli_actor())
    files = sum(item.files for item in erased)
    click.echo(f"Erased {len(erased)} {_copies(len(erased))} ({files} files); tombstones kept.")


def _cases(session: Any, reference: str, *, erased_too: bool = False) -> list[Any]:
    """The case's copies; an erased one only with ``erased_too`` (an export shows what is
    left of it: its tombstone and its audit entries)."""
    from node.retention import CaseNotFound, find_cases

    try:
        cases = find_cases(session, reference)
    except CaseNotFound as error:
        raise BadInput(
            f"{str(error)[:1].upper()}{str(error)[1:]} on this node: `ponte node referrals` "
            "lists the ids."
        ) from error
    erased = [case.id for case in cases if case.erased_at is not None]
    if erased and not erased_too:
        raise BadInput(f"Case {', '.join(erased)} was already erased: nothing is left to do.")
    return cases


def _copies(count: int) -> str:
    return "case" if count == 1 else "copies of the case"


# -- retention ------------------------------------------------------------------------------


@examples(
    f"ponte node purge --data-dir {NODE_DIR} --dry-run",
    f"PONTE_RETENTION_DAYS=30 ponte node purge --data-dir {NODE_DIR}",
)
@click.command("purge")
@data_dir_option
@click.option("--dry-run", is_flag=True, help="Only list the cases that would be erased.")
def purge_command(data_dir: Path, dry_run: bool) -> None:
    """Erase the personal data of cases closed longer ago than PONTE_RETENTION_DAYS (90).

    Closed: declined, completed, withdrawn or expired. Each keeps a tombstone for statistics,
    as `ponte node cases erase` leaves it; each erasure is in the audit log (by "retention").
    The running sync does this once a day by itself.
    """
    from flask import current_app

    from node.retention import purge, retention_days

    with _node_database(data_dir) as session:
        days = retention_days(current_app.config)
        report = purge(session, days, dry_run=dry_run)
    for case_id in report.cases:
        click.echo(case_id)
    verb = "Would erase" if dry_run else "Erased"
    click.echo(
        f"{verb} the personal data of {len(report.cases)} cases closed before "
        f"{report.cutoff:%Y-%m-%d %H:%M} UTC ({days} days)."
    )


COMMANDS = (audit_group, cases_group, purge_command)
