"""Abuse limits (Flask-Limiter) on the doors people and programs knock on repeatedly.

One table, :data:`LIMITED`, names each limited endpoint and the setting that holds its
limit, so every limit is visible in one place and set from configuration
(``PONTE_RATE_LIMIT_<NAME>``, e.g. ``"10 per minute; 100 per hour"``). Counters live in
``PONTE_RATE_LIMIT_STORAGE``: ``memory://`` (one process) by default; several workers or
hub instances share one ``redis://`` or ``memcached://`` store so that a client cannot get
N times the limit by landing on N processes. Requests are counted per client address (the
proxy's forwarded address when PONTE_TRUSTED_PROXIES says to trust it).

An answer over the limit is 429 with ``Retry-After``; pages get a short page in the reader's
language, programs a problem+json body.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from ponte.problems import PROBLEM_TYPE, problem

EXTENSION_KEY = "ponte_limiter"


@dataclass(frozen=True)
class Limited:
    endpoint: str
    setting: str  # the config key (without PONTE_) holding its limit
    methods: tuple[str, ...] = ("POST",)  # a sign-in page may be shown freely


# Sign-in forms, the OAuth token endpoint, invitation redemption (enrolment), directory
# search (pages and API), and relay posts. Endpoints an app does not have are skipped.
LIMITED: tuple[Limited, ...] = (
    Limited("admin.account.login", "RATE_LIMIT_LOGIN"),
    Limited("account.login", "RATE_LIMIT_LOGIN"),
    Limited("oauth.token", "RATE_LIMIT_TOKEN"),
    Limited("enrolment_api.enrol", "RATE_LIMIT_INVITATION"),
    Limited("directory_pages.search_page", "RATE_LIMIT_SEARCH", ("GET",)),
    Limited("directory_api.search", "RATE_LIMIT_SEARCH", ("GET",)),
    Limited("relay_api.post_envelope", "RATE_LIMIT_RELAY"),
    Limited("relay_api.post_blob", "RATE_LIMIT_RELAY"),
)

DEFAULT_LIMITS = {
    "RATE_LIMIT_LOGIN": "10 per minute; 50 per hour",
    "RATE_LIMIT_TOKEN": "60 per minute",
    "RATE_LIMIT_INVITATION": "10 per minute; 30 per hour",
    "RATE_LIMIT_SEARCH": "120 per minute",
    "RATE_LIMIT_RELAY": "600 per minute",
}


def init_limits(app: Flask) -> Limiter:
    """Attach the limiter and its limits; call after every blueprint is registered."""
    for name, default in DEFAULT_LIMITS.items():
        app.config.setdefault(name, default)
    app.config.setdefault("RATE_LIMITS", True)
    app.config.setdefault("RATE_LIMIT_STORAGE", "memory://")
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATE_LIMIT_STORAGE"],
        enabled=bool(app.config["RATE_LIMITS"]),
        headers_enabled=True,
        key_prefix=f"ponte-{app.name}",
        # A store that cannot be reached must not lock everyone out: count in memory then.
        in_memory_fallback_enabled=True,
    )
    for limited in LIMITED:
        view = app.view_functions.get(limited.endpoint)
        if view is not None:
            # Shared per setting: the search page and the search API draw on one count.
            app.view_functions[limited.endpoint] = limiter.shared_limit(
                app.config[limited.setting], scope=limited.setting, methods=list(limited.methods)
            )(view)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    app.extensions[EXTENSION_KEY] = limiter
    return limiter


def too_many_requests(error: RateLimitExceeded) -> Response:
    retry_after = error.retry_after if hasattr(error, "retry_after") else None
    detail = _("Too many requests. Please wait a moment and try again.")
    # A page only for a client that prefers HTML: */* (requests, curl, the nodes) means a program.
    wanted = request.accept_mimetypes.best_match([PROBLEM_TYPE, "text/html"])
    if wanted == "text/html":
        response = Response(render_template("errors/too_many_requests.html"), 429)
    else:
        response = problem(429, "Too many requests", str(detail), limit=str(error.limit.limit))
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response
