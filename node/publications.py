"""The secretariat's items on this node: every signed revision is verified with the hub key
pinned at enrolment before anything of it is stored (protocol/SPEC.md 4.6 and 7.3).

Members-only items arrive as ``newsletter`` envelopes through the relay (``node.inbound``
hands their document here); public items are pulled from the hub's list of signed public
revisions on every sync pass. Whichever way a revision comes, only a newer one replaces the
stored one, and a retraction withdraws the item's text. A document that does not verify is
never stored: a ``PublicationProblem`` row (no body) tells the node admins about it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from node.keys import NodeKeys
from node.models import NewsFeedState, NewsItem, NewsRead, PublicationProblem, utcnow
from node.stored_text import english
from ponte.msgids import N_
from protocol import ProtocolError, b64url_decode
from protocol.publication import ITEM_ID, verify_publication

log = logging.getLogger(__name__)

FEED_PAGE = 100  # the most the hub's list gives at once
SOURCES = ("relay", "feed")
AUDIENCE_OF_SOURCE = {"relay": "members", "feed": "public"}
_ITEM_ID = re.compile(ITEM_ID)

# Why an item was refused: stored in English (logs, command line) and shown to the node admins
# in their language (node.stored_text). The technical detail in a field stays as it came.
DOES_NOT_VERIFY = N_("it does not verify: %(error)s")
CAME_THE_WRONG_WAY = {
    "relay": N_("a public item came by the relay, which carries members-only items"),
    "feed": N_("a members-only item came by the hub's public list, which carries public items"),
}
DATE_CANNOT_BE_SHOWN = N_("its date %(timestamp)s cannot be shown")
MALFORMED_ENTRY = N_("the hub's list holds a malformed entry: %(entry)s")
NOT_AN_ITEM = N_("the hub's envelope does not hold a valid item: %(error)s")
PROBLEMS = (
    DOES_NOT_VERIFY,
    *CAME_THE_WRONG_WAY.values(),
    DATE_CANNOT_BE_SHOWN,
    MALFORMED_ENTRY,
    NOT_AN_ITEM,
)


class PublicationRejected(Exception):
    """A document that is not a verified item for this node; nothing of it was stored."""

    def __init__(self, error: str, item_id: str | None = None) -> None:
        super().__init__(error)
        self.item_id = item_id


class FileRefused(Exception):
    """The item's file could not be served: missing, or not the file the hub signed (the
    message is in the page's language)."""


# -- receiving ------------------------------------------------------------------------------


def apply_publication(
    session: Session, keys: NodeKeys, document: object, source: str = "relay"
) -> NewsItem | None:
    """Verify ``document`` with the pinned hub key and store it if it is the newest revision
    of its item (no commit). None when an equal or newer revision is already here.

    ``source`` says how it came: ``relay`` carries members-only items only, ``feed`` public
    ones only (SPEC.md 7.3), so an item that came the other way is refused.
    """
    item_id = readable_item_id(document)
    try:
        publication = verify_publication(keys.enrolment.hub_record, document)
    except ProtocolError as error:
        raise PublicationRejected(english(DOES_NOT_VERIFY, error=error), item_id) from error
    statement = publication.statement
    if statement["audience"] != AUDIENCE_OF_SOURCE[source]:
        raise PublicationRejected(CAME_THE_WRONG_WAY[source], item_id)
    stored = session.get(NewsItem, publication.item_id)
    if stored is not None and stored.revision >= publication.revision:
        return None  # a duplicate, or an older revision overtaken by a newer one
    if stored is None:
        stored = NewsItem(item_id=publication.item_id, received_at=utcnow())
        session.add(stored)
    _keep(stored, statement, document, source)
    return stored


def readable_item_id(document: object) -> str | None:
    """The item id a (perhaps forged) document claims, if it is one; for problem reports."""
    statement = document.get("statement") if isinstance(document, dict) else None
    item_id = statement.get("item_id") if isinstance(statement, dict) else None
    return item_id if isinstance(item_id, str) and _ITEM_ID.fullmatch(item_id) else None


def _keep(item: NewsItem, statement: dict[str, Any], document: Any, source: str) -> None:
    retracted = statement["status"] == "retracted"
    item.revision, item.status = statement["revision"], statement["status"]
    item.audience, item.kind = statement["audience"], statement["item_kind"]
    item.title, item.language = statement["title"], statement["language"]
    item.body_markdown = "" if retracted else statement["body_markdown"]
    item.topics = list(statement.get("topics", []))
    item.countries = list(statement.get("countries", []))
    item.topic_tags, item.country_tags = _tags(item.topics), _tags(item.countries)
    item.reason = statement.get("reason")
    item.published = _moment(statement["published"], item.item_id)
    item.updated = _moment(statement["updated"], item.item_id)
    item.document, item.source, item.verified_at = document, source, utcnow()


def _tags(values: list[str]) -> str:
    return "," + "".join(f"{value}," for value in values)


def _moment(timestamp: int, item_id: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC)
    except (OverflowError, ValueError, OSError) as error:  # signed, but past year 9999
        raise PublicationRejected(
            english(DATE_CANNOT_BE_SHOWN, timestamp=timestamp), item_id
        ) from error


def record_problem(session: Session, source: str, error: str, item_id: str | None = None) -> None:
    """Note an item that failed verification, for the node admins (no commit)."""
    log.warning("item %s from the %s failed verification: %s", item_id or "?", source, error)
    session.add(PublicationProblem(source=source, item_id=item_id, error=error[:2000]))


def pull_public_items(session: Session, keys: NodeKeys) -> int:
    """Read the hub's list of signed public revisions from where this node stopped; each is
    verified and kept in its own transaction. Returns how many items were new or changed."""
    state = _feed_state(session)
    changed = 0
    while True:
        page = keys.hub.publications(state.public_after, FEED_PAGE)
        entries = page.get("publications", []) if isinstance(page, dict) else []
        for entry in entries:
            seq = entry.get("seq") if isinstance(entry, dict) else None
            if not isinstance(seq, int) or seq <= state.public_after:
                record_problem(session, "feed", english(MALFORMED_ENTRY, entry=repr(seq)))
                session.commit()
                return changed  # a broken list: try again on the next pass
            changed += _apply_entry(session, keys, entry)
            state.public_after = seq
            session.commit()
        if len(entries) < FEED_PAGE:
            return changed


def _apply_entry(session: Session, keys: NodeKeys, entry: dict[str, Any]) -> int:
    try:
        return int(apply_publication(session, keys, entry.get("document"), "feed") is not None)
    except PublicationRejected as rejected:
        session.rollback()
        record_problem(session, "feed", str(rejected), rejected.item_id)
        return 0


def _feed_state(session: Session) -> NewsFeedState:
    state = session.get(NewsFeedState, 1)
    if state is None:
        state = NewsFeedState(id=1, public_after=0)
        session.add(state)
        session.commit()
    return state


# -- reading ----------------------------------------------------------------------------------


def item_query(
    *,
    kind: str = "",
    topic: str = "",
    country: str = "",
    text: str = "",
    unread_for: int | None = None,
) -> Select[tuple[NewsItem]]:
    """Items the reader shows (retracted ones never), newest first, filtered; ``text`` is
    searched in title and body, case-insensitively (ILIKE: SQLite and PostgreSQL alike)."""
    query = select(NewsItem).where(NewsItem.status == "published")
    if kind:
        query = query.where(NewsItem.kind == kind)
    if topic:
        query = query.where(NewsItem.topic_tags.contains(f",{topic},", autoescape=True))
    if country:
        query = query.where(NewsItem.country_tags.contains(f",{country},", autoescape=True))
    if text:
        pattern = "%" + _escape_like(text) + "%"
        query = query.where(
            or_(
                NewsItem.title.ilike(pattern, escape="\\"),
                NewsItem.body_markdown.ilike(pattern, escape="\\"),
            )
        )
    if unread_for is not None:
        read = exists().where(NewsRead.user_id == unread_for, NewsRead.item_id == NewsItem.item_id)
        query = query.where(~read)
    return query.order_by(NewsItem.published.desc(), NewsItem.item_id)


def _escape_like(text: str) -> str:
    """A search for "50%" finds "50%", not everything starting with 50."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def read_ids(session: Session, user_id: int, item_ids: list[str]) -> set[str]:
    query = select(NewsRead.item_id).where(
        NewsRead.user_id == user_id, NewsRead.item_id.in_(item_ids)
    )
    return set(session.scalars(query))


def mark_read(session: Session, user_id: int, item_ids: list[str]) -> None:
    """Remember that the person opened these items (commits)."""
    for item_id in set(item_ids) - read_ids(session, user_id, item_ids):
        session.add(NewsRead(user_id=user_id, item_id=item_id))
    session.commit()


def mark_unread(session: Session, user_id: int, item_id: str) -> None:
    read = session.get(NewsRead, (user_id, item_id))
    if read is not None:
        session.delete(read)
    session.commit()


# -- resource files -------------------------------------------------------------------------


def fetch_file(keys: NodeKeys, item: NewsItem) -> bytes:
    """The item's file from the hub, only if its length and SHA-256 are those the hub signed
    (a members-only file is fetched with a ``feeds:read`` token)."""
    reference = item.statement.get("file")
    if reference is None or item.status != "published":
        raise FileRefused(_("This item has no file."))
    identity = keys.identities[-1] if item.audience == "members" else None
    data = keys.hub.publication_file(identity, item.item_id, reference["size"])
    expected = b64url_decode(reference["sha256"], length=32)
    if len(data) != reference["size"] or hashlib.sha256(data).digest() != expected:
        log.warning("the hub's file for item %s does not match its signature", item.item_id)
        raise FileRefused(
            _(
                "The file the hub sent is not the file the secretariat signed (its size or "
                "SHA-256 differs), so this node refuses to hand it out."
            )
        )
    return data
