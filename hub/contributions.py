"""Members' contributions: a node proposes a news item, event or call for partners (signed by
the node, SPEC.md 4.6); the secretariat approves it (published, credited to the organisation)
or rejects it with a reason the node sees."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directory.models import utcnow
from hub.enrolment import audit
from hub.models import MemberContribution, Node
from hub.publishing import (
    ItemDraft,
    PublishingError,
    check_draft,
    create_item,
    publish_item,
    signing_identity,
)
from ponte.msgids import N_
from protocol import ProtocolError, PublicKeyRecord
from protocol.publication import SUBMISSION_WINDOW, verify_contribution

MAX_REASON = 2000


def receive_contribution(
    session: Session, node: Node, document: object, now: int | None = None
) -> tuple[MemberContribution, bool]:
    """Check a node's signed contribution and queue it for moderation; sending the same
    document again returns the queued one (``created`` False)."""
    now = int(time.time()) if now is None else now
    record = PublicKeyRecord.from_dict(node.current_key.record)
    try:
        contribution = verify_contribution(record, document)
    except ProtocolError as error:
        raise PublishingError("document", f"The contribution was refused: {error}") from error
    statement = contribution.statement
    if statement["organisation_id"] != node.organization_id:
        raise PublishingError("organisation_id", "Contribute for your own organisation.", 403)
    # The same document again (its first answer was lost) gets the queued one, however late.
    earlier = _earlier(session, node, statement["contribution_id"], document)
    if earlier is not None:
        return earlier, False
    if abs(now - statement["submitted_at"]) > SUBMISSION_WINDOW:
        raise PublishingError("submitted_at", "The contribution is too old or from the future.")
    check_draft(draft_of(contribution.item))
    queued = MemberContribution(
        node_id=node.id,
        organization_id=node.organization_id,
        contribution_id=statement["contribution_id"],
        submitted_at=statement["submitted_at"],
        document=document,
    )
    session.add(queued)
    audit(session, f"node:{node.id}", "contribution.received", queued.contribution_id)
    try:
        session.commit()
    except IntegrityError:  # the same contribution arrived twice at once: the other one won
        session.rollback()
        earlier = _earlier(session, node, statement["contribution_id"], document)
        if earlier is None:
            raise
        return earlier, False
    return queued, True


def _earlier(
    session: Session, node: Node, contribution_id: str, document: object
) -> MemberContribution | None:
    """The queued contribution with this id, if it is this document; 409 if another."""
    earlier = session.scalars(
        select(MemberContribution).where(
            MemberContribution.node_id == node.id,
            MemberContribution.contribution_id == contribution_id,
        )
    ).first()
    if earlier is not None and earlier.document != document:
        raise PublishingError("contribution_id", "Another contribution has this id.", 409)
    return earlier


def draft_of(item: dict[str, Any], audience: str = "public") -> ItemDraft:
    return ItemDraft(
        kind=item["item_kind"],
        title=item["title"],
        body_markdown=item["body_markdown"],
        language=item["language"],
        topics=list(item.get("topics", [])),
        countries=list(item.get("countries", [])),
        audience=audience,
        url=item.get("url"),
        event=item.get("event"),
    )


def pending_contributions(session: Session) -> list[MemberContribution]:
    return list(
        session.scalars(
            select(MemberContribution)
            .where(MemberContribution.state == "pending")
            .order_by(MemberContribution.received_at)
        )
    )


def approve_contribution(
    session: Session, contribution: MemberContribution, actor: str, audience: str = "public"
) -> MemberContribution:
    """Publish the proposed item as it was signed, credited to the organisation."""
    _check_pending(contribution)
    identity = signing_identity()  # before anything is written: the hub key may be locked
    credit = {
        "organisation_id": contribution.organization_id,
        "organisation_name": contribution.organization.name,
    }
    item = create_item(session, draft_of(contribution.item, audience), actor, credit=credit)
    publish_item(session, item, actor, identity)
    contribution.state, contribution.item_id = "approved", item.id
    contribution.decided_by, contribution.decided_at = actor, utcnow()
    audit(session, actor, "contribution.approved", contribution.contribution_id, item.title)
    session.commit()
    return contribution


def reject_contribution(
    session: Session, contribution: MemberContribution, reason: str, actor: str
) -> MemberContribution:
    _check_pending(contribution)
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > MAX_REASON:
        raise PublishingError(
            "reason", N_("Tell the member why (up to %(count)s characters)."), count=MAX_REASON
        )
    contribution.state, contribution.reason = "rejected", reason
    contribution.decided_by, contribution.decided_at = actor, utcnow()
    audit(session, actor, "contribution.rejected", contribution.contribution_id, reason)
    session.commit()
    return contribution


def _check_pending(contribution: MemberContribution) -> None:
    # The moderation page shows these: a whole sentence for each state, for the translators.
    decided = {
        "approved": N_("This contribution was already approved."),
        "rejected": N_("This contribution was already rejected."),
    }
    if contribution.state != "pending":
        message = decided.get(contribution.state, N_("This contribution was already decided."))
        raise PublishingError("state", message, 409)


def contributions_of(session: Session, node: Node) -> list[MemberContribution]:
    return list(
        session.scalars(
            select(MemberContribution)
            .where(MemberContribution.node_id == node.id)
            .order_by(MemberContribution.received_at.desc())
            .limit(200)
        )
    )


def contribution_status(contribution: MemberContribution) -> dict[str, Any]:
    """What the contributing node may see of its contribution."""
    status: dict[str, Any] = {
        "contribution_id": contribution.contribution_id,
        "state": contribution.state,
        "title": contribution.item["title"],
    }
    if contribution.state == "rejected":
        status["reason"] = contribution.reason
    if contribution.item_id:
        status["item_id"] = contribution.item_id
    return status
