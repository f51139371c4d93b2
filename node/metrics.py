"""The node's own metrics: sync passes with the hub, and the outbox's depth."""

from __future__ import annotations

from flask import Flask
from prometheus_client import Counter
from sqlalchemy import func, select

from node.extensions import db
from node.models import OutboxItem
from ponte.metrics import CountGauge, add_scrape_collector, app_metrics

EXTENSION_KEY = "ponte.node_metrics"


def init_node_metrics(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = Counter(
        "ponte_node_sync_passes",
        "Sync passes with the hub's relay, by outcome (ok or failed).",
        ("outcome",),
        registry=app_metrics(app).registry,
    )
    queued = select(func.count()).select_from(OutboxItem).where(OutboxItem.state == "queued")
    add_scrape_collector(
        app, CountGauge(db, "ponte_node_outbox_depth", "Envelopes waiting to be posted.", queued)
    )


def count_sync_pass(app: Flask, outcome: str) -> None:
    app.extensions[EXTENSION_KEY].labels(outcome).inc()
