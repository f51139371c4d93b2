"""Production: settings checked at start-up, gunicorn with several workers, the node's sync as
its own process, and the deploy/ files (nginx, systemd) checked by the real tools.

Real processes and a real gunicorn: ``ponte hub serve --production`` and ``ponte node serve
--production`` exec gunicorn; two nodes enrolled with ``ponte node init`` exchange a referral
through the hub, each with ``ponte node sync --loop`` beside its web workers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub import create_app as create_hub_app
from ponte.cli import main
from ponte.config import SETTINGS, ConfigError, load_settings, read_settings
from ponte.demo import (
    DEMO_HUB_PASSPHRASE,
    DEMO_MEMBERS,
    DEMO_NODE_PASSPHRASE,
    Service,
    demo_services,
    enrol_member,
    ponte_command,
    run_step,
    send_demo_referral,
)
from tests.conftest import POSTGRES_MODE, free_port, get_json, ponte_process, wait_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SECRET = "correct horse battery staple, not for logs"
IN_CI = bool(os.environ.get("CI"))
WORKER = re.compile(r"worker=<(\d+)>")  # gunicorn's access log (ponte/gunicorn_conf.py)


# -- settings: typed values, or a message naming the setting --------------------------------


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SMTP_PORT": "abc"}, "SMTP_PORT: must be a number from 1 to 65535, got 'abc'"),
        ({"PONTE_SMTP_PORT": "70000"}, "SMTP_PORT: must be a number from 1 to 65535, got '70000'"),
        ({"PONTE_WORKERS": "0"}, "WORKERS: must be a number from 1 to 64, got '0'"),
        ({"PONTE_THREADS": "2.5"}, "THREADS: must be a number from 1 to 64, got '2.5'"),
        ({"NODE_URL": "ponte.ngo.example"}, "NODE_URL: must be an https:// or http:// address"),
        ({"PONTE_SECURE_COOKIES": "maybe"}, "SECURE_COOKIES: must be true or false"),
        ({"PONTE_LOG_FORMAT": "xml"}, "LOG_FORMAT: must be one of text, json, got 'xml'"),
        ({"PONTE_TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES: must be a number from 0 to 5"),
        ({"FORWARDED_ALLOW_IPS": "nginx"}, "FORWARDED_ALLOW_IPS: must be IP addresses"),
        (
            {"NODE_SYNC_INTERVAL": "soon"},
            "NODE_SYNC_INTERVAL: must be a number from 0 to 86400 seconds, got 'soon'",
        ),
    ],
)
def test_a_bad_setting_is_named_with_what_it_must_be(environ, message):
    with pytest.raises(ConfigError) as refused:
        load_settings("node", environ=environ)
    assert refused.value.exit_code == 2  # the command line's "bad input"
    assert refused.value.message.startswith(message), refused.value.message
    [variable] = environ
    assert refused.value.message.endswith(f"(from environment variable {variable})")


def test_the_mail_settings_go_together():
    _, problems = read_settings("node", environ={"SMTP_HOST": "mail.ngo.example"})
    assert problems == [
        "SMTP_FROM: must be set when SMTP_HOST is (the e-mail digest needs all three)",
        "NODE_URL: must be set when SMTP_HOST is (the e-mail digest needs all three)",
    ]
    assert read_settings("node", environ={"NODE_URL": "https://n.example"})[1] == []


def test_every_bad_setting_is_listed_at_once_and_secrets_are_not_repeated():
    environ = {
        "PONTE_HUB_URL": "hub.example.org",
        "PONTE_OAUTH_TOKEN_LIFETIME": "3600",
        "DATABASE_URL": f"mysql://ponte:{SECRET}@db/ponte",
    }
    _, problems = read_settings("hub", environ=environ)
    assert [problem.split(":")[0] for problem in problems] == [
        "DATABASE_URL",
        "HUB_URL",
        "OAUTH_TOKEN_LIFETIME",
    ]
    assert SECRET not in " ".join(problems)


def test_the_older_names_still_work_and_the_ponte_names_win():
    settings = load_settings(
        "node",
        environ={
            "DATABASE_URL": "postgresql://ponte:pw@db/ponte_node",
            "SMTP_HOST": "mail.ngo.example",
            "SMTP_PORT": "2525",
            "PONTE_SMTP_PORT": "587",
            "SMTP_FROM": "ponte@ngo.example",
            "NODE_URL": "https://ponte.ngo.example/",
            "NODE_SYNC_INTERVAL": "2.5",
            "PONTE_PASSPHRASE": SECRET,
        },
    )
    assert settings["SMTP_PORT"] == 587 and settings.sources["SMTP_PORT"].endswith("SMTP_PORT")
    assert settings["NODE_URL"] == "https://ponte.ngo.example"
    assert settings["NODE_SYNC_INTERVAL"] == 2.5
    # postgresql:// gets the driver Ponte installs (psycopg 3), not SQLAlchemy's psycopg2
    assert settings["DATABASE_URL"] == "postgresql+psycopg://ponte:pw@db/ponte_node"
    hub = load_settings("hub", environ={"HUB_URL": "https://hub.example", "SECRETARIAT_NAME": "S"})
    assert (hub["HUB_URL"], hub["SECRETARIAT_NAME"]) == ("https://hub.example", "S")
    assert hub["OAUTH_TOKEN_LIFETIME"] == 600 and not hub.is_set("OAUTH_TOKEN_LIFETIME")


def test_the_config_file_gives_settings_and_the_environment_wins(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text('hub_url = "https://hub.example.org"\nworkers = 3\nsecure_cookies = true\n')
    settings = load_settings("hub", environ={"PONTE_CONFIG": str(config), "PONTE_WORKERS": "5"})
    assert settings["HUB_URL"] == "https://hub.example.org"
    assert settings.sources["HUB_URL"] == str(config)
    assert settings["WORKERS"] == 5  # the environment wins
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smtp_host = 'mail.example'\n", "'smtp_host' is a setting of the node, not the hub"),
        ("HUB_URL = 'https://x'\n", "unknown setting 'HUB_URL' (write it in lower case: hub_url)"),
        ("hub_ulr = 'https://x'\n", "unknown setting 'hub_ulr'"),
        ("workers = [1, 2]\n", "'workers' must be a single value, not a list"),
        ("workers = 'many'\n", "WORKERS: must be a number from 1 to 64, got 'many'"),
        ("workers = \n", "is not valid TOML"),
    ],
)
def test_a_bad_config_file_is_refused_with_what_is_wrong(tmp_path, text, message):
    config = tmp_path / "hub.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings("hub", config_file=config, environ={})


def test_a_config_file_holding_a_secret_must_not_be_readable_by_everyone(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text(f'hub_passphrase = "{SECRET}"\n')
    config.chmod(0o644)
    with pytest.raises(ConfigError, match="every user can read it") as refused:
        load_settings("hub", config_file=config, environ={})
    assert SECRET not in refused.value.message
    config.chmod(0o640)
    settings = load_settings("hub", config_file=config, environ={})
    assert settings["HUB_PASSPHRASE"] == SECRET
    assert settings.flask_config()["HUB_PASSPHRASE"] == SECRET  # the hub key reads it there


def test_secrets_are_never_displayed():
    settings = load_settings(
        "node",
        environ={
            "PONTE_PASSPHRASE": SECRET,
            "SMTP_PASSWORD": SECRET,
            "PONTE_METRICS_TOKEN": SECRET,
            "DATABASE_URL": f"postgresql://ponte:{SECRET.replace(' ', '')}@db/ponte",
        },
    )
    shown = json.dumps(settings.display())
    assert SECRET not in shown and SECRET.replace(" ", "") not in shown
    assert "postgresql+psycopg://ponte:***@db/ponte" in shown
    # Secrets from the environment stay out of the app's config (read where they are used).
    assert SECRET not in json.dumps(settings.flask_config(), default=str)


def test_every_setting_is_in_the_admin_guide_and_the_examples_are_valid():
    guide = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.variables[0]}`" not in guide]
    assert not missing, f"docs/admin-guide.md does not describe {missing}"
    for service in ("hub", "node"):
        environ = env_file(DEPLOY / "env" / f"{service}.env.example")
        assert set(environ) <= {v for s in SETTINGS for v in s.variables} | {"PONTE_CONFIG"}
        load_settings(service, environ=environ)  # raises if an example is not valid
    load_settings("hub", config_file=DEPLOY / "env" / "hub.toml.example", environ={})


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (quotes removed)."""
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip().strip('"')
    return pairs


# -- the settings in the apps -------------------------------------------------------------


def test_the_apps_take_the_settings_and_honour_forwarded_headers_only_when_told(
    tmp_path, monkeypatch
):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hub.example.org"}
    metadata = "/.well-known/oauth-authorization-server"

    def issuer(app) -> str:
        return app.test_client().get(metadata, headers=forwarded).get_json()["issuer"]

    assert issuer(create_hub_app(tmp_path / "plain")) == "http://localhost"
    monkeypatch.setenv("PONTE_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("PONTE_SECURE_COOKIES", "yes")
    monkeypatch.setenv("SECRETARIAT_NAME", "The platform's secretariat")
    app = create_hub_app(tmp_path / "proxied")
    assert issuer(app) == "https://hub.example.org"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SECRETARIAT_NAME"] == "The platform's secretariat"
    monkeypatch.setenv("HUB_URL", "https://ponte.example.net")
    assert issuer(create_hub_app(tmp_path / "named")) == "https://ponte.example.net"


def test_a_bad_setting_stops_every_command_with_exit_2(tmp_path):
    runner = CliRunner(env={"PONTE_SESSION_LIFETIME": "forever"})
    for command in (["hub", "serve"], ["hub", "serve", "--production"], ["node", "serve"]):
        result = runner.invoke(main, [*command, "--data-dir", str(tmp_path / "d"), "--port", "1"])
        assert result.exit_code == 2, result.output
        assert "SESSION_LIFETIME: must be a number from 5 to 10080 minutes" in result.output
    result = CliRunner(env={"PONTE_SESSION_LIFETIME": "forever"}).invoke(
        main,
        ["hub", "reindex", "--data-dir", str(tmp_path)],  # (reindex needs a data dir)
    )
    assert result.exit_code == 2 and "SESSION_LIFETIME" in result.output
    assert not (tmp_path / "d").exists()  # stopped before anything was made


def test_serve_production_with_a_bad_setting_exits_2_before_gunicorn_starts(tmp_path):
    env = {**os.environ, "PONTE_THREADS": "lots"}
    command = ponte_command("hub", "serve", "--production", "--data-dir", str(tmp_path / "h"))
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "THREADS: must be a number from 1 to 64, got 'lots'" in result.stderr
    assert "gunicorn" not in result.stdout + result.stderr


def test_config_option_reads_the_file_for_one_command_only(tmp_path, monkeypatch):
    monkeypatch.delenv("PONTE_CONFIG", raising=False)
    config = tmp_path / "node.toml"
    config.write_text("smtp_port = 25\n")
    result = CliRunner().invoke(
        main, ["hub", "check-config", "--data-dir", str(tmp_path / "h"), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "'smtp_port' is a setting of the node, not the hub" in result.output
    assert "PONTE_CONFIG" not in os.environ  # put back after the command


# -- check-config ------------------------------------------------------------------------------


def test_hub_check_config_shows_settings_masked_and_checks_the_keystore(tmp_path):
    from hub.identity import open_or_create_identity
    from protocol.keystore import INTERACTIVE

    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    open_or_create_identity(data_dir, SECRET, INTERACTIVE)
    runner = CliRunner(env={"PONTE_HUB_PASSPHRASE": SECRET, "PONTE_CONFIG": None})
    result = runner.invoke(main, ["hub", "check-config", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert re.search(r"HUB_PASSPHRASE\s+\(set, hidden\)", result.output)
    assert "ok       the hub keystore opens; fingerprint" in result.output
    assert f"ok       data dir {data_dir} is writable" in result.output
    assert "No problems found." in result.output

    wrong = CliRunner(
        env={
            "PONTE_HUB_PASSPHRASE": "not it",
            "SMTP_PORT": "abc",  # not a hub setting: ignored there
            "PONTE_WORKERS": "none",
            "DATABASE_URL": f"postgresql://ponte:{SECRET.replace(' ', '')}@127.0.0.1:"
            f"{free_port()}/ponte",
        }
    ).invoke(main, ["hub", "check-config", "--data-dir", str(data_dir)])
    assert wrong.exit_code == 2
    problems = [line for line in wrong.output.splitlines() if line.startswith("  problem")]
    assert [line.split()[1] for line in problems] == [
        "WORKERS:",
        "DATABASE_URL:",
        "HUB_PASSPHRASE:",
    ], wrong.output
    assert "cannot be reached" in wrong.output and "3 problems" in wrong.output
    assert SECRET.replace(" ", "") not in wrong.output


# -- the hub under gunicorn --------------------------------------------------------------------


class Output:
    """What a process writes, read as it comes (so its pipe never fills up)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def workers_in_access_log(self) -> set[int]:
        return {int(pid) for pid in WORKER.findall(self.text())}


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers), from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def eventually(condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def database_env(request, name: str) -> dict[str, str]:
    """On the suite's PostgreSQL run, a fresh database of its own for a server the test starts
    as a process (the whole production path, gunicorn included, then runs on PostgreSQL)."""
    if not POSTGRES_MODE:
        return {}
    return {"PONTE_DATABASE_URL": request.getfixturevalue("postgres").database(name)}


def test_the_hub_under_gunicorn_serves_from_two_workers_reloads_on_sighup_and_stops(
    request, tmp_path, monkeypatch
):
    for name, value in database_env(request, "production_hub").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PONTE_WORKERS", "2")
    monkeypatch.setenv("PONTE_THREADS", "2")
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", SECRET)
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    command = ("hub", "serve", "--production", "--data-dir", str(tmp_path / "hub"))
    with ponte_process(*command, "--port", str(port)) as hub:
        output = Output(hub)
        assert wait_for(url) == 200
        first = eventually(lambda: len(children(hub.pid)) == 2 and children(hub.pid))
        # Many requests on fresh connections at once: both workers answer some.
        with ThreadPoolExecutor(8) as pool:
            eventually(
                lambda: (
                    list(pool.map(status, [url] * 16)) and output.workers_in_access_log() == first
                ),
                what=f"both workers {first} answering; saw {output.workers_in_access_log()}",
            )
        hub.send_signal(signal.SIGHUP)  # reload: new workers, the old ones finish and go
        answers = []

        def renewed() -> bool:
            answers.append(status(url))  # never refused meanwhile: the master keeps the socket
            now = children(hub.pid)
            return len(now) == 2 and not now & first

        eventually(renewed, what="two new workers after SIGHUP")
        assert set(answers) == {200}
        assert "Handling signal: hup" in output.text()
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(timeout=45) == 0
    output.thread.join(timeout=10)
    text = output.text()
    assert "under gunicorn, 2 workers of 2 threads" in text
    assert "Shutting down: Master" in text
    assert SECRET not in text
    assert not children(hub.pid)


# -- two nodes under gunicorn, each with its sync, through the hub under gunicorn -------------


@dataclass
class Deployment:
    hub: Service
    nodes: list[Service]
    processes: dict[str, subprocess.Popen[str]]
    logs: Path

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs.glob("*.log"))


PRODUCTION = {"PONTE_WORKERS": "2", "PONTE_THREADS": "2"}


def start(deployment: Deployment, name: str, command: list[str], env: dict[str, str]) -> None:
    with (deployment.logs / f"{name}.log").open("w") as log:
        deployment.processes[name] = subprocess.Popen(
            command,
            env={**os.environ, **PRODUCTION, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=10)


def ready(deployment: Deployment, name: str, url: str) -> None:
    if wait_for(url, timeout=60) != 200:
        log = (deployment.logs / f"{name}.log").read_text()
        raise AssertionError(f"{name} is not ready at {url}:\n{log[-3000:]}")


@pytest.fixture(scope="module")
def deployment(request, tmp_path_factory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("production")
    # Each port is chosen just before its server starts: one chosen earlier may meanwhile
    # have become the local end of some outgoing connection.
    hub, *nodes = (
        replace(service, env={**service.env, **database_env(request, f"production_{number}")})
        for number, service in enumerate(demo_services(base, free_port()))
    )
    deployed = Deployment(hub, [], {}, base / "logs")
    deployed.logs.mkdir()
    with ExitStack() as cleanup:  # the syncs first, the hub last
        cleanup.callback(lambda: [stop(p) for p in reversed(deployed.processes.values())])
        run_step(ponte_command("hub", "seed", "--data-dir", str(hub.data_dir)), hub.env, "seed")
        hub = deployed.hub = replace(hub, port=free_port())
        start(deployed, "hub", [*hub.command(), "--production"], hub.env)
        ready(deployed, "hub", hub.url + "readyz")
        for number, node in enumerate(nodes):
            enrol_member(hub, node)  # `ponte hub invite` and `ponte node init`, for real
            node = replace(node, port=free_port())
            deployed.nodes.append(node)
            start(deployed, f"node-{number}", [*node.command(), "--production"], node.env)
        for number, node in enumerate(deployed.nodes):
            # After the node is up, as systemd orders them: its start made the database.
            ready(deployed, f"node-{number}", node.url + "readyz")
            sync = ["node", "sync", "--loop", "--interval", "0.5", "--data-dir"]
            start(deployed, f"sync-{number}", ponte_command(*sync, str(node.data_dir)), node.env)
        yield deployed


def referrals(node: Service) -> list[dict]:
    command = ponte_command("node", "referrals", "--data-dir", str(node.data_dir), "--json")
    return json.loads(run_step(command, node.env, "listing referrals"))


def status_on(node: Service, wanted: str) -> dict | None:
    return next((case for case in referrals(node) if case["status"] == wanted), None)


def test_a_referral_goes_from_node_to_node_through_the_hub_under_gunicorn(deployment):
    a, b = deployment.nodes
    for name in ("hub", "node-0", "node-1"):  # gunicorn's master and its two workers each
        process = deployment.processes[name]
        assert len(eventually(lambda p=process: len(children(p.pid)) == 2 and children(p.pid)))
    send_demo_referral(a, b)  # `ponte node refer` queues it; A's sync loop sends it
    received = eventually(lambda: status_on(b, "delivered"), 60, "the referral on node B")
    accept = ["node", "accept", "--data-dir", str(b.data_dir), received["id"]]
    run_step(ponte_command(*accept), b.env, "accepting")  # B's sync loop tells A
    accepted = eventually(lambda: status_on(a, "accepted"), 60, "A learning B accepted")
    assert accepted["id"] == received["id"]
    for service in (deployment.hub, a, b):  # on PostgreSQL when the suite runs on it
        sqlite = service.data_dir / f"{service.group}.sqlite3"
        assert sqlite.exists() is not POSTGRES_MODE


def test_every_node_worker_unlocked_the_keys_and_the_sync_stops_cleanly(deployment):
    node = deployment.nodes[0]
    for _ in range(12):  # /readyz checks "keys" in whichever worker answers
        code, body = get_json(node.url + "readyz")
        assert (code, json.loads(body)["checks"]["keys"]) == (200, "ok")
    for number in (0, 1):
        sync = deployment.processes[f"sync-{number}"]
        assert stop(sync) == 0
        log = (deployment.logs / f"sync-{number}.log").read_text()
        assert "every 0.5 s" in log and log.rstrip().endswith("Sync stopped.")
    node_log = (deployment.logs / "node-0.log").read_text()
    assert "No sync here" in node_log and "sync:" not in node_log  # no thread in gunicorn


def test_node_check_config_opens_the_keystore_and_hides_the_passphrase(deployment):
    node = deployment.nodes[1]
    command = ponte_command("node", "check-config", "--data-dir", str(node.data_dir))
    good = subprocess.run(command, env={**os.environ, **node.env}, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"of {DEMO_MEMBERS[1][1]}" in good.stdout and "the keystore opens" in good.stdout
    env = {**os.environ, "PONTE_PASSPHRASE": "a wrong one"}
    bad = subprocess.run(command, env=env, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "PASSPHRASE: does not open the node's keystore: wrong passphrase" in bad.stdout
    for output in (good.stdout + good.stderr, bad.stdout + bad.stderr):
        assert DEMO_NODE_PASSPHRASE not in output and "a wrong one" not in output


def test_no_passphrase_reaches_any_log(deployment):
    text = deployment.log_text()
    assert "Booting worker" in text  # the logs are there
    assert DEMO_HUB_PASSPHRASE not in text and DEMO_NODE_PASSPHRASE not in text


# -- deploy/: nginx and systemd, checked by their own tools -----------------------------------


def tool(name: str, why_missing: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        if IN_CI and name == "nginx":
            pytest.fail(f"{name} is not installed; .ci/run installs it")
        pytest.skip(why_missing)
    return found


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=ponte.test", "-keyout", str(key),
         "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


def nginx_setup(directory: Path, sites: list[str], edit: Callable[[str], str] = str) -> Path:
    """A wrapper nginx.conf including the real site files, with only their paths (certificate,
    cache) pointing into ``directory`` and ``edit`` applied; its path."""
    certificate, key = self_signed_certificate(directory)
    (directory / "sites").mkdir()
    for site in sites:
        text = (DEPLOY / "nginx" / site).read_text()
        text = re.sub(r"/etc/letsencrypt/live/[^/]+/fullchain\.pem", str(certificate), text)
        text = re.sub(r"/etc/letsencrypt/live/[^/]+/privkey\.pem", str(key), text)
        text = text.replace("/var/cache/", f"{directory}/")  # nginx makes the last level
        (directory / "sites" / site).write_text(edit(text))
    temp_paths = "".join(
        f"    {kind}_temp_path {directory}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Workers as root: the test's directory is private to root (never so in production).
    user = "user root;\n" if os.geteuid() == 0 else ""
    wrapper = directory / "nginx.conf"
    wrapper.write_text(
        f"{user}pid {directory}/nginx.pid;\nerror_log {directory}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp_paths}    include {directory}/sites/*.conf;\n}}\n"
    )
    return wrapper


def nginx_command(nginx: str, wrapper: Path, *args: str) -> list[str]:
    directory = str(wrapper.parent)
    return [nginx, "-p", directory, "-e", f"{directory}/error.log", "-c", str(wrapper), *args]


@pytest.mark.parametrize(
    "sites", [["ponte-hub.conf"], ["ponte-node.conf"], ["ponte-hub.conf", "ponte-node.conf"]]
)
def test_nginx_accepts_the_site_configs(tmp_path, sites):
    nginx = tool("nginx", "nginx is not installed (.ci/run installs nginx-light)")
    wrapper = nginx_setup(tmp_path, sites)
    result = subprocess.run(nginx_command(nginx, wrapper, "-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def fetch(port: int, path: str, *, tls: bool = True, **headers: str) -> tuple[int, dict, bytes]:
    """One request to nginx for hub.example.org (the site's name) on 127.0.0.1:``port``."""
    import http.client
    import ssl

    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # self-signed
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = headers.pop("body", None)
    connection.request(
        "POST" if body else "GET", path, body, {"Host": "hub.example.org", **headers}
    )
    response = connection.getresponse()
    answer = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return answer


def test_nginx_in_front_of_the_hub_under_gunicorn(tmp_path, monkeypatch):
    """The real site file, run: HTTPS, the redirect, forwarded headers the hub trusts, the
    feed cache with ETag revalidation, HSTS, and nginx's own body limit and /metrics block."""
    nginx = tool("nginx", "nginx is not installed (.ci/run installs nginx-light)")
    hub_port, http_port, https_port = free_port(), free_port(), free_port()

    def local(text: str) -> str:  # ports of this test; no IPv6 needed
        text = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", text)
        text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        text = text.replace("listen 443 ", f"listen 127.0.0.1:{https_port} ")
        return text.replace("server 127.0.0.1:5080;", f"server 127.0.0.1:{hub_port};")

    wrapper = nginx_setup(tmp_path, ["ponte-hub.conf"], local)
    monkeypatch.setenv("PONTE_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("PONTE_WORKERS", "2")
    serve = ("hub", "serve", "--production", "--data-dir", str(tmp_path / "hub"))
    with ponte_process(*serve, "--port", str(hub_port)) as hub, ExitStack() as cleanup:
        Output(hub)  # keep its pipe drained
        assert wait_for(f"http://127.0.0.1:{hub_port}/readyz") == 200
        subprocess.run(nginx_command(nginx, wrapper), check=True, capture_output=True)
        cleanup.callback(subprocess.run, nginx_command(nginx, wrapper, "-s", "stop"))
        eventually(lambda: (tmp_path / "nginx.pid").exists(), what="nginx started")

        code, headers, _ = fetch(http_port, "/feeds?x=1", tls=False)
        assert (code, headers["Location"]) == (301, "https://hub.example.org/feeds?x=1")
        code, headers, body = fetch(https_port, "/.well-known/oauth-authorization-server")
        assert code == 200 and json.loads(body)["issuer"] == "https://hub.example.org"
        assert headers["Strict-Transport-Security"] == "max-age=63072000"

        first = fetch(https_port, "/feeds/all.atom")
        second = fetch(https_port, "/feeds/all.atom")
        assert [first[1]["X-Cache-Status"], second[1]["X-Cache-Status"]] == ["MISS", "HIT"]
        assert first[2] == second[2] and "Strict-Transport-Security" in second[1]
        etag = second[1]["ETag"]
        assert fetch(https_port, "/feeds/all.atom", **{"If-None-Match": etag})[0] == 304

        assert fetch(https_port, "/metrics")[0] == 404
        too_large = "x" * (5 * 1024 * 1024)
        assert fetch(https_port, "/api/v1/search", body=too_large)[0] == 413
        assert stop(hub) == 0


def test_nginx_sites_allow_the_bodies_the_apps_allow():
    from hub.relay import MAX_BLOB
    from node.attachments import AttachmentLimits
    from ponte.appfactory import MAX_REQUEST_BYTES

    def sizes(site: str) -> list[int]:
        text = (DEPLOY / "nginx" / site).read_text()
        return [int(m) * 1024 * 1024 for m in re.findall(r"client_max_body_size (\d+)m;", text)]

    hub, node = sizes("ponte-hub.conf"), sizes("ponte-node.conf")
    assert hub[0] == node[0] == MAX_REQUEST_BYTES
    assert MAX_BLOB <= hub[1] < MAX_BLOB + 1024 * 1024
    upload = AttachmentLimits().max_total_bytes + 1024 * 1024  # node/referral_pages.py
    assert node[1] == upload


UNITS = sorted((DEPLOY / "systemd").glob("ponte-*"))


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = tool(
        "systemd-analyze",
        "systemd-analyze is not installed (no systemd on this machine): units not verified",
    )
    assert {unit.suffix for unit in UNITS} == {".service", ".timer"} and len(UNITS) == 5
    ponte = Path(sys.executable).with_name("ponte")  # ExecStart must name a real program
    for unit in UNITS:
        text = unit.read_text().replace("/opt/ponte/venv/bin/ponte", str(ponte))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit.name) for unit in UNITS)],
        capture_output=True,
        text=True,
    )
    # verify exits 0 even for unknown keys or bad values: any output is a finding.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_the_units_run_as_ponte_with_their_env_file_and_hardening():
    for unit in UNITS:
        if unit.suffix != ".service":
            continue
        text = unit.read_text()
        service = "hub" if "-hub" in unit.name else "node"
        for line in ("User=ponte", f"EnvironmentFile=/etc/ponte/{service}.env",
                     "NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true",
                     f"ReadWritePaths=/var/lib/ponte/{service}"):  # fmt: skip
            assert line in text.splitlines(), f"{unit.name}: {line}"
        if "publish-due" not in unit.name:
            assert "Restart=on-failure" in text.splitlines(), unit.name
    assert "--production" in (DEPLOY / "systemd" / "ponte-node.service").read_text()
    assert "sync --loop" in (DEPLOY / "systemd" / "ponte-node-sync.service").read_text()
