"""Probes for load balancers and orchestrators.

- ``/healthz`` (liveness): 200 while the process answers requests. It checks nothing else on
  purpose: a database outage must not get every worker restarted, which would not help.
- ``/readyz`` (readiness): 200 when the app can serve, that is its database answers and the
  checks the hub or node added (:func:`add_readiness_check`) pass; else 503 naming the failing
  checks. Why a check failed goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text

from ponte.problems import problem

READINESS_KEY = "ponte.readiness"
ReadinessCheck = Callable[[], bool]  # False or an exception: not ready

log = logging.getLogger(__name__)


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    app.extensions.setdefault(READINESS_KEY, {})[name] = check


def health_blueprint(db: SQLAlchemy, service: str) -> Blueprint:
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "service": service})

    @blueprint.get("/readyz")
    def readyz() -> Response:
        checks = {"database": lambda: _database_answers(db)}
        checks.update(current_app.extensions.get(READINESS_KEY, {}))
        results = {name: _outcome(name, check) for name, check in checks.items()}
        failing = [name for name, result in results.items() if result != "ok"]
        if failing:
            detail = f"Failing: {', '.join(failing)}."
            return problem(503, "Not ready", detail, checks=results, failing=failing)
        return jsonify({"status": "ready", "service": service, "checks": results})

    return blueprint


def _database_answers(db: SQLAlchemy) -> bool:
    db.session.execute(text("SELECT 1"))
    return True


def _outcome(name: str, check: ReadinessCheck) -> str:
    try:
        return "ok" if check() else "failing"
    except Exception as error:  # a probe reports failures; it never fails itself
        reason = (str(error).splitlines() or [""])[0][:200]
        log.warning("readiness check %s failed: %s: %s", name, type(error).__name__, reason)
        return "failing"
