"""Every response carries the security headers; pages run no inline script or style; HSTS
and Secure cookies come with TLS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hub
import node

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(
    path
    for folder in ("hub/templates", "node/templates", "ponte/templates")
    for path in (ROOT / folder).rglob("*.html")
    # The e-mail digest is not a web page: mail clients need its styles inline.
    if path.name != "digest_email.html"
)


# The sign-in page of each app (the hub's secretariat signs in under /admin).
LOGIN = {"hub": "/admin/login", "node": "/login"}


@pytest.fixture(params=["hub", "node"])
def service(request) -> str:
    return request.param


@pytest.fixture
def client(service, tmp_path, fast_hashing):
    factory = {"hub": hub.create_app, "node": node.create_app}[service]
    return factory(tmp_path / service).test_client()


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: part.partition(" ")[2] for part in policy.split("; ")}


@pytest.mark.parametrize("path", ["login", "/healthz", "/no-such-page"])
def test_every_response_has_the_security_headers(client, service, path):
    response = client.get(LOGIN[service] if path == "login" else path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == "'none'"
    assert "script-src" not in policy  # no scripts at all: default-src 'none' forbids them
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_https_requests_get_hsts_and_secure_cookies(client, service):
    response = client.get(LOGIN[service], base_url="https://ponte.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies, "the sign-in page sets the session cookie (CSRF token)"
    for cookie in cookies:
        assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_cookies_are_httponly_and_samesite_but_not_secure(client, service):
    cookies = client.get(LOGIN[service]).headers.getlist("Set-Cookie")
    assert cookies
    for cookie in cookies:
        assert "; HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "; Secure" not in cookie  # else a development machine could never sign in


def test_the_language_cookie_follows_the_same_rules(client):
    response = client.get("/language/fr?next=/login", base_url="https://ponte.example")
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("ponte_language=fr;")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_stricter_policy_of_a_response_is_kept(tmp_path):
    app = hub.create_app(tmp_path)

    @app.get("/sandboxed")
    def sandboxed():
        return "file", 200, {"Content-Security-Policy": "default-src 'none'; sandbox"}

    response = app.test_client().get("/sandboxed")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_template_has_inline_script_style_or_event_handlers(template):
    # The policy would block them: they would silently stop working in the browser.
    source = template.read_text(encoding="utf-8")
    assert not re.search(r"<script\b", source, re.I)
    assert not re.search(r"<style\b", source, re.I)
    assert not re.search(r"\sstyle\s*=", source, re.I)
    assert not re.search(r"\son[a-z]+\s*=", source, re.I)
    assert "javascript:" not in source.lower()
