"""One synchronisation pass with the hub's relay: post, receive, learn what was delivered.

Safe to stop at any instant. Each inbox message is applied, remembered (replay set) and
marked for acknowledgement in one transaction; the acknowledgement is sent afterwards, and
retried on the next pass if it did not reach the hub. A re-delivered message is recognised
by its (sender, id) and only acknowledged again: every message takes effect once.

Messages may arrive out of order: an update or receipt whose referral has not arrived yet is
held back (stored, remembered, acknowledged) and applied once its case exists, in (created,
id) order; one still held when it expires is dropped.

Each pass then brings the secretariat's public items and our contributions' states, and
sends the e-mail digest (node.publications, node.contributions, node.digest); members-only
items come through the inbox like any envelope, from the hub's pinned key.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from node.attachments import post_blobs, send_pending_drops
from node.contributions import refresh_contributions
from node.digest import send_digests_after_sync
from node.hub_client import HubError
from node.inbound import CaseNotKnownYet, NotApplied, apply_message
from node.keys import NodeKeys
from node.models import (
    HeldMessage,
    NewsItem,
    OutboxItem,
    PendingAck,
    Referral,
    SeenMessage,
    SyncState,
    utcnow,
)
from node.outbox import PartnerUnavailable, as_datetime, refresh_peer_keys
from node.peers import usable_peer_records
from node.publications import NOT_AN_ITEM, PublicationRejected, pull_public_items, record_problem
from node.referrals import add_event, set_status
from node.stored_text import english
from protocol import (
    EnvelopeRejected,
    Header,
    Kind,
    OpenedMessage,
    ProtocolError,
    PublicKeyRecord,
    Reason,
    b64url_decode,
    b64url_encode,
    open_envelope,
)

log = logging.getLogger(__name__)

BACKOFF_BASE = 30  # seconds before the first retry
BACKOFF_CAP = 3600  # never wait longer than an hour between attempts
PAGE = 50
PERMANENT = frozenset({400, 403, 404, 409, 413})


@dataclass
class SyncSummary:
    sent: int = 0
    retrying: int = 0
    refused: int = 0
    applied: int = 0
    held: int = 0
    rejected: int = 0
    notices: int = 0
    news: int = 0  # the secretariat's items that arrived or changed (either way)
    problems: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """Whether this pass moved or found anything at all."""
        counts = (self.sent, self.retrying, self.refused, self.applied, self.held)
        return any(counts) or bool(self.rejected or self.notices or self.news or self.problems)

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, waiting to retry {self.retrying}, refused by the hub "
            f"{self.refused}; received {self.applied}, held back {self.held}, set aside "
            f"{self.rejected}; "
            f"delivery notices {self.notices}; new or changed items {self.news}"
        )


class DbSeenIds:
    """The replay set (protocol ``SeenIds``) in this node's database; no commit here."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def seen(self, sender: str, message_id: bytes) -> bool:
        key = (sender, b64url_encode(message_id))
        return self.session.get(SeenMessage, key) is not None

    def remember(self, sender: str, message_id: bytes, expires: int) -> None:
        entry = SeenMessage(sender=sender, message_id=b64url_encode(message_id), expires=expires)
        self.session.add(entry)

    def purge(self, now: int) -> None:
        self.session.execute(delete(SeenMessage).where(SeenMessage.expires < now))


def sync_state(session: Session) -> SyncState:
    state = session.get(SyncState, 1)
    if state is None:
        state = SyncState(id=1, inbox_after=0, notices_after=0)
        session.add(state)
        session.commit()
    return state


def sync_once(session: Session, keys: NodeKeys, now: int | None = None) -> SyncSummary:
    """Post due envelopes, apply the inbox, read delivery notices; then the reader's items
    and the e-mail digest."""
    now = int(time.time()) if now is None else now
    summary = SyncSummary()
    started = utcnow()
    send_due(session, keys, now, summary)
    receive(session, keys, now, summary)
    send_due(session, keys, now, summary)  # receipts and replies written while receiving
    read_notices(session, keys, summary)
    DbSeenIds(session).purge(now)
    session.commit()
    # The reader (node.publications, node.contributions, node.digest): public items, our
    # contributions' states, then the e-mail digest (which also retries failed sends).
    summary.news = sync_news(session, keys, started)
    send_digests_after_sync(session)
    return summary


# -- sending ----------------------------------------------------------------------------


def backoff(attempts: int) -> int:
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))


def send_due(session: Session, keys: NodeKeys, now: int, summary: SyncSummary) -> None:
    query = (
        select(OutboxItem)
        .where(OutboxItem.state == "queued")
        .order_by(OutboxItem.queued_at, OutboxItem.id)
    )
    held_back: set[str] = set()  # per partner, messages go out in the order they were written
    for item in list(session.scalars(query)):
        if item.recipient in held_back:
            continue
        if _aware(item.next_attempt) > as_datetime(now):
            held_back.add(item.recipient)
            continue
        post_item(session, keys, item, now, summary)
        if item.state == "queued":
            held_back.add(item.recipient)
        session.commit()


def post_item(
    session: Session, keys: NodeKeys, item: OutboxItem, now: int, summary: SyncSummary
) -> None:
    if _aware(item.expires) < as_datetime(now):
        _expire(session, item, "it was not sent before it expired")
        return
    try:
        post_blobs(session, keys, item.id)  # every blob it references is on the hub first
        keys.hub.post_envelope(keys.identities[-1], item.wire)
    except HubError as error:
        if error.status in PERMANENT:
            item.state, item.last_error = "refused", f"{error.code}: {error}"
            summary.refused += 1
            summary.problems.append(f"message {item.id}: the hub refused it ({error.code})")
            _note(session, item, f"The hub could not accept this message: {error}")
        else:
            item.attempts += 1
            item.next_attempt = as_datetime(now + backoff(item.attempts))
            item.last_error = str(error)
            summary.retrying += 1
        return
    item.state, item.attempts, item.last_error = "sent", item.attempts + 1, None
    summary.sent += 1


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def _note(session: Session, item: OutboxItem, reason: str) -> None:
    case = session.get(Referral, item.referral_id) if item.referral_id else None
    if case is not None:
        add_event(session, case, item.id, "local", "this node", reason=reason)


def _expire(session: Session, item: OutboxItem, why: str) -> None:
    item.state = "expired"
    _note(session, item, f"This message expired: {why}.")
    case = session.get(Referral, item.referral_id) if item.referral_id else None
    if case is not None and case.message_id == item.id and case.status == "sent":
        set_status(session, case, "expired", item.id, "local", "this node")


# -- receiving --------------------------------------------------------------------------


def receive(session: Session, keys: NodeKeys, now: int, summary: SyncSummary) -> None:
    send_pending_acks(session, keys)
    send_pending_drops(session, keys)
    state = sync_state(session)
    refreshed: set[str] = set()
    while True:
        page = keys.hub.inbox(keys.identities[-1], state.inbox_after, PAGE)
        messages = page.get("messages", [])
        for message in messages:
            handle_message(session, keys, message, now, refreshed, summary)
        send_pending_acks(session, keys)
        send_pending_drops(session, keys)
        if len(messages) < PAGE:
            break
    apply_held(session, keys, now, summary)  # cases that arrived on an earlier pass
    send_pending_drops(session, keys)


def handle_message(
    session: Session,
    keys: NodeKeys,
    message: dict,
    now: int,
    refreshed: set[str],
    summary: SyncSummary,
) -> None:
    """Open, apply and remember one inbox message, then commit (one transaction)."""
    sender = str(message.get("sender", ""))
    hub_id = keys.enrolment.hub_record.node_id
    if sender and sender not in refreshed and sender != hub_id:  # the hub's key is pinned
        _refresh_sender(session, keys, sender)  # commits; before this message's changes
        refreshed.add(sender)
    new_case = None
    try:
        opened = open_envelope(
            b64url_decode(message["wire"]),
            keys.identities,
            lambda node_id: sender_records(session, keys, node_id),
            DbSeenIds(session),
            now=now,
        )
        description = apply_message(session, keys, opened, now=now)
        summary.applied += 1
        log.info("applied %s from %s: %s", message["id"], sender, description)
        if opened.header.kind is Kind.REFERRAL:
            new_case = b64url_encode(opened.header.thread)
    except CaseNotKnownYet:
        session.rollback()
        _hold(session, opened)  # remembered and acknowledged like an applied message
        summary.held += 1
        log.info("message %s from %s held back until its case arrives", message["id"], sender)
    except (ProtocolError, NotApplied, PartnerUnavailable, PublicationRejected) as refused:
        session.rollback()  # nothing of a refused message is kept, except that it was handled
        _note_publication_problem(session, keys, sender, refused)
        _set_aside(message, sender, refused, summary)
    session.add(PendingAck(message_id=message["id"]))
    sync_state(session).inbox_after = max(sync_state(session).inbox_after, int(message["seq"]))
    session.commit()
    if new_case is not None:
        apply_held(session, keys, now, summary, thread=new_case)


def sender_records(session: Session, keys: NodeKeys, node_id: str) -> list[PublicKeyRecord]:
    """The keys that may have signed an envelope from ``node_id``. The hub's is the one pinned
    at enrolment, never looked up in the key directory (which the hub itself serves); a
    partner's are those the hub attested."""
    if node_id == keys.enrolment.hub_record.node_id:
        return [keys.enrolment.hub_record]
    return usable_peer_records(session, node_id)


def _note_publication_problem(
    session: Session, keys: NodeKeys, sender: str, refused: Exception
) -> None:
    """A members-only item from the hub that failed verification (its document, or the
    shape of its statement) is shown to the node admins; no commit here."""
    if isinstance(refused, PublicationRejected):
        record_problem(session, "relay", str(refused), refused.item_id)
    elif (
        sender == keys.enrolment.hub_record.node_id
        and isinstance(refused, EnvelopeRejected)
        and refused.reason is Reason.INVALID_PAYLOAD
    ):
        record_problem(session, "relay", english(NOT_AN_ITEM, error=refused))


def sync_news(session: Session, keys: NodeKeys, started: dt.datetime) -> int:
    """Pull public items and refresh our contributions' states; how many items arrived or
    changed during this pass (relay and feed). A refusal is logged and retried next pass."""
    for step in (pull_public_items, refresh_contributions):
        try:
            step(session, keys)
        except HubError as error:
            if error.status == 0:
                raise  # the hub is unreachable: stop this pass, nothing is lost
            session.rollback()
            log.warning("%s: the hub refused: %s", step.__name__, error)
    query = select(func.count()).select_from(NewsItem).where(NewsItem.verified_at >= started)
    return session.scalar(query) or 0


def _refresh_sender(session: Session, keys: NodeKeys, sender: str) -> None:
    """Learn the sender's current keys (and whether it was revoked) once per pass."""
    try:
        refresh_peer_keys(session, keys, sender)
    except HubError as error:
        if error.status == 0:
            raise  # the hub is unreachable: stop this pass, nothing is lost
        log.warning("no keys for %s from the hub: %s", sender, error)


def _set_aside(message: dict, sender: str, refused: Exception, summary: SyncSummary) -> None:
    duplicate = isinstance(refused, EnvelopeRejected) and refused.reason is Reason.REPLAY
    if duplicate:
        log.info("message %s from %s was already applied", message["id"], sender)
        return
    summary.rejected += 1
    summary.problems.append(f"message {message['id']} from {sender} set aside: {refused}")
    log.warning("message %s from %s set aside: %s", message["id"], sender, refused)


def _hold(session: Session, opened: OpenedMessage) -> None:
    """Keep an authentic message whose case is not here yet; no commit here.

    Its referral may simply be behind it on the relay (the node tolerates out-of-order
    arrival), so setting it aside would lose it. The id is remembered in the same transaction
    (the rollback before this dropped it), so a re-delivery is still refused as a replay.
    """
    header = opened.header
    DbSeenIds(session).remember(header.sender, header.message_id, header.expires)
    session.add(
        HeldMessage(
            sender=header.sender,
            message_id=b64url_encode(header.message_id),
            recipient=header.recipient,
            thread=b64url_encode(header.thread),
            kind=header.kind.value,
            created=header.created,
            expires=header.expires,
            payload=opened.payload,
        )
    )


def apply_held(
    session: Session, keys: NodeKeys, now: int, summary: SyncSummary, thread: str | None = None
) -> None:
    """Apply the held messages whose case is here now (of ``thread`` only, if given), oldest
    first, each in its own transaction; drop those that expired while waiting."""
    for held in list(session.scalars(select(HeldMessage).where(HeldMessage.expires < now))):
        log.warning(
            "held message %s from %s dropped: it expired before its case %s arrived",
            held.message_id,
            held.sender,
            held.thread,
        )
        session.delete(held)
    session.commit()
    query = select(HeldMessage).join(Referral, Referral.id == HeldMessage.thread)
    if thread is not None:
        query = query.where(HeldMessage.thread == thread)
    query = query.order_by(HeldMessage.created, HeldMessage.message_id)
    for held in list(session.scalars(query)):
        message = {"id": held.message_id}
        header = Header(
            message_id=b64url_decode(held.message_id, length=16),
            kind=Kind(held.kind),
            sender=held.sender,
            recipient=held.recipient,
            thread=b64url_decode(held.thread, length=16),
            created=held.created,
            expires=held.expires,
        )
        try:
            description = apply_message(session, keys, OpenedMessage(header, held.payload), now=now)
            summary.applied += 1
            log.info("applied held %s from %s: %s", held.message_id, held.sender, description)
        except (NotApplied, PartnerUnavailable) as refused:
            session.rollback()  # a real rule violation, now that the case is known
            _set_aside(message, header.sender, refused, summary)
        session.delete(held)
        session.commit()


def send_pending_acks(session: Session, keys: NodeKeys) -> None:
    ids = list(session.scalars(select(PendingAck.message_id).order_by(PendingAck.message_id)))
    for start in range(0, len(ids), 100):
        batch = ids[start : start + 100]
        keys.hub.ack(keys.identities[-1], batch)
        session.execute(delete(PendingAck).where(PendingAck.message_id.in_(batch)))
        session.commit()


# -- delivery notices -------------------------------------------------------------------


def read_notices(session: Session, keys: NodeKeys, summary: SyncSummary) -> None:
    state = sync_state(session)
    while True:
        page = keys.hub.notices(keys.identities[-1], state.notices_after, PAGE)
        notices = page.get("notices", [])
        for notice in notices:
            apply_notice(session, notice)
            state.notices_after = max(state.notices_after, int(notice["seq"]))
            session.commit()
            summary.notices += 1
        if len(notices) < PAGE:
            return


def apply_notice(session: Session, notice: dict) -> None:
    item = session.get(OutboxItem, str(notice.get("id")))
    if item is None or item.state in ("delivered", "expired"):
        return
    if notice.get("status") == "delivered":
        item.state = "delivered"
    elif notice.get("status") == "expired":
        _expire(session, item, "the partner's node did not collect it in time")


# -- again and again (``ponte node serve``'s thread, ``ponte node sync --loop``) -------------


def sync_forever(app: Any, interval: float, stop: threading.Event | None = None) -> None:
    """Run :func:`sync_once` every ``interval`` seconds until ``stop`` is set (never if None).

    A failed pass is logged and the next one retries. A pass that moved something is logged
    at INFO, an idle one at DEBUG: a line every few seconds that says nothing would bury the
    ones that do."""
    from node.extensions import db
    from node.keys import node_keys
    from node.metrics import count_sync_pass
    from node.retention import purge_if_due

    stop = stop or threading.Event()
    while not stop.is_set():
        with app.app_context():
            purge_if_due(db.session, app.config)  # once a day; logs, never raises
            try:
                summary = sync_once(db.session, node_keys())
                log.log(logging.INFO if summary.busy else logging.DEBUG, "sync: %s", summary)
                count_sync_pass(app, "ok")
            except Exception:  # keep going; the next pass retries
                log.exception("sync pass failed")
                count_sync_pass(app, "failed")
            finally:
                db.session.remove()
        stop.wait(interval)


def start_sync_worker(app: Any, interval: float) -> threading.Thread:
    """Run :func:`sync_forever` in a daemon thread (``ponte node serve`` without
    ``--production``: one process, so one sync)."""
    thread = threading.Thread(
        target=sync_forever, args=(app, interval), name="ponte-node-sync", daemon=True
    )
    thread.start()
    return thread
