"""Rotating the node's keys: a new key version, vouched for by the current key.

Crash-safe: the new keystore is first written beside the old one (``keystore.next.json``); it
replaces the old only once the hub has attested the new key. A rotation interrupted in
between is finished (or dropped) by the next run, after asking the hub which key it knows.
"""

from __future__ import annotations

import os
from pathlib import Path

from node.enrolment import Enrolment, keystore_path, unlock
from node.hub_client import HubClient, HubError
from protocol import NodeIdentity, rotation_signature
from protocol.keystore import KdfLimits, read_keystore, seal_keystore, write_keystore


class RotationFailed(Exception):
    """The rotation did not happen; the node keeps its current keys."""


def pending_path(data_dir: Path) -> Path:
    return data_dir / "keystore.next.json"


def next_identity(current: NodeIdentity) -> NodeIdentity:
    return NodeIdentity.generate(current.node_id, key_version=current.key_version + 1)


def finish_pending(
    data_dir: Path, passphrase: str, enrolment: Enrolment, client: HubClient
) -> None:
    """Promote or drop a rotation that was interrupted after the new keystore was written."""
    pending = pending_path(data_dir)
    if not pending.exists():
        return
    identities = read_keystore(pending, passphrase)
    current = unlock(data_dir, passphrase)[-1]
    known = client.node_keys(current, enrolment.hub_record, enrolment.node_id)
    if any(item.record == identities[-1].public_record() for item in known):
        os.replace(pending, keystore_path(data_dir))
    else:
        pending.unlink()


def rotate_keys(
    data_dir: Path,
    passphrase: str,
    enrolment: Enrolment,
    *,
    client: HubClient | None = None,
    limits: KdfLimits | None = None,
) -> NodeIdentity:
    """Generate and register the next key version; return it once it is the current one."""
    client = client or HubClient(enrolment.hub_url)
    try:
        finish_pending(data_dir, passphrase, enrolment, client)
        identities = unlock(data_dir, passphrase)
        current = identities[-1]
        new = next_identity(current)
        # Older versions stay in the keystore: messages sealed to them may still arrive.
        write_keystore(
            pending_path(data_dir), seal_keystore([*identities, new], passphrase, limits)
        )
        client.register_next_key(
            current,
            enrolment.hub_record,
            new.public_record(),
            rotation_signature(current, new.public_record()),
        )
    except HubError as error:
        pending_path(data_dir).unlink(missing_ok=True)
        raise RotationFailed(f"The hub refused the new key: {error}") from error
    os.replace(pending_path(data_dir), keystore_path(data_dir))
    return new
