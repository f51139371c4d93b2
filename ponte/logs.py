"""Logs: one line per record, as JSON in production (``LOG_FORMAT=json``) or as text for the
dev server, each carrying the request id of the request it was written in.

What reaches the log about a request is its id, method, path (never the query string: search
terms live there), status and duration; never headers, cookies or bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import uuid
from typing import Any, TextIO

from flask import g, has_request_context, request

FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"
GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
REQUEST_FIELDS = ("request_id", "method", "path")
ACCESS_FIELDS = ("status", "duration_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

access_log = logging.getLogger("ponte.access")
_handler: logging.Handler | None = None  # ours on the root logger, replaced on reconfiguring


def configure_logging(service: str, fmt: str | None = None) -> None:
    """Send every log record to stderr, one line each, as ``fmt`` ("json" or "text").

    Safe to call again (the gunicorn config may call it before the app factory does): it
    replaces only the handler it installed. ``fmt=None`` keeps an earlier explicit choice,
    or sets up text."""
    global _handler
    if fmt is None and _handler is not None:
        return
    fmt = fmt or "text"
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = _StderrHandler()
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else _text_formatter())
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    _handler = handler
    # The dev server's own request lines carry the query string; ours replace them.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class RequestContextFilter(logging.Filter):
    """Stamps every record written during a request with its id, method and path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = request_id()
            record.method = request.method
            record.path = request.path  # the path only, never the query string
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        for name in REQUEST_FIELDS + ACCESS_FIELDS:
            entry[name] = getattr(record, name, None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


def request_id() -> str:
    """This request's id: the client's (a proxy's) ``X-Request-ID`` if it is a plain token of
    1 to 100 characters, else a new one, so ids never inject text into the logs."""
    if "request_id" not in g:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = offered if GOOD_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    return g.request_id


def log_access(status: int, seconds: float) -> None:
    """The request's one access line (method and path come from the filter)."""
    access_log.info(
        "%s %s %d %.1f ms",
        request.method,
        request.path,
        status,
        seconds * 1000,
        extra={"status": status, "duration_ms": round(seconds * 1000, 3)},
    )
