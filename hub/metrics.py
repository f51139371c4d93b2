"""The hub's own metrics: search latency, the relay's queue depth, deliveries and expiries."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, has_app_context
from prometheus_client import Counter, Histogram
from sqlalchemy import func, select

from hub.extensions import db
from hub.models import RelayMessage
from ponte.metrics import CountGauge, add_scrape_collector, app_metrics

EXTENSION_KEY = "ponte.hub_metrics"


@dataclass(frozen=True)
class HubMetrics:
    search_seconds: Histogram
    deliveries: Counter
    expiries: Counter


def init_hub_metrics(app: Flask) -> HubMetrics:
    registry = app_metrics(app).registry
    metrics = HubMetrics(
        search_seconds=Histogram(
            "ponte_search_duration_seconds", "Time to search the directory.", registry=registry
        ),
        deliveries=Counter(
            "ponte_relay_deliveries",
            "Envelopes their recipient acknowledged (their bodies are deleted).",
            registry=registry,
        ),
        expiries=Counter(
            "ponte_relay_expiries",
            "Envelopes that expired before their recipient fetched them.",
            registry=registry,
        ),
    )
    queued = select(func.count()).select_from(RelayMessage).where(RelayMessage.state == "queued")
    add_scrape_collector(
        app,
        CountGauge(db, "ponte_relay_queue_depth", "Envelopes waiting for their recipient.", queued),
    )
    app.extensions[EXTENSION_KEY] = metrics
    return metrics


def hub_metrics(app: Flask | None = None) -> HubMetrics:
    return (app or current_app).extensions[EXTENSION_KEY]


def count_settled(status: str, count: int) -> None:
    """Count envelopes the relay settled as ``delivered`` or ``expired`` (outside an app, as
    in some commands, there is nothing to count into)."""
    if not count or not has_app_context() or EXTENSION_KEY not in current_app.extensions:
        return
    metrics = hub_metrics()
    counter = metrics.deliveries if status == "delivered" else metrics.expiries
    counter.inc(count)
