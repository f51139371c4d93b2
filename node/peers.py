"""Partner nodes' keys as this node knows them: what the hub attested, what changed, and
what a person here has checked by phone.

A key change is loud: when a partner's newer key version appears, the partner is flagged
until someone compares the new fingerprint. A revoked partner has no usable key at all, so
nothing new can be sent to it or accepted from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from node.models import PeerKey, utcnow
from protocol import Attested, PublicKeyRecord, fingerprint


@dataclass(frozen=True)
class PeerView:
    node_id: str
    organisation_id: str
    key_version: int
    fingerprint: str
    revoked: bool
    key_changed: bool  # a newer key replaced one we knew, and nobody has compared it yet
    confirmed: bool


def _known(session: Session, node_id: str) -> list[PeerKey]:
    query = select(PeerKey).where(PeerKey.node_id == node_id).order_by(PeerKey.key_version)
    return list(session.scalars(query))


def record_peer_keys(session: Session, node_id: str, attested: list[Attested]) -> PeerView:
    """Store what the hub attested for ``node_id`` (already verified) and describe it."""
    try:
        _store(session, node_id, attested)
    except IntegrityError:
        # A web worker and the sync process met a new partner at the same moment and both
        # inserted its key: the other one's row is the same attested key, so keep it.
        session.rollback()
        _store(session, node_id, attested)
    return peer_view(session, node_id)


def _store(session: Session, node_id: str, attested: list[Attested]) -> None:
    known = {key.key_version: key for key in _known(session, node_id)}
    for item in attested:
        key = known.get(item.record.key_version)
        if key is None:
            key = PeerKey(
                node_id=node_id,
                key_version=item.record.key_version,
                record=item.record.to_dict(),
                fingerprint=fingerprint(item.record),
            )
            session.add(key)
        key.organisation_id, key.status = item.organisation_id, item.status
    session.commit()


def peer_view(session: Session, node_id: str) -> PeerView:
    keys = _known(session, node_id)
    if not keys:
        raise LookupError(node_id)
    latest = keys[-1]
    return PeerView(
        node_id=node_id,
        organisation_id=latest.organisation_id,
        key_version=latest.key_version,
        fingerprint=latest.fingerprint,
        revoked=latest.status != "active",
        key_changed=len(keys) > 1 and latest.confirmed_at is None,
        confirmed=latest.confirmed_at is not None,
    )


def all_peers(session: Session) -> list[PeerView]:
    ids = session.scalars(select(PeerKey.node_id).distinct().order_by(PeerKey.node_id))
    return [peer_view(session, node_id) for node_id in ids]


def confirm_peer(session: Session, node_id: str, key_version: int, who: str) -> None:
    """A person compared this key version's fingerprint with the partner."""
    key = session.scalars(
        select(PeerKey).where(PeerKey.node_id == node_id, PeerKey.key_version == key_version)
    ).first()
    if key is None:
        raise LookupError(node_id)
    key.confirmed_at, key.confirmed_by = utcnow(), who
    session.commit()


def usable_peer_records(session: Session, node_id: str) -> list[PublicKeyRecord]:
    """The partner's key versions that may verify its messages: none once it is revoked."""
    keys = _known(session, node_id)
    if not keys or keys[-1].status != "active":
        return []
    return [PublicKeyRecord.from_dict(key.record) for key in keys if key.status == "active"]


def latest_record(session: Session, node_id: str) -> PublicKeyRecord:
    keys = _known(session, node_id)
    if not keys:
        raise LookupError(node_id)
    return PublicKeyRecord.from_dict(keys[-1].record)
