"""Hard proofs for encrypted referrals: offline nodes and expiry, killed processes, the accept
race of a multi-candidate offer, who may touch which mail, and bad input.

Real crypto, a real hub over HTTP (a server thread) and, where a process is killed, a real
``python -m ponte.cli node sync`` process.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import nacl.public
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from hub.enrolment import revoke_node
from hub.extensions import db as hub_db
from hub.identity import hub_identity
from hub.models import RelayMessage
from node.extensions import db
from node.hub_client import HubError
from node.inbound import WITHDRAWN_FOR_ANOTHER
from node.models import CaseEvent, OutboxItem, Referral
from node.outbox import as_datetime, partner_record
from node.referrals import create_referral
from node.sync import SyncSummary, sync_once
from ponte.cli import main
from protocol import Envelope, Kind, NodeIdentity, b64url_decode, new_id, seal
from protocol.canonical import canonical_json
from protocol.envelope import padded_plaintext
from tests.test_enrolment import PASSPHRASE, hub
from tests.test_referrals import TestNode, change, example, make_node, refer

__all__ = ["hub"]

DAY = 24 * 3600
KILL_ROUNDS = 5
SEED = int(os.environ.get("PONTE_PROOF_SEED", random.SystemRandom().randrange(2**32)))


# -- helpers ------------------------------------------------------------------------------


def sync(node: TestNode, now: int | None = None) -> SyncSummary:
    with node.app.app_context():
        return sync_once(db.session, node.keys, now=now)


def sync_until_quiet(nodes: list[TestNode], rounds: int = 6) -> None:
    for _ in range(rounds):
        busy = False
        for node in nodes:
            summary = sync(node)
            busy |= bool(summary.sent or summary.applied or summary.rejected or summary.notices)
        if not busy:
            return
    raise AssertionError("the nodes did not become quiet")


def node_id(node: TestNode) -> str:
    return node.keys.enrolment.node_id


def hub_inbox(node: TestNode) -> list[dict]:
    return node.keys.hub.inbox(node.keys.identities[-1], 0, 100)["messages"]


def cases(node: TestNode) -> dict[str, str]:
    with node.app.app_context():
        return {case.id: case.status for case in db.session.scalars(select(Referral))}


def events(node: TestNode, referral_id: str) -> list[tuple]:
    with node.app.app_context():
        query = select(CaseEvent).where(CaseEvent.referral_id == referral_id)
        return [
            (e.direction, e.status, e.message, e.reason, e.message_id)
            for e in db.session.scalars(query.order_by(CaseEvent.id))
        ]


def outbox(node: TestNode) -> list[tuple[str, str | None, str, str]]:
    with node.app.app_context():
        rows = db.session.scalars(select(OutboxItem).order_by(OutboxItem.queued_at))
        return [(item.id, item.referral_id, item.kind, item.state) for item in rows]


def reseal_with_ttl(node: TestNode, referral_id: str, ttl: int, now: int) -> str:
    """Give the queued referral envelope of a case a short lifetime (same id, same thread).

    The node offers no option for a shorter TTL; the envelope is sealed again exactly as the
    outbox seals it, with ``ttl`` instead of the default 30 days.
    """
    with node.app.app_context():
        case = db.session.get(Referral, referral_id)
        item = db.session.get(OutboxItem, case.message_id)
        record = partner_record(db.session, node.keys, case.partner_node_id, refresh=False)
        envelope = seal(
            node.keys.identities[-1],
            record,
            Kind.REFERRAL,
            case.payload,
            thread=b64url_decode(case.id, length=16),
            now=now,
            ttl=ttl,
            message_id=b64url_decode(item.id, length=16),
        )
        item.wire, item.expires = envelope.to_wire(), as_datetime(envelope.header.expires)
        db.session.commit()
        return item.id


@pytest.fixture
def enrolled(hub, tmp_path):
    """Enrol fresh nodes; revoke them afterwards, so that the next test's referral to the same
    organisation reaches only its own node (a referral goes to every active node of it)."""
    made: list[TestNode] = []

    def make(organisation: str) -> TestNode:
        made.append(make_node(hub, tmp_path / f"node-{len(made)}", organisation))
        return made[-1]

    yield make
    with hub.app.app_context():
        for node in made:
            revoke_node(hub_db.session, hub_identity(), node_id(node), "test")


@pytest.fixture
def pair(enrolled):
    return enrolled("Atina"), enrolled("Payoke")


# -- 1. a node offline for 10 days ----------------------------------------------------------


def test_a_node_offline_for_ten_days_gets_everything_once_and_expiry_reaches_the_sender(pair, hub):
    a, b = pair
    t0 = int(time.time())
    kept = [refer(a, b) for _ in range(3)]
    change(a, kept[0], None, message="She arrives on Tuesday.", now=t0)
    change(a, kept[1], "withdrawn", message="She found a place nearer home.", now=t0)
    short = refer(a, b)
    short_message = reseal_with_ttl(a, short, 5 * DAY, t0)
    assert sync(a).sent == 6

    later = t0 + 10 * DAY
    hub.app.config["RELAY_CLOCK"] = lambda: later
    try:
        first = sync(b, now=later)
        assert (first.applied, first.rejected) == (5, 0), first.problems
        again = sync(b, now=later)
        assert (again.applied, again.rejected) == (0, 0)
        assert hub_inbox(b) == []
        assert cases(b) == {kept[0]: "delivered", kept[1]: "withdrawn", kept[2]: "delivered"}
        for referral_id in kept:  # each message took effect exactly once
            incoming = [e for e in events(b, referral_id) if e[0] == "in"]
            assert len(incoming) == len({e[4] for e in incoming})
        assert [e[2] for e in events(b, kept[0]) if e[2]] == ["She arrives on Tuesday."]

        summary = sync(a, now=later)
        assert summary.notices == 6 and summary.applied == 3  # 5 delivered + 1 expired; receipts
    finally:
        hub.app.config.pop("RELAY_CLOCK")
    states = {item_id: state for item_id, _, _, state in outbox(a)}
    assert states.pop(short_message) == "expired"
    assert set(states.values()) == {"delivered"}
    assert cases(a) == {
        kept[0]: "delivered",
        kept[1]: "withdrawn",
        kept[2]: "delivered",
        short: "expired",
    }
    [expiry] = [e for e in events(a, short) if e[1] == "expired"]
    assert expiry[0] == "local"
    assert any("did not collect it in time" in (e[3] or "") for e in events(a, short))


# -- 2. killed during sync -------------------------------------------------------------------


def node_sync_process(node: TestNode) -> subprocess.Popen:
    # The process uses the database the test's app uses (SQLite file, or PostgreSQL).
    database = node.app.config["SQLALCHEMY_DATABASE_URI"]
    env = {**os.environ, "PONTE_PASSPHRASE": PASSPHRASE, "DATABASE_URL": database}
    return subprocess.Popen(
        [sys.executable, "-m", "ponte.cli", "node", "sync", "--data-dir", str(node.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def count_rows(node: TestNode, sql: str) -> int:
    """Read the node's database from outside while another process writes it."""
    url = node.app.config["SQLALCHEMY_DATABASE_URI"]
    if not url.startswith("sqlite"):
        with outside_engine(url).connect() as connection:
            return connection.execute(text(sql)).scalar_one()
    uri = f"file:{node.data_dir / 'node.sqlite3'}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True, timeout=0.05) as connection:
            return connection.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return -1  # locked for a moment


@functools.cache
def outside_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def kill_during(
    node: TestNode, progress_sql: str, rng: random.Random, total: int
) -> tuple[list[str], int]:
    """Start ``ponte node sync`` for ``node`` and SIGKILL it at random moments, several times:
    some rounds once the pass has visibly started work, the others after a fixed 0.2-1.0 s.
    Returns a log and how many kills cut a pass in the middle of its work."""
    log, cut = [], 0
    for round_ in range(KILL_ROUNDS):
        before = count_rows(node, progress_sql)
        if before >= total:
            break
        process = node_sync_process(node)
        started = time.monotonic()
        if round_ % 2 == 1:
            delay = rng.uniform(0.2, 1.0)
            while process.poll() is None and time.monotonic() - started < delay:
                time.sleep(0.01)
        else:  # wait until the pass is moving, then a little more
            while process.poll() is None and count_rows(node, progress_sql) <= before:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.1))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        after = count_rows(node, progress_sql)
        cut += process.returncode == -signal.SIGKILL and before < after < total
        log.append(
            f"round {round_}: {time.monotonic() - started:.2f}s rc={process.returncode} "
            f"progress {before}->{after}"
        )
    return log, cut


def finish_sync(node: TestNode) -> str:
    for _ in range(3):
        process = node_sync_process(node)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        if "sent 0," in output and "received 0," in output:
            return output
    return output


def queue_referrals(sender: TestNode, recipient: TestNode, count: int) -> list[str]:
    with sender.app.app_context():
        return [
            create_referral(
                db.session, sender.keys, example(), [recipient.organisation_id], "Ioana"
            )[0].id
            for _ in range(count)
        ]


def assert_each_applied_once(sender: TestNode, recipient: TestNode, ids: list[str]) -> None:
    """Every referral is one case at the recipient, applied once and confirmed once."""
    assert sorted(cases(recipient)) == sorted(ids)
    assert set(cases(recipient).values()) == {"delivered"}
    for referral_id in ids:
        history = [(direction, status) for direction, status, *_ in events(recipient, referral_id)]
        assert history == [("in", "sent"), ("local", "delivered")], (referral_id, history)
    receipts = [row for row in outbox(recipient) if row[2] == "receipt"]
    assert sorted(row[1] for row in receipts) == sorted(ids)  # one receipt per case
    assert hub_inbox(recipient) == []
    summary = sync(sender)  # receipts and delivery notices
    assert summary.rejected == 0, summary.problems
    assert set(cases(sender).values()) == {"delivered"}
    assert {state for *_, state in outbox(sender)} == {"delivered"}
    assert {state for *_, state in outbox(recipient)} == {"sent"}
    sync(recipient)
    assert {state for *_, state in outbox(recipient)} == {"delivered"}


RECEIVER_PROGRESS = (
    "select (select count(*) from referral)"
    " + (select count(*) from outbox_item where state != 'queued')"
)
SENDER_PROGRESS = "select count(*) from outbox_item where state != 'queued'"


def test_a_receiving_node_killed_during_sync_loses_and_doubles_nothing(pair):
    a, b = pair
    ids = queue_referrals(a, b, 60)
    assert sync(a).sent == 60
    rounds, cut = kill_during(b, RECEIVER_PROGRESS, random.Random(SEED), 120)
    assert cut >= 1, (SEED, rounds)  # at least one kill landed in the middle of the work
    finish_sync(b)
    assert len(cases(b)) == 60, (SEED, rounds)
    assert_each_applied_once(a, b, ids)


def test_a_sending_node_killed_during_sync_sends_each_referral_once(pair, hub):
    a, b = pair
    ids = queue_referrals(a, b, 60)
    rounds, cut = kill_during(a, SENDER_PROGRESS, random.Random(SEED + 1), 60)
    assert cut >= 1, (SEED, rounds)
    finish_sync(a)
    with hub.app.app_context():
        query = select(func.count()).where(RelayMessage.sender == node_id(a))
        assert hub_db.session.scalar(query) == 60, (SEED, rounds)
    assert sync(b).applied == 60
    assert_each_applied_once(a, b, ids)


# -- 3. the accept race of a multi-candidate offer -------------------------------------------


def together(*actions) -> None:
    """Run the actions in threads released at the same instant; re-raise the first error."""
    barrier, errors = threading.Barrier(len(actions)), []

    def run(action) -> None:
        barrier.wait()
        try:
            action()
        except Exception as error:  # handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


@pytest.mark.parametrize("arrival", ["b_first", "c_first", "together"])
def test_two_candidates_accept_at_once_and_exactly_one_wins(enrolled, arrival):
    a, b, c = enrolled("Atina"), enrolled("Payoke"), enrolled("Asociatia FREE")
    with a.app.app_context():
        offer = create_referral(
            db.session, a.keys, example(), [b.organisation_id, c.organisation_id], "Ioana"
        )
        copies = {case.partner_node_id: case.id for case in offer}
        offer_id = offer[0].offer_id
    copy_b, copy_c = copies[node_id(b)], copies[node_id(c)]
    sync_until_quiet([a, b, c])
    assert cases(b) == {copy_b: "delivered"} and cases(c) == {copy_c: "delivered"}

    together(lambda: change(b, copy_b, "accepted"), lambda: change(c, copy_c, "accepted"))
    if arrival == "b_first":
        sync(b), sync(c)
    elif arrival == "c_first":
        sync(c), sync(b)
    else:
        together(lambda: sync(b), lambda: sync(c))
    a_summary = sync(a)
    assert (a_summary.applied, a_summary.rejected) == (1, 1), a_summary.problems
    assert "cannot become accepted" in a_summary.problems[0]
    sync_until_quiet([a, b, c])

    final = {"b": cases(b)[copy_b], "c": cases(c)[copy_c]}
    assert sorted(final.values()) == ["accepted", "withdrawn"]
    won = "b" if final["b"] == "accepted" else "c"
    if arrival != "together":
        assert won == arrival[0]  # the accept that reached A first wins
    winner, loser, lost_copy = (b, c, copy_c) if won == "b" else (c, b, copy_b)
    told = [e for e in events(loser, lost_copy) if e[1] == "withdrawn"]
    assert [(e[0], e[3]) for e in told] == [("in", WITHDRAWN_FOR_ANOTHER)]
    with a.app.app_context():
        query = select(Referral).where(Referral.offer_id == offer_id)
        at_a = {case.partner_node_id: case.status for case in db.session.scalars(query)}
    assert at_a == {node_id(winner): "accepted", node_id(loser): "withdrawn"}
    assert hub_inbox(a) == hub_inbox(b) == hub_inbox(c) == []


# -- 4. whose mail: fetching, acknowledging, notices; a revoked node -----------------------
# (tests/test_relay.py and tests/test_referrals.py already prove: a node cannot list or
# acknowledge another node's inbox; a message from a revoked sender is set aside by the node;
# nothing is accepted for a revoked recipient.)


def test_a_node_sees_no_notices_about_another_nodes_mail(enrolled):
    a, b, c = enrolled("Atina"), enrolled("Payoke"), enrolled("Asociatia FREE")
    refer(a, b)
    sync(a), sync(b)
    mine = a.keys.hub.notices(a.keys.identities[-1], 0)["notices"]
    assert [n["recipient"] for n in mine] == [node_id(b)]
    for other in (b, c):
        assert other.keys.hub.notices(other.keys.identities[-1], 0)["notices"] == []


def test_a_revoked_nodes_queued_mail_is_never_delivered_and_it_can_send_no_more(enrolled, hub):
    a, b = enrolled("Atina"), enrolled("Payoke")
    referral_id = refer(a, b)
    assert sync(a).sent == 1
    assert [m["sender"] for m in hub_inbox(b)] == [node_id(a)]
    with hub.app.app_context():
        revoke_node(hub_db.session, hub_identity(), node_id(a), "test")
    assert hub_inbox(b) == []  # dropped on revocation, not merely refused at B
    summary = sync(b)
    assert (summary.applied, summary.rejected) == (0, 0) and cases(b) == {}
    a.keys.hub._tokens.clear()  # a fresh token is refused as well as the cached one
    with pytest.raises(HubError) as refused:
        a.keys.hub.post_envelope(a.keys.identities[-1], _wire(a, referral_id))
    assert refused.value.status in (400, 401) and "revoked" in str(refused.value)
    with pytest.raises(HubError):
        a.keys.hub.inbox(a.keys.identities[-1], 0)


def _wire(node: TestNode, referral_id: str) -> bytes:
    with node.app.app_context():
        case = db.session.get(Referral, referral_id)
        return db.session.get(OutboxItem, case.message_id).wire


# -- bad input ----------------------------------------------------------------------------


def _bad_envelopes(a: TestNode, b: TestNode) -> dict[str, bytes]:
    """Envelopes from A that the hub relays (its header is well formed and A's) but B must
    refuse, keyed by the reason B gives."""
    identity = a.keys.identities[-1]
    with a.app.app_context():
        b_record = partner_record(db.session, a.keys, node_id(b))
    good = seal(identity, b_record, Kind.REFERRAL, example())
    body = bytearray(good.body)
    body[len(body) // 2] ^= 0x01
    flipped = Envelope(dataclasses.replace(good.header, message_id=new_id()), bytes(body))
    # The clear header changed after signing (the thread), the body untouched.
    rethreaded = Envelope(dataclasses.replace(good.header, thread=new_id()), good.body)
    stranger = NodeIdentity.generate("node-somewhere-else").public_record()
    sealed_elsewhere = seal(identity, stranger, Kind.REFERRAL, example())
    misaddressed = Envelope(
        dataclasses.replace(sealed_elsewhere.header, recipient=node_id(b)), sealed_elsewhere.body
    )
    # Signed by A and sealed to B, but the referral breaks the rules (the wrong types).
    wrong = copy.deepcopy(example())
    wrong["person"]["minor"] = "no"
    header = dataclasses.replace(good.header, message_id=new_id(), thread=new_id())
    plain = padded_plaintext(identity, header, canonical_json(wrong))
    invalid = Envelope(header, nacl.public.SealedBox(b_record.public_box_key).encrypt(plain))
    return {
        "decryption_failed: no key": flipped.to_wire(),
        "bad_signature": rethreaded.to_wire(),
        "decryption_failed": misaddressed.to_wire(),
        "invalid_payload: person.minor": invalid.to_wire(),
    }


def test_tampered_and_misaddressed_envelopes_are_set_aside_acknowledged_and_logged(pair, caplog):
    a, b = pair
    bad = _bad_envelopes(a, b)
    for wire in bad.values():  # the hub cannot tell: it sees only a well-formed header
        a.keys.hub.post_envelope(a.keys.identities[-1], wire)
    genuine = refer(a, b)
    sync(a)
    with caplog.at_level(logging.WARNING, logger="node.sync"):
        summary = sync(b)
    assert (summary.applied, summary.rejected) == (1, 4), summary.problems
    for reason, problem in zip(bad, summary.problems, strict=True):
        assert reason in problem, (reason, problem)
    logged = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(logged) == 4
    assert cases(b) == {genuine: "delivered"}  # nothing of the bad ones was applied
    assert hub_inbox(b) == []  # all acknowledged: they do not block the inbox
    assert sync(b).rejected == 0
    notices = {n["status"] for n in a.keys.hub.notices(a.keys.identities[-1], 0)["notices"]}
    assert notices == {"delivered"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("urgency", 5),
        ("person.minor", "no"),
        ("consent.given", "yes"),
        ("person.languages", "ro"),
        ("sender_contact", "Ioana"),
        ("requested_by", 20260101),
    ],
)
def test_a_referral_file_with_wrong_types_exits_2_naming_the_field(
    tmp_path, monkeypatch, field, value
):
    payload = example()
    *parents, name = field.split(".")
    target = payload
    for parent in parents:
        target = target[parent]
    target[name] = value
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    result = CliRunner().invoke(
        main,
        ["node", "refer", "--data-dir", str(tmp_path / "node"), "--to", "x", "--file", str(path)],
    )
    assert result.exit_code == 2 and f"{field}: must" in result.output, result.output
