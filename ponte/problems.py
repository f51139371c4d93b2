"""RFC 9457 problem details: every error a client can cause answers JSON, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger(__name__)


def problem(status: int, title: str, detail: str | None = None, **extra: object) -> Response:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    return response


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem body (e.g. a bad parameter)."""

    def __init__(self, status: int, title: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def invalid_parameter(name: str, reason: str) -> ProblemError:
    return ProblemError(
        400,
        "Invalid parameter",
        f"{name}: {reason}",
        invalid_params=[{"name": name, "reason": reason}],
    )


def _problem_error(error: ProblemError) -> Response:
    return problem(error.status, error.title, error.detail, **error.extra)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return problem(status, error.name, error.description)


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error")  # the trace goes to the log, never to the client
    return problem(500, InternalServerError().name, "Something went wrong on our side.")


def _refuse_nul_in_url() -> None:
    """No view can use a NUL (%00) in a path or query parameter, and PostgreSQL refuses one in
    any text value outright: refused here, it cannot reach a query and become a 500."""
    if "\x00" in request.path:
        raise ProblemError(400, "Invalid URL", "A path must not contain a NUL character (%00).")
    for name, value in request.args.items(multi=True):
        if "\x00" in name + value:
            raise invalid_parameter(name, "must not contain control characters")


def register_problem_handlers(app: Flask) -> None:
    app.before_request(_refuse_nul_in_url)
    app.register_error_handler(ProblemError, _problem_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
