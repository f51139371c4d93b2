"""Security headers on every response, and cookies that stay on HTTPS behind TLS.

Pages carry no inline script or style, so the Content-Security-Policy can be strict: only
this site's own style sheets and images, no scripts at all, no plugins, no framing, forms
posting only to this site. Responses that set a stricter policy of their own (downloaded
files, sandboxed) keep theirs. HSTS is sent only on a request that came over TLS (directly,
or through a trusted proxy's X-Forwarded-Proto): on plain HTTP it would be ignored anyway,
and on a development machine it would pin ``localhost`` to HTTPS.
"""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSessionInterface

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
HSTS = "max-age=63072000; includeSubDomains"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class TlsAwareSessionInterface(SecureCookieSessionInterface):
    """The sign-in cookie is Secure when the settings say so, and whenever the request
    itself came over HTTPS: a forgotten PONTE_SECURE_COOKIES must not leak it to HTTP."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app)) or _came_over_tls(request)


def init_security_headers(app: Flask) -> None:
    app.session_interface = TlsAwareSessionInterface()
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    for name, value in ALWAYS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if _came_over_tls(request):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def cookie_secure(app: Flask) -> bool:
    """Whether a cookie this app sets now must be Secure (the session's rule, for others)."""
    return TlsAwareSessionInterface().get_cookie_secure(app)


def _came_over_tls(current: Request) -> bool:
    try:
        return current.is_secure
    except RuntimeError:  # no request: settings alone decide
        return False
