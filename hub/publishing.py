"""Secretariat publishing: items and their life (draft, scheduled, published, retracted),
a signed revision for every live version, members-only delivery through the relay.

The web editor (hub.publishing_pages), the API (hub.publications_api), the feeds (hub.feeds)
and ``ponte hub publish`` all go through these functions. Public functions commit; the
``_`` helpers leave that to their caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pycountry
from flask_babel import format_number, gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from directory.models import utcnow
from hub.enrolment import audit
from hub.identity import hub_identity
from hub.models import ItemRevision, Node, PublicationItem, SignedPublication
from hub.relay import queue_hub_envelope
from ponte.msgids import N_
from ponte.problems import ProblemError
from ponte.topics import TOPICS
from protocol import Kind, NodeIdentity, PublicKeyRecord, ValidationError, b64url_encode, seal
from protocol.publication import AUDIENCES, ITEM_KINDS, MEDIA_TYPE, check_item, sign_publication

MAX_TITLE = 300
MAX_BODY_CHARS = 200_000  # a long newsletter is ~30,000; a members' envelope must stay < 2 MiB
MAX_FILE_BYTES = 3 * 1024 * 1024  # under the hub's 4 MiB request limit
MAX_TOPICS = 20
MAX_COUNTRIES = 60
MEMBERS_DELIVERY_TTL = 60 * 86400  # a node offline longer misses it (the relay keeps 90 days)
BACKLOG_DAYS = 90  # a newly enrolled node receives the members-only items of this period
log = logging.getLogger(__name__)

URL = re.compile(r"https?://[^\s<>\"]+")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class PublishingError(Exception):
    """A request the publishing rules refuse; ``field`` names the culprit where there is one.

    ``message`` is in English, for the API, the command line and the logs; :meth:`translated`
    is for the desk's pages. The text is an ``N_``-marked msgid with ``%(name)s`` for each of
    ``values``, so that the catalog can translate it."""

    def __init__(self, field: str, message: str, status: int = 400, **values: object) -> None:
        self.field, self.status, self.msgid, self.values = field, status, message, values
        english = {
            name: f"{value:,}" if _counts(value) else value for name, value in values.items()
        }
        self.message = message % english if values else message
        super().__init__(self.message)

    def translated(self) -> str:
        """The message in the page's language, numbers written as it writes them."""
        local = {
            name: format_number(value) if _counts(value) else value
            for name, value in self.values.items()
        }
        return gettext(self.msgid, **local)


def _counts(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class ItemFile:
    name: str
    media_type: str
    data: bytes


@dataclass
class ItemDraft:
    """What an author writes; ``check_draft`` normalises and validates it."""

    kind: str
    title: str
    body_markdown: str
    language: str = "en"
    topics: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    audience: str = "public"
    url: str | None = None
    event: dict[str, Any] | None = None  # starts, ends, place, online_url (times: epoch s)
    file: ItemFile | None = None

    def protocol_item(self) -> dict[str, Any]:
        """The draft as the protocol's ``item`` object (publication.py)."""
        item: dict[str, Any] = {
            "item_kind": self.kind,
            "title": self.title,
            "body_markdown": self.body_markdown,
            "language": self.language,
            "topics": self.topics,
            "countries": self.countries,
        }
        if self.url:
            item["url"] = self.url
        if self.event is not None:
            item["event"] = self.event
        return item


def check_draft(draft: ItemDraft) -> ItemDraft:
    """Raise :class:`PublishingError` naming the field unless the draft can be published."""
    if draft.kind not in ITEM_KINDS:
        raise PublishingError("kind", N_("Choose a kind: %(kinds)s."), kinds=", ".join(ITEM_KINDS))
    draft.title = _plain_line(draft.title, "title", MAX_TITLE)
    draft.body_markdown = (draft.body_markdown or "").replace("\r\n", "\n")
    if not draft.body_markdown.strip():
        raise PublishingError("body_markdown", N_("Write the text of the item."))
    if len(draft.body_markdown) > MAX_BODY_CHARS:
        raise PublishingError(
            "body_markdown",
            N_("The text is too long: at most %(count)s characters."),
            count=MAX_BODY_CHARS,
        )
    if CONTROL.search(draft.body_markdown):
        raise PublishingError("body_markdown", N_("The text holds control characters."))
    draft.language = _language(draft.language)
    draft.topics = _topics(draft.topics)
    draft.countries = _countries(draft.countries)
    if draft.audience not in AUDIENCES:
        raise PublishingError("audience", N_("Choose public or members only."))
    draft.url = _url(draft.url, "url")
    draft.event = _event(draft)
    _file(draft)
    try:
        check_item(draft.protocol_item())
    except ValidationError as error:  # a rule above should have caught it first
        raise PublishingError(error.field.split(".")[-1], str(error)) from error
    return draft


def _plain_line(value: str | None, name: str, limit: int) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise PublishingError(name, N_("This cannot be empty."))
    if len(value) > limit:
        raise PublishingError(name, N_("At most %(count)s characters."), count=limit)
    if CONTROL.search(value):
        raise PublishingError(name, N_("Control characters are not allowed."))
    return value


def _language(code: str | None) -> str:
    code = (code or "").strip().lower()
    if not re.fullmatch(r"[a-z]{2}", code) or pycountry.languages.get(alpha_2=code) is None:
        raise PublishingError("language", N_("Give the language as a two-letter ISO 639-1 code."))
    return code


def _topics(topics: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(topic.strip() for topic in topics if topic.strip()))
    unknown = [topic for topic in chosen if topic not in TOPICS]
    if unknown:
        raise PublishingError("topics", N_("Unknown topic %(topic)s."), topic=repr(unknown[0][:60]))
    if len(chosen) > MAX_TOPICS:
        raise PublishingError("topics", N_("At most %(count)s topics."), count=MAX_TOPICS)
    return chosen


def _countries(countries: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(code.strip().upper() for code in countries if code.strip()))
    for code in chosen:
        if not re.fullmatch(r"[A-Z]{2}", code) or pycountry.countries.get(alpha_2=code) is None:
            raise PublishingError(
                "countries", N_("Unknown country code %(code)s."), code=repr(code[:10])
            )
    if len(chosen) > MAX_COUNTRIES:
        raise PublishingError("countries", N_("At most %(count)s countries."), count=MAX_COUNTRIES)
    return chosen


def _url(value: str | None, name: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 2000 or not URL.fullmatch(value):
        raise PublishingError(name, N_("Give a web address starting with https:// or http://."))
    return value


def _event(draft: ItemDraft) -> dict[str, Any] | None:
    if draft.kind != "event":
        if draft.event:
            raise PublishingError("event", N_("Only an event has a date and place."))
        return None
    event = dict(draft.event or {})
    if not isinstance(event.get("starts"), int):
        raise PublishingError("event_starts", N_("Give the date and time the event starts."))
    checked: dict[str, Any] = {"starts": event["starts"]}
    if event.get("ends") is not None:
        if not isinstance(event["ends"], int) or event["ends"] < event["starts"]:
            raise PublishingError("event_ends", N_("An event cannot end before it starts."))
        checked["ends"] = event["ends"]
    if event.get("place"):
        checked["place"] = _plain_line(event["place"], "event_place", 300)
    online = _url(event.get("online_url"), "event_online_url")
    if online:
        checked["online_url"] = online
    return checked


def _file(draft: ItemDraft) -> None:
    if draft.file is None:
        return
    if draft.kind != "resource":
        raise PublishingError("file", N_("Only a resource carries a file."))
    if len(draft.file.data) > MAX_FILE_BYTES:
        raise PublishingError(
            "file", N_("The file is too large: at most %(count)s bytes."), count=MAX_FILE_BYTES
        )
    draft.file.name = _plain_line(draft.file.name.replace("/", "_"), "file", 200)
    if not re.fullmatch(MEDIA_TYPE, draft.file.media_type or ""):
        draft.file.media_type = "application/octet-stream"


def event_fields(
    starts: dt.datetime | None,
    ends: dt.datetime | None,
    place: str | None,
    online_url: str | None,
) -> dict[str, Any] | None:
    """The event details that were given (aware times); None when none was, which is what
    any other kind sends. The web form and ``ponte hub publish`` build the event with this."""
    event = {
        "starts": _epoch(starts) if starts else None,
        "ends": _epoch(ends) if ends else None,
        "place": (place or "").strip(),
        "online_url": (online_url or "").strip(),
    }
    return {name: value for name, value in event.items() if value not in (None, "")} or None


def check_publish_at(at: dt.datetime | None) -> dt.datetime:
    """The schedule time in UTC; a missing, zone-less or past time is refused (callers
    check it before they store anything)."""
    if at is None:
        raise PublishingError("publish_at", N_("Choose the date and time to publish it (UTC)."))
    if at.tzinfo is None:
        raise PublishingError("publish_at", N_("Give the time with its time zone."))
    at = at.astimezone(dt.UTC)  # SQLite keeps no zone: store every time as UTC
    if at <= _now():
        raise PublishingError("publish_at", N_("Choose a time in the future, or publish now."))
    return at


# -- the life of an item --------------------------------------------------------------------


def create_item(
    session: Session, draft: ItemDraft, actor: str, credit: dict[str, str] | None = None
) -> PublicationItem:
    """A new draft (nothing is published yet)."""
    item = PublicationItem(id=str(uuid.uuid4()), created_by=actor, credit=credit)
    _apply(item, check_draft(draft))
    session.add(item)
    session.flush()
    _remember(session, item, actor, "created")
    session.commit()
    return item


def edit_item(
    session: Session,
    item: PublicationItem,
    draft: ItemDraft,
    actor: str,
    identity_: NodeIdentity | None = None,
) -> PublicationItem:
    """Save a new version; a published item is signed (and delivered) again at once."""
    if item.state == "retracted":
        raise PublishingError("state", N_("A retracted item cannot be edited."), 409)
    # The key first: a locked key must leave a published item exactly as it was signed.
    identity = (identity_ or signing_identity()) if item.state == "published" else None
    draft = check_draft(draft)
    if item.revision and draft.audience != item.audience:
        raise PublishingError(
            "audience",
            N_(
                "The audience cannot change once an item was published: retract it and "
                "publish a new item instead."
            ),
            409,
        )
    _apply(item, draft, keep_file=draft.file is None)
    _remember(session, item, actor, "edited")
    if identity is not None:
        _sign_and_deliver(session, item, identity, _now())
    session.commit()
    return item


def publish_item(
    session: Session, item: PublicationItem, actor: str, identity_: NodeIdentity | None = None
) -> PublicationItem:
    """Publish a draft or scheduled item now: sign it; deliver it if it is members-only."""
    if item.state not in ("draft", "scheduled"):
        raise _already(item)
    identity = identity_ or signing_identity()
    claimed = session.execute(
        update(PublicationItem)
        .where(PublicationItem.id == item.id, PublicationItem.state == item.state)
        .values(state="published")
    )
    if claimed.rowcount != 1:  # another worker published it a moment ago
        session.rollback()
        raise PublishingError("state", N_("This item was published meanwhile."), 409)
    session.refresh(item)
    now = _now()
    item.published_at, item.publish_at = item.published_at or now, None
    _sign_and_deliver(session, item, identity, now)
    _remember(session, item, actor, "published")
    session.commit()
    return item


def schedule_item(
    session: Session, item: PublicationItem, at: dt.datetime, actor: str
) -> PublicationItem:
    if item.state not in ("draft", "scheduled"):
        raise _already(item)
    at = check_publish_at(at)
    item.state, item.publish_at = "scheduled", at
    _remember(session, item, actor, "scheduled", f"{item.title} at {at.isoformat()}")
    session.commit()
    return item


def unschedule_item(session: Session, item: PublicationItem, actor: str) -> PublicationItem:
    if item.state != "scheduled":
        raise PublishingError("state", N_("This item is not scheduled."), 409)
    item.state, item.publish_at = "draft", None
    _remember(session, item, actor, "unscheduled")
    session.commit()
    return item


def retract_item(
    session: Session,
    item: PublicationItem,
    reason: str,
    actor: str,
    identity_: NodeIdentity | None = None,
) -> PublicationItem:
    """Withdraw a published item: it leaves the feeds; nodes receive a signed retraction."""
    if item.state != "published":
        raise PublishingError("state", N_("Only a published item can be retracted."), 409)
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > 2000:
        raise PublishingError(
            "reason", N_("Say why the item is retracted (up to %(count)s characters)."), count=2000
        )
    identity = identity_ or signing_identity()  # before the item changes
    item.state, item.retraction_reason = "retracted", reason
    _sign_and_deliver(session, item, identity, _now())
    _remember(session, item, actor, "retracted", f"{item.title}: {reason}")
    session.commit()
    return item


def _already(item: PublicationItem) -> PublishingError:
    """Publishing or scheduling an item that is past that: a whole sentence for each state."""
    sentences = {
        "published": N_("This item is already published."),
        "retracted": N_("This item is already retracted."),
    }
    return PublishingError(
        "state", sentences.get(item.state, N_("This item cannot be published.")), 409
    )


def release_due(session: Session, identity_: NodeIdentity | None = None) -> int:
    """Publish the scheduled items whose time has come; how many were published.

    Called before feeds, the publications API and relay inboxes are served (and by
    ``ponte hub publish-due``), so no clock process is needed. While the hub key is locked
    the items wait (logged), and the request that triggered this is served as usual."""
    due = session.scalars(
        select(PublicationItem)
        .where(PublicationItem.state == "scheduled", PublicationItem.publish_at <= _now())
        .order_by(PublicationItem.publish_at)
    ).all()
    released = 0
    for item in due:
        try:
            publish_item(session, item, "schedule", identity_)
            released += 1
        except PublishingError:
            continue  # published by another worker
        except ProblemError as locked:
            log.warning("scheduled items wait: %s", locked.detail)
            session.rollback()
            break
    return released


def signing_identity() -> NodeIdentity:
    """The hub key that signs publications (a 503 problem while the keystore is locked)."""
    return hub_identity()


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


def _apply(item: PublicationItem, draft: ItemDraft, keep_file: bool = False) -> None:
    item.kind, item.title, item.body_markdown = draft.kind, draft.title, draft.body_markdown
    item.language, item.topics, item.countries = draft.language, draft.topics, draft.countries
    item.audience, item.url, item.event = draft.audience, draft.url, draft.event
    if draft.file is not None:
        item.file_name, item.file_media_type = draft.file.name, draft.file.media_type
        item.file_data = draft.file.data
    elif not keep_file or draft.kind != "resource":
        item.file_name = item.file_media_type = item.file_data = None
    item.updated_at = _now()


def snapshot(item: PublicationItem) -> dict[str, Any]:
    """What a revision of the history shows (the file by name and size only)."""
    return {
        "kind": item.kind,
        "title": item.title,
        "body_markdown": item.body_markdown,
        "language": item.language,
        "topics": list(item.topics),
        "countries": list(item.countries),
        "audience": item.audience,
        "url": item.url,
        "event": item.event,
        "file": item.file_name,
        "state": item.state,
    }


def _remember(
    session: Session, item: PublicationItem, actor: str, action: str, detail: str | None = None
) -> None:
    """Keep this version in the item's history and the secretariat's audit log
    (``item.<action>``; the detail defaults to the title)."""
    session.add(
        ItemRevision(item_id=item.id, saved_by=actor, action=action, snapshot=snapshot(item))
    )
    audit(session, actor, f"item.{action}", item.id, detail or item.title)


# -- signing and delivery ---------------------------------------------------------------------


def statement_of(item: PublicationItem, hub: PublicKeyRecord, now: dt.datetime) -> dict[str, Any]:
    """The publication statement (SPEC.md 4.6) of the item's current revision."""
    assert item.published_at is not None
    statement: dict[str, Any] = {
        "publisher": hub.node_id,
        "key_version": hub.key_version,
        "item_id": item.id,
        "revision": item.revision,
        "status": "retracted" if item.state == "retracted" else "published",
        "audience": item.audience,
        "item_kind": item.kind,
        "title": item.title,
        "body_markdown": item.body_markdown,
        "language": item.language,
        "topics": list(item.topics),
        "countries": list(item.countries),
        "published": _epoch(item.published_at),
        "updated": max(_epoch(now), _epoch(item.published_at)),
    }
    optional = {
        "url": item.url,
        "event": item.event,
        "credit": item.credit,
        "reason": item.retraction_reason if item.state == "retracted" else None,
        "file": _file_reference(item),
    }
    statement.update({name: value for name, value in optional.items() if value})
    return statement


def _file_reference(item: PublicationItem) -> dict[str, Any] | None:
    if item.file_data is None or item.file_name is None:
        return None
    return {
        "name": item.file_name,
        "media_type": item.file_media_type or "application/octet-stream",
        "size": len(item.file_data),
        "sha256": b64url_encode(hashlib.sha256(item.file_data).digest()),
    }


def _epoch(moment: dt.datetime) -> int:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def _sign_and_deliver(
    session: Session, item: PublicationItem, identity: NodeIdentity, now: dt.datetime
) -> SignedPublication:
    item.revision += 1
    item.updated_at = now
    document = sign_publication(identity, statement_of(item, identity.public_record(), now))
    signed = SignedPublication(
        item_id=item.id, revision=item.revision, audience=item.audience, document=document
    )
    session.add(signed)
    if item.audience == "members":
        # In one order, so two publications at once take the relay's per-node locks alike.
        active = select(Node).where(Node.revoked_at.is_(None)).order_by(Node.id)
        for node in session.scalars(active).all():
            deliver(session, identity, node, document, now)
    return signed


def deliver(
    session: Session, identity: NodeIdentity, node: Node, document: dict, now: dt.datetime
) -> None:
    """Queue one signed publication for ``node`` as a ``newsletter`` envelope."""
    record = PublicKeyRecord.from_dict(node.current_key.record)
    envelope = seal(
        identity, record, Kind.NEWSLETTER, document, now=_epoch(now), ttl=MEMBERS_DELIVERY_TTL
    )
    queue_hub_envelope(session, envelope.to_wire())


def deliver_backlog(session: Session, identity: NodeIdentity, node: Node) -> int:
    """Give a newly enrolled node the members-only items of the last BACKLOG_DAYS."""
    since = _now() - dt.timedelta(days=BACKLOG_DAYS)
    items = session.scalars(
        select(PublicationItem).where(
            PublicationItem.state == "published",
            PublicationItem.audience == "members",
            PublicationItem.published_at >= since,
        )
    ).all()
    for item in items:
        latest = session.scalars(
            select(SignedPublication).where(
                SignedPublication.item_id == item.id, SignedPublication.revision == item.revision
            )
        ).one()
        deliver(session, identity, node, latest.document, _now())
    session.commit()
    return len(items)


# -- reading ------------------------------------------------------------------------------------


def publication_version(session: Session) -> int:
    """Changes with every signed revision: the feeds' cache key."""
    return session.scalar(select(func.max(SignedPublication.seq))) or 0


def public_items(session: Session) -> list[PublicationItem]:
    """Published public items, newest first."""
    return list(
        session.scalars(
            select(PublicationItem)
            .where(PublicationItem.state == "published", PublicationItem.audience == "public")
            .order_by(PublicationItem.published_at.desc(), PublicationItem.id)
        )
    )


def signed_public(session: Session, after: int, limit: int) -> list[SignedPublication]:
    """Signed revisions of public items after ``seq``, in signing order (nodes follow this)."""
    return list(
        session.scalars(
            select(SignedPublication)
            .where(SignedPublication.audience == "public", SignedPublication.seq > after)
            .order_by(SignedPublication.seq)
            .limit(limit)
        )
    )


def latest_signed(session: Session, item_id: str) -> SignedPublication | None:
    return session.scalars(
        select(SignedPublication)
        .where(SignedPublication.item_id == item_id)
        .order_by(SignedPublication.revision.desc())
        .limit(1)
    ).first()
