"""Referrals from node A to node B through a hub under gunicorn (2 workers), end to end.

A seals and posts; B fetches its inbox, opens every envelope and acknowledges it. Baseline in
the same run: a token-authenticated no-op (GET /api/v1/ping) on the same server. Prints
messages per second for both and their ratio; saves bench/results/relay.json. Uses SQLite in
a temporary data dir, or PostgreSQL when DATABASE_URL is set. Target: >= 300 referrals/s.

    .venv/bin/python bench/relay.py [--messages 600] [--senders 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from node.oauth_client import token_request_form
from protocol import MemorySeenIds, NodeIdentity, b64url_decode, open_envelope, seal

RESULTS = Path(__file__).parent / "results" / "relay.json"
HUB_PASSPHRASE = "bench hub passphrase"


def enrol_two_nodes(data_dir: Path) -> tuple[NodeIdentity, NodeIdentity]:
    from directory.models import Organization
    from hub import create_app
    from hub.enrolment import create_invitation, redeem_invitation
    from hub.extensions import db
    from hub.identity import hub_identity
    from protocol import enrolment_proof

    app = create_app(data_dir, {"HUB_PASSPHRASE": HUB_PASSPHRASE, "KEYSTORE_KDF": "interactive"})
    nodes = []
    with app.app_context():
        for name in ("a", "b"):
            db.session.add(
                Organization(id=f"org-{name}", name=f"NGO {name}", kind="ngo", country="IT")
            )
            db.session.commit()
            identity = NodeIdentity.generate(f"node-bench-{name}")
            token = create_invitation(db.session, f"org-{name}", "bench").token
            redeem_invitation(
                db.session,
                hub_identity(),
                token,
                identity.public_record().to_dict(),
                enrolment_proof(identity, token),
            )
            nodes.append(identity)
        db.engine.dispose()
    return nodes[0], nodes[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PONTE_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "hub.wsgi:app",
        ],
        env=env,
    )
    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def token(base: str, identity: NodeIdentity) -> dict[str, str]:
    form = token_request_form(identity, f"{base}/oauth/token", "relay")
    answer = requests.post(f"{base}/oauth/token", data=form, timeout=10)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def referral(index: int) -> dict:
    return {
        "request_type": "assisted_voluntary_return",
        "urgency": "routine",
        "sender_contact": {"name": "Caseworker", "role": "caseworker"},
        "person": {
            "case_code": f"DE-2026-{index:05d}",
            "gender": "female",
            "age_band": "18-24",
            "minor": False,
            "nationality": "RO",
        },
        "consent": {
            "given": True,
            "form": "written",
            "date": "2026-11-20",
            "scope": ["share_with_recipient"],
        },
        "risk_assessment": {
            "summary": "Low risk; family supportive. " * 40,
            "level": "low",
            "date": "2026-11-21",
        },
        "restricted_notes": "Notes for the receiving caseworker. " * 40,
    }


def measure_ping(base: str, headers: dict[str, str], count: int, workers: int) -> float:
    session = requests.Session()
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(
            pool.map(
                lambda _: session.get(
                    f"{base}/api/v1/ping", headers=headers, timeout=10
                ).raise_for_status(),
                range(count),
            )
        )
    return count / (time.perf_counter() - start)


def measure_relay(base: str, a: NodeIdentity, b: NodeIdentity, count: int, workers: int) -> float:
    a_headers = {**token(base, a), "Content-Type": "application/octet-stream"}
    b_headers = token(base, b)
    received, seen, done = [0], MemorySeenIds(), threading.Event()
    session = requests.Session()

    def send(index: int) -> None:
        wire = seal(a, b.public_record(), "referral", referral(index)).to_wire()
        session.post(
            f"{base}/api/v1/relay/envelopes", data=wire, headers=a_headers, timeout=30
        ).raise_for_status()

    def receive() -> None:
        inbox = requests.Session()
        while received[0] < count:
            page = inbox.get(
                f"{base}/api/v1/relay/inbox?limit=100", headers=b_headers, timeout=30
            ).json()["messages"]
            for message in page:
                open_envelope(
                    b64url_decode(message["wire"]), b, lambda _: [a.public_record()], seen
                )
            if page:
                inbox.post(
                    f"{base}/api/v1/relay/ack",
                    json={"ids": [m["id"] for m in page]},
                    headers=b_headers,
                    timeout=30,
                ).raise_for_status()
                received[0] += len(page)
        done.set()

    start = time.perf_counter()
    consumer = threading.Thread(target=receive)
    consumer.start()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, range(count)))
    consumer.join(timeout=300)
    return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "hub"
        a, b = enrol_two_nodes(data_dir)
        port = free_port()
        server = start_gunicorn(data_dir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            ping = measure_ping(base, token(base, a), args.messages, args.senders)
            relay = measure_relay(base, a, b, args.messages, args.senders)
        finally:
            server.terminate()
            server.wait(timeout=30)
    database = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    result = {
        "benchmark": "referrals A->B through the hub (gunicorn, 2 workers)",
        "database": database,
        "messages": args.messages,
        "senders": args.senders,
        "relay_per_s": round(relay, 1),
        "ping_per_s": round(ping, 1),
        "ratio": round(relay / ping, 3),
        "target_per_s": 300,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    print(
        f"{database}: relay {relay:.1f} referrals/s, no-op {ping:.1f} requests/s, "
        f"ratio {relay / ping:.3f} (target >= 300 referrals/s)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
