"""The hub and node app factories: health, errors as problem details, the data dir."""

from __future__ import annotations

import stat

import pytest

import hub
import node

APPS = {"hub": hub.create_app, "node": node.create_app}


@pytest.fixture(params=sorted(APPS))
def service(request, data_dir):
    app = APPS[request.param](data_dir, {"TESTING": True})
    return request.param, app, app.test_client()


def test_healthz_answers_ok_once_ready(service):
    name, _, client = service
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": name}


def test_unknown_url_is_a_json_problem(service):
    _, _, client = service
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404
    assert "Traceback" not in response.get_data(as_text=True)


def test_wrong_method_is_a_json_problem(service):
    _, _, client = service
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.get_json()["title"] == "Method Not Allowed"


def test_unexpected_error_hides_the_trace(service, caplog):
    _, app, client = service

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret detail" not in body and "Traceback" not in body
    assert "secret detail" in caplog.text  # but it is in the log for the admin


def test_front_page_says_what_it_is(service):
    name, _, client = service
    response = client.get("/")
    assert response.status_code == 200
    assert f"Ponte {name}" in response.get_data(as_text=True)


def test_data_dir_is_private_and_session_secret_survives_restart(data_dir):
    first = hub.create_app(data_dir).config["SECRET_KEY"]
    second = hub.create_app(data_dir).config["SECRET_KEY"]
    assert first == second and len(first) >= 40
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
