"""``/healthz``: 200 once the app can reach its database, 503 otherwise (for load balancers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ponte.problems import problem


def health_blueprint(db: SQLAlchemy, service: str) -> Blueprint:
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return problem(503, "Service Unavailable", "The database cannot be reached.")
        return jsonify({"status": "ok", "service": service})

    return blueprint
