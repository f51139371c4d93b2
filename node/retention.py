"""Retention and erasure of cases' personal data, and a case's export for a data request.

- :func:`export_cases` writes everything this node holds about a case (its referral, history,
  files and audit entries) into one zip the person can be given.
- :func:`erase_case` removes a case's personal data (on request, or by retention) and leaves a
  tombstone for statistics: status, role, partner organisation, dates, and from the referral
  only its type, urgency and the person's nationality.
- :func:`purge` erases the cases closed (node.lifecycle.CLOSED) longer ago than the retention
  period (``RETENTION_DAYS``, default 90); :func:`purge_if_due` runs it at most once a day
  from the sync loop, ``ponte node purge`` on demand.

Every erasure and export is written to the audit log (node.audit). Clocks are injectable
(``now``) so that tests can move time. What an erasure cannot reach is in
docs/audit-and-retention.md: the partner's own copy, and backups.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from node import audit
from node.models import (
    CaseAttachment,
    HeldMessage,
    OutboxBlob,
    OutboxItem,
    Referral,
    SyncState,
    utcnow,
)
from node.referrals import case_events, event_json, offer_siblings, referral_summary

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90
RUN_EVERY = dt.timedelta(days=1)
ERASED_AUTHOR = "(erased)"
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
README = """This archive holds everything one Ponte node keeps about a case, as of {at}.

case.json   the referral as it was sent or received, its history (status changes and
            messages), the list of its files, and the node's audit log entries for it
            (who viewed, sent, changed or exported it, and when)
files/      the case's files, decrypted, as the node stores them

The partner organisation the case was referred to (or from) keeps its own copy.
"""


class CaseNotFound(Exception):
    """No case matches; the message says what was looked for."""


# -- finding a case ---------------------------------------------------------------------------


def find_cases(session: Session, reference: str) -> list[Referral]:
    """The case with this id, or the cases whose person has this case code, each with the
    other copies of its offer (one request offered to several partners is one person's case).

    Raises :class:`CaseNotFound`."""
    reference = reference.strip()
    case = session.get(Referral, reference)
    found = [case] if case is not None else _with_case_code(session, reference)
    if not found:
        raise CaseNotFound(f"no case has the id or case code {reference!r}")
    cases: dict[str, Referral] = {}
    for match in found:
        for copy in (match, *offer_siblings(session, match)):
            cases[copy.id] = copy
    return sorted(cases.values(), key=lambda case: (_utc(case.created), case.id))


def _with_case_code(session: Session, code: str) -> list[Referral]:
    # A case code lives inside the referral (JSON): compared here, the same on every database.
    query = select(Referral).where(Referral.erased_at.is_(None))
    return [
        case
        for case in session.scalars(query)
        if code and case.payload.get("person", {}).get("case_code") == code
    ]


# -- export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    document: dict[str, Any]  # case.json
    files: dict[str, bytes]  # archive name → bytes


def case_export(session: Session, cases: list[Referral], now: dt.datetime) -> Export:
    """What the node holds about these cases, as case.json and the files beside it."""

    files: dict[str, bytes] = {}
    exported = []
    for case in cases:
        listed = []
        for attachment in _attachments(session, case.id):
            entry = _attachment_json(attachment)
            if attachment.data is not None:
                entry["file"] = _archive_name(case.id, attachment)
                files[entry["file"]] = attachment.data
            listed.append(entry)
        exported.append(
            {
                **referral_summary(case),
                "closed_at": _iso(case.closed_at),
                "erased_at": _iso(case.erased_at),
                "referral": case.payload,
                "events": [event_json(event) for event in case_events(session, case.id)],
                "attachments": listed,
            }
        )
    entries = audit.entries_of(session, [case.id for case in cases])
    document = {
        "exported_at": audit.moment(now),
        "cases": exported,
        "audit": [audit.entry_json(entry) for entry in entries],
    }
    return Export(document, files)


def export_cases(
    session: Session,
    cases: list[Referral],
    output: Path,
    actor: str,
    *,
    now: dt.datetime | None = None,
) -> Export:
    """Write the cases' export to ``output`` (a zip, readable by its owner only), then record
    the export in the audit log and commit."""
    now = now or utcnow()
    export = case_export(session, cases, now)
    _write_zip(output, export, now)
    detail = f"to a file: {len(cases)} copies of the case, {len(export.files)} files"
    for case in cases:
        audit.record(session, audit.EXPORTED, actor, case.id, detail, at=now)
    session.commit()
    return export


def _write_zip(output: Path, export: Export, now: dt.datetime) -> None:
    partial = output.with_name(f".{output.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            archive.writestr("README.txt", README.format(at=audit.moment(now)))
            document = json.dumps(export.document, indent=2, ensure_ascii=False)
            archive.writestr("case.json", document + "\n")
            for name, data in export.files.items():
                archive.writestr(name, data)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def _attachments(session: Session, referral_id: str) -> list[CaseAttachment]:
    query = select(CaseAttachment).where(CaseAttachment.referral_id == referral_id)
    return list(session.scalars(query.order_by(CaseAttachment.id)))


def _attachment_json(attachment: CaseAttachment) -> dict[str, Any]:
    return {
        "attachment_id": attachment.attachment_id,
        "name": attachment.name,
        "media_type": attachment.media_type,
        "size": attachment.size,
        "available": attachment.available,
        "problem": attachment.problem,
    }


def _archive_name(referral_id: str, attachment: CaseAttachment) -> str:
    name = SAFE_NAME.sub("_", attachment.name).strip("._") or "file"
    return f"files/{referral_id}/{attachment.attachment_id}-{name}"


# -- erasure --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    case_id: str
    texts: int  # messages and reasons removed from the history
    files: int
    sealed: int  # sealed copies in the outbox (unsent ones are never sent)


def tombstone(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What statistics keep of a referral: its type, its urgency, the person's nationality."""
    kept: dict[str, Any] = {
        name: payload[name] for name in ("request_type", "urgency") if name in payload
    }
    nationality = payload.get("person", {}).get("nationality")
    if nationality:
        kept["person"] = {"nationality": nationality}
    return kept


def erase_case(
    session: Session,
    case: Referral,
    actor: str,
    *,
    action: str = audit.ERASED,
    now: dt.datetime | None = None,
) -> Erased:
    """Remove the case's personal data and keep its tombstone (no commit here): the referral
    is cut to :func:`tombstone`, messages and reasons leave its history (statuses and dates
    stay), its files, its sealed copies in the outbox and any held message go."""
    now = now or utcnow()
    texts = 0
    for event in case_events(session, case.id):
        texts += (event.message is not None) + (event.reason is not None)
        event.message = event.reason = None
    files = _delete(session, delete(CaseAttachment).where(CaseAttachment.referral_id == case.id))
    sealed = select(OutboxItem.id).where(OutboxItem.referral_id == case.id)
    _delete(session, delete(OutboxBlob).where(OutboxBlob.envelope_id.in_(sealed)))
    outbox = _delete(session, delete(OutboxItem).where(OutboxItem.referral_id == case.id))
    _delete(session, delete(HeldMessage).where(HeldMessage.thread == case.id))
    case.payload = tombstone(case.payload)
    case.author = ERASED_AUTHOR
    case.erased_at = now
    erased = Erased(case.id, texts, files, outbox)
    detail = f"personal data removed: {texts} texts, {files} files, {outbox} sealed messages"
    audit.record(session, action, actor, case.id, detail, at=now)
    return erased


def _delete(session: Session, statement: Any) -> int:
    return session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def erase_cases(session: Session, cases: list[Referral], actor: str) -> list[Erased]:
    """Erase these cases on request, commit, and leave nothing of them in the database files."""
    now = utcnow()
    erased = [erase_case(session, case, actor, now=now) for case in cases]
    session.commit()
    release_storage(session)
    return erased


def release_storage(session: Session) -> None:
    """On SQLite, fold the write-ahead log into the database and empty it: its older pages
    still hold what was just erased (the database file itself zeroes deleted rows, see
    ponte.sqlite). PostgreSQL's own vacuum reclaims dead rows (docs/audit-and-retention.md)."""
    if session.connection().dialect.name != "sqlite":
        return
    session.commit()  # a checkpoint cannot run inside a transaction
    busy, _, _ = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
    session.commit()
    if busy:
        log.warning("the SQLite write-ahead log could not be emptied yet (a reader is busy)")


# -- retention ------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    cutoff: dt.datetime
    cases: list[str] = field(default_factory=list)
    dry_run: bool = False


def retention_days(config: Mapping[str, Any]) -> int:
    """The ``RETENTION_DAYS`` setting (an app's config), else the default 90."""
    return int(config.get("RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def due_for_purge(session: Session, cutoff: dt.datetime) -> list[Referral]:
    """The cases closed at or before ``cutoff`` whose personal data is still here."""
    query = (
        select(Referral)
        .where(Referral.closed_at.is_not(None), Referral.closed_at <= _utc(cutoff))
        .where(Referral.erased_at.is_(None))
        .order_by(Referral.closed_at, Referral.id)
    )
    return list(session.scalars(query))


def purge(
    session: Session, days: int, *, now: dt.datetime | None = None, dry_run: bool = False
) -> PurgeReport:
    """Erase (actor ``retention``) every case closed more than ``days`` days before ``now``;
    with ``dry_run``, only say which. Commits."""
    now = _utc(now or utcnow())
    report = PurgeReport(now - dt.timedelta(days=days), dry_run=dry_run)
    for case in due_for_purge(session, report.cutoff):
        report.cases.append(case.id)
        if not dry_run:
            erase_case(session, case, audit.RETENTION, action=audit.PURGED, now=now)
    if report.cases and not dry_run:
        session.commit()
        release_storage(session)
    return report


def purge_if_due(
    session: Session, config: Mapping[str, Any], *, now: dt.datetime | None = None
) -> PurgeReport | None:
    """Run :func:`purge` if it has not run in the last day (the sync loop calls this every
    pass); None if it was not due. A failure is logged, never raised: syncing goes on."""
    now = _utc(now or utcnow())
    try:
        state = session.get(SyncState, 1)
        last = state.retention_run_at if state is not None else None
        if last is not None and dt.timedelta(0) <= now - _utc(last) < RUN_EVERY:
            return None  # (a last run in the future: the clock was set back; run now)
        report = purge(session, retention_days(config), now=now)
        state = session.get(SyncState, 1) or SyncState(id=1, inbox_after=0, notices_after=0)
        state.retention_run_at = now
        session.add(state)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("the retention purge failed; it is tried again on the next pass")
        return None
    if report.cases:
        log.info("retention: erased the personal data of %d closed cases", len(report.cases))
    return report


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat()
