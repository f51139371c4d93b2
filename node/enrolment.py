"""Setting up a node: keys in a sealed keystore, the invitation redeemed, the hub key pinned.

Files in the data dir: ``keystore.json`` (private keys, sealed with the passphrase) and
``enrolment.json`` (public facts: hub URL, node id, organisation, the pinned hub key record).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.hub_client import HubClient, HubError
from protocol import (
    NodeIdentity,
    ProtocolError,
    PublicKeyRecord,
    enrolment_proof,
    fingerprint,
    verify_attestation,
)
from protocol.keystore import KdfLimits, read_keystore, seal_keystore, write_keystore


class EnrolmentFailed(Exception):
    """Setting up the node did not work; the message says what to do next."""


@dataclass(frozen=True)
class Enrolment:
    hub_url: str
    node_id: str
    organisation_id: str
    organisation_name: str
    hub_key: dict[str, Any]

    @property
    def hub_record(self) -> PublicKeyRecord:
        return PublicKeyRecord.from_dict(self.hub_key)


def keystore_path(data_dir: Path) -> Path:
    return data_dir / "keystore.json"


def enrolment_path(data_dir: Path) -> Path:
    return data_dir / "enrolment.json"


def load_enrolment(data_dir: Path) -> Enrolment | None:
    path = enrolment_path(data_dir)
    if not path.exists():
        return None
    return Enrolment(**json.loads(path.read_text(encoding="utf-8")))


def unlock(data_dir: Path, passphrase: str) -> list[NodeIdentity]:
    """The node's identities (oldest first); KeystoreError on a wrong passphrase."""
    return read_keystore(keystore_path(data_dir), passphrase)


def new_node_id() -> str:
    return "node-" + secrets.token_hex(10)


def init_node(
    data_dir: Path,
    hub_url: str,
    invitation: str,
    passphrase: str,
    *,
    limits: KdfLimits | None = None,
    client: HubClient | None = None,
) -> tuple[Enrolment, NodeIdentity]:
    """Generate keys, redeem the invitation, pin the hub's key; write both files at the end."""
    if keystore_path(data_dir).exists():
        raise EnrolmentFailed(f"{data_dir} already holds a node's keys; use another --data-dir.")
    client = client or HubClient(hub_url)
    identity = NodeIdentity.generate(new_node_id())
    record = identity.public_record().to_dict()
    try:
        pinned = client.hub_key()
        answer = client.enrol(invitation, record, enrolment_proof(identity, invitation))
    except HubError as error:
        raise EnrolmentFailed(f"The hub refused the enrolment: {error}") from error
    _check_answer(answer, pinned, identity)
    seal = seal_keystore([identity], passphrase, limits)
    write_keystore(keystore_path(data_dir), seal)
    enrolment = Enrolment(
        hub_url.rstrip("/"),
        identity.node_id,
        answer["organisation"]["id"],
        answer["organisation"]["name"],
        pinned.to_dict(),
    )
    enrolment_path(data_dir).write_text(
        json.dumps(asdict(enrolment), indent=2) + "\n", encoding="utf-8"
    )
    return enrolment, identity


def _check_answer(answer: dict[str, Any], pinned: PublicKeyRecord, identity: NodeIdentity) -> None:
    """The hub must answer with the key we pinned and a valid attestation of *our* record."""
    try:
        if PublicKeyRecord.from_dict(answer.get("hub_key")) != pinned:
            raise EnrolmentFailed(
                "The hub answered with another key than the one it "
                "published; do not use this hub address."
            )
        attested = verify_attestation(pinned, answer.get("attestation"))
    except ProtocolError as error:
        raise EnrolmentFailed(f"The hub's attestation does not verify: {error}") from error
    if attested.record != identity.public_record() or not attested.active:
        raise EnrolmentFailed("The hub attested another key than ours; do not use this hub.")


def own_fingerprint(identity: NodeIdentity) -> str:
    return fingerprint(identity.public_record())
