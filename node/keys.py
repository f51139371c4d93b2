"""The node's unlocked keys and its link to the hub, held by the running app.

``ponte node serve`` unlocks the keystore before the app starts (a wrong passphrase stops it);
views and workers reach the keys, the enrolment and the hub client through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from node.enrolment import Enrolment
from node.hub_client import HubClient
from ponte.problems import ProblemError
from protocol import NodeIdentity

EXTENSION_KEY = "ponte.node_keys"


@dataclass
class NodeKeys:
    identities: list[NodeIdentity]  # oldest first; the last is current
    enrolment: Enrolment
    hub: HubClient


def install_keys(app: Flask, identities: list[NodeIdentity], enrolment: Enrolment) -> None:
    app.extensions[EXTENSION_KEY] = NodeKeys(identities, enrolment, HubClient(enrolment.hub_url))


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
