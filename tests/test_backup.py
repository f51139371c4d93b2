"""Backups and restores (ponte.backup, `ponte hub|node backup|restore`) of real hubs and nodes:
the shipped directory, real enrolments and keys, signed publications, encrypted referrals,
on SQLite and on a real PostgreSQL server. Nothing is mocked."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import stat
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, text

from directory.catalogue import import_directory, organisation_count
from directory.models import Organization
from directory.search import SearchQuery
from hub import create_app
from hub.enrolment import create_invitation, redeem_invitation
from hub.extensions import db
from hub.identity import hub_identity
from hub.models import Node
from hub.publishing import ItemDraft, create_item, latest_signed, publish_item
from hub.search_index import search_index
from node import create_app as create_node_app
from node.enrolment import load_enrolment, unlock
from node.extensions import db as node_db
from node.models import CaseAttachment, Referral
from node.referrals import create_referral
from ponte import datadir
from ponte.backup import libpq_connection
from ponte.cli import main
from protocol import NodeIdentity, b64url_encode, enrolment_proof, verify_attestation
from protocol.publication import verify_publication
from tests.conftest import free_port
from tests.test_enrolment import HUB_SETTINGS, PASSPHRASE, hub
from tests.test_referrals import example, make_node

__all__ = ["hub"]

# This module chooses its databases itself: the embedded SQLite default, and PostgreSQL through
# DATABASE_URL, even when PONTE_TEST_DATABASE=postgresql gives other modules' apps theirs.
# Captured at import, before the session's fixtures patch it.
EMBEDDED_DATABASE_URL = datadir.database_url
assert EMBEDDED_DATABASE_URL.__module__ == "ponte.datadir"

SEARCHES = ("shelter Romania", "child trafficking Italy", "Nigeria", "Atina")
ASSESSMENT = b"Risk assessment, 2 pages: the person is safe at the shelter.\n"


@pytest.fixture(scope="module", autouse=True)
def _embedded_database():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datadir, "database_url", EMBEDDED_DATABASE_URL)
        yield


def ponte(*args, **env):
    return CliRunner().invoke(main, [str(arg) for arg in args], env=env or None)


# --- a hub with something in it, and what must survive a restore ------------------------------


def seeded_hub(data_dir: Path) -> tuple[Flask, str, str]:
    """A hub with the shipped directory, a node enrolled with a real key (hub.enrolment, the
    invitation redeemed as the API does) and a signed news item; its node and item ids."""
    app = create_app(data_dir, HUB_SETTINGS)
    with app.app_context():
        import_directory(db.session, search_index())
        atina = db.session.scalars(select(Organization.id).where(Organization.name == "Atina"))
        token = create_invitation(db.session, atina.one(), "test").token
        node = NodeIdentity.generate("node-atina-backup")
        record = node.public_record().to_dict()
        redeem_invitation(db.session, hub_identity(), token, record, enrolment_proof(node, token))
        draft = ItemDraft("news", "A shelter opens in Iasi", "It has *twelve* places.",
                          topics=["protection-and-assistance"], countries=["RO"])  # fmt: skip
        item = create_item(db.session, draft, "ana@secretariat.example")
        publish_item(db.session, item, "ana@secretariat.example", hub_identity())
        return app, node.node_id, item.id


def hub_facts(app: Flask, node_id: str, item_id: str) -> dict:
    """What a restored hub must show as the original did: the directory and its search, the
    enrolled node with the hub's attestation of its key, the hub key (opened with the same
    passphrase) and a publication whose signature verifies with it."""
    with app.app_context():
        identity = hub_identity()
        node = db.session.get(Node, node_id)
        attested = verify_attestation(identity.public_record(), node.current_key.attestation)
        document = latest_signed(db.session, item_id).document
        searches = {
            text: [hit.organisation["id"] for hit in search_index().search(SearchQuery(text)).hits]
            for text in SEARCHES
        }
        facts = {
            "organisations": organisation_count(db.session),
            "searches": searches,
            "hub_key": (identity.sign_seed, identity.box_secret, identity.public_record()),
            "node": (node.organization.name, attested.record.to_dict(), attested.active),
            "publication": verify_publication(identity.public_record(), document).statement,
        }
        db.engine.dispose()  # nothing left open on the database (pg_restore --clean drops it)
    return facts


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {member.name: tar.extractfile(member).read() for member in tar}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(directory: Path) -> dict[str, tuple[str, float]]:
    """Every file under ``directory``: its SHA-256 and modification time."""
    return {
        str(path.relative_to(directory)): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime,
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def assert_restored_hub(data_dir: Path, facts: dict, node_id: str, item_id: str) -> None:
    assert hub_facts(create_app(data_dir, HUB_SETTINGS), node_id, item_id) == facts
    assert mode(data_dir) == 0o700
    for name in ("hub-keystore.json", "secret_key"):
        assert mode(data_dir / name) == 0o600


# --- round trips ------------------------------------------------------------------------------


def test_a_hub_backed_up_while_it_is_open_restores_on_sqlite(tmp_path):
    app, node_id, item_id = seeded_hub(tmp_path / "hub")
    facts = hub_facts(app, node_id, item_id)
    archive = tmp_path / "backups" / "hub.tar.gz"
    archive.parent.mkdir()
    with app.app_context():  # the app is open, a transaction reading: the online backup copes
        assert db.session.scalars(select(Organization.id)).first()
        backed_up = ponte("hub", "backup", "--data-dir", tmp_path / "hub", "--output", archive)
    assert backed_up.exit_code == 0, backed_up.output
    assert mode(archive) == 0o600
    assert not list(archive.parent.glob(".*"))  # no temporary file left beside it

    content = members(archive)
    assert list(content) == [
        "manifest.json",
        "database.sqlite3",
        "files/hub-keystore.json",
        "files/secret_key",
    ]  # the search index is not in it: the restore rebuilds it
    manifest = json.loads(content["manifest.json"])
    assert manifest["format"] == "ponte-backup" and manifest["service"] == "hub"
    assert manifest["database"] == "sqlite" and manifest["ponte_version"]
    for entry in manifest["files"]:
        assert hashlib.sha256(content[entry["name"]]).hexdigest() == entry["sha256"]
    assert content["files/hub-keystore.json"] == (tmp_path / "hub/hub-keystore.json").read_bytes()

    restored = ponte("hub", "restore", "--data-dir", tmp_path / "restored", archive)
    assert restored.exit_code == 0, restored.output
    assert f"Search index rebuilt: {facts['organisations']} organisations." in restored.stdout
    for step in ("Checking", "Restoring the database", "Restoring the key files", "Rebuilding"):
        assert step in restored.stderr
    assert_restored_hub(tmp_path / "restored", facts, node_id, item_id)


def test_a_hub_round_trip_on_postgresql(postgres, tmp_path, monkeypatch):
    source, target = postgres.database("backup_source"), postgres.database("backup_target")
    monkeypatch.setenv("DATABASE_URL", source)
    app, node_id, item_id = seeded_hub(tmp_path / "hub")
    facts = hub_facts(app, node_id, item_id)
    archive = tmp_path / "hub.tar.gz"
    backed_up = ponte("hub", "backup", "--data-dir", tmp_path / "hub", "-o", archive)
    assert backed_up.exit_code == 0, backed_up.output
    assert "pg_dump" in backed_up.stderr
    assert json.loads(members(archive)["manifest.json"])["database"] == "postgresql"
    assert "database.pgdump" in members(archive)
    assert not (tmp_path / "hub" / "hub.sqlite3").exists()

    monkeypatch.setenv("DATABASE_URL", target)
    restored = ponte("hub", "restore", "--data-dir", tmp_path / "restored", archive)
    assert restored.exit_code == 0, restored.output
    assert_restored_hub(tmp_path / "restored", facts, node_id, item_id)

    # Again, onto the database that is no longer empty: refused, unless --force --clean.
    again = tmp_path / "again"
    refused = ponte("hub", "restore", "--data-dir", again, archive)
    assert refused.exit_code == 2
    assert "is not empty" in refused.output and "--force --clean" in refused.output
    assert not again.exists()
    refused = ponte("hub", "restore", "--data-dir", again, "--force", archive)
    assert refused.exit_code == 2 and "--force --clean" in refused.output
    replaced = ponte("hub", "restore", "--data-dir", again, "--force", "--clean", archive)
    assert replaced.exit_code == 0, replaced.output
    assert "tables of" in replaced.stderr  # it says what it replaced
    assert_restored_hub(again, facts, node_id, item_id)

    # A PostgreSQL backup does not go onto the embedded SQLite database, nor nowhere.
    monkeypatch.delenv("DATABASE_URL")
    other_kind = ponte("hub", "restore", "--data-dir", tmp_path / "sqlite", archive)
    assert other_kind.exit_code == 2 and "postgresql database" in other_kind.output
    unreachable = f"postgresql+psycopg://ponte:secret@127.0.0.1:{free_port()}/ponte"
    monkeypatch.setenv("DATABASE_URL", unreachable)
    down = ponte("hub", "restore", "--data-dir", tmp_path / "down", archive)
    assert down.exit_code == 2 and "cannot be reached" in down.output
    assert "secret" not in down.output
    assert not (tmp_path / "sqlite").exists() and not (tmp_path / "down").exists()


def test_a_node_restores_with_its_sealed_keys_its_enrolment_and_its_cases(hub, tmp_path):
    node = make_node(hub, tmp_path / "node", "Atina")
    partner = make_node(hub, tmp_path / "partner", "Payoke")
    with node.app.app_context():
        [case] = create_referral(
            node_db.session,
            node.keys,
            example(),
            [partner.organisation_id],
            "Ioana",
            attachments=[("assessment.txt", "text/plain", ASSESSMENT)],
        )
        referral_id, payload = case.id, case.payload
    archive = tmp_path / "node.tar.gz"
    backed_up = ponte("node", "backup", "--data-dir", node.data_dir, "--output", archive)
    assert backed_up.exit_code == 0, backed_up.output
    assert set(members(archive)) == {
        "manifest.json",
        "database.sqlite3",
        "files/keystore.json",
        "files/enrolment.json",
        "files/secret_key",
    }
    # The private keys are in it only sealed: not in clear, in any spelling.
    compressed = archive.read_bytes()
    for data in (compressed, gzip.decompress(compressed)):
        for identity in node.keys.identities:
            for secret in (identity.sign_seed, identity.box_secret):
                for spelling in (secret, secret.hex().encode(), b64url_encode(secret).encode(),
                                 base64.b64encode(secret)):  # fmt: skip
                    assert spelling not in data

    restored_dir = tmp_path / "restored"
    restored = ponte("node", "restore", "--data-dir", restored_dir, archive)
    assert restored.exit_code == 0, restored.output
    assert "PONTE_PASSPHRASE" in restored.stdout and "Search index" not in restored.output
    identities = unlock(restored_dir, PASSPHRASE)
    assert [i.sign_seed for i in identities] == [i.sign_seed for i in node.keys.identities]
    assert load_enrolment(restored_dir) == node.keys.enrolment
    for name in ("keystore.json", "enrolment.json", "secret_key"):
        assert mode(restored_dir / name) == 0o600
    with create_node_app(restored_dir).app_context():
        case = node_db.session.get(Referral, referral_id)
        assert case.payload == payload and case.partner_organisation_id == partner.organisation_id
        attachment = node_db.session.scalars(
            select(CaseAttachment).where(CaseAttachment.referral_id == referral_id)
        ).one()  # attachments live in the database: they come with it
        assert (attachment.name, attachment.data) == ("assessment.txt", ASSESSMENT)


# --- refusals: exit 2, a message, and the target untouched ---------------------------------------


@pytest.fixture
def hub_archive(tmp_path) -> Path:
    """A backup of a small hub (one organisation, its key created)."""
    app = create_app(tmp_path / "source", HUB_SETTINGS)
    with app.app_context():
        db.session.add(Organization(id="org-atina", name="Atina", kind="ngo", country="RS"))
        db.session.commit()
        hub_identity()
    archive = tmp_path / "hub.tar.gz"
    assert ponte("hub", "backup", "--data-dir", tmp_path / "source", "-o", archive).exit_code == 0
    return archive


def rewrite(archive: Path, change) -> None:
    """The archive again, a well-formed tar.gz, with ``change(name, data)`` applied to each
    member's bytes (the manifest unchanged, unless ``change`` changes it)."""
    content = members(archive)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in content.items():
            data = change(name, data)
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue())


def test_a_damaged_archive_is_refused_before_anything_is_written(hub_archive, tmp_path):
    data = bytearray(hub_archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    hub_archive.write_bytes(bytes(data))
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", hub_archive)
    assert result.exit_code == 2
    # Caught by a member's checksum, or by gzip's own check: which one, depends on the byte.
    assert "damaged" in result.output
    assert "Nothing was changed." in result.output
    assert not (tmp_path / "target").exists()


def test_a_member_that_does_not_match_its_checksum_is_refused(hub_archive, tmp_path):
    rewrite(hub_archive, lambda name, data: b"x" * len(data) if name.startswith("files/") else data)
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", hub_archive)
    assert result.exit_code == 2
    assert "does not match its checksum" in result.output
    assert not (tmp_path / "target").exists()


def test_a_member_the_manifest_does_not_list_is_refused(hub_archive, tmp_path):
    def add_a_path(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["files"].append({"name": "../../etc/cron.d/x", "sha256": "0" * 64, "size": 1})
        return json.dumps(manifest).encode()

    rewrite(hub_archive, add_a_path)
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", hub_archive)
    assert result.exit_code == 2 and "unexpected members" in result.output
    assert not (tmp_path / "target").exists()


def test_a_missing_file_or_a_file_that_is_no_backup_is_refused(tmp_path):
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", tmp_path / "none.tar.gz")
    assert result.exit_code == 2 and "There is no backup file" in result.output
    (tmp_path / "notes.tar.gz").write_bytes(gzip.compress(b"not a tar archive" * 100))
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", tmp_path / "notes.tar.gz")
    assert result.exit_code == 2 and "not a Ponte backup" in result.output
    assert not (tmp_path / "target").exists()


def test_a_node_backup_is_not_restored_into_a_hub(tmp_path):
    create_node_app(tmp_path / "node")
    archive = tmp_path / "node.tar.gz"
    assert ponte("node", "backup", "--data-dir", tmp_path / "node", "-o", archive).exit_code == 0
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", archive)
    assert result.exit_code == 2
    assert "is a backup of a node, not of a hub" in result.output
    assert "ponte node restore" in result.output
    assert not (tmp_path / "target").exists()


def test_a_used_data_dir_is_only_replaced_with_force(hub_archive, tmp_path):
    target = tmp_path / "target"
    assert ponte("hub", "restore", "--data-dir", target, hub_archive).exit_code == 0
    (target / "notes.txt").write_text("the admin's own notes\n")
    before = snapshot(target)

    refused = ponte("hub", "restore", "--data-dir", target, hub_archive)
    assert refused.exit_code == 2
    assert "is not empty" in refused.output and "--force" in refused.output
    assert snapshot(target) == before

    (target / "hub-keystore.json").unlink()  # the backup holds one: it comes back
    replaced = ponte("hub", "restore", "--data-dir", target, "--force", hub_archive)
    assert replaced.exit_code == 0, replaced.output
    assert "Replacing (--force): hub.sqlite3, index, secret_key" in replaced.stderr
    assert (target / "notes.txt").read_text() == "the admin's own notes\n"  # not the hub's
    assert (target / "hub-keystore.json").read_bytes() == members(hub_archive)[
        "files/hub-keystore.json"
    ]


def test_backing_up_nothing_or_an_unreachable_database_is_a_usage_error(tmp_path, monkeypatch):
    archive = tmp_path / "hub.tar.gz"
    missing = ponte("hub", "backup", "--data-dir", tmp_path / "none", "-o", archive)
    assert missing.exit_code == 2 and "no data dir" in missing.output
    create_node_app(tmp_path / "node")
    not_a_hub = ponte("hub", "backup", "--data-dir", tmp_path / "node", "-o", archive)
    assert not_a_hub.exit_code == 2 and "no hub database" in not_a_hub.output
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://ponte@127.0.0.1:{free_port()}/p")
    down = ponte("hub", "backup", "--data-dir", tmp_path / "node", "-o", archive)
    assert down.exit_code == 2 and "cannot be reached" in down.output
    assert not archive.exists() and not list(tmp_path.glob(".*"))


def test_the_password_goes_to_pg_dump_by_environment_not_on_its_command_line():
    conninfo, env = libpq_connection(
        "postgresql+psycopg://ana:s3cr%27t@db.example:5433/ponte?sslmode=verify-full"
    )
    assert (
        conninfo == "host='db.example' port='5433' user='ana' dbname='ponte' sslmode='verify-full'"
    )
    assert env == {"PGPASSWORD": "s3cr't"}
    socket, env = libpq_connection("postgresql+psycopg://ponte@/hub?host=/run/postgresql&port=5433")
    assert socket == "host='/run/postgresql' port='5433' user='ponte' dbname='hub'" and env == {}


def test_a_database_of_another_ponte_is_restored_and_said_not_ready(tmp_path):
    app = create_app(tmp_path / "source", HUB_SETTINGS)
    with app.app_context():  # as if a newer Ponte had upgraded it
        db.session.execute(text("UPDATE alembic_version SET version_num = 'hub_9999_future'"))
        db.session.commit()
        db.engine.dispose()
    archive = tmp_path / "hub.tar.gz"
    assert ponte("hub", "backup", "--data-dir", tmp_path / "source", "-o", archive).exit_code == 0
    result = ponte("hub", "restore", "--data-dir", tmp_path / "target", archive)
    assert result.exit_code == 0, result.output
    assert "The hub cannot start on it yet" in result.stderr
    assert "hub_9999_future" in result.stderr and "Search index rebuilt" not in result.output
    assert (tmp_path / "target" / "hub.sqlite3").is_file()
    assert (tmp_path / "target" / "secret_key").is_file()
