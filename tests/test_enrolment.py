"""Enrolment end to end over real HTTP: invitations, `ponte node init`, attested keys, tokens."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from directory.catalogue import import_directory
from directory.models import Organization
from hub import create_app
from hub.enrolment import create_invitation, revoke_invitation
from hub.extensions import db
from hub.models import Invitation, Node
from hub.search_index import search_index
from node.enrolment import EnrolmentFailed, init_node, load_enrolment, unlock
from node.hub_client import HubClient, HubError
from ponte.cli import main
from protocol import (
    KeystoreError,
    NodeIdentity,
    enrolment_proof,
    fingerprint,
    verify_attestation,
)
from protocol.keystore import INTERACTIVE

HUB_SETTINGS = {"HUB_PASSPHRASE": "hub passphrase for tests", "KEYSTORE_KDF": "interactive"}
PASSPHRASE = "correct horse battery staple"


@dataclass
class LiveHub:
    app: Flask
    url: str

    def organisation(self, name: str) -> str:
        with self.app.app_context():
            query = select(Organization.id).where(Organization.name == name)
            return db.session.scalars(query).one()

    def invite(self, name: str, **kwargs) -> str:
        with self.app.app_context():
            return create_invitation(db.session, self.organisation(name), "test", **kwargs).token


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("hub"), HUB_SETTINGS)
    with app.app_context():
        import_directory(db.session, search_index())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveHub(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()


def enrol(hub, tmp_path, name="Atina", **kwargs):
    token = hub.invite(name, **kwargs)
    return init_node(tmp_path, hub.url, token, PASSPHRASE, limits=INTERACTIVE)


def test_a_node_enrols_and_pins_the_hub_key(hub, tmp_path):
    enrolment, identity = enrol(hub, tmp_path)
    assert enrolment.organisation_name == "Atina"
    assert load_enrolment(tmp_path) == enrolment
    assert unlock(tmp_path, PASSPHRASE)[-1].public_record() == identity.public_record()
    with hub.app.app_context():
        node = db.session.get(Node, identity.node_id)
        assert node.organization.name == "Atina"
        attested = verify_attestation(enrolment.hub_record, node.current_key.attestation)
        assert attested.record == identity.public_record() and attested.active
        assert (
            db.session.scalars(select(Invitation).where(Invitation.used_by_node == node.id))
            .one()
            .used_at
            is not None
        )


def test_the_keystore_is_sealed_and_refuses_a_wrong_passphrase(hub, tmp_path):
    _, identity = enrol(hub, tmp_path)
    sealed = (tmp_path / "keystore.json").read_bytes()
    assert identity.sign_seed.hex().encode() not in sealed
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        unlock(tmp_path, "not the passphrase")


def test_an_invitation_works_once(hub, tmp_path):
    token = hub.invite("Atina")
    init_node(tmp_path / "a", hub.url, token, PASSPHRASE, limits=INTERACTIVE)
    with pytest.raises(EnrolmentFailed, match="already used"):
        init_node(tmp_path / "b", hub.url, token, PASSPHRASE, limits=INTERACTIVE)
    assert not (tmp_path / "b" / "keystore.json").exists()


def test_expired_revoked_and_forged_invitations_are_refused(hub, tmp_path):
    expired = hub.invite("Atina", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
    with pytest.raises(EnrolmentFailed, match="expired"):
        init_node(tmp_path / "e", hub.url, expired, PASSPHRASE, limits=INTERACTIVE)
    revoked = hub.invite("Atina")
    with hub.app.app_context():
        invitation = db.session.scalars(
            select(Invitation).order_by(Invitation.created.desc())
        ).first()
        revoke_invitation(db.session, invitation.id, "test")
    with pytest.raises(EnrolmentFailed, match="withdrawn"):
        init_node(tmp_path / "r", hub.url, revoked, PASSPHRASE, limits=INTERACTIVE)
    with pytest.raises(EnrolmentFailed, match="not valid"):
        init_node(tmp_path / "f", hub.url, "ponte-inv-forged", PASSPHRASE, limits=INTERACTIVE)


def test_a_key_record_without_proof_of_possession_is_refused(hub):
    token = hub.invite("Atina")
    ours, theirs = NodeIdentity.generate("node-ours-1"), NodeIdentity.generate("node-other-1")
    client = HubClient(hub.url)
    with pytest.raises(HubError) as refused:
        client.enrol(token, ours.public_record().to_dict(), enrolment_proof(theirs, token))
    assert (refused.value.status, refused.value.code) == (400, "invalid_key_record")
    # the invitation is still usable: a refused attempt changes nothing
    answer = client.enrol(token, ours.public_record().to_dict(), enrolment_proof(ours, token))
    assert answer["node_id"] == "node-ours-1"


def test_a_hub_that_swaps_its_key_is_not_trusted(hub, tmp_path):
    class SwappingHub(HubClient):
        def enrol(self, invitation, record, proof):
            answer = super().enrol(invitation, record, proof)
            impostor = NodeIdentity.generate("ponte-hub")
            return {**answer, "hub_key": impostor.public_record().to_dict()}

    with pytest.raises(EnrolmentFailed, match="another key"):
        init_node(
            tmp_path,
            hub.url,
            hub.invite("Atina"),
            PASSPHRASE,
            limits=INTERACTIVE,
            client=SwappingHub(hub.url),
        )
    assert not (tmp_path / "keystore.json").exists()


def test_two_nodes_fetch_and_verify_each_others_keys(hub, tmp_path):
    enrolment_a, node_a = enrol(hub, tmp_path / "a", "Atina")
    enrolment_b, node_b = enrol(hub, tmp_path / "b", "Payoke")
    client = HubClient(hub.url)
    [b_key] = client.node_keys(node_a, enrolment_a.hub_record, node_b.node_id)
    assert b_key.record == node_b.public_record() and b_key.active
    assert b_key.organisation_id == hub.organisation("Payoke")
    [a_key] = client.node_keys(node_b, enrolment_b.hub_record, node_a.node_id)
    assert fingerprint(a_key.record) == fingerprint(node_a.public_record())


def test_the_key_directory_needs_a_token(hub, tmp_path):
    _, identity = enrol(hub, tmp_path)
    response = HubClient(hub.url).http.get(f"{hub.url}/api/v1/nodes/{identity.node_id}/keys")
    assert response.status_code == 401


def test_the_organisation_entry_links_to_its_node(hub, tmp_path):
    _, identity = enrol(hub, tmp_path, "Asociatia FREE")
    organisation = (
        HubClient(hub.url)
        .http.get(f"{hub.url}/api/v1/organisations/{hub.organisation('Asociatia FREE')}")
        .json()
    )
    nodes = {node["node_id"]: node["fingerprint"] for node in organisation["nodes"]}
    assert nodes[identity.node_id] == fingerprint(identity.public_record())
    page = (
        HubClient(hub.url)
        .http.get(f"{hub.url}/directory/organisations/{hub.organisation('Asociatia FREE')}")
        .text
    )
    assert fingerprint(identity.public_record()) in page


def test_enrolment_needs_the_hub_key_unlocked(tmp_path):
    app = create_app(tmp_path / "locked", {"KEYSTORE_KDF": "interactive"})
    response = app.test_client().post(
        "/api/v1/enrol", json={"invitation": "x", "key_record": {}, "proof": "x"}
    )
    assert response.status_code == 503
    assert response.get_json()["title"] == "Hub key locked"


@pytest.mark.parametrize("body", [None, [], {"invitation": "x"}, {"a": 1, "b": 2, "c": 3}])
def test_malformed_enrolment_requests_are_400(hub, body):
    response = HubClient(hub.url).http.post(f"{hub.url}/api/v1/enrol", json=body)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")


def test_invite_and_init_commands(hub, tmp_path, monkeypatch):
    runner = CliRunner()
    with hub.app.app_context():
        data_dir = hub.app.config["DATA_DIR"]
    monkeypatch.setenv("PONTE_HUB_PASSPHRASE", HUB_SETTINGS["HUB_PASSPHRASE"])
    invited = runner.invoke(
        main, ["hub", "invite", "--data-dir", str(data_dir), "--org", hub.organisation("Atina")]
    )
    assert invited.exit_code == 0, invited.output
    token = invited.output.strip().splitlines()[-1]
    assert token.startswith("ponte-inv-")
    assert "Hub fingerprint" in invited.output
    monkeypatch.setenv("PONTE_PASSPHRASE", PASSPHRASE)
    result = runner.invoke(
        main,
        ["node", "init", "--data-dir", str(tmp_path / "n"), "--hub", hub.url, "--invite", token],
    )
    assert result.exit_code == 0, result.output
    hub_line = next(line for line in invited.output.splitlines() if "Hub fingerprint" in line)
    assert hub_line.split(": ")[-1] in result.output  # the same fingerprint on both sides
    again = runner.invoke(
        main,
        ["node", "init", "--data-dir", str(tmp_path / "m"), "--hub", hub.url, "--invite", token],
    )
    assert again.exit_code == 2 and "already used" in again.output
    unknown = runner.invoke(main, ["hub", "invite", "--data-dir", str(data_dir), "--org", "nope"])
    assert unknown.exit_code == 2
    json.loads((tmp_path / "n" / "enrolment.json").read_text())
