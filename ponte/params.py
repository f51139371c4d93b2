"""Reading query parameters strictly: unknown, repeated or malformed ones are a 400 problem."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from urllib.parse import unquote_to_bytes

from flask import request

from ponte.problems import ProblemError, invalid_parameter

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")
# The largest value of an SQL INTEGER column on PostgreSQL (32 bits): a larger parameter
# compared with one (a seq) fails the query there instead of matching nothing.
MAX_SQL_INTEGER = 2**31 - 1


def query_args(allowed: Collection[str]) -> dict[str, str]:
    """The request's query parameters, each given at most once, all of them known."""
    try:
        unquote_to_bytes(request.query_string.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "Invalid query string", "The query string is not UTF-8.") from exc
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        raise invalid_parameter(
            unknown[0], f"unknown parameter (known: {', '.join(sorted(allowed))})"
        )
    repeated = [name for name in request.args if len(request.args.getlist(name)) > 1]
    if repeated:
        raise invalid_parameter(repeated[0], "give this parameter once")
    return {name: request.args[name] for name in request.args}


def int_arg(args: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    """``name`` as a whole number from ``minimum`` to ``maximum``; ``default`` if it is absent.

    A blank value is malformed, not absent (the APIs declare these parameters integers). Only
    ASCII digits count: ``str.isdigit`` also accepts "²", which ``int`` refuses, and "٣".
    """
    raw = args.get(name)
    if raw is None:
        return default
    if not WHOLE_NUMBER.fullmatch(raw.strip()):
        raise invalid_parameter(name, "must be a whole number")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise invalid_parameter(name, f"must be between {minimum} and {maximum}")
    return value


def text_arg(args: Mapping[str, str], name: str, max_length: int) -> str:
    value = args.get(name, "")
    if len(value) > max_length:
        raise invalid_parameter(name, f"must be at most {max_length} characters")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise invalid_parameter(name, "must not contain control characters")
    return value
