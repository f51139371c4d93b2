"""The node's hash-chained audit log: real actions on two live nodes leave a chain that
verifies; any edit, deletion, insertion or reordering is found and named; two writers at once
keep one chain; node admins can read it; it never holds a survivor's personal data."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from node import audit
from node import create_app as create_node_app
from node.extensions import db
from node.models import AuditEntry, AuditHead, User
from ponte import accounts
from ponte.cli import main
from tests.test_enrolment import PASSPHRASE, hub
from tests.test_referral_pages import (
    CASE_LINK,
    PASSWORD,
    csrf,
    nodes_with_caseworkers,
    page,
    send_form,
    signed_in,
)
from tests.test_referrals import TestNode, example

__all__ = ["hub"]

CODE, INITIALS = "AUD-2026-7731", "Q.X."
NOTE = "zq-audit-note: she prefers the morning train"
MESSAGE = "zq-audit-message: the escort meets her at platform 4"


@pytest.fixture(scope="module")
def nodes(hub, tmp_path_factory):
    """Atina's and Payoke's nodes, unlocked, each with a caseworker; Atina with an admin."""
    with nodes_with_caseworkers(hub, tmp_path_factory, "audit") as (a, b):
        with a.app.app_context():
            accounts.create_user(db.session, User, "admin@atina.example", PASSWORD, "admin")
        yield a, b


def personal(code: str = CODE) -> dict:
    payload = example()
    payload["person"].update(case_code=code, initials=INITIALS)
    payload["restricted_notes"] = NOTE
    return payload


def entries(node: TestNode, case_id: str | None = None) -> list[tuple[str, str, str]]:
    """(actor, action, detail) of the node's entries (of one case), oldest first."""
    with node.app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if case_id is not None:
            query = query.where(AuditEntry.case_id == case_id)
        return [(e.actor, e.action, e.detail) for e in db.session.scalars(query)]


def verify_cli(data_dir: Path):
    return CliRunner().invoke(main, ["node", "audit", "verify", "--data-dir", str(data_dir)])


# -- real actions -----------------------------------------------------------------------------


def test_real_actions_are_logged_and_the_chain_verifies(nodes, monkeypatch):
    a, b = nodes
    atina = signed_in(a, "case@atina.example")
    sent = send_form(atina, b, personal())
    assert sent.status_code == 302, sent.get_data(as_text=True)
    case_id = CASE_LINK.search(sent.headers["Location"]).group(1)
    a.sync()
    b.sync()
    payoke = signed_in(b, "case@payoke.example")
    case_page = page(payoke, f"/cases/{case_id}")
    accepted = payoke.post(
        f"/cases/{case_id}/status",
        data={"csrf_token": csrf(case_page), "status": "accepted", "message": MESSAGE},
    )
    assert accepted.status_code == 302
    b.sync()
    a.sync()
    page(atina, f"/cases/{case_id}")
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    shown = CliRunner().invoke(
        main, ["node", "referral", "--data-dir", str(a.data_dir), case_id, "--json"]
    )
    assert shown.exit_code == 0, shown.output

    node_a, node_b = a.keys.enrolment.node_id, b.keys.enrolment.node_id
    assert entries(a, case_id) == [
        ("case@atina.example", "created", f"for {b.organisation_id}"),
        ("case@atina.example", "status_changed", f"sent, sent to {node_b}"),
        ("sync", "status_changed", f"delivered by the partner {node_b}"),  # its receipt
        ("sync", "status_changed", f"accepted by the partner {node_b} with a message"),
        ("case@atina.example", "viewed", ""),
        (shown_actor(), "viewed", ""),
    ]
    assert entries(b, case_id) == [
        ("sync", "received", f"referral from {node_a}"),
        ("system", "status_changed", "delivered"),
        ("case@payoke.example", "viewed", ""),
        ("case@payoke.example", "status_changed", f"accepted, sent to {node_a} with a message"),
    ]
    for node in (a, b):
        result = verify_cli(node.data_dir)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"{len(entries(node))} entries, chain intact.")


def shown_actor() -> str:
    from node.audit_cli import cli_actor

    return cli_actor()


def test_the_log_holds_no_personal_data_of_the_case(nodes):
    a, b = nodes
    for node in (a, b):
        with node.app.app_context():
            rows = db.session.execute(select(AuditEntry.__table__)).all()
        text = "\n".join(" ".join(str(value) for value in row) for row in rows)
        assert text, "no entries to look at"
        for secret in (CODE, INITIALS, NOTE, MESSAGE, "Ioana Popescu", "Chisinau"):
            assert secret not in text


def test_opening_a_file_is_logged(nodes):
    a, b = nodes
    with a.app.app_context():
        from node.referrals import create_referral

        [case] = create_referral(
            db.session,
            a.keys,
            personal("AUD-2026-7732"),
            [b.organisation_id],
            "Ioana",
            attachments=[("scan.pdf", "application/pdf", b"%PDF-1.4 audit")],
        )
        case_id, [reference] = case.id, case.payload["attachments"]
    atina = signed_in(a, "case@atina.example")
    download = atina.get(f"/cases/{case_id}/attachments/{reference['id']}")
    assert download.status_code == 200 and download.data == b"%PDF-1.4 audit"
    assert entries(a, case_id)[-1] == (
        "case@atina.example",
        "attachment_viewed",
        f"file {reference['id']}",
    )


def test_a_rolled_back_change_leaves_no_entry(nodes):
    a, _ = nodes
    before = entries(a)
    with a.app.app_context():
        audit.record(db.session, audit.VIEWED, "someone", "never-happened")
        db.session.rollback()
        db.session.commit()
    assert entries(a) == before


def test_node_admins_read_the_log_and_check_the_chain(nodes):
    a, _ = nodes
    admin = signed_in(a, "admin@atina.example")
    html = page(admin, "/audit/?verify=1")
    assert "the chain is intact" in html and "case@atina.example" in html
    assert "<code>created</code>" in html
    caseworker = signed_in(a, "case@atina.example")
    assert caseworker.get("/audit/").status_code == 403


def test_audit_show_lists_the_newest_entries(nodes):
    a, _ = nodes
    result = CliRunner().invoke(
        main, ["node", "audit", "show", "--data-dir", str(a.data_dir), "--limit", "2"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2 and int(lines[0].split()[0]) == len(entries(a))


# -- tampering --------------------------------------------------------------------------------


@pytest.fixture
def logged(tmp_path):
    """A node's database with five entries (no hub needed: the log is local)."""
    app = create_node_app(tmp_path)
    with app.app_context():
        for number in range(1, 6):
            audit.record(
                db.session, audit.VIEWED, f"worker{number}@ngo.example", f"case{number}", "x"
            )
            db.session.commit()
    yield app, tmp_path
    with app.app_context():
        db.engine.dispose()


def _change(app, number: int, **values) -> None:
    with app.app_context():
        db.session.execute(update(AuditEntry).where(AuditEntry.seq == number).values(**values))
        db.session.commit()


def _row(app, seq: int) -> dict:
    with app.app_context():
        return dict(
            db.session.execute(select(AuditEntry.__table__).where(AuditEntry.seq == seq))
            .mappings()
            .one()
        )


def _swap_contents(app, first: int, second: int) -> None:
    one, two = _row(app, first), _row(app, second)
    _change(app, first, **{k: v for k, v in two.items() if k != "seq"})
    _change(app, second, **{k: v for k, v in one.items() if k != "seq"})


def _swap_numbers(app, first: int, second: int) -> None:
    _change(app, first, seq=-1)
    _change(app, second, seq=first)
    _change(app, -1, seq=second)


def _delete(app, seq: int) -> None:
    with app.app_context():
        db.session.execute(delete(AuditEntry).where(AuditEntry.seq == seq))
        db.session.commit()


def _append_forged(app) -> None:
    """A well-formed sixth entry chained to the fifth, written behind Ponte's back."""
    last = _row(app, 5)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    forged = audit.entry_hash(6, at, "intruder", "viewed", "case9", "", last["hash"])
    with app.app_context():
        db.session.execute(
            insert(AuditEntry).values(
                seq=6, at=at, actor="intruder", action="viewed", case_id="case9", detail="",
                prev_hash=last["hash"], hash=forged,
            )
        )  # fmt: skip
        db.session.commit()


def _rewrite_with_its_hash(app) -> None:
    """Entry 3 changed and its own hash recomputed: entry 4 still names the old one."""
    row = _row(app, 3)
    at = row["at"]
    new = audit.entry_hash(3, at, "someone else", "viewed", "case3", "x", row["prev_hash"])
    _change(app, 3, actor="someone else", hash=new)


TAMPERING = {
    "actor": (lambda app: _change(app, 3, actor="nobody@ngo.example"), "entry 3 was changed"),
    "action": (lambda app: _change(app, 3, action="exported"), "entry 3 was changed"),
    "case": (lambda app: _change(app, 3, case_id="case9"), "entry 3 was changed"),
    "detail": (lambda app: _change(app, 3, detail="y"), "entry 3 was changed"),
    "time": (
        lambda app: _change(app, 3, at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        "entry 3 was changed",
    ),
    "prev_hash": (lambda app: _change(app, 3, prev_hash="0" * 64), "entry 3 was changed"),
    "hash": (lambda app: _change(app, 3, hash="f" * 64), "entry 3 was changed"),
    "rewritten with its hash": (_rewrite_with_its_hash, "entry 4 does not follow entry 3"),
    "deleted": (lambda app: _delete(app, 3), "entry 3 is missing (deleted)"),
    "first deleted": (lambda app: _delete(app, 1), "entry 1 is missing (deleted)"),
    "last deleted": (lambda app: _delete(app, 5), "entry 5 is missing (deleted from the end)"),
    "contents swapped": (lambda app: _swap_contents(app, 2, 4), "entry 2 was changed"),
    "numbers swapped": (lambda app: _swap_numbers(app, 2, 4), "entry 2 was changed"),
    "appended behind": (_append_forged, "entry 6 was added behind the log's recorded end"),
}


def test_an_untouched_log_verifies(logged):
    _, data_dir = logged
    result = verify_cli(data_dir)
    assert result.exit_code == 0 and result.output.startswith("5 entries, chain intact.")


@pytest.mark.parametrize("how", TAMPERING)
def test_tampering_is_found_and_the_entry_named(logged, how):
    app, data_dir = logged
    tamper, expected = TAMPERING[how]
    tamper(app)
    result = verify_cli(data_dir)
    assert result.exit_code == 1, result.output
    assert expected in result.output, result.output


def test_a_deleted_head_is_found(logged):
    app, data_dir = logged
    with app.app_context():
        db.session.execute(delete(AuditHead))
        db.session.commit()
    result = verify_cli(data_dir)
    assert result.exit_code == 1 and "audit_head row) was deleted" in result.output


def test_appends_after_tampering_do_not_hide_it(logged):
    app, data_dir = logged
    _change(app, 2, detail="edited")
    with app.app_context():
        audit.record(db.session, audit.VIEWED, "later@ngo.example", "case7")
        db.session.commit()
    assert "entry 2 was changed" in verify_cli(data_dir).output


# -- concurrency ------------------------------------------------------------------------------


def test_two_writers_at_once_keep_one_chain(tmp_path):
    app = create_node_app(tmp_path)
    per_writer, start = 25, threading.Barrier(2)
    failures: list[BaseException] = []

    def write(name: str) -> None:
        try:
            with app.app_context():
                start.wait()
                for number in range(per_writer):
                    audit.record(db.session, audit.VIEWED, name, f"{name}-{number}")
                    db.session.commit()
                db.session.remove()
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    writers = [threading.Thread(target=write, args=(name,)) for name in ("one", "two")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert not failures, failures
    with app.app_context():
        report = audit.verify(db.session)
        rows = db.session.execute(select(AuditEntry.seq, AuditEntry.case_id)).all()
        db.engine.dispose()
    assert report.intact and report.entries == 2 * per_writer, report
    assert sorted(seq for seq, _ in rows) == list(range(1, 2 * per_writer + 1))
    assert {case for _, case in rows} == {
        f"{name}-{number}" for name in ("one", "two") for number in range(per_writer)
    }
