"""Membership rules: invitations, redeeming one to enrol a node, the attested key directory.

Plain functions over a SQLAlchemy session; the API, the admin pages, the CLI and the tests all
call these.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import Organization, utcnow
from hub.models import AuditEntry, Invitation, Node, NodeKey
from ponte.msgids import N_
from protocol import (
    NodeIdentity,
    ProtocolError,
    PublicKeyRecord,
    attest,
    invitation_hash,
    verify_enrolment_proof,
    verify_rotation,
)

INVITATION_LIFETIME = dt.timedelta(days=7)
TOKEN_PREFIX = "ponte-inv-"


class EnrolmentError(Exception):
    """A refused membership step: ``code`` names it for clients, ``status`` for HTTP."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def audit(session: Session, actor: str, action: str, subject: str, detail: str = "") -> None:
    session.add(AuditEntry(actor=actor, action=action, subject=subject, detail=detail or None))


# --- invitations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once; only its hash is kept


def create_invitation(
    session: Session,
    organisation_id: str,
    actor: str,
    *,
    lifetime: dt.timedelta = INVITATION_LIFETIME,
    now: dt.datetime | None = None,
) -> IssuedInvitation:
    if session.get(Organization, organisation_id) is None:
        # The secretariat's invitation page shows this one, translated.
        raise EnrolmentError(404, "unknown_organisation", N_("No organisation has this id."))
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invitation = Invitation(
        id=str(uuid.uuid4()),
        token_hash=invitation_hash(token),
        organization_id=organisation_id,
        created=now,
        expires=now + lifetime,
        created_by=actor,
    )
    session.add(invitation)
    audit(session, actor, "invitation.create", organisation_id, f"expires {invitation.expires}")
    session.commit()
    return IssuedInvitation(invitation, token)


def revoke_invitation(session: Session, invitation_id: str, actor: str) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None:
        raise EnrolmentError(404, "unknown_invitation", "No invitation has this id.")
    if invitation.used_at is None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit(session, actor, "invitation.revoke", invitation.organization_id)
        session.commit()
    return invitation


def _usable_invitation(session: Session, token: str, now: dt.datetime) -> Invitation:
    found = session.scalars(
        select(Invitation).where(Invitation.token_hash == invitation_hash(token))
    )
    invitation = found.first()
    if invitation is None:
        raise EnrolmentError(403, "invalid_invitation", "This invitation is not valid.")
    if invitation.revoked_at is not None:
        raise EnrolmentError(
            403,
            "invitation_revoked",
            "This invitation was withdrawn by the secretariat; ask it for a new one.",
        )
    if invitation.used_at is not None:
        raise EnrolmentError(
            409,
            "invitation_used",
            "This invitation was already used; ask the secretariat for a new one.",
        )
    if _aware(invitation.expires) <= now:
        raise EnrolmentError(
            403,
            "invitation_expired",
            "This invitation has expired; ask the secretariat for a new one.",
        )
    return invitation


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back without their zone; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- enrolment ------------------------------------------------------------------------------


def _checked_record(token: str, record: object, proof: object, now: int) -> PublicKeyRecord:
    try:
        parsed = PublicKeyRecord.from_dict(record)
        verify_enrolment_proof(parsed, token, proof)
    except ProtocolError as exc:
        raise EnrolmentError(
            400, "invalid_key_record", f"The key record or its proof is not valid: {exc}"
        ) from exc
    if not parsed.is_valid_at(now):
        raise EnrolmentError(400, "invalid_key_record", "The key record is not valid now.")
    return parsed


def redeem_invitation(
    session: Session,
    hub: NodeIdentity,
    token: object,
    record: object,
    proof: object,
    *,
    now: dt.datetime | None = None,
) -> Node:
    """Enrol a node for the invitation's organisation and attest its key record."""
    if not isinstance(token, str) or len(token) > 200:
        raise EnrolmentError(400, "invalid_request", "invitation must be the token text.")
    now = now or utcnow()
    invitation = _usable_invitation(session, token, now)
    key_record = _checked_record(token, record, proof, int(now.timestamp()))
    if session.get(Node, key_record.node_id) is not None:
        raise EnrolmentError(409, "node_exists", "A node with this id is already enrolled.")
    node = Node(id=key_record.node_id, organization_id=invitation.organization_id, enrolled=now)
    node.keys.append(
        NodeKey(
            key_version=key_record.key_version,
            record=key_record.to_dict(),
            attestation=attest(
                hub, key_record, invitation.organization_id, "active", int(now.timestamp())
            ),
        )
    )
    invitation.used_at, invitation.used_by_node = now, node.id
    session.add(node)
    audit(session, f"node:{node.id}", "node.enrol", invitation.organization_id)
    session.commit()
    return node


# --- key directory --------------------------------------------------------------------------


def node_keys(session: Session, node_id: str) -> Node:
    node = session.get(Node, node_id)
    if node is None:
        raise EnrolmentError(404, "unknown_node", "No node has this id.")
    return node


def organisation_nodes(session: Session, organisation_id: str) -> list[Node]:
    query = select(Node).where(Node.organization_id == organisation_id).order_by(Node.enrolled)
    return list(session.scalars(query))


# --- rotation and revocation ----------------------------------------------------------------


def rotate_key(
    session: Session,
    hub: NodeIdentity,
    node_id: str,
    record: object,
    signature: object,
    *,
    now: dt.datetime | None = None,
) -> NodeKey:
    """Register a node's next key version, signed by its current key, and attest it."""
    now = now or utcnow()
    node = node_keys(session, node_id)
    if not node.active:
        raise EnrolmentError(403, "node_revoked", "This node was revoked by the secretariat.")
    current = PublicKeyRecord.from_dict(node.current_key.record)
    try:
        new = PublicKeyRecord.from_dict(record)
        verify_rotation(current, new, signature)
    except ProtocolError as exc:
        raise EnrolmentError(
            400,
            "invalid_rotation",
            f"The new key record or its signature by the current key is not valid: {exc}",
        ) from exc
    if new.node_id != node.id or new.key_version != current.key_version + 1:
        raise EnrolmentError(
            400,
            "invalid_rotation",
            f"The new record must be version {current.key_version + 1} of node {node.id}.",
        )
    if not new.is_valid_at(int(now.timestamp())):
        raise EnrolmentError(400, "invalid_rotation", "The new key record is not valid now.")
    key = NodeKey(
        key_version=new.key_version,
        record=new.to_dict(),
        attestation=attest(hub, new, node.organization_id, "active", int(now.timestamp())),
    )
    node.keys.append(key)
    audit(
        session,
        f"node:{node.id}",
        "node.rotate_keys",
        node.organization_id,
        f"key version {new.key_version}",
    )
    session.commit()
    return key


def revoke_node(
    session: Session, hub: NodeIdentity, node_id: str, actor: str, *, now: dt.datetime | None = None
) -> Node:
    """Revoke a node: its tokens stop working at once and every key version is re-attested
    as revoked, so peers refuse new messages from it."""
    from hub.oauth import revoke_node_tokens
    from hub.relay import forget_bodies_of

    now = now or utcnow()
    node = node_keys(session, node_id)
    if node.revoked_at is None:
        node.revoked_at = now
        for key in node.keys:
            record = PublicKeyRecord.from_dict(key.record)
            key.attestation = attest(
                hub, record, node.organization_id, "revoked", int(now.timestamp())
            )
        revoke_node_tokens(session, node.id)
        forget_bodies_of(session, node.id)
        audit(session, actor, "node.revoke", node.organization_id, node.id)
        session.commit()
    return node
