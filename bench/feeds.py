"""Feeds under load: ``/feeds/all.atom`` from a hub under gunicorn (2 workers, 4 threads each).

Seeds N published public items in-process (default 200: the feed holds the newest 50), starts
the hub under gunicorn (bench/relay.py's helpers), then measures requests per second with
several client threads, in interleaved rounds (best of the rounds counts), for:

- ``GET /feeds/all.atom`` without validators: 200 with the whole feed (from the worker's cache),
- the same with ``If-None-Match`` set to its ETag: 304, no body,
- ``GET /healthz``: the no-op baseline on the same server (liveness only: no database query).

Every feed request still releases due scheduled items and reads the publication version (two
small queries), so the ratios show what the feed costs beyond a trivial request. Prints the
ratios to the no-op and saves bench/results/feeds.json. Uses SQLite in a temporary data dir.

    .venv/bin/python bench/feeds.py [--items 200] [--rounds 5] [--seconds 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

# Run as a script, bench/ is on sys.path: reuse how the relay benchmark starts gunicorn.
from relay import HUB_PASSPHRASE, free_port, start_gunicorn

RESULTS = Path(__file__).parent / "results" / "feeds.json"
FEED = "/feeds/all.atom"
BODY = (
    "The secretariat met the national coordinators to discuss **identification** of victims "
    "in the agricultural sector, the new [EU directive](https://eur-lex.europa.eu/) and the "
    "funding calls of the coming year.\n\n- shelters\n- legal aid\n- safe returns\n\n"
) * 4


def seed(data_dir: Path, count: int) -> None:
    from hub import create_app
    from hub.extensions import db
    from hub.identity import hub_identity
    from hub.publishing import ItemDraft, create_item, publish_item
    from ponte.topics import TOPICS

    app = create_app(data_dir, {"HUB_PASSPHRASE": HUB_PASSPHRASE, "KEYSTORE_KDF": "interactive"})
    topics = list(TOPICS)
    with app.app_context():
        identity = hub_identity()
        for index in range(count):
            draft = ItemDraft(
                kind="news",
                title=f"News item {index}: cooperation across borders",
                body_markdown=BODY,
                topics=[topics[index % len(topics)], topics[(index * 7) % len(topics)]],
                countries=["RO", "IT", "DE"][: 1 + index % 3],
            )
            item = create_item(db.session, draft, "bench")
            publish_item(db.session, item, "bench", identity)
        db.engine.dispose()


def rate(url: str, headers: dict[str, str], status: int, clients: int, seconds: float) -> float:
    """Requests per second answered with ``status`` by ``clients`` threads for ``seconds``."""
    done, wrong = [0] * clients, []
    deadline = time.perf_counter() + seconds

    def client(slot: int) -> None:
        session = requests.Session()
        while time.perf_counter() < deadline and not wrong:
            response = session.get(url, headers=headers, timeout=30)
            if response.status_code != status:
                wrong.append(f"{url}: {response.status_code}, expected {status}")
            done[slot] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if wrong:  # a benchmark of error pages would measure nothing
        raise SystemExit(wrong[0])
    return sum(done) / (time.perf_counter() - start)


def measure(base: str, args: argparse.Namespace) -> tuple[dict[str, float], int]:
    warm = requests.get(base + FEED, timeout=30)  # each worker renders once, then serves
    warm.raise_for_status()
    cases = {
        "feed_200": (base + FEED, {}, 200),
        "feed_304": (base + FEED, {"If-None-Match": warm.headers["ETag"]}, 304),
        "noop": (base + "/healthz", {}, 200),
    }
    for url, headers, status in cases.values():
        rate(url, headers, status, args.clients, 0.5)
    best = dict.fromkeys(cases, 0.0)
    for _ in range(args.rounds):  # interleaved: drift in the machine's load hits all three
        for name, (url, headers, status) in cases.items():
            best[name] = max(best[name], rate(url, headers, status, args.clients, args.seconds))
    return best, len(warm.content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    os.environ["PONTE_HUB_PASSPHRASE"] = HUB_PASSPHRASE  # the gunicorn workers inherit it
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "hub"
        seed(data_dir, args.items)
        port = free_port()
        server = start_gunicorn(data_dir, port)
        try:
            best, feed_bytes = measure(f"http://127.0.0.1:{port}", args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "benchmark": "GET /feeds/all.atom under gunicorn (2 workers x 4 threads), vs /healthz",
        "database": "sqlite",
        "items": args.items,
        "feed_entries": min(args.items, 50),
        "feed_bytes": feed_bytes,
        "clients": args.clients,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "feed_200_per_s": round(best["feed_200"], 1),
        "feed_304_per_s": round(best["feed_304"], 1),
        "noop_per_s": round(best["noop"], 1),
        "ratio_200_to_noop": round(best["feed_200"] / best["noop"], 3),
        "ratio_304_to_noop": round(best["feed_304"] / best["noop"], 3),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(
        f"feed 200: {best['feed_200']:.1f}/s ({feed_bytes:,} bytes), feed 304: "
        f"{best['feed_304']:.1f}/s, no-op: {best['noop']:.1f}/s; ratios 200/no-op "
        f"{result['ratio_200_to_noop']:.3f}, 304/no-op {result['ratio_304_to_noop']:.3f}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
