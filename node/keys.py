"""The node's unlocked keys and its link to the hub, held by the running app.

``ponte node serve`` unlocks the keystore before the app starts (a wrong passphrase stops it);
views and workers reach the keys, the enrolment and the hub client through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from node.enrolment import Enrolment, keystore_path, load_enrolment, unlock
from node.hub_client import HubClient
from ponte.problems import ProblemError
from protocol import KeystoreError, NodeIdentity

EXTENSION_KEY = "ponte.node_keys"


@dataclass
class NodeKeys:
    identities: list[NodeIdentity]  # oldest first; the last is current
    enrolment: Enrolment
    hub: HubClient


class KeysLocked(Exception):
    """The node is enrolled but its keys stay locked; the message names the setting and why."""


def install_keys(app: Flask, identities: list[NodeIdentity], enrolment: Enrolment) -> None:
    app.extensions[EXTENSION_KEY] = NodeKeys(identities, enrolment, HubClient(enrolment.hub_url))


def is_enrolled(data_dir: Path) -> bool:
    return load_enrolment(data_dir) is not None and keystore_path(data_dir).exists()


def unlock_keys(app: Flask, data_dir: Path, passphrase: str | None) -> bool:
    """Open the keystore with ``passphrase`` and install the keys in ``app``; False when the
    node is not enrolled yet (nothing to unlock). Used by ``ponte node serve`` and by each
    gunicorn worker (node.wsgi), which has no terminal to ask at."""
    enrolment = load_enrolment(data_dir)
    if enrolment is None or not keystore_path(data_dir).exists():
        return False
    if not passphrase:
        raise KeysLocked(
            "PASSPHRASE: must be set (PONTE_PASSPHRASE): this node is enrolled and its keys "
            "are sealed with it"
        )
    try:
        install_keys(app, unlock(data_dir, passphrase), enrolment)
    except KeystoreError as error:
        raise KeysLocked(f"PASSPHRASE: does not open the keystore: {error}") from error
    return True


def node_keys() -> NodeKeys:
    keys = current_app.extensions.get(EXTENSION_KEY)
    if keys is None:
        raise ProblemError(
            503,
            "Node not enrolled",
            "This node has no unlocked keys: run "
            "`ponte node init`, then start it with its passphrase.",
        )
    return keys


def has_keys() -> bool:
    return EXTENSION_KEY in current_app.extensions


def current_identity() -> NodeIdentity:
    return node_keys().identities[-1]
