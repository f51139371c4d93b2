"""The protocol's own error types.

Every parser and check in ``protocol`` raises a subclass of :class:`ProtocolError`, and nothing
else, for any input it is given: callers (the hub, the node, the CLI) catch one type.
"""

from __future__ import annotations

from enum import StrEnum


class ProtocolError(Exception):
    """Base class for every error the protocol library raises on bad input."""


class EncodingError(ProtocolError):
    """Bytes or values that are not valid canonical JSON, base64url or padding."""


class ValidationError(ProtocolError):
    """A message or record field breaks a rule; ``field`` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class SignatureError(ProtocolError):
    """A detached signature does not verify (wrong key, document or context)."""


class KeystoreError(ProtocolError):
    """A keystore could not be opened: wrong passphrase, damaged or unknown file."""


class Reason(StrEnum):
    """Why a receiver rejected an envelope (the names used in SPEC.md and the vectors)."""

    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported_version"
    WRONG_RECIPIENT = "wrong_recipient"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REPLAY = "replay"
    DECRYPTION_FAILED = "decryption_failed"
    BAD_PADDING = "bad_padding"
    UNKNOWN_SENDER = "unknown_sender"
    BAD_SIGNATURE = "bad_signature"
    INVALID_PAYLOAD = "invalid_payload"


class EnvelopeRejected(ProtocolError):
    """An envelope was refused by a receiver; ``reason`` says which check failed."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
