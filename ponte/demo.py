"""``ponte demo``: a hub seeded with the real directory and two enrolled NGO nodes, on this
machine, on embedded defaults.

The demo's passphrases are fixed and printed: they protect nothing. A real installation sets
its own (see README.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import click

from ponte.datadir import ensure_data_dir

READY_TIMEOUT = 60.0
DEMO_HUB_PASSPHRASE = "ponte demo hub passphrase"
DEMO_NODE_PASSPHRASE = "ponte demo node passphrase"
# Two organisations that really worked together (a child's return from Germany to Romania).
DEMO_MEMBERS = (
    ("DE", "Mitternachtsmission Heilbronn"),
    (
        "RO",
        "ADPARE - Association for Developing Alternative Practices for Reintegration and Education",
    ),
)


# What node A sends node B when the demo first starts: a return from Germany to Romania, as
# the two organisations handled together (case code and initials only; consent recorded).
DEMO_REFERRAL = {
    "request_type": "assisted_voluntary_return",
    "urgency": "urgent",
    "intake": "ngo_referral",
    "sender_contact": {
        "name": "Demo caseworker",
        "role": "caseworker",
        "organisation": "Mitternachtsmission Heilbronn",
    },
    "person": {
        "case_code": "DE-DEMO-0001",
        "initials": "A.M.",
        "gender": "female",
        "age_band": "18-24",
        "minor": False,
        "nationality": "RO",
        "languages": ["ro", "de"],
        "interpreter_needed": False,
    },
    "consent": {
        "given": True,
        "form": "written",
        "date": "2026-11-20",
        "scope": ["share_with_recipient", "follow_up_contact"],
        "withhold_from_family": "Where she lives now.",
    },
    "case": {
        "exploitation_forms": ["sexual"],
        "documents_held": ["national_id"],
        "documents_needed": [],
    },
    "risk_assessment": {
        "summary": "She wishes to return and be met on arrival; no known "
        "contact from the exploiters since she left.",
        "level": "medium",
        "date": "2026-11-21",
    },
    "follow_up": {
        "schedule": "A call one week after arrival, then monthly, as she agrees.",
        "duration_months": 6,
    },
}


# What the secretariat publishes when the demo first starts: one public news item and one
# members-only newsletter (delivered to the nodes as encrypted envelopes through the relay).
DEMO_ITEMS = (
    {
        "kind": "news",
        "title": "Ponte is open to member organisations",
        "topics": ["transnational-assistance", "protection-and-assistance"],
        "members_only": False,
        "body": "The secretariat has opened **Ponte**, the platform's hub for cross-border "
        "cooperation.\n\n- Find a partner abroad in the directory;\n- move a case to a "
        "partner safely, encrypted end to end;\n- follow the platform's news in your own "
        "language.\n\nAsk the secretariat for an invitation to connect your organisation.",
    },
    {
        "kind": "newsletter",
        "title": "Members' newsletter: working together on returns",
        "topics": ["transnational-assistance", "identification"],
        "members_only": True,
        "body": "## For member organisations only\n\nThis newsletter reaches every enrolled "
        "node as an encrypted envelope, signed by the secretariat's key.\n\n"
        "Share your experience of assisted voluntary returns with the secretariat: what "
        "worked, and what a partner abroad needed to know in time.",
    },
)


@dataclass(frozen=True)
class Service:
    label: str
    group: str
    data_dir: Path
    port: int
    member: tuple[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return ponte_command(
            self.group, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)
        )


def ponte_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ponte.cli", *args]


def demo_services(data_dir: Path, base_port: int) -> list[Service]:
    hub_env = {"PONTE_HUB_PASSPHRASE": DEMO_HUB_PASSPHRASE}
    node_env = {"PONTE_PASSPHRASE": DEMO_NODE_PASSPHRASE}
    return [
        Service("hub", "hub", data_dir / "hub", base_port, env=hub_env),
        Service("node A", "node", data_dir / "node-a", base_port + 1, DEMO_MEMBERS[0], node_env),
        Service("node B", "node", data_dir / "node-b", base_port + 2, DEMO_MEMBERS[1], node_env),
    ]


def run_step(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise click.ClickException(f"{what} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def enrol_member(hub: Service, node: Service) -> None:
    """Invite the node's organisation on the hub and run `ponte node init` (once)."""
    from directory.models import derived_id

    if node.member is None or (node.data_dir / "keystore.json").exists():
        return
    country, name = node.member
    invited = run_step(
        ponte_command(
            "hub",
            "invite",
            "--data-dir",
            str(hub.data_dir),
            "--org",
            derived_id("org", country, name),
        ),
        hub.env,
        f"inviting {name}",
    )
    token = invited.strip().splitlines()[-1]
    output = run_step(
        ponte_command(
            "node", "init", "--data-dir", str(node.data_dir), "--hub", hub.url, "--invite", token
        ),
        node.env,
        f"enrolling {node.label}",
    )
    click.echo(output.strip())


def send_demo_referral(sender: Service, recipient: Service) -> None:
    """Once: node A refers a case to node B's organisation; the running nodes' sync delivers
    it within seconds (see it with `ponte node referrals --data-dir .../node-b`)."""
    from directory.models import derived_id

    marker = sender.data_dir / "demo-referral.json"
    if marker.exists() or recipient.member is None:
        return
    marker.write_text(json.dumps(DEMO_REFERRAL, indent=2), encoding="utf-8")
    country, name = recipient.member
    output = run_step(
        ponte_command(
            "node",
            "refer",
            "--data-dir",
            str(sender.data_dir),
            "--to",
            derived_id("org", country, name),
            "--file",
            str(marker),
        ),
        sender.env,
        "sending the demo referral",
    )
    click.echo(
        f"{sender.label} referred case DE-DEMO-0001 to {recipient.label}: "
        f"{output.strip().splitlines()[-1]}"
    )


def publish_demo_items(hub: Service) -> None:
    """Once: the secretariat publishes DEMO_ITEMS with `ponte hub publish`."""
    marker = hub.data_dir / "demo-items.done"
    if marker.exists():
        return
    for number, item in enumerate(DEMO_ITEMS):
        body = hub.data_dir / f"demo-item-{number}.md"
        body.write_text(str(item["body"]), encoding="utf-8")
        command = ponte_command(
            "hub", "publish", "--data-dir", str(hub.data_dir), "--kind", str(item["kind"]),
            "--title", str(item["title"]), "--body-file", str(body), "--as", "demo@secretariat",
        )  # fmt: skip
        command += [arg for topic in item["topics"] for arg in ("--topic", topic)]
        command += ["--members-only"] if item["members_only"] else []
        run_step(command, hub.env, f"publishing {item['title']!r}")
    marker.write_text("published\n", encoding="utf-8")
    click.echo(f"The secretariat published {len(DEMO_ITEMS)} items (see {hub.url}news).")


def wait_ready(service: Service, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the {service.label} stopped while starting")
        try:
            with urllib.request.urlopen(service.url + "healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise click.ClickException(f"the {service.label} did not become ready on {service.url}")


def start(service: Service, processes: list[subprocess.Popen[bytes]]) -> None:
    process = subprocess.Popen(service.command(), env={**os.environ, **service.env})
    processes.append(process)
    wait_ready(service, process, time.monotonic() + READY_TIMEOUT)


def run_demo(data_dir: Path, base_port: int) -> None:
    data_dir = ensure_data_dir(data_dir)
    hub, *nodes = demo_services(data_dir, base_port)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        run_step(
            ponte_command("hub", "seed", "--data-dir", str(hub.data_dir)),
            hub.env,
            "importing the directory",
        )
        start(hub, processes)
        for node in nodes:
            enrol_member(hub, node)
            start(node, processes)
        send_demo_referral(*nodes)
        publish_demo_items(hub)
        click.echo("\nPonte is running:")
        for service in (hub, *nodes):
            member = f" for {service.member[1][:40]}" if service.member else ""
            click.echo(f"  {service.label:7} {service.url}{member}   (data: {service.data_dir})")
        click.echo(
            f"Demo passphrases: hub '{DEMO_HUB_PASSPHRASE}', nodes "
            f"'{DEMO_NODE_PASSPHRASE}'. Press Ctrl-C to stop."
        )
        sys.stdout.flush()
        _wait_any(processes)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, at any moment: stop everything cleanly
        click.echo("\nStopping Ponte...")
    finally:
        _stop(processes)


def _wait_any(processes: list[subprocess.Popen[bytes]]) -> None:
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
    raise click.ClickException("a Ponte service stopped unexpectedly; see its output above")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
