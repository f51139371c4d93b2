"""Key attestations by the hub and enrolment proofs by new nodes."""

import copy

import pytest

from protocol import (
    NodeIdentity,
    ProtocolError,
    SignatureError,
    attest,
    enrolment_proof,
    verify_attestation,
    verify_enrolment_proof,
)

NOW = 1_790_000_000
HUB = NodeIdentity.generate("ponte-hub", now=NOW - 10)
NODE = NodeIdentity.generate("node-abc", now=NOW - 10)


def attested(status="active"):
    return attest(HUB, NODE.public_record(), "org-1", status, NOW)


def test_round_trip():
    result = verify_attestation(HUB.public_record(), attested())
    assert result.record == NODE.public_record()
    assert (result.organisation_id, result.status, result.attested_at) == ("org-1", "active", NOW)
    assert result.active
    assert not verify_attestation(HUB.public_record(), attested("revoked")).active


def test_another_hub_key_does_not_verify():
    impostor = NodeIdentity.generate("ponte-hub", now=NOW - 10)
    with pytest.raises(SignatureError):
        verify_attestation(impostor.public_record(), attested())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("statement", "status"), "active "),
        (("statement", "status"), "revoked"),
        (("statement", "organisation_id"), "org-2"),
        (("statement", "attested_at"), NOW + 1),
        (("statement", "record", "box_key"), "A" * 43),
    ],
)
def test_any_change_breaks_the_signature(path, value):
    document = copy.deepcopy(attested())
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ProtocolError):
        verify_attestation(HUB.public_record(), document)


@pytest.mark.parametrize(
    "document",
    [None, [], {}, {"statement": {}, "signature": ""}, {**attested(), "extra": 1}],
)
def test_malformed_documents_raise_protocol_errors(document):
    with pytest.raises(ProtocolError):
        verify_attestation(HUB.public_record(), document)


def test_an_attestation_by_another_attester_id_is_refused():
    other = NodeIdentity("other-hub", HUB.sign_seed, HUB.box_secret, HUB.created, HUB.expires)
    document = attest(other, NODE.public_record(), "org-1", "active", NOW)
    with pytest.raises(ProtocolError, match="not the hub"):
        verify_attestation(HUB.public_record(), document)


def test_unknown_status_cannot_be_attested():
    with pytest.raises(ProtocolError):
        attest(HUB, NODE.public_record(), "org-1", "suspended", NOW)


def test_enrolment_proof_is_bound_to_key_and_invitation():
    proof = enrolment_proof(NODE, "ponte-inv-1")
    verify_enrolment_proof(NODE.public_record(), "ponte-inv-1", proof)
    with pytest.raises(SignatureError):
        verify_enrolment_proof(NODE.public_record(), "ponte-inv-2", proof)
    other = NodeIdentity.generate("node-xyz", now=NOW - 10)
    with pytest.raises(SignatureError):
        verify_enrolment_proof(other.public_record(), "ponte-inv-1", proof)
    with pytest.raises(ProtocolError):
        verify_enrolment_proof(NODE.public_record(), "ponte-inv-1", "not base64!")
