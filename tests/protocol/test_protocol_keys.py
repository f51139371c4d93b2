"""Identities, public key records, fingerprints, safety numbers and signed statements."""

import dataclasses
import re

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_testkit import (
    ALICE,
    BOB,
    CAROL,
    T0,
    deep_copy,
    json_values,
    loose_values,
    same_json,
)

from protocol import (
    EncodingError,
    NodeIdentity,
    ProtocolError,
    PublicKeyRecord,
    SignatureError,
    ValidationError,
    b64url_encode,
    canonical_json,
    fingerprint,
    safety_number,
    sign_statement,
    verify_statement,
)

FINGERPRINT = re.compile(r"\d{5}( \d{5}){5}")
SAFETY_NUMBER = re.compile(r"\d{5}( \d{5}){11}")
RECORD = ALICE.public_record()


# --------------------------------------------------------------------------- records


def test_public_record_round_trips_through_canonical_json():
    assert PublicKeyRecord.from_json(canonical_json(RECORD.to_dict())) == RECORD
    assert PublicKeyRecord.from_dict(RECORD.to_dict()) == RECORD
    assert RECORD.sign_key == bytes(ALICE.signing_key.verify_key)
    assert RECORD.box_key == bytes(ALICE.private_box_key.public_key)


def test_record_validity_window():
    assert RECORD.is_valid_at(RECORD.created)
    assert RECORD.is_valid_at(RECORD.expires)
    assert not RECORD.is_valid_at(RECORD.created - 1)
    assert not RECORD.is_valid_at(RECORD.expires + 1)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"v": 2}, "key_record.v"),
        ({"key_version": 0}, "key_record.key_version"),
        ({"key_version": True}, "key_record.key_version"),
        ({"key_version": "1"}, "key_record.key_version"),
        ({"key_version": 1.0}, "key_record.key_version"),
        ({"v": 1.0}, "key_record.v"),
        ({"v": "1"}, "key_record.v"),
        ({"created": -1}, "key_record.created"),
        ({"created": "1700000000"}, "key_record.created"),
        ({"expires": 2**53}, "key_record.expires"),
        ({"expires": T0}, "key_record.expires"),  # not after created
        ({"sign_key": b64url_encode(bytes(31))}, "key_record"),
        ({"box_key": "not base64!"}, "key_record"),
        ({"node_id": "Alba"}, "key_record.node_id"),
        ({"node_id": "ab"}, "key_record.node_id"),
        ({"node_id": "a" * 64}, "key_record.node_id"),
        ({"node_id": "-abc"}, "key_record.node_id"),
        ({"extra": 1}, "key_record"),
    ],
)
def test_bad_record_fields_are_rejected_naming_the_field(change, field):
    data = RECORD.to_dict()
    data.update(change)
    with pytest.raises(ValidationError) as caught:
        PublicKeyRecord.from_dict(data)
    assert caught.value.field == field


@pytest.mark.parametrize("missing", sorted(RECORD.to_dict()))
def test_a_record_missing_a_field_is_rejected(missing):
    data = RECORD.to_dict()
    del data[missing]
    with pytest.raises(ValidationError):
        PublicKeyRecord.from_dict(data)


def test_record_version_must_be_the_integer_one_not_true():
    data = RECORD.to_dict()
    data["v"] = True
    with pytest.raises(ValidationError) as caught:
        PublicKeyRecord.from_json(canonical_json(data))
    assert caught.value.field == "key_record.v"


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=300))
def test_record_from_json_on_random_bytes_raises_protocol_error(data):
    with pytest.raises(ProtocolError):
        PublicKeyRecord.from_json(data)


@settings(deadline=None, max_examples=300)
@given(json_values)
def test_record_from_dict_on_random_json_raises_validation_error(value):
    with pytest.raises(ValidationError):
        PublicKeyRecord.from_dict(value)


@settings(deadline=None, max_examples=400)
@given(st.sampled_from(sorted(RECORD.to_dict())), loose_values, st.booleans())
def test_record_from_dict_with_one_field_replaced_never_crashes(name, value, delete):
    data = RECORD.to_dict()
    if delete:
        del data[name]
    else:
        data[name] = value
    try:
        record = PublicKeyRecord.from_dict(data)
    except ValidationError:
        return
    # Whatever is accepted serialises back to exactly what was given (same JSON types too).
    assert same_json(record.to_dict(), data)


# --------------------------------------------------------------------------- identities


def test_generate_makes_a_fresh_identity_valid_for_two_years():
    identity = NodeIdentity.generate("ngo-test-node", now=T0)
    assert identity.created == T0
    assert identity.expires == T0 + 2 * 365 * 24 * 3600
    assert identity.sign_seed != ALICE.sign_seed and len(identity.sign_seed) == 32
    assert identity.box_secret != ALICE.box_secret and len(identity.box_secret) == 32
    with pytest.raises(ValidationError):
        NodeIdentity.generate("Not A Node Id", now=T0)


def test_private_dict_round_trip_and_repr_hides_secrets():
    assert NodeIdentity.from_private_dict(ALICE.to_private_dict()) == ALICE
    text = repr(ALICE) + str(ALICE)
    for secret in (ALICE.sign_seed, ALICE.box_secret):
        assert b64url_encode(secret) not in text
        assert secret.hex() not in text
        assert repr(secret) not in text


@pytest.mark.parametrize(
    "change",
    [
        {"node_id": "UPPER"},
        {"sign_seed": b64url_encode(bytes(16))},
        {"box_secret": "%%%"},
        {"created": -5},
        {"expires": "soon"},
        {"expires": T0},  # not after created
        {"key_version": None},
        {"key_version": "one"},
        {"key_version": [1]},
        {"key_version": 0},
        {"key_version": -3},
        {"key_version": "7"},
        {"key_version": True},
        {"key_version": float("inf")},
        {"key_version": 2.0},
        {"extra": "field"},
    ],
)
def test_bad_private_dict_is_rejected(change):
    data = ALICE.to_private_dict()
    data.update(change)
    with pytest.raises(ProtocolError):
        NodeIdentity.from_private_dict(data)


@pytest.mark.parametrize("missing", sorted(ALICE.to_private_dict()))
def test_private_dict_missing_a_field_is_rejected(missing):
    data = ALICE.to_private_dict()
    del data[missing]
    with pytest.raises(ValidationError):
        NodeIdentity.from_private_dict(data)


@settings(deadline=None, max_examples=300)
@given(json_values)
def test_from_private_dict_on_random_json_raises_protocol_error(value):
    with pytest.raises(ProtocolError):
        NodeIdentity.from_private_dict(value)


@settings(deadline=None, max_examples=400)
@given(st.sampled_from(sorted(ALICE.to_private_dict())), json_values, st.booleans())
def test_from_private_dict_with_one_field_replaced_raises_only_protocol_errors(name, value, delete):
    data = deep_copy(ALICE.to_private_dict())
    if delete:
        del data[name]
    else:
        data[name] = value
    try:
        identity = NodeIdentity.from_private_dict(data)
    except ProtocolError:
        return
    assert same_json(identity.to_private_dict(), data)


def test_every_key_version_a_private_dict_accepts_is_one_a_record_accepts():
    for version in (1, 2, 2**31 - 1):
        data = {**ALICE.to_private_dict(), "key_version": version}
        identity = NodeIdentity.from_private_dict(data)
        record = identity.public_record()
        assert PublicKeyRecord.from_dict(record.to_dict()) == record


@settings(deadline=None, max_examples=400)
@given(st.sampled_from(sorted(ALICE.to_private_dict())), loose_values)
def test_from_private_dict_with_python_values_raises_only_protocol_errors(name, value):
    # Not only what JSON parsing yields: floats (inf, nan) and big integers too.
    data = {**ALICE.to_private_dict(), name: value}
    try:
        identity = NodeIdentity.from_private_dict(data)
    except ProtocolError:
        return
    assert same_json(identity.to_private_dict(), data)


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_is_six_groups_of_five_digits_and_stable():
    value = fingerprint(RECORD)
    assert FINGERPRINT.fullmatch(value)
    assert fingerprint(PublicKeyRecord.from_json(canonical_json(RECORD.to_dict()))) == value
    assert fingerprint(BOB.public_record()) != value


def test_safety_number_is_symmetric_twelve_groups_of_five_digits():
    a, b = ALICE.public_record(), BOB.public_record()
    number = safety_number(a, b)
    assert SAFETY_NUMBER.fullmatch(number)
    assert number == safety_number(b, a)
    # Made of both fingerprints, so each side can also check its own half.
    digits = number.replace(" ", "")
    halves = {digits[:30], digits[30:]}
    assert halves == {fingerprint(a).replace(" ", ""), fingerprint(b).replace(" ", "")}
    assert safety_number(a, CAROL.public_record()) != number


def _other_key(key):
    return bytes([key[0] ^ 1]) + key[1:]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: dataclasses.replace(r, sign_key=_other_key(r.sign_key)),
        lambda r: dataclasses.replace(r, box_key=_other_key(r.box_key)),
        lambda r: dataclasses.replace(
            r, sign_key=bytes(NodeIdentity.generate("ngo-x-node", now=T0).signing_key.verify_key)
        ),
        lambda r: dataclasses.replace(r, node_id="ngo-alba-rp"),
        # Swapping the two keys is a change too.
        lambda r: dataclasses.replace(r, sign_key=r.box_key, box_key=r.sign_key),
    ],
    ids=["sign_key_bit", "box_key_bit", "new_sign_key", "node_id", "swapped_keys"],
)
def test_fingerprint_and_safety_number_change_when_any_key_changes(change):
    ours, theirs = BOB.public_record(), RECORD
    changed = change(theirs)
    assert fingerprint(changed) != fingerprint(theirs)
    assert safety_number(ours, changed) != safety_number(ours, theirs)
    assert safety_number(changed, ours) != safety_number(theirs, ours)
    changed_ours = change(ours)
    assert safety_number(changed_ours, theirs) != safety_number(ours, theirs)


def test_fingerprint_ignores_dates_and_key_version():
    later = dataclasses.replace(RECORD, created=T0 + 5, expires=T0 + 10**6, key_version=3)
    assert fingerprint(later) == fingerprint(RECORD)


# --------------------------------------------------------------------------- statements

DOCUMENT = {"node_id": "ngo-casa-it", "fingerprint": "12345", "when": T0, "ok": True}


def test_statement_verifies_with_the_signer_key_in_any_form():
    signature = sign_statement(ALICE.signing_key, "key-attestation", DOCUMENT)
    assert len(signature) == 64
    verify_statement(RECORD.sign_key, "key-attestation", DOCUMENT, signature)
    verify_statement(RECORD.verify_key, "key-attestation", DOCUMENT, signature)
    # The document is signed in canonical form: key order does not matter.
    reordered = dict(reversed(list(DOCUMENT.items())))
    verify_statement(RECORD.sign_key, "key-attestation", reordered, signature)


@pytest.mark.parametrize(
    ("key", "context", "document"),
    [
        (RECORD.sign_key, "key-revocation", DOCUMENT),
        (RECORD.sign_key, "key-attestation", {**DOCUMENT, "ok": False}),
        (RECORD.sign_key, "key-attestation", {**DOCUMENT, "extra": None}),
        (RECORD.sign_key, "key-attestation", [DOCUMENT]),
        (BOB.public_record().sign_key, "key-attestation", DOCUMENT),
        (bytes(nacl.signing.SigningKey.generate().verify_key), "key-attestation", DOCUMENT),
    ],
    ids=["wrong_context", "changed_value", "added_field", "wrapped", "other_key", "random_key"],
)
def test_statement_does_not_verify_for_anything_else(key, context, document):
    signature = sign_statement(ALICE.signing_key, "key-attestation", DOCUMENT)
    with pytest.raises(SignatureError):
        verify_statement(key, context, document, signature)


def test_statement_signature_is_not_a_plain_signature_of_the_document():
    # Domain separation: a signature over the bare canonical bytes is not a statement.
    raw = ALICE.signing_key.sign(canonical_json(DOCUMENT)).signature
    with pytest.raises(SignatureError):
        verify_statement(RECORD.sign_key, "key-attestation", DOCUMENT, raw)


@pytest.mark.parametrize(
    ("key", "signature"),
    [
        (RECORD.sign_key, b"\x00" * 63),
        (RECORD.sign_key, b"\x00" * 65),
        (RECORD.sign_key, "not bytes"),
        (b"\x01" * 31, b"\x00" * 64),
        (b"", b"\x00" * 64),
    ],
)
def test_malformed_signature_or_key_raises_signature_error(key, signature):
    with pytest.raises(SignatureError):
        verify_statement(key, "key-attestation", DOCUMENT, signature)


@settings(deadline=None, max_examples=200)
@given(st.binary(min_size=64, max_size=64))
def test_random_signatures_do_not_verify(signature):
    with pytest.raises(SignatureError):
        verify_statement(RECORD.sign_key, "key-attestation", DOCUMENT, signature)


@pytest.mark.parametrize("context", ["", "Key", "key attestation", "k" * 65, "clé"])
def test_bad_context_is_a_validation_error(context):
    with pytest.raises(ValidationError) as caught:
        sign_statement(ALICE.signing_key, context, DOCUMENT)
    assert caught.value.field == "context"


def test_unsignable_document_is_an_encoding_error():
    with pytest.raises(EncodingError):
        sign_statement(ALICE.signing_key, "key-attestation", {"amount": 1.5})
