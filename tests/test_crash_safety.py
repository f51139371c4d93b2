"""Crash safety with real processes (issue 9, item 2): a burst of 500 referrals between two
nodes survives a SIGKILLed hub, SIGKILLed node syncs and a PostgreSQL restart, each referral
delivered exactly once and none lost.

The hub runs as ``ponte hub serve --production`` (gunicorn, two workers of two threads) in a
process group of its own, so that SIGKILL takes the master and its workers down together, as
a crash of the machine would. Each node runs ``ponte node sync --loop`` as its own process;
the nodes' referrals are created in this process through ``create_referral`` (over real HTTP
to the hub, like the web form), and the hub's and nodes' databases are read from here.

Each run prints its numbers (sent, delivered, duplicates, lost per direction). A post that
failed while the hub or its database was down waits node.sync.BACKOFF_BASE (30 s) before it
is retried, so those runs settle about half a minute after the restart.

The last tests drive the relay's functions on PostgreSQL directly: two writers for one node
at once must not let that node's inbox or notices cursor skip a row (hub.relay).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

from directory.catalogue import import_directory
from directory.models import Organization, Service
from hub import create_app as create_hub_app
from hub.enrolment import create_invitation, redeem_invitation
from hub.extensions import db as hub_db
from hub.identity import hub_identity
from hub.models import Node
from hub.relay import accept_envelope, acknowledge, inbox, notices
from hub.search_index import search_index
from node.extensions import db
from node.models import CaseEvent, OutboxItem, Referral
from ponte.demo import ponte_command
from protocol import Envelope, Kind, NodeIdentity, b64url_encode, enrolment_proof, seal
from tests.conftest import POSTGRES_MODE, free_port, wait_for
from tests.postgres import PostgresServer
from tests.test_enrolment import HUB_SETTINGS, PASSPHRASE, LiveHub
from tests.test_referral_proofs import outside_engine, queue_referrals
from tests.test_referrals import TestNode, example, make_node

PER_NODE = 250  # referrals each node sends the other: 500 in a burst
SETTLE_TIMEOUT = 150.0  # the first retry after a failed post waits node.sync.BACKOFF_BASE
SEED = int(os.environ.get("PONTE_PROOF_SEED", random.SystemRandom().randrange(2**32)))
# What a node's sync has done so far: envelopes posted (its referrals, then a receipt per
# referral received), and referrals received.
POSTED = "select count(*) from outbox_item where state != 'queued'"
RECEIVED = "select count(*) from referral where role = 'recipient'"


# -- the hub as a process -----------------------------------------------------------------


@dataclass
class HubProcess:
    """``ponte hub serve --production`` on a data dir (and database) prepared in this
    process; ``app`` is this process's view of the same database."""

    app: Flask
    data_dir: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return str(self.app.config["SQLALCHEMY_DATABASE_URI"])

    def start(self) -> None:
        env = {
            **os.environ,
            "PONTE_HUB_PASSPHRASE": HUB_SETTINGS["HUB_PASSPHRASE"],
            "DATABASE_URL": self.database_url,
            "PONTE_WORKERS": "2",
            "PONTE_THREADS": "2",
        }
        command = ponte_command("hub", "serve", "--production", "--data-dir", str(self.data_dir))
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's master and workers
            )
        deadline = time.monotonic() + 60
        while wait_for(f"{self.url}/readyz", timeout=60) != 200:  # 503 until it is ready
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"the hub is not ready:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the master and every worker at once."""
        assert self.process is not None and self.process.poll() is None, "the hub had died"
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def relayed(self, sender: TestNode, kind: str = "referral") -> int:
        """Envelopes of ``kind`` from ``sender`` that the hub holds (-1: database down)."""
        sql = text("select count(*) from relay_message where sender = :sender and kind = :kind")
        return read_count(self.database_url, sql, sender=node_id(sender), kind=kind)

    def fresh_organisations(self, count: int) -> list[str]:
        """Names of organisations with no node yet and a name of their own; those with the
        fewest services first (creating a referral fetches the partner's directory entry)."""
        with self.app.app_context():
            enrolled = select(Node.organization_id)
            services = func.count(Service.id.distinct())
            query = (
                select(Organization.name)
                .outerjoin(Service, Service.organization_id == Organization.id)
                .where(Organization.id.not_in(enrolled))
                .group_by(Organization.id, Organization.name)
                .order_by(services, Organization.name)
            )
            names = Counter(hub_db.session.scalars(select(Organization.name)))
            return [name for name in hub_db.session.scalars(query) if names[name] == 1][:count]


def prepared_hub(base: Path, database_url: str | None = None) -> HubProcess:
    """A hub data dir with the shipped directory imported and the hub key made (with the
    tests' cheap KDF), started as a process."""
    overrides = {**HUB_SETTINGS}
    if database_url is not None:
        overrides["SQLALCHEMY_DATABASE_URI"] = database_url
    app = create_hub_app(base / "hub", overrides)
    with app.app_context():
        import_directory(hub_db.session, search_index())
        hub_identity()
    hub = HubProcess(app, base / "hub", free_port(), base / "hub.log")
    hub.start()
    return hub


@pytest.fixture(scope="module")
def hub_process(tmp_path_factory) -> Iterator[HubProcess]:
    """One hub for the module (each test enrols nodes of organisations of its own). On the
    suite's PostgreSQL run its database is on the session's server."""
    hub = prepared_hub(tmp_path_factory.mktemp("crash"))
    yield hub
    hub.stop()
    with hub.app.app_context():
        hub_db.engine.dispose()


# -- the nodes' sync processes --------------------------------------------------------------


@dataclass
class SyncLoop:
    """``ponte node sync --loop`` for one node, on the database its in-process app uses."""

    node: TestNode
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PONTE_PASSPHRASE": PASSPHRASE,
            "DATABASE_URL": self.node.app.config["SQLALCHEMY_DATABASE_URI"],
        }
        sync = ("node", "sync", "--loop", "--interval", "0.2", "--data-dir")
        with self.log.open("a") as output:
            self.process = subprocess.Popen(
                ponte_command(*sync, str(self.node.data_dir)),
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM: the loop finishes its pass and exits 0 (it must not have died before)."""
        if self.process is None:
            return
        assert self.process.poll() is None, f"the sync died:\n{self.log.read_text()[-3000:]}"
        self.process.send_signal(signal.SIGTERM)
        try:
            assert self.process.wait(timeout=60) == 0, self.log.read_text()[-3000:]
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def sync_loops(tmp_path) -> Iterator[Callable[[TestNode], SyncLoop]]:
    made: list[SyncLoop] = []

    def start(node: TestNode) -> SyncLoop:
        made.append(SyncLoop(node, tmp_path / f"sync-{len(made)}.log"))
        made[-1].start()
        return made[-1]

    yield start
    for loop in made:
        if loop.process is not None and loop.process.poll() is None:
            loop.process.kill()
            loop.process.wait(timeout=10)


# -- reading the databases from outside ------------------------------------------------------


def node_id(node: TestNode) -> str:
    return node.keys.enrolment.node_id


def read_count(url: str, sql: TextClause, **params: str) -> int:
    """One number from a database another process writes; -1 while it cannot be read (the
    PostgreSQL server restarting, SQLite locked for a moment)."""
    try:
        with outside_engine(url).connect() as connection:
            return int(connection.execute(sql, params).scalar_one())
    except DBAPIError:
        return -1


def done_so_far(node: TestNode, sql: str) -> int:
    """A count from the node's database, read again while it cannot be read."""
    url = node.app.config["SQLALCHEMY_DATABASE_URI"]
    for _ in range(100):
        count = read_count(url, text(sql))
        if count >= 0:
            return count
        time.sleep(0.05)
    raise AssertionError(f"{url} could not be read")


def settled(node: TestNode, expected_in: int, expected_out: int) -> bool:
    """Every referral for it is here, and every envelope it posted (its referrals and a
    receipt per referral received) is confirmed delivered by the hub."""
    url = node.app.config["SQLALCHEMY_DATABASE_URI"]
    delivered = text("select count(*) from outbox_item where state = 'delivered'")
    return (
        read_count(url, text(RECEIVED)) == expected_in
        and read_count(url, delivered) == expected_out + expected_in
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took for ``condition`` to hold."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.25)
    return time.monotonic() - started


# -- the burst and its verdict --------------------------------------------------------------


@dataclass
class Burst:
    a: TestNode
    b: TestNode
    a_to_b: list[str]
    b_to_a: list[str]

    @property
    def total(self) -> int:
        return len(self.a_to_b) + len(self.b_to_a)

    def relayed(self, hub: HubProcess) -> int:
        counts = (hub.relayed(self.a), hub.relayed(self.b))
        return -1 if -1 in counts else sum(counts)

    def settled(self) -> bool:
        return settled(self.a, len(self.b_to_a), len(self.a_to_b)) and settled(
            self.b, len(self.a_to_b), len(self.b_to_a)
        )


def burst(hub: HubProcess, base: Path) -> Burst:
    """Two freshly enrolled nodes, each with PER_NODE referrals queued for the other."""
    live = LiveHub(hub.app, hub.url)
    first, second = hub.fresh_organisations(2)
    a = make_node(live, base / "node-a", first)
    b = make_node(live, base / "node-b", second)
    with ThreadPoolExecutor(2) as both:  # each node writes its own database
        a_to_b = both.submit(queue_referrals, a, b, PER_NODE)
        b_to_a = both.submit(queue_referrals, b, a, PER_NODE)
        return Burst(a, b, a_to_b.result(), b_to_a.result())


@dataclass
class Tally:
    direction: str
    sent: int
    delivered: int
    duplicates: int
    lost: int

    def __str__(self) -> str:
        return (
            f"{self.direction}: sent {self.sent}, delivered {self.delivered}, "
            f"duplicates {self.duplicates}, lost {self.lost}"
        )


def tally(hub: HubProcess, sender: TestNode, recipient: TestNode, ids: list[str]) -> Tally:
    """Count what reached ``recipient`` of ``ids``: a duplicate is a second case or a second
    application of the same referral at the recipient, or a second copy on the hub."""
    with recipient.app.app_context():
        received = set(db.session.scalars(select(Referral.id).where(Referral.role == "recipient")))
        arrivals = Counter(
            db.session.scalars(
                select(CaseEvent.referral_id).where(
                    CaseEvent.direction == "in", CaseEvent.status == "sent"
                )
            )
        )
    extra_on_hub = max(0, hub.relayed(sender) - len(ids))
    wanted = set(ids)
    duplicates = (
        len(received - wanted)
        + sum(count - 1 for count in arrivals.values() if count > 1)
        + extra_on_hub
    )
    direction = f"{sender.data_dir.name} -> {recipient.data_dir.name}"
    return Tally(direction, len(ids), len(received & wanted), duplicates, len(wanted - received))


def assert_exactly_once(hub: HubProcess, run: Burst, report: Callable[[str], None]) -> None:
    """Each referral is one case at its recipient, applied once, with a receipt confirmed;
    every sender's case and envelope reached delivered."""
    tallies = [
        tally(hub, run.a, run.b, run.a_to_b),
        tally(hub, run.b, run.a, run.b_to_a),
    ]
    for line in tallies:
        report(str(line))
    for line in tallies:
        assert (line.delivered, line.duplicates, line.lost) == (line.sent, 0, 0), line
    for sender, recipient, ids in ((run.a, run.b, run.a_to_b), (run.b, run.a, run.b_to_a)):
        assert_histories(recipient, ids)
        with sender.app.app_context():
            sent_cases = select(Referral.status).where(Referral.role == "sender")
            assert set(db.session.scalars(sent_cases)) == {"delivered"}
            states = Counter(db.session.execute(select(OutboxItem.kind, OutboxItem.state)).all())
        # Its referrals, and one receipt per referral it received; all confirmed delivered.
        assert states == {("referral", "delivered"): len(ids), ("receipt", "delivered"): len(ids)}
    inbox = [
        node.keys.hub.inbox(node.keys.identities[-1], 0, 100)["messages"] for node in (run.a, run.b)
    ]
    assert inbox == [[], []]  # nothing left on the hub for either


def assert_histories(recipient: TestNode, ids: list[str]) -> None:
    """Each case arrived once and was confirmed once: nothing applied twice."""
    with recipient.app.app_context():
        rows = db.session.execute(
            select(CaseEvent.referral_id, CaseEvent.direction, CaseEvent.status).order_by(
                CaseEvent.id
            )
        ).all()
        histories: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for referral_id, direction, status in rows:
            histories[referral_id].append((direction, status))
    wrong = {
        referral_id: histories[referral_id]
        for referral_id in ids
        if histories[referral_id] != [("in", "sent"), ("local", "delivered")]
    }
    assert not wrong, list(wrong.items())[:5]


@pytest.fixture
def report(capsys) -> Callable[[str], None]:
    """Print a line in the test output, captured or not."""

    def say(line: str) -> None:
        with capsys.disabled():
            print(f"\n[crash safety] {line}", end="")

    return say


def wait_for_some_relayed(hub: HubProcess, run: Burst, at_least: int) -> int:
    wait_until(lambda: run.relayed(hub) >= at_least, 60, f"{at_least} referrals on the hub")
    return run.relayed(hub)


# -- 1. the hub SIGKILLed mid-burst ----------------------------------------------------------


@pytest.mark.slow
def test_a_hub_killed_mid_burst_loses_and_doubles_no_referral(
    hub_process, sync_loops, tmp_path, report
):
    hub = hub_process
    run = burst(hub, tmp_path)
    loops = [sync_loops(run.a), sync_loops(run.b)]
    wait_for_some_relayed(hub, run, run.total * 2 // 5)
    hub.kill()
    at_kill = run.relayed(hub)  # what the hub had committed when it died
    assert 0 < at_kill < run.total, at_kill  # the burst was cut in the middle
    time.sleep(1.0)  # the nodes meet a dead hub: refused connections, failed passes
    hub.start()  # same data dir, same port
    took = wait_until(run.settled, SETTLE_TIMEOUT, "both nodes settled after the hub restart")
    for loop in loops:
        loop.stop()
    report(f"hub SIGKILL: {at_kill} of {run.total} referrals relayed at the kill; settled "
           f"{took:.1f} s after the restart")  # fmt: skip
    assert_exactly_once(hub, run, report)


# -- 2. node syncs SIGKILLed mid-sync ---------------------------------------------------------


def kill_while(loop: SyncLoop, work: str, rng: random.Random) -> tuple[int, int]:
    """Once the node's sync visibly does ``work`` (a count of what it did), SIGKILL it a
    moment later and start it again; the count before it moved and right after the kill."""
    before = done_so_far(loop.node, work)
    deadline = time.monotonic() + 30
    while done_so_far(loop.node, work) <= before and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.2))
    loop.kill()
    after = done_so_far(loop.node, work)
    loop.start()
    return before, after


@pytest.mark.slow
def test_node_syncs_killed_mid_sync_lose_and_double_no_referral(
    hub_process, sync_loops, tmp_path, report
):
    hub, rng = hub_process, random.Random(SEED)
    run = burst(hub, tmp_path)
    a, b = sync_loops(run.a), sync_loops(run.b)
    # A pass posts first (its referrals, then receipts), then fetches: each node is killed
    # while posting, then while fetching.
    phases = [("posting", POSTED, 2 * PER_NODE), ("fetching", RECEIVED, PER_NODE)]
    cuts = []
    for phase, work, total in phases:
        for loop in (a, b):
            before, after = kill_while(loop, work, rng)
            cuts.append((f"{loop.node.data_dir.name} {phase}", before, after, total))
    took = wait_until(run.settled, SETTLE_TIMEOUT, "both nodes settled after the kills")
    for loop in (a, b):
        loop.stop()
    shown = "; ".join(f"{what} {before}->{after} of {total}" for what, before, after, total in cuts)
    report(f"node SIGKILL (seed {SEED}): {shown}; settled {took:.1f} s later")
    # Each kill landed in the middle of the work it was aimed at.
    assert all(before < after < total for _, before, after, total in cuts), (SEED, cuts)
    assert_exactly_once(hub, run, report)


# -- 3. PostgreSQL restarted mid-burst --------------------------------------------------------


@pytest.fixture
def hub_on_postgres(postgres: PostgresServer, tmp_path) -> Iterator[HubProcess]:
    hub = prepared_hub(tmp_path, postgres.database(f"crash_{uuid.uuid4().hex[:12]}"))
    yield hub
    hub.stop()
    with hub.app.app_context():
        hub_db.engine.dispose()


@pytest.mark.slow
def test_postgresql_restarted_mid_burst_loses_and_doubles_no_referral(
    hub_on_postgres, postgres, sync_loops, tmp_path, report
):
    hub = hub_on_postgres
    run = burst(hub, tmp_path)
    loops = [sync_loops(run.a), sync_loops(run.b)]
    before = wait_for_some_relayed(hub, run, run.total * 2 // 5)
    postgres.restart()  # every connection of the hub (and, on PostgreSQL, the nodes) is cut
    for app in (hub.app, run.a.app, run.b.app):  # this process's pools: connections gone
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()
    after = run.relayed(hub)
    assert 0 < before <= after < run.total, (before, after)  # restarted mid-burst
    took = wait_until(run.settled, SETTLE_TIMEOUT, "both nodes settled after the restart")
    assert hub.alive(), hub.log.read_text()[-3000:]  # the hub rode it out, no restart
    for loop in loops:
        loop.stop()
    nodes_too = " (the nodes' databases too)" if POSTGRES_MODE else ""
    report(f"PostgreSQL restart{nodes_too}: {before} of {run.total} referrals relayed "
           f"before it; settled {took:.1f} s later")  # fmt: skip
    assert_exactly_once(hub, run, report)


# -- 4. seqs become visible in order (PostgreSQL, the relay's functions) ----------------------
# A node reads its inbox and its notices with ``seq > after`` and moves ``after`` on. Two
# writers for one node at once (two partners posting to it; two partners acknowledging its
# envelopes) must not let a reader see the later seq before the earlier one is committed:
# the reader would move past the earlier one for good (hub.relay._seqs_in_order).


@dataclass
class Relay:
    app: Flask

    def wire(self, sender: NodeIdentity, recipient: NodeIdentity) -> bytes:
        return seal(sender, recipient.public_record(), Kind.REFERRAL, example()).to_wire()


@pytest.fixture
def relay_on_postgres(postgres: PostgresServer, tmp_path) -> Iterator[tuple[Relay, list]]:
    """A hub app on a fresh PostgreSQL database with four enrolled nodes' identities."""
    database = postgres.database(f"order_{uuid.uuid4().hex[:12]}")
    app = create_hub_app(tmp_path / "hub", {**HUB_SETTINGS, "SQLALCHEMY_DATABASE_URI": database})
    identities = [NodeIdentity.generate(f"node-order-{name}") for name in "abcd"]
    with app.app_context():
        for identity in identities:
            organisation = f"org-{identity.node_id}"
            hub_db.session.add(Organization(id=organisation, name=organisation, kind="ngo",
                                            country="IT"))  # fmt: skip
            hub_db.session.commit()
            token = create_invitation(hub_db.session, organisation, "test").token
            record, proof = identity.public_record().to_dict(), enrolment_proof(identity, token)
            redeem_invitation(hub_db.session, hub_identity(), token, record, proof)
    yield Relay(app), identities
    with app.app_context():
        hub_db.engine.dispose()


def node_row(session, identity: NodeIdentity) -> Node:
    return session.get(Node, identity.node_id)


def read_across_two_writers(
    app: Flask,
    first: Callable[[object], object],
    second: Callable[[object], object],
    read: Callable[[object, int], list[tuple[int, str]]],
) -> list[str]:
    """``first`` writes and stops after its flush (its seqs drawn, not committed); ``second``
    then has a second to write and commit; a reader with a cursor reads, and reads again after
    ``first`` committed. The ids the reader saw."""
    drawn, release = threading.Event(), threading.Event()

    def held() -> None:
        with app.app_context():
            session = hub_db.session()

            @event.listens_for(session, "after_flush_postexec")
            def hold(*_: object) -> None:
                drawn.set()
                release.wait(10)

            first(session)

    def free() -> None:
        with app.app_context():
            second(hub_db.session())

    one, two = threading.Thread(target=held), threading.Thread(target=free)
    one.start()
    assert drawn.wait(10), "the first writer never flushed"
    two.start()
    two.join(1.0)  # done by now, unless it waits for the first writer
    with app.app_context():
        seen = read(hub_db.session(), 0)
    release.set()
    one.join(10)
    two.join(10)
    cursor = max((seq for seq, _ in seen), default=0)
    with app.app_context():
        seen += read(hub_db.session(), cursor)
    return sorted(message_id for _, message_id in seen)


def message_id(wire: bytes) -> str:
    return b64url_encode(Envelope.from_wire(wire).header.message_id)


def test_two_partners_posting_to_a_node_at_once_cannot_make_it_skip_one(relay_on_postgres):
    relay, (a, c, b, _) = relay_on_postgres
    wires = {a: relay.wire(a, b), c: relay.wire(c, b)}

    def post(sender: NodeIdentity) -> Callable[[object], object]:
        return lambda session: accept_envelope(session, node_row(session, sender), wires[sender])

    def inbox_of_b(session, after: int) -> list[tuple[int, str]]:
        return [(m.seq, m.message_id) for m in inbox(session, node_row(session, b), after, 50)]

    seen = read_across_two_writers(relay.app, post(a), post(c), inbox_of_b)
    assert seen == sorted(map(message_id, wires.values()))


def test_two_partners_acknowledging_at_once_cannot_make_the_sender_skip_a_notice(
    relay_on_postgres,
):
    relay, (a, b, c, _) = relay_on_postgres
    wires = {b: relay.wire(a, b), c: relay.wire(a, c)}
    with relay.app.app_context():
        for wire in wires.values():
            accept_envelope(hub_db.session, node_row(hub_db.session, a), wire)

    def ack(recipient: NodeIdentity) -> Callable[[object], object]:
        ids = [message_id(wires[recipient])]
        return lambda session: acknowledge(session, node_row(session, recipient), ids)

    def notices_of_a(session, after: int) -> list[tuple[int, str]]:
        return [(n.seq, n.message_id) for n in notices(session, node_row(session, a), after, 50)]

    seen = read_across_two_writers(relay.app, ack(b), ack(c), notices_of_a)
    assert seen == sorted(map(message_id, wires.values()))
