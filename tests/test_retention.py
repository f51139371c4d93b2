"""Retention and erasure: a case's export holds what the node knows about it; an erased case
leaves no personal data in the database files, only its statistics tombstone; closed cases
are purged after the retention period (a controlled clock: 89 days kept, 91 purged). On the
hub: every secretariat action is in its log, and it keeps no delivered or expired bodies."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import zipfile

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select, update

from hub.enrolment import create_invitation, revoke_invitation, revoke_node
from hub.extensions import db as hub_db
from hub.identity import hub_identity
from hub.models import AuditEntry as HubAuditEntry
from hub.models import Node as HubNode
from hub.models import RelayBlob, RelayMessage
from hub.publishing import (
    ItemDraft,
    create_item,
    edit_item,
    publish_item,
    retract_item,
    schedule_item,
    unschedule_item,
)
from hub.relay import accept_blob, expire_due
from node import audit
from node.extensions import db
from node.models import AuditEntry, CaseAttachment, CaseEvent, OutboxItem, Referral
from node.referrals import change_status, create_referral
from node.retention import due_for_purge, purge, purge_if_due
from node.sync import sync_forever
from ponte import accounts
from ponte.cli import main
from protocol import encrypt_attachment
from tests.postgres import stored_bytes
from tests.test_enrolment import hub
from tests.test_referral_pages import PASSWORD, csrf, nodes_with_caseworkers, page, signed_in
from tests.test_referrals import TestNode, example
from tests.test_relay import enrolled_hub, envelope, post

__all__ = ["hub"]

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def nodes(hub, tmp_path_factory):
    """Atina's and Payoke's nodes, unlocked, each with a caseworker."""
    with nodes_with_caseworkers(hub, tmp_path_factory, "retention") as (a, b):
        yield a, b


class Person:
    """One case's personal data, unlike anything else in the databases."""

    def __init__(self, tag: str, initials: str = "Q.X.J.V.") -> None:
        self.code = f"RT-{tag}-4471"
        self.initials = initials
        self.note = f"zq-{tag}-note: only women caseworkers"
        self.message = f"zq-{tag}-message: the escort waits at gate 9"
        self.contact = f"Ilinca Zqvarescu {tag}"
        self.file = bytes(range(256)) * 8 + f"zq-{tag}-file-bytes".encode()

    def payload(self) -> dict:
        payload = example()
        payload["person"].update(case_code=self.code, initials=self.initials)
        payload["restricted_notes"] = self.note
        payload["sender_contact"]["name"] = self.contact
        return payload

    def secrets(self) -> list[tuple[bytes, ...]]:
        """Each secret in the forms a database file or dump may hold it (pg_dump writes
        binary columns in hex)."""
        texts = [self.code, self.initials, self.note, self.message, self.contact]
        tail = self.file[-24:]
        return [*((text.encode(),) for text in texts), (tail, tail.hex().encode())]


def refer(a: TestNode, b: TestNode, person: Person) -> str:
    """A referral with a file, delivered to B and accepted with a message; its id."""
    with a.app.app_context():
        [case] = create_referral(
            db.session,
            a.keys,
            person.payload(),
            [b.organisation_id],
            "case@atina.example",
            attachments=[("statement.pdf", "application/pdf", person.file)],
        )
        referral_id = case.id
    a.sync()
    b.sync()
    with b.app.app_context():
        change_status(db.session, b.keys, referral_id, "accepted", "case@payoke.example",
                      message=person.message)  # fmt: skip
    b.sync()
    a.sync()
    return referral_id


def run(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


def audit_entries(node: TestNode, case_id: str) -> list[tuple[str, str]]:
    with node.app.app_context():
        query = select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.case_id == case_id)
        return [tuple(row) for row in db.session.execute(query.order_by(AuditEntry.seq))]


def database_contents(node: TestNode) -> bytes:
    with node.app.app_context():
        db.session.remove()
        db.engine.dispose()  # SQLite's pages in the files we scan
        return stored_bytes(node.app.config["SQLALCHEMY_DATABASE_URI"])


# -- export -----------------------------------------------------------------------------------


def test_a_case_is_exported_with_its_history_and_files(nodes, tmp_path):
    a, b = nodes
    person = Person("export")
    referral_id = refer(a, b, person)
    output = tmp_path / "case.zip"
    result = run(
        "node", "cases", "export", "--data-dir", str(b.data_dir), "--case", person.code,
        "--output", str(output), "--by", "dpo@payoke.example",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Exported 1 case with 1 files to {output}." in result.output
    assert output.stat().st_mode & 0o077 == 0  # readable by its owner only
    with zipfile.ZipFile(output) as archive:
        document = json.loads(archive.read("case.json"))
        [case] = document["cases"]
        [listed] = case["attachments"]
        assert archive.read(listed["file"]) == person.file
        assert "README.txt" in archive.namelist()
    assert case["id"] == referral_id and case["status"] == "accepted"
    sent = {key: value for key, value in case["referral"].items() if key != "attachments"}
    assert sent == person.payload()
    assert person.message in [event["message"] for event in case["events"]]
    assert (listed["name"], listed["size"]) == ("statement.pdf", len(person.file))
    assert {entry["action"] for entry in document["audit"]} >= {"received", "status_changed"}
    assert audit_entries(b, referral_id)[-1] == ("dpo@payoke.example", "exported")
    again = run(
        "node", "cases", "export", "--data-dir", str(b.data_dir), "--case", referral_id,
        "--output", str(output),
    )  # fmt: skip
    assert again.exit_code == 2 and "already exists" in again.output


def test_an_unknown_case_is_bad_input(nodes, tmp_path):
    a, _ = nodes
    result = run(
        "node", "cases", "export", "--data-dir", str(a.data_dir), "--case", "RT-none",
        "--output", str(tmp_path / "x.zip"),
    )  # fmt: skip
    assert result.exit_code == 2 and "`ponte node referrals` lists the ids" in result.output


# -- erasure ----------------------------------------------------------------------------------


def test_an_erased_case_leaves_only_its_tombstone(nodes):
    a, b = nodes
    person = Person("erase", "Z.W.K.F.")
    referral_id = refer(a, b, person)
    contents = database_contents(a)
    for forms in person.secrets():  # the scan can see them
        assert any(form in contents for form in forms), forms
    refused = run(
        "node", "cases", "erase", "--data-dir", str(a.data_dir), "--case", referral_id,
        input="n\n",
    )  # fmt: skip
    assert refused.exit_code == 1 and a.case(referral_id).erased_at is None
    result = run(
        "node", "cases", "erase", "--data-dir", str(a.data_dir), "--case", person.code,
        "--yes", "--by", "dpo@atina.example",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Erased 1 case (1 files); tombstones kept." in result.output

    case = a.case(referral_id)
    assert case.payload == {
        "request_type": "assisted_voluntary_return",
        "urgency": "urgent",
        "person": {"nationality": "MD"},
    }
    assert (case.status, case.role, case.erased_at is not None) == ("accepted", "sender", True)
    with a.app.app_context():
        query = select(CaseEvent).where(CaseEvent.referral_id == referral_id)
        events = db.session.scalars(query.order_by(CaseEvent.id))
        assert [(e.status, e.message, e.reason) for e in events] == [
            ("sent", None, None),
            ("delivered", None, None),
            ("accepted", None, None),
        ]
        for model in (CaseAttachment, OutboxItem):
            assert not db.session.scalars(
                select(model).where(model.referral_id == referral_id)
            ).all()
        assert audit.verify(db.session).intact
    assert audit_entries(a, referral_id)[-1] == ("dpo@atina.example", "erased")
    contents = database_contents(a)
    for forms in person.secrets():
        assert not any(form in contents for form in forms), forms


def test_an_erased_case_shows_as_such_and_takes_no_more_messages(nodes, tmp_path):
    a, b = nodes
    person = Person("after")
    referral_id = refer(a, b, person)
    assert run("node", "cases", "erase", "--data-dir", str(a.data_dir), "--case",
               referral_id, "--yes").exit_code == 0  # fmt: skip
    atina = signed_in(a, "case@atina.example")
    html = page(atina, f"/cases/{referral_id}")
    assert "personal data was erased" in html and "Send the message" not in html
    assert person.code not in html
    with b.app.app_context():
        change_status(db.session, b.keys, referral_id, None, "case@payoke.example",
                      message=person.message + " again")  # fmt: skip
    b.sync()
    assert a.sync().rejected == 1
    with a.app.app_context():
        messages = db.session.scalars(
            select(CaseEvent.message).where(CaseEvent.referral_id == referral_id)
        ).all()
    assert set(messages) == {None}
    again = run("node", "cases", "erase", "--data-dir", str(a.data_dir), "--case", referral_id,
                "--yes")  # fmt: skip
    assert again.exit_code == 2 and "already erased" in again.output
    output = tmp_path / "left.zip"  # what is left: the tombstone and the audit entries
    left = run("node", "cases", "export", "--data-dir", str(a.data_dir), "--case", referral_id,
               "--output", str(output))  # fmt: skip
    assert left.exit_code == 0, left.output
    with zipfile.ZipFile(output) as archive:
        document = json.loads(archive.read("case.json"))
    assert document["cases"][0]["referral"]["person"] == {"nationality": "MD"}
    assert "erased" in {entry["action"] for entry in document["audit"]}


# -- retention --------------------------------------------------------------------------------


def completed_case(a: TestNode, b: TestNode, person: Person) -> Referral:
    referral_id = refer(a, b, person)
    with b.app.app_context():
        for status in ("in_progress", "completed"):
            change_status(db.session, b.keys, referral_id, status, "case@payoke.example")
    b.sync()
    a.sync()
    return a.case(referral_id)


def test_closed_cases_are_purged_after_the_period_and_open_ones_kept(nodes):
    a, b = nodes
    completed = completed_case(a, b, Person("done"))
    open_case = a.case(refer(a, b, Person("open")))
    assert completed.status == "completed" and completed.closed_at is not None
    closed_at = completed.closed_at.replace(tzinfo=dt.UTC)
    with a.app.app_context():
        kept = purge(db.session, 90, now=closed_at + 89 * DAY)
        assert completed.id not in kept.cases and a.case(completed.id).erased_at is None
        dry = purge(db.session, 90, now=closed_at + 91 * DAY, dry_run=True)
        assert completed.id in dry.cases and a.case(completed.id).erased_at is None
        purged = purge(db.session, 90, now=closed_at + 91 * DAY)
    assert completed.id in purged.cases and open_case.id not in purged.cases
    after = a.case(completed.id)
    assert after.erased_at is not None and after.status == "completed"
    assert after.payload == {"request_type": "assisted_voluntary_return", "urgency": "urgent",
                             "person": {"nationality": "MD"}}  # fmt: skip
    assert a.case(open_case.id).payload["person"]["case_code"] == "RT-open-4471"
    assert audit_entries(a, completed.id)[-1] == ("retention", "purged")
    with a.app.app_context():  # erased once: never due again
        later = due_for_purge(db.session, closed_at + 365 * DAY)
        assert completed.id not in {case.id for case in later}


def test_the_sync_loop_purges_once_a_day(nodes):
    a, b = nodes
    declined = refer_declined(a, b, Person("daily"))
    closed_at = a.case(declined).closed_at.replace(tzinfo=dt.UTC)
    config = {"RETENTION_DAYS": 30}
    with a.app.app_context():
        first = purge_if_due(db.session, config, now=closed_at + 10 * DAY)
        assert first is not None and declined not in first.cases
        hours = dt.timedelta(hours=23)
        assert purge_if_due(db.session, config, now=closed_at + 10 * DAY + hours) is None
        later = purge_if_due(db.session, config, now=closed_at + 31 * DAY)
    assert later is not None and declined in later.cases
    assert a.case(declined).erased_at is not None


def refer_declined(a: TestNode, b: TestNode, person: Person) -> str:
    with a.app.app_context():
        [case] = create_referral(
            db.session, a.keys, person.payload(), [b.organisation_id], "case@atina.example"
        )
        referral_id = case.id
    a.sync()
    b.sync()
    with b.app.app_context():
        change_status(db.session, b.keys, referral_id, "declined", "case@payoke.example",
                      reason="No place before August.")  # fmt: skip
    b.sync()
    a.sync()
    return referral_id


def test_the_sync_worker_runs_the_daily_purge(nodes):
    a, b = nodes
    declined = refer_declined(a, b, Person("worker"))
    with a.app.app_context():  # closed long ago, and no purge run today yet
        db.session.execute(
            update(Referral).where(Referral.id == declined)
            .values(closed_at=dt.datetime.now(dt.UTC) - 100 * DAY)
        )  # fmt: skip
        from node.models import SyncState

        db.session.execute(update(SyncState).values(retention_run_at=None))
        db.session.commit()
    stop = threading.Event()
    worker = threading.Thread(target=sync_forever, args=(a.app, 0.05, stop), daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while a.case(declined).erased_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    worker.join(timeout=30)
    assert a.case(declined).erased_at is not None
    assert audit_entries(a, declined)[-1] == ("retention", "purged")


def test_ponte_node_purge_follows_the_setting(nodes, monkeypatch):
    a, b = nodes
    declined = refer_declined(a, b, Person("cli"))
    with a.app.app_context():
        db.session.execute(
            update(Referral).where(Referral.id == declined)
            .values(closed_at=dt.datetime.now(dt.UTC) - 40 * DAY)
        )  # fmt: skip
        db.session.commit()
    monkeypatch.setenv("PONTE_RETENTION_DAYS", "60")
    kept = run("node", "purge", "--data-dir", str(a.data_dir), "--dry-run")
    assert kept.exit_code == 0 and declined not in kept.output
    monkeypatch.setenv("PONTE_RETENTION_DAYS", "30")
    listed = run("node", "purge", "--data-dir", str(a.data_dir), "--dry-run")
    assert listed.exit_code == 0 and declined in listed.output and "Would erase" in listed.output
    assert a.case(declined).erased_at is None
    done = run("node", "purge", "--data-dir", str(a.data_dir))
    assert done.exit_code == 0 and declined in done.output, done.output
    assert a.case(declined).erased_at is not None


# -- the hub ----------------------------------------------------------------------------------


def test_every_secretariat_action_is_in_the_hub_log(tmp_path, monkeypatch):
    hub_app = enrolled_hub(tmp_path / "hub")  # invitations made and redeemed on the way
    data_dir = str(tmp_path / "hub")
    monkeypatch.setenv("PONTE_PASSWORD", PASSWORD)
    with monkeypatch.context() as fast:
        fast.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
        created = run("hub", "create-admin", "--data-dir", data_dir, "--email", "ana@sec.example")
        assert created.exit_code == 0, created.output
        browser = hub_app.test_client()
        token = csrf(browser.get("/admin/login").get_data(as_text=True))
        signed = browser.post("/admin/login", data={
            "csrf_token": token, "email": "ana@sec.example", "password": PASSWORD})  # fmt: skip
        assert signed.status_code == 302
    partners = tmp_path / "partners.csv"
    partners.write_text("name,country\nZq Shelter,GR\n", encoding="utf-8")
    assert run("hub", "seed", "--data-dir", data_dir, str(partners)).exit_code == 0
    with hub_app.app_context():
        session = hub_db.session
        spare = create_invitation(session, "org-a", "ana@sec.example").invitation
        revoke_invitation(session, spare.id, "ana@sec.example")
        revoke_node(session, hub_identity(), hub_app.nodes["c"].node_id, "ana@sec.example")
        draft = ItemDraft(kind="news", title="Zq report", body_markdown="Text.")
        item = create_item(session, draft, "ana@sec.example")
        edit_item(session, item, ItemDraft(kind="news", title="Zq report", body_markdown="New."),
                  "ana@sec.example")  # fmt: skip
        schedule_item(session, item, dt.datetime.now(dt.UTC) + DAY, "ana@sec.example")
        unschedule_item(session, item, "ana@sec.example")
        publish_item(session, item, "ana@sec.example", hub_identity())
        retract_item(session, item, "Wrong figures.", "ana@sec.example", hub_identity())
        logged = {
            (entry.action, entry.actor): entry.at
            for entry in session.scalars(select(HubAuditEntry))
        }
    expected = {
        ("invitation.create", "test"),
        ("node.enrol", f"node:{hub_app.nodes['a'].node_id}"),
        ("admin.create", "cli:" + _user()),
        ("admin.sign_in", "ana@sec.example"),
        ("directory.import", "cli:" + _user()),
        ("invitation.revoke", "ana@sec.example"),
        ("node.revoke", "ana@sec.example"),
        *{(f"item.{action}", "ana@sec.example") for action in (
            "created", "edited", "scheduled", "unscheduled", "published", "retracted")},
    }  # fmt: skip
    assert expected <= set(logged), expected - set(logged)
    assert all(logged[key] is not None for key in expected)


def _user() -> str:
    import getpass

    return getpass.getuser()


def test_the_hub_keeps_no_delivered_or_expired_bodies(tmp_path):
    """A controlled clock: bodies go when acknowledged, and when their time runs out."""
    hub_app = enrolled_hub(tmp_path / "hub")
    kept = envelope(hub_app, ttl=3600)
    short = envelope(hub_app, ttl=60)
    for sealed in (kept, short):
        assert post(hub_app, sealed.to_wire()).status_code == 201
    created = kept.header.created
    with hub_app.app_context():
        session = hub_db.session
        sender = session.get(HubNode, hub_app.nodes["a"].node_id)
        _, blob = encrypt_attachment(b"zq file", "f.txt", "text/plain")
        accept_blob(session, sender, "blob-zq-1", hub_app.nodes["b"].node_id, created + 120,
                    blob, now=created)  # fmt: skip
        assert expire_due(session, now=created + 59) == 0
        assert expire_due(session, now=created + 61) == 1
        messages = {m.message_id: m for m in session.scalars(select(RelayMessage))}
        by_ttl = sorted(messages.values(), key=lambda message: message.expires)
        assert by_ttl[0].wire is None and by_ttl[0].state == "expired"
        assert by_ttl[1].wire is not None and by_ttl[1].state == "queued"
        blob_row = session.scalars(select(RelayBlob)).one()
        assert blob_row.data is not None
        expire_due(session, now=created + 121)
        blob_row = session.scalars(select(RelayBlob)).one()
        assert (blob_row.state, blob_row.data) == ("expired", None)
        from hub.relay import acknowledge

        recipient = session.get(HubNode, hub_app.nodes["b"].node_id)
        acknowledge(session, recipient, [by_ttl[1].message_id])
        assert all(m.wire is None for m in session.scalars(select(RelayMessage)))


def test_the_retention_setting_is_a_node_setting_with_a_default():
    from ponte.config import load_settings

    assert load_settings("node", environ={})["RETENTION_DAYS"] == 90
    assert load_settings("node", environ={"PONTE_RETENTION_DAYS": "30"})["RETENTION_DAYS"] == 30
    assert "RETENTION_DAYS" not in load_settings("hub", environ={}).values
