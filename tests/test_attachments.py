"""Encrypted attachments on referrals: uploaded before their envelope, fetched and checked by
the recipient, dropped from the hub once stored; the hub never sees a file or its name."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import func, select

from hub.extensions import db as hub_db
from hub.models import RelayBlob
from hub.relay import MAX_BLOB
from node.attachments import MAX_FILE_BYTES, AttachmentRefused
from node.extensions import db
from node.hub_client import HubError
from node.keys import EXTENSION_KEY
from node.models import CaseAttachment, OutboxBlob, OutboxItem, Referral, User
from node.referrals import create_referral
from ponte import accounts
from ponte.cli import main
from protocol import b64url_encode
from tests.test_enrolment import PASSPHRASE, hub
from tests.test_referral_pages import PASSWORD, csrf, form_data, page
from tests.test_referrals import EXAMPLE, TestNode, _encodings, example, make_node

__all__ = ["hub"]

MARKER = "zq9Attach" + b64url_encode(b"ponte-attach-mk!")[:12]
BINARY = bytes(range(256)) * 64 + f"B{MARKER}".encode() + b"\x00\xff" * 100


@pytest.fixture(scope="module")
def trio(hub, tmp_path_factory):
    """Three enrolled nodes; B has a caseworker who signs in to download."""
    hasher = accounts.PASSWORD_HASHER
    accounts.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._dummy_hash.cache_clear()
    nodes = [
        make_node(hub, tmp_path_factory.mktemp(f"attach-{name}"), name)
        for name in ("Atina", "Payoke", "Asociatia FREE")
    ]
    for node in nodes:
        node.app.extensions[EXTENSION_KEY] = node.keys
        with node.app.app_context():
            accounts.create_user(db.session, User, "case@ngo.example", PASSWORD, "caseworker")
    yield nodes
    accounts.PASSWORD_HASHER = hasher
    accounts._dummy_hash.cache_clear()


def signed_in(node: TestNode):
    browser = node.app.test_client()
    html = browser.get("/login").get_data(as_text=True)
    token = html.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    form = {"csrf_token": token, "email": "case@ngo.example", "password": PASSWORD}
    assert browser.post("/login", data=form).status_code == 302
    return browser


def refer_with(sender: TestNode, recipient: TestNode, files: list) -> tuple[str, list[str]]:
    with sender.app.app_context():
        [case] = create_referral(
            db.session,
            sender.keys,
            example(),
            [recipient.organisation_id],
            "Ioana",
            attachments=files,
        )
        return case.id, [ref["id"] for ref in case.payload["attachments"]]


def hub_blobs(hub, ids: list[str]) -> list[RelayBlob]:
    with hub.app.app_context():
        found = hub_db.session.scalars(select(RelayBlob).where(RelayBlob.blob_id.in_(ids)))
        blobs = list(found)
        for blob in blobs:
            hub_db.session.expunge(blob)
        return blobs


def attachments_of(node: TestNode, referral_id: str) -> list[CaseAttachment]:
    with node.app.app_context():
        query = select(CaseAttachment).where(CaseAttachment.referral_id == referral_id)
        found = list(db.session.scalars(query.order_by(CaseAttachment.id)))
        for attachment in found:
            db.session.expunge(attachment)
        return found


def count(node: TestNode, model) -> int:
    with node.app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def scan_for_marker(directory: Path) -> None:
    files = [path for path in directory.rglob("*") if path.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        for needle in _encodings(MARKER):
            assert needle not in content, f"{needle!r} found in {path}"


def test_files_travel_encrypted_and_the_hub_drops_them(trio, hub):
    a, b, _ = trio
    text = f"Assessment T{MARKER}\n".encode()
    files = [(f"N{MARKER}.txt", "text/plain", text), (f"P{MARKER}.bin", "image/png", BINARY)]
    referral_id, ids = refer_with(a, b, files)
    assert a.sync().sent == 1
    stored = hub_blobs(hub, ids)
    assert len(stored) == 2 and all(blob.data for blob in stored)
    scan_for_marker(Path(hub.app.config["DATA_DIR"]))

    assert b.sync().applied == 1
    received = attachments_of(b, referral_id)
    assert [(f.name, f.media_type, f.size) for f in received] == [
        (f"N{MARKER}.txt", "text/plain", len(text)),
        (f"P{MARKER}.bin", "image/png", len(BINARY)),
    ]
    browser = signed_in(b)
    case_page = page(browser, f"/cases/{referral_id}")
    for attachment_id, expected in zip(ids, (text, BINARY), strict=True):
        url = f"/cases/{referral_id}/attachments/{attachment_id}"
        assert url in case_page
        response = browser.get(url)
        assert response.status_code == 200 and response.data == expected
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert all(blob.data is None and blob.state == "fetched" for blob in hub_blobs(hub, ids))
    scan_for_marker(Path(hub.app.config["DATA_DIR"]))
    assert [f.data for f in attachments_of(a, referral_id)] == [text, BINARY]


def test_downloads_need_a_sign_in(trio):
    _, b, _ = trio
    response = b.app.test_client().get("/cases/x/attachments/y")
    assert response.status_code in (302, 401)


def test_an_over_limit_blob_is_a_413_and_nothing_is_stored(trio, hub):
    a, b, _ = trio
    token = a.keys.hub.access_token(a.keys.identities[-1], "relay")
    client = hub.app.test_client()
    blob_id = b64url_encode(b"over-the-limit!!")
    url = (
        f"/api/v1/relay/blobs?recipient={b.keys.enrolment.node_id}&id={blob_id}&expires=9999999999"
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    too_large = client.post(url, data=bytes(MAX_BLOB + 1), headers=headers)
    assert too_large.status_code == 413 and too_large.mimetype == "application/problem+json"
    odd = client.post(url, data=bytes(5000), headers=headers)
    assert odd.status_code == 400 and odd.get_json()["code"] == "bad_blob_size"
    assert hub_blobs(hub, [blob_id]) == []


def test_too_large_or_too_many_files_are_refused_before_queuing(trio, tmp_path, monkeypatch):
    a, b, _ = trio
    before = [count(a, model) for model in (Referral, OutboxItem, OutboxBlob, CaseAttachment)]
    with pytest.raises(AttachmentRefused, match="larger than 20 MiB"):
        refer_with(a, b, [("big.bin", "application/octet-stream", bytes(MAX_FILE_BYTES + 1))])
    with pytest.raises(AttachmentRefused, match="At most 5 files"):
        refer_with(a, b, [(f"{n}.txt", "text/plain", b"x") for n in range(6)])
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(MAX_FILE_BYTES + 1))
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    common = ["node", "refer", "--data-dir", str(a.data_dir), "--to", b.organisation_id]
    refused = CliRunner().invoke(main, [*common, "--file", str(EXAMPLE), "--attach", str(big)])
    assert refused.exit_code == 2 and "larger than 20 MiB" in refused.output
    after = [count(a, model) for model in (Referral, OutboxItem, OutboxBlob, CaseAttachment)]
    assert after == before


def test_the_cli_attaches_files(trio, tmp_path, monkeypatch):
    a, b, _ = trio
    note = tmp_path / "note.txt"
    note.write_text("hello")
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    common = ["node", "refer", "--data-dir", str(a.data_dir), "--to", b.organisation_id]
    made = CliRunner().invoke(main, [*common, "--file", str(EXAMPLE), "--attach", str(note)])
    assert made.exit_code == 0, made.output
    referral_id = made.output.strip().splitlines()[-1]
    a.sync()
    b.sync()
    [received] = attachments_of(b, referral_id)
    assert (received.name, received.media_type, received.data) == (
        "note.txt",
        "text/plain",
        b"hello",
    )


def test_another_node_cannot_fetch_or_drop_a_blob(trio):
    a, b, c = trio
    referral_id, [blob_id] = refer_with(a, b, [("x.txt", "text/plain", b"private")])
    a.sync()
    sender = a.keys.enrolment.node_id
    with pytest.raises(HubError) as fetched:
        c.keys.hub.get_blob(c.keys.identities[-1], sender, blob_id)
    with pytest.raises(HubError) as dropped:
        c.keys.hub.drop_blob(c.keys.identities[-1], sender, blob_id)
    with pytest.raises(HubError) as unknown:
        c.keys.hub.get_blob(c.keys.identities[-1], sender, b64url_encode(b"no-such-blob-id!"))
    assert fetched.value.status == dropped.value.status == unknown.value.status == 404
    b.sync()
    assert [f.data for f in attachments_of(b, referral_id)] == [b"private"]


def test_a_tampered_blob_leaves_the_attachment_unavailable(trio, hub):
    a, b, _ = trio
    referral_id, [blob_id] = refer_with(a, b, [("scan.pdf", "application/pdf", b"%PDF-1.7")])
    a.sync()
    with hub.app.app_context():
        blob = hub_db.session.scalars(select(RelayBlob).where(RelayBlob.blob_id == blob_id)).one()
        blob.data = blob.data[:100] + bytes([blob.data[100] ^ 1]) + blob.data[101:]
        hub_db.session.commit()
    summary = b.sync()
    assert summary.applied == 1 and not summary.problems
    assert b.case(referral_id).status == "delivered"
    [attachment] = attachments_of(b, referral_id)
    assert attachment.data is None and "integrity" in attachment.problem
    shown = page(signed_in(b), f"/cases/{referral_id}")
    assert "scan.pdf" in shown and "unavailable" in shown
    assert f"/attachments/{blob_id}" not in shown


def test_the_case_form_sends_files(trio):
    a, b, _ = trio
    browser = signed_in(a)
    url = f"/cases/new?organisation={b.organisation_id}"
    form = page(browser, url)
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form
    data = {"csrf_token": csrf(form), **form_data(example())}
    data["attachments"] = [(io.BytesIO(BINARY), "photo.png", "image/png")]
    response = browser.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    referral_id = response.headers["Location"].rsplit("/", 1)[-1]
    a.sync()
    b.sync()
    [received] = attachments_of(b, referral_id)
    assert (received.name, received.media_type, received.data) == ("photo.png", "image/png", BINARY)
