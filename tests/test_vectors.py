"""The implementation against every published test vector in protocol/vectors/."""

from __future__ import annotations

import json

import pytest

from protocol import (
    Envelope,
    EnvelopeRejected,
    KeystoreError,
    MemorySeenIds,
    NodeIdentity,
    b64url_decode,
    canonical_json,
    decrypt_attachment,
    fingerprint,
    open_envelope,
    open_keystore,
    safety_number,
    verify_statement,
)
from protocol.envelope import signed_bytes
from protocol.padding import pad, unpad
from protocol.vectorgen import VECTORS_DIR
from protocol.vectorgen import main as regenerate

pytestmark = pytest.mark.filterwarnings("error")


def load(name: str) -> dict:
    return json.loads((VECTORS_DIR / name).read_text(encoding="utf-8"))


KEYS = load("keys.json")
NODES = {
    node["node_id"]: NodeIdentity(
        node_id=node["node_id"],
        sign_seed=bytes.fromhex(node["sign_seed_hex"]),
        box_secret=bytes.fromhex(node["box_secret_hex"]),
        created=node["created"],
        expires=node["expires"],
        key_version=node["key_version"],
    )
    for node in KEYS["nodes"]
    if node.get("name") != "impostor"
}
ENVELOPES = load("envelopes.json")


def test_committed_vectors_match_the_generator():
    """A change to the wire format must show up as a changed vector file, on purpose."""
    assert regenerate(["--check"]) == 0


@pytest.mark.parametrize("node", KEYS["nodes"], ids=lambda n: n.get("name", n["node_id"]))
def test_key_vectors(node):
    identity = NodeIdentity(
        node["node_id"],
        bytes.fromhex(node["sign_seed_hex"]),
        bytes.fromhex(node["box_secret_hex"]),
        node["created"],
        node["expires"],
        node["key_version"],
    )
    record = identity.public_record()
    assert record.sign_key.hex() == node["sign_public_hex"]
    assert record.box_key.hex() == node["box_public_hex"]
    assert record.canonical.hex() == node["record_canonical_hex"]
    assert fingerprint(record) == node["fingerprint"]


def test_safety_number_vectors():
    for case in KEYS["safety_numbers"]:
        a, b = NODES[case["a"]].public_record(), NODES[case["b"]].public_record()
        assert safety_number(a, b) == case["safety_number"] == safety_number(b, a)


def test_statement_vectors():
    for case in KEYS["statements"]:
        signer = NODES[case["signer"]].public_record().sign_key
        signature = bytes.fromhex(case["signature_hex"])
        verify_statement(signer, case["context"], case["document"], signature)
        assert (
            NODES[case["signer"]]
            .signing_key.sign(bytes.fromhex(case["signed_bytes_hex"]))
            .signature
            == signature
        )


@pytest.mark.parametrize("case", load("canonical.json")["vectors"], ids=lambda c: c["name"])
def test_canonical_vectors(case):
    assert canonical_json(json.loads(case["input_json"])).hex() == case["canonical_hex"]


@pytest.mark.parametrize("case", load("padding.json")["vectors"], ids=lambda c: str(c["length"]))
def test_padding_vectors(case):
    padded = pad(bytes(case["length"]))
    assert len(padded) == case["bucket"]
    assert unpad(padded) == bytes(case["length"])


def test_keystore_vector():
    case = load("keystore.json")
    identities = open_keystore(case["file"].encode(), case["passphrase"])
    assert [i.to_private_dict() for i in identities] == case["expect"]
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        open_keystore(case["file"].encode(), case["wrong_passphrase"])


def test_attachment_vector():
    case = load("attachments.json")
    blob = bytes.fromhex(case["blob_hex"])
    assert decrypt_attachment(case["reference"], blob).hex() == case["plaintext_hex"]


def _seen(entries: list[dict]) -> MemorySeenIds:
    seen = MemorySeenIds()
    for entry in entries:
        seen.remember(entry["sender"], b64url_decode(entry["id"], length=16), 2**40)
    return seen


def _resolver(known: list[str]):
    return lambda node_id: [NODES[node_id].public_record()] if node_id in known else []


@pytest.mark.parametrize("case", ENVELOPES["positive"], ids=lambda c: c["name"])
def test_positive_envelope_vectors(case):
    seen = _seen(case["seen_ids"])
    expect = case["expect"]
    envelope = Envelope.from_wire(bytes.fromhex(case["wire_hex"]))
    assert envelope.header.to_dict() == case["header"]
    assert envelope.header.canonical.hex() == expect["header_canonical_hex"]
    assert len(envelope.body) == expect["padded_length"] + 48  # sealed box overhead
    opened = open_envelope(
        envelope,
        NODES[case["recipient"]],
        _resolver(case["known_senders"]),
        seen,
        now=case["now"],
    )
    assert opened.payload == expect["payload"]
    payload = canonical_json(opened.payload)
    assert payload.hex() == expect["payload_canonical_hex"]
    assert signed_bytes(envelope.header.canonical, payload).hex() == expect["signed_bytes_hex"]
    assert seen.seen(envelope.header.sender, envelope.header.message_id)


@pytest.mark.parametrize("case", ENVELOPES["negative"], ids=lambda c: c["name"])
def test_negative_envelope_vectors(case):
    seen = _seen(case["seen_ids"])
    with pytest.raises(EnvelopeRejected) as info:
        open_envelope(
            bytes.fromhex(case["wire_hex"]),
            NODES[case["recipient"]],
            _resolver(case["known_senders"]),
            seen,
            now=case["now"],
        )
    assert info.value.reason.value == case["reason"]
    # A rejected message is never remembered: a later genuine copy must still be accepted.
    assert len(seen) == len(case["seen_ids"])


def test_every_reason_has_a_negative_vector():
    from protocol.errors import Reason

    covered = {case["reason"] for case in ENVELOPES["negative"]}
    assert covered == {reason.value for reason in Reason}
