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
import re
from typing import Any

from protocol.errors import EncodingError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

JSONValue = None | bool | int | str | list[Any] | dict[str, Any]

_escape_string = json.encoder.encode_basestring  # type: ignore[attr-defined]
_STDLIB_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    sort_keys=True,
    allow_nan=False,
    check_circular=False,
)
_LONG_STRING = 16 * 1024
# Characters JSON must escape: the C0 controls, the quotation mark and the reverse solidus.
_NEEDS_ESCAPE = bytes(range(0x20)) + b'"\\'


def _quote(text: str) -> str:
    """JCS string form; long text with nothing to escape (checked at C speed) is only quoted."""
    if len(text) >= _LONG_STRING:
        raw = text.encode("utf-8")
        if len(raw.translate(None, _NEEDS_ESCAPE)) == len(raw):
            return f'"{text}"'
    return _escape_string(text)


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _check_text(text: str) -> None:
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return
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
        out.append(_quote(value))
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


def _suits_stdlib_encoder(value: object, depth: int = 0) -> bool:
    """Check that ``value`` is encodable, and whether the stdlib's C encoder gives its JCS form.

    It does unless an object key holds a character beyond U+FFFF (the one case where Python's
    code-point key order differs from JCS's UTF-16 order), or a string is long: the C encoder
    escapes long text slowly, and :func:`_quote` can skip that work when nothing needs escaping.
    """
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise EncodingError("integer outside +/-(2**53 - 1)")
        return True
    if isinstance(value, str):
        _check_text(value)
        return len(value) < _LONG_STRING
    if isinstance(value, list | tuple):
        return all([_suits_stdlib_encoder(item, depth + 1) for item in value])
    if isinstance(value, dict):
        suits = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError("object keys must be strings")
            if not key.isascii():
                _check_text(key)
                suits = suits and max(key) <= "\uffff"
            suits = _suits_stdlib_encoder(item, depth + 1) and suits
        return suits
    raise EncodingError(f"cannot encode a {type(value).__name__} (floats are not allowed)")


def canonical_json(value: object) -> bytes:
    """Serialise ``value`` to RFC 8785 canonical JSON bytes (UTF-8).

    Two encoders give the same bytes (the tests check both against the rfc8785 package): the
    stdlib's C encoder for the common case, and :func:`_encode` for the rest.
    """
    if _suits_stdlib_encoder(value):
        return _STDLIB_ENCODER.encode(value).encode("utf-8")
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


def _check_parsed(value: object, depth: int = 0) -> None:
    """What ``json.loads`` lets through but Ponte refuses: big integers, lone surrogates."""
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise EncodingError("integer outside +/-(2**53 - 1)")
    elif isinstance(value, list):
        for item in value:
            _check_parsed(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_parsed(item, depth + 1)


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
    _check_parsed(value)
    return value


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_TEXT = re.compile(r"[A-Za-z0-9_-]*")
# The last character of an unpadded group of 2 (3) characters carries 4 (2) unused bits.
_UNUSED_BITS = {2: 0b1111, 3: 0b11}


def b64url_encode(data: bytes) -> str:
    """base64url (RFC 4648 section 5) without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: object, *, length: int | None = None) -> bytes:
    """Decode unpadded base64url strictly: the only accepted spelling is the canonical one."""
    if not isinstance(text, str):
        raise EncodingError("base64url value must be a string")
    if not _B64URL_TEXT.fullmatch(text) or len(text) % 4 == 1:
        raise EncodingError("not unpadded base64url (A-Z a-z 0-9 - _ only)")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("not unpadded base64url") from exc
    if len(text) % 4 and _B64URL.index(text[-1]) & _UNUSED_BITS[len(text) % 4]:
        raise EncodingError("non-canonical base64url (stray trailing bits)")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data
