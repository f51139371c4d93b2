"""Prometheus metrics at ``/metrics`` (text exposition), one registry per app.

Every request is timed by its Flask endpoint and status class, never by its raw path: the
label values stay as few as the app's routes, whatever URLs clients try. Gauges that describe
the database (queue depths) are computed from it at scrape time, so every worker agrees.

``/metrics`` is off (404) unless ``METRICS_TOKEN`` is set (then ``Authorization: Bearer
<token>`` opens it) or ``METRICS_ALLOW_LOCALHOST`` lets requests that came straight from
127.0.0.1 or ::1 in without a token.

Several gunicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory in the
environment before the app (and prometheus_client) is imported; each worker then writes its
counts to files there and a scrape adds them up. The gunicorn config should call
:func:`clear_multiprocess_dir` in ``on_starting`` and :func:`child_exit` in ``child_exit``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from flask_sqlalchemy import SQLAlchemy
from prometheus_client import CollectorRegistry, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import Select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import NotFound

from ponte.problems import problem

EXTENSION_KEY = "ponte.metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A request relayed by a proxy on this host comes from 127.0.0.1 too: it is not "local".
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
UNMATCHED = "unmatched"  # the endpoint label of requests no route matched (404, 405)

log = logging.getLogger(__name__)


@dataclass
class AppMetrics:
    registry: CollectorRegistry
    request_seconds: Histogram
    # Computed at scrape time; in multiprocess mode they join the files' aggregate.
    scraped: list[Collector] = field(default_factory=list)


def init_metrics(app: Flask) -> AppMetrics:
    """Give ``app`` its registry, the request latency histogram and ``/metrics``."""
    registry = CollectorRegistry()
    request_seconds = Histogram(
        "ponte_http_request_duration_seconds",
        "Time to answer a request, by Flask endpoint and status class.",
        ("endpoint", "status"),
        registry=registry,
    )
    metrics = AppMetrics(registry, request_seconds)
    app.extensions[EXTENSION_KEY] = metrics
    app.add_url_rule("/metrics", "metrics", metrics_view)
    return metrics


def app_metrics(app: Flask | None = None) -> AppMetrics:
    return (app or current_app).extensions[EXTENSION_KEY]


def add_scrape_collector(app: Flask, collector: Collector) -> None:
    metrics = app_metrics(app)
    metrics.registry.register(collector)
    metrics.scraped.append(collector)


class CountGauge(Collector):
    """A gauge whose value is a ``SELECT count(...)`` run at each scrape."""

    def __init__(self, db: SQLAlchemy, name: str, documentation: str, query: Select) -> None:
        self.db, self.name, self.documentation, self.query = db, name, documentation, query

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without it the registry would call collect(), outside any app context, to learn names.
        yield GaugeMetricFamily(self.name, self.documentation)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            value = self.db.session.scalar(self.query) or 0
        except SQLAlchemyError:  # the other metrics are still worth a scrape
            self.db.session.rollback()
            log.warning("metric %s: the database could not be read", self.name)
            return
        yield GaugeMetricFamily(self.name, self.documentation, value=value)


def observe_request(status: int, seconds: float) -> None:
    endpoint = request.url_rule.endpoint if request.url_rule else UNMATCHED
    app_metrics().request_seconds.labels(endpoint, f"{status // 100}xx").observe(seconds)


def metrics_view() -> Response:
    denied = _denial()
    if denied is not None:
        return denied
    # The text format, or OpenMetrics when the scraper asks for it (Prometheus does).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(_exposition_registry(app_metrics())), content_type=content_type)


def _denial() -> Response | None:
    """None if this request may read the metrics, else the answer to give it."""
    token = current_app.config.get("METRICS_TOKEN") or os.environ.get("PONTE_METRICS_TOKEN")
    offered = _bearer_token()
    if token and offered is not None:
        if hmac.compare_digest(offered.encode(), str(token).encode()):
            return None
        return problem(403, "Forbidden", "This token does not open the metrics.")
    if is_on(current_app.config.get("METRICS_ALLOW_LOCALHOST")) and _straight_from_localhost():
        return None
    if token:
        response = problem(401, "Unauthorized", "The metrics need a bearer token.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    raise NotFound()  # off: as if there were no such page


def _bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _straight_from_localhost() -> bool:
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or address).is_loopback


def is_on(value: Any) -> bool:
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def _exposition_registry(metrics: AppMetrics) -> CollectorRegistry:
    if not os.environ.get(MULTIPROC_ENV):
        return metrics.registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # every worker's counts, from the files
    for collector in metrics.scraped:
        registry.register(collector)
    return registry


# -- gunicorn hooks (multiprocess mode) -----------------------------------------------------


def clear_multiprocess_dir() -> None:
    """For ``on_starting``: counts a previous run left in the directory would add to ours."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        for stale in Path(path).glob("*.db"):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """For ``child_exit``: a dead worker's live gauges must stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(worker.pid)
