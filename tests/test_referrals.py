"""Encrypted referrals between two live nodes through the hub's relay."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from hub.enrolment import revoke_node
from hub.extensions import db as hub_db
from hub.identity import hub_identity
from node import create_app as create_node_app
from node.enrolment import unlock
from node.extensions import db
from node.hub_client import HubClient, HubError
from node.keys import NodeKeys
from node.lifecycle import TransitionRefused, check_transition
from node.models import CaseEvent, OutboxItem, Referral, SyncState
from node.outbox import PartnerUnavailable, partner_record
from node.referrals import ReferralError, change_status, create_referral
from node.sync import SyncSummary, handle_message, sync_once
from ponte.cli import main
from protocol import b64url_encode
from tests.test_enrolment import PASSPHRASE, enrol, hub

__all__ = ["hub"]

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "referral.json"


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@dataclass
class TestNode:
    __test__ = False
    app: Flask
    keys: NodeKeys
    data_dir: Path
    organisation_id: str

    def sync(self) -> SyncSummary:
        with self.app.app_context():
            return sync_once(db.session, self.keys)

    def case(self, referral_id: str) -> Referral | None:
        with self.app.app_context():
            case = db.session.get(Referral, referral_id)
            if case is not None:
                db.session.expunge(case)
            return case


def make_node(hub, data_dir: Path, organisation: str) -> TestNode:
    enrolment, _ = enrol(hub, data_dir, organisation)
    keys = NodeKeys(unlock(data_dir, PASSPHRASE), enrolment, HubClient(hub.url))
    return TestNode(create_node_app(data_dir), keys, data_dir, enrolment.organisation_id)


@pytest.fixture(scope="module")
def pair(hub, tmp_path_factory):
    a = make_node(hub, tmp_path_factory.mktemp("node-a"), "Atina")
    b = make_node(hub, tmp_path_factory.mktemp("node-b"), "Payoke")
    return a, b


def refer(sender: TestNode, recipient: TestNode, payload: dict | None = None) -> str:
    with sender.app.app_context():
        [case] = create_referral(
            db.session, sender.keys, payload or example(), [recipient.organisation_id], "Ioana"
        )
        return case.id


def change(node: TestNode, referral_id: str, status: str | None, **kwargs) -> None:
    with node.app.app_context():
        change_status(db.session, node.keys, referral_id, status, "caseworker", **kwargs)


def test_a_referral_goes_from_a_to_b_and_is_accepted(pair):
    a, b = pair
    referral_id = refer(a, b)
    assert a.case(referral_id).status == "sent"
    assert a.sync().sent == 1
    assert b.sync().applied == 1
    received = b.case(referral_id)
    assert (received.role, received.status) == ("recipient", "delivered")
    assert received.payload == example() and received.partner_organisation_id == a.organisation_id
    a.sync()
    assert a.case(referral_id).status == "delivered"
    change(b, referral_id, "accepted", message="We can meet her at the bus station.")
    b.sync()
    a.sync()
    assert a.case(referral_id).status == "accepted"
    change(b, referral_id, "in_progress")
    change(b, referral_id, "completed")
    b.sync()
    a.sync()
    assert a.case(referral_id).status == "completed"
    with a.app.app_context():
        messages = db.session.scalars(
            select(CaseEvent.message).where(CaseEvent.referral_id == referral_id)
        )
        assert "We can meet her at the bus station." in set(messages)


def test_illegal_transitions_and_a_decline_without_reason_are_refused(pair):
    a, b = pair
    referral_id = refer(a, b)
    a.sync()
    b.sync()
    with pytest.raises(TransitionRefused, match="receiving organisation"):
        change(a, referral_id, "accepted")
    with pytest.raises(TransitionRefused, match="cannot become completed"):
        change(b, referral_id, "completed")
    with pytest.raises(ReferralError, match="reason"):
        change(b, referral_id, "declined")
    change(b, referral_id, "declined", reason="No shelter place before August.")
    b.sync()
    a.sync()
    assert a.case(referral_id).status == "declined"
    with pytest.raises(TransitionRefused):
        change(a, referral_id, "withdrawn")


def test_an_illegal_update_from_the_partner_is_set_aside_without_stopping_sync(pair):
    a, b = pair
    referral_id = refer(a, b)
    a.sync()
    b.sync()
    change(b, referral_id, "accepted")
    with b.app.app_context():  # B forces its own copy back, then "accepts" a second time
        db.session.get(Referral, referral_id).status = "delivered"
        db.session.commit()
    change(b, referral_id, "accepted")
    b.sync()
    summary = a.sync()
    assert summary.applied >= 1 and summary.rejected == 1
    assert a.case(referral_id).status == "accepted"


def test_a_node_cannot_read_another_nodes_inbox(pair, hub):
    a, b = pair
    referral_id = refer(a, b)
    a.sync()
    with a.app.app_context():
        item = db.session.scalars(
            select(OutboxItem).where(OutboxItem.referral_id == referral_id)
        ).one()
        message_id = item.id
    token_a = a.keys.hub.access_token(a.keys.identities[-1], "relay")
    headers = {"Authorization": f"Bearer {token_a}"}
    inbox = a.keys.hub.http.get(f"{hub.url}/api/v1/relay/inbox", headers=headers).json()
    assert message_id not in {m["id"] for m in inbox["messages"]}
    acked = a.keys.hub.http.post(
        f"{hub.url}/api/v1/relay/ack", headers=headers, json={"ids": [message_id]}
    ).json()
    assert acked["unknown"] == [message_id]
    assert b.sync().applied == 1  # still there for its addressee


def _wire_of(node: TestNode, referral_id: str) -> tuple[str, bytes]:
    with node.app.app_context():
        item = db.session.scalars(
            select(OutboxItem).where(
                OutboxItem.referral_id == referral_id, OutboxItem.kind == "referral"
            )
        ).one()
        return item.id, item.wire


def _deliver(node: TestNode, sender: TestNode, message_id: str, wire: bytes) -> SyncSummary:
    """Hand one envelope to ``node`` as the relay would, then acknowledge it."""
    summary = SyncSummary()
    message = {
        "seq": 0,
        "id": message_id,
        "sender": sender.keys.enrolment.node_id,
        "wire": b64url_encode(wire),
    }
    with node.app.app_context():
        handle_message(db.session, node.keys, message, _now(), set(), summary)
    return summary


def _now() -> int:
    import time

    return int(time.time())


def _events(node: TestNode, referral_id: str) -> int:
    with node.app.app_context():
        query = select(func.count()).where(CaseEvent.referral_id == referral_id)
        return db.session.scalar(query)


def test_a_replayed_envelope_is_not_applied_twice(pair):
    a, b = pair
    referral_id = refer(a, b)
    a.sync()
    b.sync()
    before = _events(b, referral_id)
    summary = _deliver(b, a, *_wire_of(a, referral_id))
    assert (summary.applied, summary.rejected) == (0, 0)  # a duplicate: acknowledged, ignored
    assert _events(b, referral_id) == before


def test_a_crash_between_apply_and_ack_applies_once(pair, monkeypatch):
    a, b = pair
    referral_id = refer(a, b)
    a.sync()
    message_id, _ = _wire_of(a, referral_id)
    real_ack = b.keys.hub.ack

    def crash(identity, ids):
        if message_id in ids:
            raise HubError("the process was killed here")
        return real_ack(identity, ids)

    with monkeypatch.context() as patch:
        patch.setattr(b.keys.hub, "ack", crash)
        with pytest.raises(HubError):
            b.sync()
    assert b.case(referral_id).status == "delivered"
    before = _events(b, referral_id)
    with b.app.app_context():  # read the inbox from the start: the message comes again
        db.session.get(SyncState, 1).inbox_after = 0
        db.session.commit()
    b.sync()
    assert _events(b, referral_id) == before
    inbox = b.keys.hub.inbox(b.keys.identities[-1], 0)
    assert inbox["messages"] == []


def _marked(marker: str) -> dict:
    payload = copy.deepcopy(example())
    payload["sender_contact"] = {
        "name": f"N{marker}",
        "role": f"R{marker}",
        "organisation": f"O{marker}",
        "email": f"{marker}@alba.example",
    }
    payload["recipient_contact"] = {"name": f"C{marker}"}
    payload["person"]["guardian"] = {"appointed": False, "details": f"G{marker}"}
    payload["consent"]["withhold_from_family"] = f"W{marker}"
    payload["case"]["summary"] = f"S{marker}"
    payload["risk_assessment"]["summary"] = f"K{marker}"
    payload["logistics"]["pickup_point"] = f"P{marker}"
    payload["logistics"]["costs_covered_by"] = f"Y{marker}"
    payload["follow_up"]["schedule"] = f"F{marker}"
    payload["restricted_notes"] = f"X{marker}"
    return payload


def _encodings(marker: str) -> list[bytes]:
    raw = marker.encode()
    found = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.append(encode(b"x" * shift + raw)[4:-4])
    return found


def test_the_hub_stores_no_referral_text(pair, hub):
    a, b = pair
    marker = "zq7Marker" + b64url_encode(b"ponte-test-mark!")[:12]
    referral_id = refer(a, b, _marked(marker))
    change(a, referral_id, None, message=f"M{marker}")
    a.sync()  # stored on the hub, not yet collected
    hub_dir = Path(hub.app.config["DATA_DIR"])
    files = [path for path in hub_dir.rglob("*") if path.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        for needle in _encodings(marker):
            assert needle not in content, f"{needle!r} found in {path}"
    b.sync()
    assert b.case(referral_id).payload["restricted_notes"] == f"X{marker}"


def test_a_revoked_partners_messages_are_refused(pair, hub, tmp_path):
    _, b = pair
    c = make_node(hub, tmp_path / "c", "Asociatia FREE")
    referral_id = refer(c, b)
    message_id, wire = _wire_of(c, referral_id)
    with hub.app.app_context():
        revoke_node(hub_db.session, hub_identity(), c.keys.enrolment.node_id, "test")
    summary = _deliver(b, c, message_id, wire)
    assert summary.rejected == 1 and "unknown_sender" in summary.problems[0]
    assert b.case(referral_id) is None
    with b.app.app_context(), pytest.raises(PartnerUnavailable, match="revoked"):
        partner_record(db.session, b.keys, c.keys.enrolment.node_id)


def test_transitions_table():
    check_transition("draft", "sent")
    check_transition("delivered", "accepted", "recipient")
    check_transition("in_progress", "withdrawn", "sender")
    for current, new, role in [
        ("completed", "withdrawn", "sender"),
        ("delivered", "in_progress", "recipient"),
        ("accepted", "accepted", "recipient"),
        ("sent", "accepted", "sender"),
        ("declined", "expired", None),
    ]:
        with pytest.raises(TransitionRefused):
            check_transition(current, new, role)


def test_cli_refer_list_and_accept(pair, tmp_path, monkeypatch):
    a, b = pair
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    bad = example()
    bad["person"]["initials"] = "Maria"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    common = ["--data-dir", str(a.data_dir), "--to", b.organisation_id]
    refused = runner.invoke(main, ["node", "refer", *common, "--file", str(tmp_path / "bad.json")])
    assert refused.exit_code == 2 and "person.initials" in refused.output
    made = runner.invoke(main, ["node", "refer", *common, "--file", str(EXAMPLE)])
    assert made.exit_code == 0, made.output
    referral_id = made.output.strip().splitlines()[-1]
    synced = runner.invoke(main, ["node", "sync", "--data-dir", str(a.data_dir)])
    assert synced.exit_code == 0 and "sent 1" in synced.output, synced.output
    runner.invoke(main, ["node", "sync", "--data-dir", str(b.data_dir)])
    listed = runner.invoke(main, ["node", "referrals", "--data-dir", str(b.data_dir), "--json"])
    assert referral_id in {row["id"] for row in json.loads(listed.output)}
    decline = runner.invoke(main, ["node", "decline", "--data-dir", str(b.data_dir), referral_id])
    assert decline.exit_code == 2 and "reason" in decline.output
    accepted = runner.invoke(main, ["node", "accept", "--data-dir", str(b.data_dir), referral_id])
    assert accepted.exit_code == 0, accepted.output
    shown = runner.invoke(
        main, ["node", "referral", "--data-dir", str(b.data_dir), referral_id, "--json"]
    )
    detail = json.loads(shown.output)
    assert detail["status"] == "accepted" and detail["referral"]["person"]["initials"] == "M.K."
