"""Proposing an item to the secretariat: the node signs a contribution with its current key
(protocol/SPEC.md 4.6), sends it with a ``contribute`` token, and keeps a record here whose
state (pending, approved, rejected with a reason) each sync pass refreshes from the hub.

Only node admins contribute (``node.reader_pages``): an approved item is published in the
hub's public feed credited to the organisation by name, so proposing one speaks for the
whole organisation, like editing its directory entry (also admins only).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from node.keys import NodeKeys
from node.models import NewsContribution, utcnow
from node.outbox import as_datetime
from protocol.publication import sign_contribution

STATES = {
    "pending": _l("Waiting for the secretariat"),
    "approved": lazy_pgettext("contribution state", "Published"),
    "rejected": _l("Not accepted"),
}
# Who sent a contribution this node learnt of from the hub only: stored as is, shown translated.
KNOWN_FROM_HUB = "(known from the hub)"


def submit_contribution(
    session: Session, keys: NodeKeys, item: dict[str, Any], author: str
) -> NewsContribution:
    """Sign ``item`` (a protocol item of kind news, event or call_for_partners) and send it.

    Raises ValidationError if the item is not one a member may propose, HubError if the hub
    cannot be reached or refuses it; then nothing is kept here (the form keeps the text).
    """
    contribution_id = secrets.token_urlsafe(16)  # never reused: fresh and random
    submitted_at = int(time.time())
    document = sign_contribution(
        keys.identities[-1], keys.enrolment.organisation_id, contribution_id, item, submitted_at
    )
    answer = keys.hub.contribute(keys.identities[-1], document)
    record = NewsContribution(
        contribution_id=contribution_id,
        title=item["title"],
        document=document,
        submitted_by=author,
        submitted_at=as_datetime(submitted_at),
    )
    _update(record, answer)
    session.add(record)
    session.commit()
    return record


def refresh_contributions(session: Session, keys: NodeKeys) -> int:
    """Ask the hub what became of our contributions while one is still pending here; how
    many changed. One the hub knows and this node does not (its answer was lost on the way
    back) is added, so that nothing the hub holds goes unseen."""
    pending = exists().where(NewsContribution.state == "pending")
    if not session.scalar(select(pending)):
        return 0
    answer = keys.hub.contributions(keys.identities[-1])
    changed = 0
    for status in answer.get("contributions", []):
        contribution_id = status.get("contribution_id") if isinstance(status, dict) else None
        if not isinstance(contribution_id, str) or not 0 < len(contribution_id) <= 100:
            continue  # not one of ours as the protocol spells them
        record = session.get(NewsContribution, contribution_id)
        if record is None:
            record = NewsContribution(
                contribution_id=contribution_id,
                title=str(status.get("title", ""))[:300],
                submitted_by=KNOWN_FROM_HUB,
            )
            session.add(record)
        changed += _update(record, status)
    session.commit()
    return changed


def _update(record: NewsContribution, status: dict[str, Any]) -> int:
    """Take the hub's word for the state; 1 if it changed."""
    before = (record.state, record.reason, record.item_id)
    record.state = str(status.get("state", "pending"))[:12]
    record.reason = _text(status.get("reason"), 2000)
    record.item_id = _text(status.get("item_id"), 100)
    record.checked_at = utcnow()
    return int(before != (record.state, record.reason, record.item_id))


def _text(value: object, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None


def list_contributions(session: Session) -> list[NewsContribution]:
    query = select(NewsContribution).order_by(NewsContribution.submitted_at.desc())
    return list(session.scalars(query))
