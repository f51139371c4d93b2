"""A node's private keys at rest, sealed with a passphrase.

Argon2id (libsodium ``crypto_pwhash``) derives a 32-byte key from the passphrase and a random
salt; XSalsa20-Poly1305 (``SecretBox``) seals the canonical JSON of the identities. The KDF
parameters travel in the file so they can be raised later without breaking old keystores.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from protocol.canonical import b64url_decode, b64url_encode, canonical_json, parse_json
from protocol.errors import KeystoreError, ProtocolError
from protocol.keys import NodeIdentity

KEYSTORE_FORMAT = "ponte-keystore"
KEYSTORE_VERSION = 1


@dataclass(frozen=True)
class KdfLimits:
    """Argon2id cost. MODERATE (256 MiB, ~0.5 s) by default; INTERACTIVE suits tests."""

    opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
    memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_MODERATE


INTERACTIVE = KdfLimits(
    nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
)
# Upper bounds accepted from a file, so a damaged or hostile file cannot make us allocate 100 GB.
_MAX_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE * 4
_MAX_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE * 2


def _derive(passphrase: str, salt: bytes, limits: KdfLimits) -> bytes:
    if not passphrase:
        raise KeystoreError("the passphrase must not be empty")
    try:
        secret = passphrase.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise KeystoreError(
            "the passphrase is not valid text (check the terminal's encoding)"
        ) from exc
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        secret,
        salt,
        opslimit=limits.opslimit,
        memlimit=limits.memlimit,
    )


def seal_keystore(
    identities: list[NodeIdentity], passphrase: str, limits: KdfLimits | None = None
) -> bytes:
    """Return the sealed keystore file contents for ``identities`` (oldest first)."""
    if not identities:
        raise KeystoreError("a keystore holds at least one identity")
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    return seal_keystore_with(identities, passphrase, limits or KdfLimits(), salt, nonce)


def seal_keystore_with(
    identities: list[NodeIdentity], passphrase: str, limits: KdfLimits, salt: bytes, nonce: bytes
) -> bytes:
    """:func:`seal_keystore` with a given salt and nonce (for reproducible test vectors)."""
    box = nacl.secret.SecretBox(_derive(passphrase, salt, limits))
    secret = canonical_json({"identities": [i.to_private_dict() for i in identities]})
    document = {
        "format": KEYSTORE_FORMAT,
        "v": KEYSTORE_VERSION,
        "kdf": {
            "alg": "argon2id13",
            "opslimit": limits.opslimit,
            "memlimit": limits.memlimit,
            "salt": b64url_encode(salt),
        },
        "sealed": b64url_encode(bytes(box.encrypt(secret, nonce))),
    }
    return canonical_json(document) + b"\n"


def _read_kdf(document: dict[str, Any]) -> tuple[bytes, KdfLimits]:
    kdf = document.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("alg") != "argon2id13":
        raise KeystoreError("the keystore file is damaged (unknown key derivation)")
    ops, mem = kdf.get("opslimit"), kdf.get("memlimit")
    if not (type(ops) is int and type(mem) is int):
        raise KeystoreError("the keystore file is damaged (bad key derivation cost)")
    if not (0 < ops <= _MAX_OPSLIMIT and 8192 <= mem <= _MAX_MEMLIMIT):
        raise KeystoreError("the keystore file is damaged (key derivation cost out of range)")
    salt = b64url_decode(kdf.get("salt"), length=nacl.pwhash.argon2id.SALTBYTES)
    return salt, KdfLimits(ops, mem)


def open_keystore(data: bytes, passphrase: str) -> list[NodeIdentity]:
    """Open sealed keystore bytes. Raises :class:`KeystoreError` with a message a person can act
    on: wrong passphrase, or a damaged or foreign file."""
    try:
        document = parse_json(data)
        if not isinstance(document, dict) or document.get("format") != KEYSTORE_FORMAT:
            raise KeystoreError("this file is not a Ponte keystore")
        version = document.get("v")
        if type(version) is not int or version != KEYSTORE_VERSION:
            raise KeystoreError(f"unsupported keystore version {version!r}")
        salt, limits = _read_kdf(document)
        sealed = b64url_decode(document.get("sealed"))
    except KeystoreError:
        raise
    except ProtocolError as exc:
        raise KeystoreError(f"the keystore file is damaged ({exc})") from exc
    box = nacl.secret.SecretBox(_derive(passphrase, salt, limits))
    try:
        secret = box.decrypt(sealed)
    except nacl.exceptions.CryptoError as exc:
        raise KeystoreError("wrong passphrase, or the keystore file is damaged") from exc
    try:
        content = parse_json(secret)
        items = content.get("identities") if isinstance(content, dict) else None
        if not isinstance(items, list) or not items:
            raise KeystoreError("the keystore holds no identity")
        return [NodeIdentity.from_private_dict(item) for item in items]
    except ProtocolError as exc:
        raise KeystoreError(f"the keystore content is damaged ({exc})") from exc


def write_keystore(path: Path, sealed: bytes) -> None:
    """Write atomically with mode 0600: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keystore-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_keystore(path: Path, passphrase: str) -> list[NodeIdentity]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeystoreError(f"no keystore at {path}") from exc
    except OSError as exc:
        raise KeystoreError(f"cannot read the keystore at {path}: {exc.strerror}") from exc
    return open_keystore(data, passphrase)
