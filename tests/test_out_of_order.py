"""Out-of-order arrival: an update that overtakes its referral on the relay is held back by
the recipient's node and applied, once, when the referral arrives; it is dropped if it expires
first. Rule violations are still set aside. Real crypto and a live hub, as in test_referrals.
"""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import func, select

import node.sync as node_sync
from node.extensions import db
from node.models import CaseEvent, HeldMessage, OutboxItem, Referral
from node.outbox import partner_record
from node.sync import SyncSummary, sync_once
from protocol import Kind, b64url_decode, seal
from tests.test_enrolment import hub
from tests.test_referrals import TestNode, _deliver, change, make_node, refer

__all__ = ["hub"]

DAY = 24 * 3600


@pytest.fixture(scope="module")
def trio(hub, tmp_path_factory):
    names = ("Atina", "Payoke", "Asociatia FREE")
    return [make_node(hub, tmp_path_factory.mktemp(f"node-{n[0]}"), n) for n in names]


def sync(node: TestNode, now: int | None = None) -> SyncSummary:
    with node.app.app_context():
        return sync_once(db.session, node.keys, now=now)


def take_outbox(node: TestNode, referral_id: str) -> list[tuple[str, bytes]]:
    """The case's queued envelopes (id, wire) in the order written; the test posts them."""
    with node.app.app_context():
        query = select(OutboxItem).where(
            OutboxItem.referral_id == referral_id, OutboxItem.state == "queued"
        )
        items = list(db.session.scalars(query.order_by(OutboxItem.queued_at, OutboxItem.id)))
        for item in items:
            item.state = "sent"
        db.session.commit()
        return [(item.id, item.wire) for item in items]


def post(node: TestNode, wire: bytes) -> None:
    node.keys.hub.post_envelope(node.keys.identities[-1], wire)


def held(node: TestNode) -> int:
    with node.app.app_context():
        return db.session.scalar(select(func.count()).select_from(HeldMessage))


def history(node: TestNode, referral_id: str) -> list[tuple[str | None, str | None]]:
    with node.app.app_context():
        query = select(CaseEvent).where(CaseEvent.referral_id == referral_id)
        return [(e.status, e.message) for e in db.session.scalars(query.order_by(CaseEvent.id))]


def refer_with_updates(a: TestNode, b: TestNode) -> tuple[str, list[tuple[str, bytes]]]:
    referral_id = refer(a, b)
    change(a, referral_id, None, message="She arrives on Tuesday.")
    change(a, referral_id, "withdrawn", reason="She found a place nearer home.")
    return referral_id, take_outbox(a, referral_id)


def assert_applied_once(b: TestNode, referral_id: str) -> None:
    assert b.case(referral_id).status == "withdrawn"
    events = history(b, referral_id)
    assert [e for e in events if e[1] == "She arrives on Tuesday."] == [
        (None, "She arrives on Tuesday.")
    ]
    assert [e for e in events if e[0] == "withdrawn"] == [("withdrawn", None)]
    assert held(b) == 0


def test_updates_that_overtake_their_referral_are_held_until_it_arrives(trio):
    a, b, _ = trio
    referral_id, [referral, *updates] = refer_with_updates(a, b)
    for _, wire in updates:
        post(a, wire)
    first = sync(b)
    assert (first.applied, first.held, first.rejected) == (0, 2, 0), first.problems
    assert b.case(referral_id) is None and held(b) == 2
    assert b.keys.hub.inbox(b.keys.identities[-1], 0)["messages"] == []  # acknowledged
    assert (_deliver(b, a, *updates[0]).held, held(b)) == (0, 2)  # a replay is not held again
    post(a, referral[1])
    second = sync(b)
    assert (second.applied, second.held, second.rejected) == (3, 0, 0), second.problems
    assert_applied_once(b, referral_id)
    events = history(b, referral_id)
    assert (sync(b).applied, history(b, referral_id)) == (0, events)


def test_updates_before_their_referral_in_one_pass_are_applied_once(trio):
    a, b, _ = trio
    referral_id, outbox = refer_with_updates(a, b)
    for _, wire in reversed(outbox):  # withdraw, message, then the referral
        post(a, wire)
    summary = sync(b)
    assert (summary.applied, summary.held, summary.rejected) == (3, 2, 0), summary.problems
    assert_applied_once(b, referral_id)


def test_held_updates_survive_a_crash_right_after_their_referral(trio, monkeypatch):
    a, b, _ = trio
    referral_id, [referral, *updates] = refer_with_updates(a, b)
    for _, wire in [*updates, referral]:
        post(a, wire)
    real = node_sync.apply_held

    def killed(*args, thread=None):
        if thread is not None:
            raise RuntimeError("the process was killed here")
        return real(*args)

    with monkeypatch.context() as patch:
        patch.setattr(node_sync, "apply_held", killed)
        with pytest.raises(RuntimeError):
            sync(b)
    assert b.case(referral_id).status == "delivered" and held(b) == 2
    summary = sync(b)  # the end of the next pass applies them
    assert (summary.applied, summary.rejected) == (2, 0), summary.problems
    assert_applied_once(b, referral_id)


def test_a_held_message_whose_referral_never_arrives_is_dropped_when_it_expires(trio, caplog):
    a, _, c = trio
    referral_id = refer(a, c)
    change(a, referral_id, None, message="Never mind the referral.")
    _, (_, update) = take_outbox(a, referral_id)  # the referral itself is lost
    post(a, update)
    now = int(time.time())
    assert sync(c, now=now).held == 1
    sync(c, now=now + 10 * DAY)
    assert held(c) == 1  # still waiting for its case
    with caplog.at_level(logging.WARNING, logger="node.sync"):
        sync(c, now=now + 31 * DAY)
    assert held(c) == 0 and c.case(referral_id) is None
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_rule_violations_are_set_aside_not_held(trio):
    a, b, c = trio
    referral_id = refer(a, b)
    [(_, referral)] = take_outbox(a, referral_id)
    with c.app.app_context():  # C writes on the thread of A's case with B
        record = partner_record(db.session, c.keys, b.keys.enrolment.node_id)
    forged = seal(
        c.keys.identities[-1],
        record,
        Kind.REFERRAL_UPDATE,
        {"status": "withdrawn", "reason": "forged"},
        thread=b64url_decode(referral_id, length=16),
    )
    post(c, forged.to_wire())
    assert sync(b).held == 1  # no case yet: B cannot tell it apart from a late referral
    post(a, referral)
    summary = sync(b)
    assert (summary.applied, summary.rejected, held(b)) == (1, 1, 0)
    assert "is not the partner" in summary.problems[0]
    assert b.case(referral_id).status == "delivered"
    change(a, referral_id, "withdrawn", reason="She found a place nearer home.")
    with a.app.app_context():  # A forces its copy back, then withdraws a second time
        db.session.get(Referral, referral_id).status = "sent"
        db.session.commit()
    change(a, referral_id, "withdrawn", reason="Again.")
    sync(a)
    summary = sync(b)
    assert (summary.applied, summary.held, summary.rejected, held(b)) == (1, 0, 1, 0)
    assert "withdrawn" in summary.problems[0]
    assert b.case(referral_id).status == "withdrawn"
