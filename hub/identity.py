"""The hub's own key pair: it attests nodes' keys (and, later, signs publications).

The private key lives in a sealed keystore in the data dir, opened with the passphrase from
``PONTE_HUB_PASSPHRASE`` (or the HUB_PASSPHRASE setting). Without it the hub still serves the
directory, but cannot enrol nodes or attest keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, current_app

from ponte.problems import ProblemError
from protocol import KeystoreError, NodeIdentity, PublicKeyRecord, fingerprint
from protocol.keystore import INTERACTIVE, KdfLimits, read_keystore, seal_keystore, write_keystore

HUB_NODE_ID = "ponte-hub"
HUB_KEY_LIFETIME = 5 * 365 * 24 * 3600
EXTENSION_KEY = "ponte.hub_identity"


def keystore_path(data_dir: Path) -> Path:
    return data_dir / "hub-keystore.json"


def kdf_limits(app: Flask) -> KdfLimits:
    # Tests and the demo may choose the fast setting; production keeps the default cost.
    return INTERACTIVE if app.config.get("KEYSTORE_KDF") == "interactive" else KdfLimits()


def open_or_create_identity(data_dir: Path, passphrase: str, limits: KdfLimits) -> NodeIdentity:
    """Open the hub's keystore, creating the hub's keys on first use."""
    path = keystore_path(data_dir)
    if path.exists():
        return read_keystore(path, passphrase)[-1]
    identity = NodeIdentity.generate(HUB_NODE_ID, lifetime=HUB_KEY_LIFETIME)
    write_keystore(path, seal_keystore([identity], passphrase, limits))
    return identity


def hub_identity() -> NodeIdentity:
    """The unlocked hub identity, opened on first use; a 503 problem if it cannot be."""
    app = current_app
    identity = app.extensions.get(EXTENSION_KEY)
    if identity is None:
        passphrase = app.config.get("HUB_PASSPHRASE") or os.environ.get("PONTE_HUB_PASSPHRASE")
        if not passphrase:
            raise ProblemError(
                503,
                "Hub key locked",
                "The hub was started without PONTE_HUB_PASSPHRASE, so it cannot attest node keys.",
            )
        try:
            identity = open_or_create_identity(app.config["DATA_DIR"], passphrase, kdf_limits(app))
        except KeystoreError as error:
            app.logger.error("cannot open the hub keystore: %s", error)
            raise ProblemError(
                503,
                "Hub key locked",
                "The hub's keystore cannot be opened with the configured passphrase.",
            ) from error
        app.extensions[EXTENSION_KEY] = identity
    return identity


def hub_record() -> PublicKeyRecord:
    return hub_identity().public_record()


def hub_fingerprint() -> str:
    return fingerprint(hub_record())
