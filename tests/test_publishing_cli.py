"""``ponte hub publish``, ``publish-due`` and ``retract``: what they store and sign, and every
bad input refused with exit 2, a message on stderr and nothing stored."""

from __future__ import annotations

import datetime as dt
import getpass

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from hub.extensions import db
from hub.identity import hub_record
from hub.models import AuditEntry, ItemRevision, PublicationItem, RelayMessage, SignedPublication
from hub.publishing import MAX_BODY_CHARS, MAX_FILE_BYTES
from ponte.cli import main
from protocol.publication import verify_publication
from tests.test_publishing import (
    HUB_PASSPHRASE,
    count,
    enrol_node,
    make_app,
    opened_newsletters,
    signed_documents,
)

BODY = "Member states have **two years** to transpose it.\n"


@pytest.fixture
def app(data_dir, monkeypatch):
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_PASSPHRASE)
    return make_app(data_dir)


@pytest.fixture
def body_file(tmp_path):
    path = tmp_path / "news.md"
    path.write_text(BODY, encoding="utf-8")
    return path


def ponte(app, command, *args):
    return CliRunner().invoke(
        main, ["hub", command, "--data-dir", str(app.config["DATA_DIR"]), *args]
    )


def publish(app, body_file, *args):
    required = ["--title", "The directive is in force", "--body-file", str(body_file)]
    return ponte(app, "publish", *required, "--kind", "news", "--topic", "eu-legislation", *args)


def last_line(result):
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def the_item(app):
    with app.app_context():
        return db.session.scalars(select(PublicationItem)).one()


def nothing_stored(app):
    with app.app_context():
        audited = count(AuditEntry, AuditEntry.action.like("item.%"))
        return count(PublicationItem) + count(ItemRevision) + audited == 0


# --- what the commands do --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["publish", "publish-due", "retract"])
def test_every_command_shows_an_example(command):
    result = CliRunner().invoke(main, ["hub", command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--data-dir" in result.output


def test_publish_signs_the_item_and_prints_its_id_and_state(app, body_file):
    result = publish(app, body_file, "--country", "RO", "--country", "it", "--language", "de")
    item = the_item(app)
    assert last_line(result) == f"{item.id} published"
    assert (item.state, item.revision, item.body_markdown) == ("published", 1, BODY)
    assert (item.countries, item.language, item.audience) == (["RO", "IT"], "de", "public")
    assert item.created_by == f"cli:{getpass.getuser()}"
    with app.app_context():
        [document] = signed_documents(item.id)
        statement = verify_publication(hub_record(), document).statement
        assert count(AuditEntry, AuditEntry.action == "item.published") == 1
    assert statement["title"] == "The directive is in force"


def test_publish_members_only_as_someone(app, body_file):
    with app.app_context():
        node = enrol_node()
    result = publish(app, body_file, "--members-only", "--as", "ana@secretariat.example")
    item = the_item(app)
    assert last_line(result) == f"{item.id} published"
    assert (item.audience, item.created_by) == ("members", "ana@secretariat.example")
    with app.app_context():
        assert opened_newsletters(node) == signed_documents(item.id)


def test_a_draft_needs_no_passphrase(app, body_file, monkeypatch):
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE")
    result = publish(app, body_file, "--draft")
    item = the_item(app)
    assert last_line(result) == f"{item.id} draft"
    with app.app_context():
        assert count(SignedPublication) == 0


def test_an_event_and_a_resource(app, body_file, tmp_path):
    result = ponte(
        app, "publish", "--title", "Training", "--body-file", str(body_file), "--kind", "event",
        "--topic", "events", "--event-starts", "2031-03-01T09:00:00+01:00",
        "--event-ends", "2031-03-01T17:00:00Z", "--event-place", "Vienna", "--draft",
    )  # fmt: skip
    assert last_line(result).endswith(" draft")
    starts, ends = (
        dt.datetime(2031, 3, 1, 8, tzinfo=dt.UTC),
        dt.datetime(2031, 3, 1, 17, tzinfo=dt.UTC),
    )
    assert the_item(app).event == {
        "starts": int(starts.timestamp()),
        "ends": int(ends.timestamp()),
        "place": "Vienna",
    }
    guide = tmp_path / "guide.pdf"
    guide.write_bytes(b"%PDF-1.7 guide")
    result = ponte(
        app, "publish", "--title", "Guide", "--body-file", str(body_file), "--kind", "resource",
        "--topic", "identification", "--file", str(guide), "--url", "https://example.org/g",
    )  # fmt: skip
    item_id = last_line(result).split()[0]
    with app.app_context():
        item = db.session.get(PublicationItem, item_id)
        assert (item.file_name, item.file_media_type) == ("guide.pdf", "application/pdf")
        statement = signed_documents(item_id)[0]["statement"]
    assert statement["file"]["size"] == 14 and statement["url"] == "https://example.org/g"


def test_schedule_then_publish_due(app, body_file, monkeypatch):
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    in_rome = at.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE")  # scheduling signs nothing yet
    result = publish(app, body_file, "--at", in_rome)
    item = the_item(app)
    assert last_line(result) == f"{item.id} scheduled"
    assert f"Scheduled for {at:%Y-%m-%d %H:%M} UTC." in result.stdout
    assert item.publish_at.replace(tzinfo=dt.UTC) == at  # the instant, whatever the zone
    refused = ponte(app, "publish-due")
    assert refused.exit_code == 2 and "Set PONTE_HUB_PASSPHRASE" in refused.stderr
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_PASSPHRASE)
    assert last_line(ponte(app, "publish-due")) == "Published 0 scheduled items."
    with app.app_context():
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        db.session.execute(update(PublicationItem).values(publish_at=past))
        db.session.commit()
    assert last_line(ponte(app, "publish-due")) == "Published 1 scheduled item."
    assert last_line(ponte(app, "publish-due")) == "Published 0 scheduled items."
    assert (the_item(app).state, the_item(app).revision) == ("published", 1)


def test_retract(app, body_file, monkeypatch):
    item_id = last_line(publish(app, body_file)).split()[0]
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE")
    locked = ponte(app, "retract", item_id, "--reason", "Wrong figures.")
    assert locked.exit_code == 2 and "Set PONTE_HUB_PASSPHRASE" in locked.stderr
    assert the_item(app).state == "published"
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_PASSPHRASE)
    for args, message in [
        (["no-such-item", "--reason", "x"], "No item has this id"),
        ([item_id, "--reason", "  "], "Say why"),
    ]:
        refused = ponte(app, "retract", *args)
        assert refused.exit_code == 2 and message in refused.stderr
    assert last_line(ponte(app, "retract", item_id, "--reason", "Wrong figures.")) == (
        f"{item_id} retracted"
    )
    with app.app_context():
        statement = verify_publication(hub_record(), signed_documents(item_id)[-1]).statement
    assert (statement["status"], statement["reason"]) == ("retracted", "Wrong figures.")
    again = ponte(app, "retract", item_id, "--reason", "again")
    assert again.exit_code == 2 and "Only a published item" in again.stderr


# --- bad input: exit 2, a message, nothing stored --------------------------------------------


def test_a_locked_or_wrong_passphrase_stores_nothing(app, body_file, monkeypatch):
    monkeypatch.delenv("PONTE_HUB_PASSPHRASE")
    missing = publish(app, body_file)
    assert missing.exit_code == 2 and "Set PONTE_HUB_PASSPHRASE" in missing.stderr
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", "not the passphrase")
    wrong = publish(app, body_file)
    assert wrong.exit_code == 2 and "cannot be opened" in wrong.stderr
    assert nothing_stored(app)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topic", "gossip"], "--topic: Unknown topic 'gossip'"),
        (["--country", "XX"], "--country: Unknown country code 'XX'"),
        (["--language", "xx"], "--language: Give the language"),
        (["--kind", "poem"], "--kind: Choose a kind"),
        (["--title", " "], "--title: This cannot be empty"),
        (["--url", "javascript:alert(1)"], "--url: Give a web address"),
        (["--event-starts", "2031-01-01T10:00:00Z"], "--event-starts: Only an event"),
        (["--event-starts", "2031-01-01T10:00"], "give the time zone too"),
        (["--at", "2001-01-01T10:00:00Z"], "--at: Choose a time in the future"),
        (["--at", "2099-01-01T10:00"], "give the time zone too"),
        (["--at", "tomorrow"], "give an ISO 8601 date and time"),
        (["--at", "2099-01-01T10:00:00Z", "--draft"], "Choose --draft or --at, not both"),
    ],
)
def test_bad_options_exit_2_and_store_nothing(app, body_file, args, message):
    result = publish(app, body_file, *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert nothing_stored(app)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"\xff\xfe\x00 not text", "is not UTF-8 text"),
        (b"x" * (10 * 1024 * 1024), "too long"),
        (b"x" * (MAX_BODY_CHARS + 1), "--body-file: The text is too long"),
        (b"a\x00b", "--body-file: The text holds control characters"),
        (b"  \n", "--body-file: Write the text"),
    ],
)
def test_bad_body_files_exit_2_and_store_nothing(app, tmp_path, content, message):
    path = tmp_path / "body.md"
    if content is not None:
        path.write_bytes(content)
    result = publish(app, path)
    assert result.exit_code == 2 and message in result.stderr
    assert nothing_stored(app)


def test_bad_files_exit_2_and_store_nothing(app, body_file, tmp_path):
    large = tmp_path / "large.pdf"
    large.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    for args, message in [
        (["--file", str(tmp_path / "missing.pdf")], "cannot read"),
        (["--file", str(large)], "--file: Only a resource"),  # a news item: refused first
    ]:
        result = publish(app, body_file, *args)
        assert result.exit_code == 2 and message in result.stderr
    result = ponte(
        app, "publish", "--title", "Guide", "--body-file", str(body_file), "--kind", "resource",
        "--topic", "identification", "--file", str(large),
    )  # fmt: skip
    assert result.exit_code == 2 and "--file: The file is too large" in result.stderr
    assert nothing_stored(app)


def test_a_topic_is_required(app, body_file):
    result = ponte(app, "publish", "--title", "T", "--body-file", str(body_file), "--kind", "news")
    assert result.exit_code == 2 and "--topic" in result.stderr
    assert nothing_stored(app)


def test_a_members_only_item_without_member_nodes_reaches_nobody(app, body_file):
    item_id = last_line(publish(app, body_file, "--members-only")).split()[0]
    with app.app_context():
        assert count(RelayMessage) == 0 and len(signed_documents(item_id)) == 1
