"""Request ids, one access log line and the latency metric for every request of every app.

``base_app`` calls :func:`init_observability`; the settings come from the app's config, or
else from the environment (:func:`observability_config`):

- ``LOG_FORMAT`` (``PONTE_LOG_FORMAT``): ``text`` (default) or ``json``;
- ``METRICS_TOKEN`` (``PONTE_METRICS_TOKEN``): the bearer token that opens ``/metrics``;
- ``METRICS_ALLOW_LOCALHOST`` (``PONTE_METRICS_ALLOW_LOCALHOST``): ``1`` lets 127.0.0.1 and
  ::1 read ``/metrics`` without a token.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g

from ponte.logs import REQUEST_ID_HEADER, configure_logging, log_access, request_id
from ponte.metrics import init_metrics, observe_request


def observability_config() -> dict[str, Any]:
    """Defaults from the environment; an app's own config (overrides) wins over them. The
    metrics token stays out of the config (as ponte.config keeps secrets out): /metrics
    reads it from the environment when asked."""
    return {
        "LOG_FORMAT": os.environ.get("PONTE_LOG_FORMAT") or None,
        "METRICS_ALLOW_LOCALHOST": os.environ.get("PONTE_METRICS_ALLOW_LOCALHOST", ""),
    }


def init_observability(app: Flask, service: str) -> None:
    """Call before other extensions add request hooks, so that theirs run inside ours."""
    configure_logging(service, app.config.get("LOG_FORMAT"))
    init_metrics(app)
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _finish(response: Response) -> Response:
    now = time.perf_counter()
    seconds = now - g.get("request_started", now)
    response.headers[REQUEST_ID_HEADER] = request_id()
    log_access(response.status_code, seconds)
    observe_request(response.status_code, seconds)
    return response
