"""Small declarative field checkers for message payloads.

Each checker takes ``(value, path)`` and raises :class:`ValidationError` naming the dotted
path and the problem. Objects reject unknown fields: a payload carries exactly what the
protocol defines, so nothing extra (such as a person's full name) can ride along unnoticed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from protocol.canonical import b64url_decode
from protocol.errors import EncodingError, ValidationError

Check = Callable[[Any, str], None]

SHORT_TEXT = 200
LONG_TEXT = 100_000


@dataclass(frozen=True)
class Field:
    check: Check
    required: bool = False


def required(check: Check) -> Field:
    return Field(check, required=True)


def optional(check: Check) -> Field:
    return Field(check)


def text(max_length: int = SHORT_TEXT, *, pattern: str | None = None) -> Check:
    compiled = re.compile(pattern) if pattern else None

    def check(value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise ValidationError(path, "must be text")
        if not value.strip():
            raise ValidationError(path, "must not be empty")
        if len(value) > max_length:
            raise ValidationError(path, f"must be at most {max_length} characters")
        if not value.isascii() and not _is_valid_unicode(value):
            raise ValidationError(path, "must be valid Unicode text")
        if compiled and not compiled.fullmatch(value):
            raise ValidationError(path, "has the wrong format")

    return check


def _is_valid_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which no UTF-8 store can hold
        return False
    return True


def choice(*allowed: str) -> Check:
    def check(value: Any, path: str) -> None:
        if value not in allowed:
            raise ValidationError(path, f"must be one of {', '.join(allowed)}")

    return check


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise ValidationError(path, "must be true or false")


def integer(minimum: int, maximum: int) -> Check:
    def check(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(path, "must be a whole number")
        if not minimum <= value <= maximum:
            raise ValidationError(path, f"must be between {minimum} and {maximum}")

    return check


def iso_date(value: Any, path: str) -> None:
    """A calendar date as YYYY-MM-DD."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValidationError(path, "must be a date written YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(path, "is not a real calendar date") from exc


def b64_bytes(length: int) -> Check:
    def check(value: Any, path: str) -> None:
        try:
            b64url_decode(value, length=length)
        except EncodingError as exc:
            raise ValidationError(path, f"must be {length} bytes in base64url ({exc})") from exc

    return check


def list_of(item: Check, *, max_items: int = 20, min_items: int = 0, unique: bool = True) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise ValidationError(path, "must be a list")
        if not min_items <= len(value) <= max_items:
            raise ValidationError(path, f"must hold {min_items} to {max_items} items")
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]")
        if unique and len({repr(element) for element in value}) != len(value):
            raise ValidationError(path, "must not repeat an item")

    return check


def obj(schema: Mapping[str, Field]) -> Check:
    def check(value: Any, path: str) -> None:
        check_object(value, schema, path)

    return check


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def check_object(value: Any, schema: Mapping[str, Field], path: str = "") -> None:
    if not isinstance(value, dict):
        raise ValidationError(path or "payload", "must be a JSON object")
    unknown = sorted(
        repr(key) if not isinstance(key, str) or not key else key
        for key in value
        if key not in schema
    )
    if unknown:
        raise ValidationError(_join(path, unknown[0]), "is not a field of this message")
    for name, field in schema.items():
        if name in value:
            field.check(value[name], f"{path}.{name}" if path else name)
        elif field.required:
            raise ValidationError(_join(path, name), "is required")
