"""Files attached to a case: encrypted per partner, uploaded to the relay before the envelope
that references them, fetched, checked and stored by the recipient when it applies it.

The reference (id, name, media type, size, key, SHA-256) rides inside the sealed payload; the
hub only holds the padded, encrypted blob until the recipient has stored the file.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.hub_client import HubError
from node.keys import NodeKeys
from node.models import CaseAttachment, OutboxBlob, OutboxItem, PendingBlobDrop, Referral
from node.stored_text import english
from ponte.msgids import N_
from protocol import AttachmentError, decrypt_attachment, encrypt_attachment

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_FILES = 5
MEDIA_TYPE = re.compile(r"[a-z]+/[A-Za-z0-9.+-]+")
NAME_LENGTH = 200
# Why a received file is unavailable: stored in English, shown translated (node.stored_text).
NOT_ON_HUB = N_("The hub does not hold this file (%(code)s).")
FAILED_CHECK = N_("The file did not pass its integrity check: %(error)s")
FILE_PROBLEMS = (NOT_ON_HUB, FAILED_CHECK)


class AttachmentRefused(Exception):
    """A file cannot be attached (too large, too many); the message says why, in the page's
    language."""


@dataclass(frozen=True)
class NewFile:
    name: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class AttachmentLimits:
    max_files: int = MAX_FILES
    max_file_bytes: int = MAX_FILE_BYTES

    @property
    def max_total_bytes(self) -> int:
        return self.max_files * self.max_file_bytes


def new_files(
    files: list[tuple[str, str, bytes]], limits: AttachmentLimits | None = None
) -> list[NewFile]:
    """Check ``(name, media_type, data)`` triples against the limits; tidy names and types."""
    limits = limits or AttachmentLimits()
    if len(files) > limits.max_files:
        raise AttachmentRefused(
            ngettext(
                "At most %(num)d file can be attached to a referral.",
                "At most %(num)d files can be attached to a referral.",
                limits.max_files,
            )
        )
    checked = []
    for name, media_type, data in files:
        shown = PurePath(name.replace("\\", "/")).name.strip()[:NAME_LENGTH] or "attachment"
        if len(data) > limits.max_file_bytes:
            megabytes = limits.max_file_bytes // (1024 * 1024)
            raise AttachmentRefused(
                _(
                    "%(file)s is larger than %(megabytes)s MiB; nothing was sent.",
                    file=shown,
                    megabytes=megabytes,
                )
            )
        media_type = media_type.split(";")[0].strip().lower()
        if not MEDIA_TYPE.fullmatch(media_type) or len(media_type) > 100:
            media_type = "application/octet-stream"
        checked.append(NewFile(shown, media_type, data))
    return checked


def queue_blobs(
    session: Session, files: list[NewFile], recipient: str
) -> list[tuple[dict[str, Any], bytes]]:
    """Encrypt each file for one partner and queue its blob (linked to its envelope by
    :func:`link_blobs`); return ``(reference, file)`` pairs for :func:`keep_files`."""
    queued = []
    for file in files:
        reference, blob = encrypt_attachment(file.data, file.name, file.media_type)
        session.add(
            OutboxBlob(
                id=reference["id"],
                envelope_id="",
                recipient=recipient,
                data=blob,
                expires=0,
                state="queued",
            )
        )
        queued.append((reference, file.data))
    return queued


def keep_files(session: Session, case: Referral, queued: list[tuple[dict, bytes]]) -> None:
    """Our own copy of the files sent with the case (after the case row is flushed)."""
    for reference, data in queued:
        session.add(_attachment(case.id, reference, data))


def link_blobs(session: Session, references: list[dict[str, Any]], envelope: OutboxItem) -> None:
    """The envelope that references these blobs is only posted after they are; they are kept
    on the hub as long as it is."""
    for reference in references:
        blob = session.get(OutboxBlob, reference["id"])
        if blob is not None:
            blob.envelope_id = envelope.id
            blob.expires = int(_aware(envelope.expires).timestamp())


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _attachment(
    referral_id: str, reference: dict[str, Any], data: bytes | None, problem: str | None = None
) -> CaseAttachment:
    return CaseAttachment(
        referral_id=referral_id,
        attachment_id=reference["id"],
        name=reference["name"],
        media_type=reference["media_type"],
        size=reference["size"],
        data=data,
        problem=problem,
    )


# -- sending ----------------------------------------------------------------------------


def blobs_of(session: Session, envelope_id: str) -> list[OutboxBlob]:
    query = select(OutboxBlob).where(
        OutboxBlob.envelope_id == envelope_id, OutboxBlob.state == "queued"
    )
    return list(session.scalars(query))


def post_blobs(session: Session, keys: NodeKeys, envelope_id: str) -> None:
    """Upload the envelope's queued blobs, committing each; raises HubError on a refusal."""
    for blob in blobs_of(session, envelope_id):
        keys.hub.post_blob(keys.identities[-1], blob.recipient, blob.id, blob.expires, blob.data)
        blob.state, blob.data = "sent", None
        session.commit()


# -- receiving --------------------------------------------------------------------------


def receive_attachments(
    session: Session, keys: NodeKeys, case: Referral, sender: str, references: list[dict]
) -> None:
    """Fetch, check and store each referenced file (no commit). A missing or bad blob leaves
    the attachment marked unavailable; only an unreachable hub stops (the message is retried)."""
    for reference in references:
        data, problem = _fetch(keys, sender, reference)
        session.add(_attachment(case.id, reference, data, problem))
        session.add(PendingBlobDrop(sender=sender, blob_id=reference["id"]))


def _fetch(keys: NodeKeys, sender: str, reference: dict) -> tuple[bytes | None, str | None]:
    try:
        blob = keys.hub.get_blob(keys.identities[-1], sender, reference["id"])
        return decrypt_attachment(reference, blob), None
    except HubError as error:
        if error.status == 0:
            raise
        log.warning("attachment %s from %s not fetched: %s", reference["id"], sender, error)
        return None, english(NOT_ON_HUB, code=error.code)
    except AttachmentError as error:
        log.warning("attachment %s from %s is bad: %s", reference["id"], sender, error)
        return None, english(FAILED_CHECK, error=error)


def send_pending_drops(session: Session, keys: NodeKeys) -> None:
    """Tell the hub to drop the blobs stored here (retried on the next pass if it fails)."""
    for drop in list(session.scalars(select(PendingBlobDrop))):
        try:
            keys.hub.drop_blob(keys.identities[-1], drop.sender, drop.blob_id)
        except HubError as error:
            if error.status == 0:
                raise
        session.execute(
            delete(PendingBlobDrop).where(
                PendingBlobDrop.sender == drop.sender, PendingBlobDrop.blob_id == drop.blob_id
            )
        )
        session.commit()


def case_attachments(session: Session, referral_id: str) -> list[CaseAttachment]:
    query = (
        select(CaseAttachment)
        .where(CaseAttachment.referral_id == referral_id)
        .order_by(CaseAttachment.id)
    )
    return list(session.scalars(query))
