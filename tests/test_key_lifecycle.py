"""Keys over time: rotation signed by the old key, revocation, partners' warnings, unlocking."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from hub.enrolment import revoke_node
from hub.extensions import db
from hub.identity import hub_identity
from node import create_app as create_node_app
from node import peers
from node.cli import unlock_into
from node.extensions import db as node_db
from node.hub_client import HubClient, HubError
from node.keys import install_keys
from node.models import PeerKey
from node.peers import peer_view, record_peer_keys, usable_peer_records
from node.rotation import RotationFailed, pending_path, rotate_keys
from ponte.cli import main
from protocol import NodeIdentity, fingerprint, rotation_signature
from protocol.keystore import INTERACTIVE
from tests.test_enrolment import PASSPHRASE, enrol, hub

__all__ = ["hub"]


def test_rotation_registers_the_next_key_and_keeps_the_old(hub, tmp_path):
    enrolment, old = enrol(hub, tmp_path / "a", "Atina")
    _, partner = enrol(hub, tmp_path / "b", "Payoke")
    new = rotate_keys(tmp_path / "a", PASSPHRASE, enrolment, limits=INTERACTIVE)
    assert (new.node_id, new.key_version) == (old.node_id, 2)
    from node.enrolment import unlock

    assert [i.key_version for i in unlock(tmp_path / "a", PASSPHRASE)] == [1, 2]
    assert not pending_path(tmp_path / "a").exists()
    attested = HubClient(hub.url).node_keys(partner, enrolment.hub_record, old.node_id)
    assert [a.record.key_version for a in attested] == [1, 2]
    assert attested[-1].record == new.public_record()


def test_a_rotation_not_signed_by_the_current_key_is_refused(hub, tmp_path):
    enrolment, current = enrol(hub, tmp_path, "Atina")
    new = NodeIdentity.generate(current.node_id, key_version=2)
    impostor = NodeIdentity.generate(current.node_id)  # same id, a key the hub never attested
    client = HubClient(hub.url)
    with pytest.raises(HubError) as refused:
        client.register_next_key(
            current,
            enrolment.hub_record,
            new.public_record(),
            rotation_signature(impostor, new.public_record()),
        )
    assert refused.value.code == "invalid_rotation"
    skipped = NodeIdentity.generate(current.node_id, key_version=3)
    with pytest.raises(HubError, match="version 2"):
        client.register_next_key(
            current,
            enrolment.hub_record,
            skipped.public_record(),
            rotation_signature(current, skipped.public_record()),
        )


def test_a_node_cannot_rotate_another_nodes_keys(hub, tmp_path):
    _, ours = enrol(hub, tmp_path / "a", "Atina")
    _, theirs = enrol(hub, tmp_path / "b", "Payoke")
    client = HubClient(hub.url)
    token = client.access_token(ours, "relay")
    new = NodeIdentity.generate(theirs.node_id, key_version=2)
    response = client.http.post(
        f"{hub.url}/api/v1/nodes/{theirs.node_id}/keys",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "key_record": new.public_record().to_dict(),
            "signature": rotation_signature(theirs, new.public_record()),
        },
    )
    assert response.status_code == 403 and response.json()["code"] == "not_your_node"


def test_an_interrupted_rotation_is_finished_or_dropped(hub, tmp_path):
    enrolment, _ = enrol(hub, tmp_path, "Atina")

    class Dropping(HubClient):
        def register_next_key(self, *args, **kwargs):
            raise HubError("the line went down")

    with pytest.raises(RotationFailed):
        rotate_keys(tmp_path, PASSPHRASE, enrolment, client=Dropping(hub.url), limits=INTERACTIVE)
    assert not pending_path(tmp_path).exists()
    new = rotate_keys(tmp_path, PASSPHRASE, enrolment, limits=INTERACTIVE)
    assert new.key_version == 2


def test_partners_see_a_key_change_until_someone_compares_it(hub, tmp_path):
    enrolment_a, a = enrol(hub, tmp_path / "a", "Atina")
    _, b = enrol(hub, tmp_path / "b", "Payoke")
    app = create_node_app(tmp_path / "b-app")
    client = HubClient(hub.url)
    with app.app_context():
        record_peer_keys(
            node_db.session, a.node_id, client.node_keys(b, enrolment_a.hub_record, a.node_id)
        )
        view = peer_view(node_db.session, a.node_id)
        assert not view.key_changed and not view.confirmed
        rotate_keys(tmp_path / "a", PASSPHRASE, enrolment_a, limits=INTERACTIVE)
        record_peer_keys(
            node_db.session, a.node_id, client.node_keys(b, enrolment_a.hub_record, a.node_id)
        )
        view = peer_view(node_db.session, a.node_id)
        assert view.key_changed and view.key_version == 2


def test_revoked_nodes_lose_tokens_and_partners_refuse_them(hub, tmp_path):
    enrolment_a, a = enrol(hub, tmp_path / "a", "Atina")
    _, b = enrol(hub, tmp_path / "b", "Payoke")
    client_a, client_b = HubClient(hub.url), HubClient(hub.url)
    token = client_a.access_token(a, "relay")
    with hub.app.app_context():
        revoke_node(db.session, hub_identity(), a.node_id, "test")
    response = client_a.http.get(
        f"{hub.url}/api/v1/nodes/{b.node_id}/keys", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    with pytest.raises(HubError):
        HubClient(hub.url).access_token(a, "relay")
    attested = client_b.node_keys(b, enrolment_a.hub_record, a.node_id)
    assert all(not item.active for item in attested)
    app = create_node_app(tmp_path / "b-app")
    with app.app_context():
        record_peer_keys(node_db.session, a.node_id, attested)
        assert peer_view(node_db.session, a.node_id).revoked
        assert usable_peer_records(node_db.session, a.node_id) == []
    with pytest.raises(RotationFailed):
        rotate_keys(tmp_path / "a", PASSPHRASE, enrolment_a, limits=INTERACTIVE)


def test_node_serve_refuses_a_wrong_passphrase(hub, tmp_path, monkeypatch):
    enrol(hub, tmp_path, "Atina")
    app = create_node_app(tmp_path)
    monkeypatch.setenv("PONTE_PASSPHRASE", "not the passphrase")
    import click

    with pytest.raises(click.UsageError, match="wrong passphrase"):
        unlock_into(app, tmp_path)
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    unlock_into(app, tmp_path)
    with app.app_context():
        page = app.test_client().get("/").get_data(as_text=True)
    assert "This node's fingerprint" in page


def test_node_serve_command_exits_2_on_a_wrong_passphrase(hub, tmp_path):
    enrol(hub, tmp_path, "Atina")
    result = CliRunner(env={"PONTE_PASSPHRASE": "wrong one"}).invoke(
        main, ["node", "serve", "--data-dir", str(tmp_path), "--port", "1"]
    )
    assert result.exit_code == 2
    assert "wrong passphrase" in result.output and "does not start" in result.output


def test_partners_page_lists_keys_and_records_a_phone_check(hub, tmp_path):
    _, a = enrol(hub, tmp_path / "a", "Atina")
    enrolment_b, b = enrol(hub, tmp_path / "b", "Payoke")
    app = create_node_app(tmp_path / "b", {"WTF_CSRF_ENABLED": False})
    install_keys(app, [b], enrolment_b)
    from node.models import User
    from ponte.accounts import create_user

    with app.app_context():
        create_user(
            node_db.session, User, "case@payoke.example", "a long enough password", "caseworker"
        )
    browser = app.test_client()
    browser.post(
        "/login", data={"email": "case@payoke.example", "password": "a long enough password"}
    )
    browser.post("/partners/refresh", data={"node_id": a.node_id})
    page = browser.get("/partners/").get_data(as_text=True)
    assert a.node_id in page and "Not compared yet" in page
    browser.post(f"/partners/{a.node_id}/confirm", data={"key_version": "1"})
    assert "Compared by phone" in browser.get("/partners/").get_data(as_text=True)


def test_two_workers_meeting_a_new_partner_at_once_both_keep_its_key(hub, tmp_path, monkeypatch):
    # The web worker and the sync process both fetch a new partner's keys: the second insert
    # of the same attested key must not fail the second one's request or sync pass.
    enrolment_a, a = enrol(hub, tmp_path / "a", "Atina")
    _, b = enrol(hub, tmp_path / "b", "Payoke")
    attested = HubClient(hub.url).node_keys(b, enrolment_a.hub_record, a.node_id)
    app = create_node_app(tmp_path / "b-app")
    with app.app_context():
        with node_db.engine.begin() as other_worker:  # it stored the key a moment earlier
            other_worker.execute(
                insert(PeerKey).values(
                    node_id=a.node_id,
                    key_version=attested[0].record.key_version,
                    record=attested[0].record.to_dict(),
                    fingerprint=fingerprint(attested[0].record),
                    organisation_id=attested[0].organisation_id,
                    status=attested[0].status,
                )
            )
        real_known, calls = peers._known, []

        def known_once_stale(session, node_id):  # this worker read before that
            calls.append(node_id)
            return [] if len(calls) == 1 else real_known(session, node_id)

        monkeypatch.setattr(peers, "_known", known_once_stale)
        view = record_peer_keys(node_db.session, a.node_id, attested)
        assert view.key_version == attested[0].record.key_version
        assert node_db.session.scalar(select(func.count()).select_from(PeerKey)) == 1
