"""The ``ponte`` command line: its shape, its errors and its servers as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponte.cli import main
from ponte.demo import DEMO_ITEMS, DEMO_NODE_PASSPHRASE
from tests.conftest import free_port, get_json, ponte_process, wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_groups_and_exit_codes_are_documented():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("hub", "node", "demo"):
        assert re.search(rf"^\s+{command}\s", result.output, re.MULTILINE)
    assert "Exit codes" in result.output


@pytest.mark.parametrize("command", [["hub", "serve"], ["node", "serve"], ["demo"]])
def test_every_command_shows_an_example(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert re.search(r"^\s+Examples?:$", result.output, re.MULTILINE)
    assert "--data-dir" in result.output


@pytest.mark.parametrize("group", ["hub", "node"])
def test_serve_without_data_dir_is_a_usage_error(group):
    result = CliRunner().invoke(main, [group, "serve"])
    assert result.exit_code == 2
    assert "--data-dir" in result.output


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_rejects_a_bad_port(tmp_path, port):
    result = CliRunner().invoke(main, ["hub", "serve", "--data-dir", str(tmp_path), "--port", port])
    assert result.exit_code == 2
    assert "--port" in result.output
    assert not (tmp_path / "hub.sqlite3").exists()


@pytest.mark.parametrize("group", ["hub", "node"])
def test_serve_starts_creates_its_data_dir_and_answers_healthz(tmp_path, group):
    data_dir = tmp_path / "fresh" / group
    port = free_port()
    with ponte_process(group, "serve", "--data-dir", str(data_dir), "--port", str(port)):
        assert wait_for(f"http://127.0.0.1:{port}/healthz") == 200
        _, body = get_json(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(body) == {"status": "ok", "service": group}
    assert (data_dir / f"{group}.sqlite3").is_file()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def _read_until_running(demo):
    lines = []
    while not any("Ponte is running" in line for line in lines):
        line = demo.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return "".join(lines)


def _received_by_node_b(demo_dir, timeout=60.0):
    """The demo's referral, as node B's running sync worker received it."""
    env = {**os.environ, "PONTE_PASSPHRASE": DEMO_NODE_PASSPHRASE}
    command = [
        sys.executable,
        "-m",
        "ponte.cli",
        "node",
        "referrals",
        "--data-dir",
        str(demo_dir / "node-b"),
        "--json",
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(
            subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        )
        if listed and listed[0]["status"] == "delivered":
            return listed[0]
        time.sleep(1)
    raise AssertionError("node B never received the demo referral")


def _news_on_node_b(demo_dir, title, timeout=60.0):
    """Node B's reader lists ``title`` once its sync worker has received and verified it."""
    command = [sys.executable, "-m", "ponte.cli", "node", "news", "--data-dir"]
    command.append(str(demo_dir / "node-b"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        if title in listed:
            return listed
        time.sleep(1)
    raise AssertionError(f"node B never showed {title!r}")


def test_demo_starts_a_seeded_hub_and_two_enrolled_nodes_and_stops_cleanly(tmp_path):
    base = free_port(3)
    with ponte_process("demo", "--data-dir", str(tmp_path), "--base-port", str(base)) as demo:
        started = _read_until_running(demo)
        services = [
            json.loads(get_json(f"http://127.0.0.1:{base + i}/healthz")[1])["service"]
            for i in range(3)
        ]
        assert services == ["hub", "node", "node"]
        assert "enrolled for Mitternachtsmission Heilbronn" in started
        assert "enrolled for ADPARE" in started
        _, body = get_json(f"http://127.0.0.1:{base}/api/v1/search?q=ADPARE")
        adpare = json.loads(body)["results"][0]["organisation"]["id"]
        _, entry = get_json(f"http://127.0.0.1:{base}/api/v1/organisations/{adpare}")
        [node] = json.loads(entry)["nodes"]
        _, home = get_json(f"http://127.0.0.1:{base + 2}/")
        assert node["fingerprint"] in home.decode()  # node B shows the key the hub attests
        assert _received_by_node_b(tmp_path)["status"] == "delivered"
        public, members = (item["title"] for item in DEMO_ITEMS)
        _, feed = get_json(f"http://127.0.0.1:{base}/feeds/all.atom")
        assert public in feed.decode() and members not in feed.decode()
        listed = _news_on_node_b(tmp_path, members)  # sealed to node B through the relay
        assert "verified" in listed and public in _news_on_node_b(tmp_path, public)
        demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0, output
    assert "Stopping Ponte" in output
    for port in (base, base + 1, base + 2):  # the children are gone too
        with pytest.raises(OSError):
            get_json(f"http://127.0.0.1:{port}/healthz")


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md has no command block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert len(commands) == 2
    start, test = commands
    assert (ROOT / start.removeprefix("./")).is_file()
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert test in ci_lines
