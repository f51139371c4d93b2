"""Canonical JSON (RFC 8785, restricted to integers) and strict base64url.

Why canonical: a signature covers bytes, but the hub and nodes pass JSON objects around; two
parties that re-serialise the same object must get the same bytes. RFC 8785 (JCS) fixes key
order (UTF-16 code units), spacing and string escapes. Ponte allows no floating-point numbers at
all, so the number rules of JCS reduce to plain decimal integers within +/-(2**53 - 1).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from protocol.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

JSONValue = None | bool | int | str | list[Any] | dict[str, Any]

_escape_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodingError("strings must be valid Unicode (no lone surrogates)") from exc


def _encode(value: object, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise EncodingError("integer outside +/-(2**53 - 1)")
        out.append(str(int(value)))
    elif isinstance(value, str):
        _check_text(value)
        out.append(_escape_string(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        _encode_object(value, out, depth)
    else:
        raise EncodingError(f"cannot encode a {type(value).__name__} (floats are not allowed)")


def _encode_object(value: dict[Any, Any], out: list[str], depth: int) -> None:
    if not all(isinstance(key, str) for key in value):
        raise EncodingError("object keys must be strings")
    for key in value:
        _check_text(key)
    out.append("{")
    for index, key in enumerate(sorted(value, key=_utf16_key)):
        if index:
            out.append(",")
        out.append(_escape_string(key))
        out.append(":")
        _encode(value[key], out, depth + 1)
    out.append("}")


def canonical_json(value: object) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical JSON bytes (UTF-8)."""
    out: list[str] = []
    _encode(value, out, 0)
    return "".join(out).encode("utf-8")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in pairs:
        if key in result:
            raise EncodingError(f"duplicate object key {key!r}")
        result[key] = item
    return result


def _reject_float(text: str) -> None:
    raise EncodingError(f"floating-point number {text[:20]!r} is not allowed")


def _reject_constant(text: str) -> None:
    raise EncodingError(f"{text} is not allowed")


def _check_integers(value: object, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise EncodingError("integer outside +/-(2**53 - 1)")
    elif isinstance(value, list):
        for item in value:
            _check_integers(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _check_integers(item, depth + 1)


def parse_json(data: bytes) -> Any:
    """Parse UTF-8 JSON strictly: no duplicate keys, floats, NaN, lone surrogates or deep nesting.

    Accepts any valid JSON formatting (it does not demand canonical form); callers that sign
    re-serialise with :func:`canonical_json`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError("JSON input must be bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError("JSON input is not valid UTF-8") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except EncodingError:
        raise
    except (ValueError, RecursionError) as exc:
        raise EncodingError(f"not valid JSON: {str(exc)[:80]}") from exc
    _check_integers(value)
    _check_strings(value)
    return value


def _check_strings(value: object) -> None:
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_strings(item)


def b64url_encode(data: bytes) -> str:
    """base64url (RFC 4648 section 5) without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: object, *, length: int | None = None) -> bytes:
    """Decode unpadded base64url strictly: the only accepted spelling is the canonical one."""
    if not isinstance(text, str):
        raise EncodingError("base64url value must be a string")
    if not text.isascii() or "=" in text or len(text) % 4 == 1:
        raise EncodingError("not unpadded base64url")
    try:
        data = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("not unpadded base64url") from exc
    if b64url_encode(data) != text:
        raise EncodingError("non-canonical base64url (stray trailing bits)")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data
