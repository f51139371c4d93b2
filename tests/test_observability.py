"""Probes, logs and metrics: /healthz and /readyz, JSON logs with request ids and without
secrets, /metrics behind its token, metric values that follow what the apps do."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

import hub
import node
from directory.models import Organization
from hub.extensions import db as hub_db
from hub.models import AdminUser
from hub.openapi import openapi_document
from hub.search_index import search_index
from node.enrolment import Enrolment
from node.extensions import db as node_db
from node.keys import install_keys
from node.models import OutboxItem
from node.oauth_client import token_request_form
from node.sync import start_sync_worker
from ponte.accounts import create_user
from ponte.logs import configure_logging
from ponte.metrics import child_exit, clear_multiprocess_dir
from protocol import NodeIdentity
from protocol.envelope import DEFAULT_TTL
from tests.test_accounts import PASSWORD, sign_in
from tests.test_relay import bearer, enrolled_hub, envelope, post

TOKEN = "metrics-token-for-tests-0123456789"
WITH_TOKEN = {"Authorization": f"Bearer {TOKEN}"}
SEARCH_TEXT = "Zweigstellenquokka"  # a search term that must never reach the log
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub_app(tmp_path):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True, "METRICS_TOKEN": TOKEN})
    with app.app_context():
        orgs = [
            Organization(id=f"org-{n}", name=f"Shelter {n}", kind="ngo", country="IT")
            for n in ("one", "two")
        ]
        hub_db.session.add_all(orgs)
        hub_db.session.commit()
        search_index().update(orgs)
    return app


@pytest.fixture
def json_logs():
    """Apps built in the test log JSON (LOG_FORMAT); text again for the tests after it."""
    yield {"LOG_FORMAT": "json"}
    configure_logging("test", "text")


def log_lines(capsys):
    """Every line on stderr is one JSON object (the assertion fails on any other line)."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def access_lines(lines):
    return [line for line in lines if line["logger"] == "ponte.access"]


def scrape(app, headers=WITH_TOKEN):
    """The app's /metrics as {(name, sorted label pairs): value}."""
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return samples(response.get_data(as_text=True))


def samples(text):
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics, name, **labels):
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


# --- /healthz and /readyz ------------------------------------------------------------------


def test_hub_is_ready_with_its_database_and_search_index(hub_app):
    response = hub_app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {
        "status": "ready",
        "service": "hub",
        "checks": {"database": "ok", "search_index": "ok"},
    }
    document = openapi_document()
    schema = {**document["components"]["schemas"]["Readiness"], "$defs": {}}
    Draft202012Validator(schema).validate(body)
    assert {"/healthz", "/readyz"} <= set(document["paths"])


def test_hub_is_not_ready_once_its_search_index_is_gone(hub_app):
    shutil.rmtree(hub_app.config["DATA_DIR"] / "index")
    client = hub_app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["failing"] == ["search_index"]
    assert body["checks"] == {"database": "ok", "search_index": "failing"}
    assert "Traceback" not in response.get_data(as_text=True)
    assert str(hub_app.config["DATA_DIR"]) not in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # alive all the same: no restart helps


def test_hub_is_not_ready_when_its_database_cannot_be_opened(tmp_path):
    # The database in a directory of its own; removing the directory makes every new
    # connection fail ("unable to open database file"), as a lost volume would.
    folder = tmp_path / "volume"
    folder.mkdir()
    app = hub.create_app(
        tmp_path / "hub",
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'hub.sqlite3'}"},
    )
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    shutil.rmtree(folder)
    with app.app_context():
        hub_db.engine.dispose()  # the pool's open connection would still reach the old file
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert response.get_json()["failing"] == ["database"]
    assert "Traceback" not in body and "sqlite" not in body.lower() and str(folder) not in body
    assert client.get("/healthz").get_json() == {"status": "ok", "service": "hub"}


def test_node_is_ready_only_with_its_keys_unlocked(tmp_path):
    app = node.create_app(tmp_path / "node", {"TESTING": True})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["keys"]
    assert response.get_json()["checks"] == {"database": "ok", "keys": "failing"}
    identity = NodeIdentity.generate("node-obs")
    hub_key = NodeIdentity.generate("hub").public_record().to_dict()
    install_keys(app, [identity], Enrolment("http://hub.invalid", "node-obs", "o", "O", hub_key))
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "keys": "ok"}


# --- logs ------------------------------------------------------------------------------------


def test_json_log_lines_carry_the_request_id_of_the_response(tmp_path, json_logs, capsys):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True, **json_logs})
    capsys.readouterr()
    response = app.test_client().get("/healthz?probe=1")
    [line] = access_lines(log_lines(capsys))
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert line["request_id"] == request_id
    assert line["method"] == "GET" and line["path"] == "/healthz"  # no query string
    assert line["status"] == 200 and line["duration_ms"] >= 0
    assert line["service"] == "hub" and line["level"] == "INFO"
    assert line["time"].endswith("Z") and "T" in line["time"]


def test_every_record_of_a_request_has_its_id(tmp_path, json_logs, capsys):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True, **json_logs})

    @app.get("/noisy")
    def noisy():
        logging.getLogger("hub.somewhere").warning("something to note")
        return "ok"

    capsys.readouterr()
    response = app.test_client().get("/noisy", headers={"X-Request-ID": "lb-42.a_b-c"})
    assert response.headers["X-Request-ID"] == "lb-42.a_b-c"
    lines = log_lines(capsys)
    assert [line["logger"] for line in lines] == ["hub.somewhere", "ponte.access"]
    assert {line["request_id"] for line in lines} == {"lb-42.a_b-c"}


@pytest.mark.parametrize(
    "offered", ["abc\ndef", "x" * 500, "", "a b", "ïd", '"}{"level":"CRITICAL"', "x" * 101]
)
def test_a_bad_incoming_request_id_is_replaced(tmp_path, json_logs, capsys, offered):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True, **json_logs})
    capsys.readouterr()
    # In the WSGI environ, as a server would pass it (the test client refuses newlines).
    response = app.test_client().get("/healthz", environ_base={"HTTP_X_REQUEST_ID": offered})
    request_id = response.headers["X-Request-ID"]
    assert request_id != offered and len(request_id) == 32
    [line] = access_lines(log_lines(capsys))
    assert line["request_id"] == request_id


def test_text_logs_for_the_dev_server_have_the_request_id(tmp_path, capsys):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True, "LOG_FORMAT": "text"})
    capsys.readouterr()
    app.test_client().get("/healthz", headers={"X-Request-ID": "dev-1"})
    err = capsys.readouterr().err
    assert "INFO ponte.access [dev-1] GET /healthz 200" in err


def test_no_password_token_or_search_text_reaches_the_log(
    tmp_path, json_logs, capsys, caplog, fast_hashing
):
    app = enrolled_hub(tmp_path / "hub", json_logs)
    with app.app_context():
        create_user(hub_db.session, AdminUser, "ana@secretariat.example", PASSWORD)
        search_index().update(hub_db.session.scalars(select(Organization)).all())
    client = app.test_client()
    capsys.readouterr()

    assert sign_in(client, "/admin/login", "ana@secretariat.example").status_code == 302
    wrong = sign_in(
        app.test_client(), "/admin/login", "ana@secretariat.example", "wrong password, secret"
    )
    assert wrong.status_code == 200
    form = token_request_form(app.nodes["a"], "http://localhost/oauth/token", "relay")
    token = client.post("/oauth/token", data=form).get_json()["access_token"]
    auth = bearer(app, app.nodes["b"])
    assert client.get("/api/v1/relay/inbox", headers=auth).status_code == 200
    assert client.get("/api/v1/search", query_string={"q": SEARCH_TEXT}).status_code == 200
    assert client.get("/directory/", query_string={"q": SEARCH_TEXT}).status_code == 200
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value

    lines = log_lines(capsys)
    paths = {line["path"] for line in access_lines(lines)}
    assert {"/admin/login", "/oauth/token", "/api/v1/relay/inbox", "/api/v1/search"} <= paths
    logged = json.dumps(lines) + caplog.text
    secrets = [PASSWORD, "password, secret", token, auth["Authorization"][7:], SEARCH_TEXT, cookie]
    secrets.append(form["client_assertion"])
    for secret in secrets:
        assert secret not in logged
    assert "Bearer" not in logged


# --- /metrics: who may read it -----------------------------------------------------------------


def test_metrics_are_off_unless_configured(tmp_path):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True})
    response = app.test_client().get("/metrics")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_metrics_need_the_right_bearer_token(hub_app):
    client = hub_app.test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Basic eDp5"}).status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403
    assert TOKEN not in wrong.get_data(as_text=True)
    right = client.get("/metrics", headers=WITH_TOKEN)
    assert right.status_code == 200
    assert right.content_type.startswith("text/plain")
    assert "ponte_http_request_duration_seconds" in right.get_data(as_text=True)
    openmetrics = client.get(
        "/metrics", headers={**WITH_TOKEN, "Accept": "application/openmetrics-text"}
    )
    assert openmetrics.content_type.startswith("application/openmetrics-text")


def test_the_metrics_token_may_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PONTE_METRICS_TOKEN", TOKEN)
    app = hub.create_app(tmp_path / "hub", {"TESTING": True})
    assert TOKEN not in repr(app.config)  # a secret from the environment stays out of it
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=WITH_TOKEN).status_code == 200


def test_localhost_may_read_metrics_without_a_token_when_allowed(tmp_path):
    app = hub.create_app(tmp_path / "hub", {"TESTING": True, "METRICS_ALLOW_LOCALHOST": "1"})
    client = app.test_client()
    for address in ("127.0.0.1", "::1"):
        response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 404
    # A proxy on this host relays everyone from 127.0.0.1: its requests are not local.
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert proxied.status_code == 404


# --- /metrics: the values ----------------------------------------------------------------------


def test_a_search_is_timed(hub_app):
    before = scrape(hub_app)
    client = hub_app.test_client()
    assert client.get("/api/v1/search?q=shelter").get_json()["total"] == 2
    assert client.get("/directory/?q=shelter").status_code == 200
    after = scrape(hub_app)
    count = "ponte_search_duration_seconds_count"
    assert value(after, count) == value(before, count) + 2
    requests = "ponte_http_request_duration_seconds_count"
    labels = {"endpoint": "directory_api.search", "status": "2xx"}
    assert value(after, requests, **labels) == value(before, requests, **labels) + 1


def test_relay_queue_depth_deliveries_and_expiries(tmp_path):
    app = enrolled_hub(tmp_path / "hub", {"METRICS_TOKEN": TOKEN})
    depth, delivered, expired = (
        "ponte_relay_queue_depth",
        "ponte_relay_deliveries_total",
        "ponte_relay_expiries_total",
    )
    start = scrape(app)
    assert (value(start, depth), value(start, delivered), value(start, expired)) == (0, 0, 0)

    assert post(app, envelope(app).to_wire()).status_code == 201
    assert post(app, envelope(app, "c", "b").to_wire(), sender="c").status_code == 201
    assert value(scrape(app), depth) == 2

    client = app.test_client()
    b_auth = bearer(app, app.nodes["b"])
    first = client.get("/api/v1/relay/inbox?limit=1", headers=b_auth).get_json()["messages"][0]
    client.post("/api/v1/relay/ack", json={"ids": [first["id"]]}, headers=b_auth)
    client.post("/api/v1/relay/ack", json={"ids": [first["id"]]}, headers=b_auth)  # no-op
    acked = scrape(app)
    assert (value(acked, depth), value(acked, delivered), value(acked, expired)) == (1, 1, 0)

    app.config["RELAY_CLOCK"] = lambda: time.time() + DEFAULT_TTL + 60
    assert client.get("/api/v1/relay/inbox", headers=b_auth).get_json()["messages"] == []
    end = scrape(app)
    assert (value(end, depth), value(end, delivered), value(end, expired)) == (0, 1, 1)


def test_unknown_paths_do_not_grow_the_label_values(hub_app):
    client = hub_app.test_client()
    for n in range(1000):
        assert client.get(f"/no/such/page/{n}").status_code == 404
    metrics = scrape(hub_app)
    name = "ponte_http_request_duration_seconds_count"
    endpoints = {dict(labels)["endpoint"] for (metric, labels) in metrics if metric == name}
    assert endpoints == {"unmatched"}  # /metrics itself is counted once its answer is out
    assert value(metrics, name, endpoint="unmatched", status="4xx") == 1000
    assert len(metrics) < 100


def test_node_outbox_depth_and_sync_passes(tmp_path):
    app = node.create_app(tmp_path / "node", {"TESTING": True, "METRICS_TOKEN": TOKEN})
    assert value(scrape(app), "ponte_node_outbox_depth") == 0
    with app.app_context():
        node_db.session.add(
            OutboxItem(
                id="A" * 22,
                recipient="node-bbb",
                kind="referral",
                wire=b"sealed",
                expires=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
            )
        )
        node_db.session.commit()
        assert node_db.session.scalars(select(OutboxItem)).one().state == "queued"
    assert value(scrape(app), "ponte_node_outbox_depth") == 1

    start_sync_worker(app, interval=3600)  # no keys: the pass fails, and is counted
    deadline = time.monotonic() + 10
    while value(scrape(app), "ponte_node_sync_passes_total", outcome="failed") < 1:
        assert time.monotonic() < deadline, "no sync pass was counted"
        time.sleep(0.05)
    assert value(scrape(app), "ponte_node_sync_passes_total", outcome="ok") == 0


# --- several gunicorn workers ------------------------------------------------------------------

WORKER = """
import sys
from pathlib import Path
from hub import create_app

app = create_app(Path(sys.argv[1]), {"METRICS_ALLOW_LOCALHOST": "1"})
client = app.test_client()
client.get("/healthz")
sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_multiprocess_mode_adds_up_the_workers(tmp_path, monkeypatch):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "PATH": "/usr/bin:/bin"}

    def worker():
        run = subprocess.run(
            [sys.executable, "-c", WORKER, str(tmp_path / "hub")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return samples(run.stdout)

    worker()
    second = worker()  # another process: it sees the first one's requests too
    healthz = {"endpoint": "health.healthz", "status": "2xx"}
    assert value(second, "ponte_http_request_duration_seconds_count", **healthz) == 2
    assert ("ponte_relay_queue_depth", ()) in second  # from the database, at scrape time
    assert list(folder.glob("*.db"))

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    child_exit(None, SimpleNamespace(pid=12345))
    clear_multiprocess_dir()
    assert not list(folder.glob("*.db"))
