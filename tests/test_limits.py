"""Abuse limits: sign-in, tokens, invitations, search and relay posts answer 429 past their
limit (configurable), counted in one store that several hub instances share."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

import hub
import node
from ponte.config import ConfigError, load_settings
from ponte.limits import LIMITED
from tests.conftest import free_port

LOGIN_FORM = {"email": "someone@ngo.example", "password": "not the password"}


def limited_hub(tmp_path, **overrides):
    return hub.create_app(tmp_path / "hub", {"RATE_LIMITS": True, **overrides})


def test_every_limited_endpoint_exists_in_one_of_the_apps(tmp_path):
    endpoints = set(hub.create_app(tmp_path / "h").view_functions)
    endpoints |= set(node.create_app(tmp_path / "n").view_functions)
    assert {limited.endpoint for limited in LIMITED} <= endpoints


def test_search_past_its_limit_answers_429_problem_with_retry_after(tmp_path):
    client = limited_hub(tmp_path, RATE_LIMIT_SEARCH="3 per minute").test_client()
    answers = [client.get("/api/v1/search?q=shelter") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.mimetype == "application/problem+json"
    assert refused.json["status"] == 429 and refused.json["title"] == "Too many requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_the_search_page_and_the_search_api_share_one_count(tmp_path):
    client = limited_hub(tmp_path, RATE_LIMIT_SEARCH="2 per minute").test_client()
    assert client.get("/directory/?q=shelter").status_code == 200
    assert client.get("/api/v1/search?q=shelter").status_code == 200
    assert client.get("/directory/?q=shelter").status_code == 429


def test_sign_in_past_its_limit_shows_a_page_in_the_readers_language(tmp_path, fast_hashing):
    client = node.create_app(
        tmp_path / "node", {"RATE_LIMITS": True, "RATE_LIMIT_LOGIN": "2 per minute"}
    ).test_client()
    client.get("/login")  # showing the form is never limited
    headers = {"Accept": "text/html", "Accept-Language": "fr"}
    form = {**LOGIN_FORM, "csrf_token": csrf_token(client)}
    statuses = [client.post("/login", data=form, headers=headers).status_code for _ in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429
    page = client.post("/login", data=form, headers=headers)
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert '<html lang="fr">' in page.get_data(as_text=True)
    assert client.get("/login").status_code == 200


def csrf_token(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_other_clients_are_counted_apart(tmp_path):
    client = limited_hub(tmp_path, RATE_LIMIT_SEARCH="1 per minute").test_client()
    first = {"REMOTE_ADDR": "192.0.2.1"}
    second = {"REMOTE_ADDR": "192.0.2.2"}
    assert client.get("/api/v1/search", environ_base=first).status_code == 200
    assert client.get("/api/v1/search", environ_base=first).status_code == 429
    assert client.get("/api/v1/search", environ_base=second).status_code == 200


def test_enrolment_and_token_and_relay_posts_are_limited(tmp_path):
    client = limited_hub(
        tmp_path,
        RATE_LIMIT_INVITATION="1 per minute",
        RATE_LIMIT_TOKEN="1 per minute",
        RATE_LIMIT_RELAY="1 per minute",
    ).test_client()
    for path in ("/api/v1/enrol", "/oauth/token", "/api/v1/relay/envelopes"):
        first = client.post(path, data=b"{}", content_type="application/json")
        assert first.status_code != 429, path  # refused for what it is, not for how often
        assert client.post(path, data=b"{}", content_type="application/json").status_code == 429


def test_limits_can_be_switched_off(tmp_path):
    client = hub.create_app(
        tmp_path / "hub", {"RATE_LIMITS": False, "RATE_LIMIT_SEARCH": "1 per minute"}
    ).test_client()
    assert {client.get("/api/v1/search").status_code for _ in range(3)} == {200}


@pytest.mark.parametrize(
    ("name", "value"),
    [("PONTE_RATE_LIMIT_SEARCH", "lots"), ("PONTE_RATE_LIMIT_STORAGE", "sqlite:///x")],
)
def test_a_bad_limit_setting_is_named(name, value):
    with pytest.raises(ConfigError) as refused:
        load_settings("hub", environ={name: value})
    assert name in str(refused.value)


# --- several instances, one store ---------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        missing = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":  # .ci/run installs it: missing there is a fault
            pytest.fail(missing)
        pytest.skip(missing)
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def test_two_instances_sharing_a_store_count_together(tmp_path, redis_url):
    settings = {"RATE_LIMIT_STORAGE": redis_url, "RATE_LIMIT_SEARCH": "3 per minute"}
    first = hub.create_app(tmp_path / "one", {"RATE_LIMITS": True, **settings}).test_client()
    second = hub.create_app(tmp_path / "two", {"RATE_LIMITS": True, **settings}).test_client()
    statuses = [
        (first if turn % 2 else second).get("/api/v1/search").status_code for turn in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    assert first.get("/api/v1/search").status_code == 429
