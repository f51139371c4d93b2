"""Attachments: encrypted once, referenced (key + SHA-256) from a signed payload."""

import hashlib

import nacl.secret
import nacl.utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_testkit import ALICE, BOB, NOW, json_values, open_as, referral

from protocol import (
    AttachmentError,
    Kind,
    b64url_decode,
    b64url_encode,
    decrypt_attachment,
    encrypt_attachment,
    seal,
    validate_payload,
)

BLOB_OVERHEAD = 40  # nonce (24) + Poly1305 tag (16)
REFERENCE, BLOB = encrypt_attachment(
    b"%PDF-1.7 scanned passport", "passport.pdf", "application/pdf"
)


def _flip(data, index, mask=0x01):
    mutated = bytearray(data)
    mutated[index] ^= mask
    return bytes(mutated)


@settings(deadline=None, max_examples=60)
@given(st.binary(max_size=5000) | st.integers(0, 200_000).map(bytes))
def test_round_trip_and_blob_is_a_padded_bucket(data):
    reference, blob = encrypt_attachment(data, "file.bin", "application/octet-stream")
    assert decrypt_attachment(reference, blob) == data
    bucket = len(blob) - BLOB_OVERHEAD
    assert bucket >= 1024 and bucket & (bucket - 1) == 0
    assert bucket // 2 < len(data) + 1 or bucket == 1024
    assert reference["size"] == len(data)
    assert b64url_decode(reference["sha256"], length=32) == hashlib.sha256(blob).digest()
    validate_payload(Kind.REFERRAL_UPDATE, {"message": "file", "attachments": [reference]})


def test_reference_fields_and_freshness():
    assert set(REFERENCE) == {"id", "name", "media_type", "size", "key", "sha256"}
    assert (REFERENCE["name"], REFERENCE["media_type"]) == ("passport.pdf", "application/pdf")
    again, blob = encrypt_attachment(
        b"%PDF-1.7 scanned passport", "passport.pdf", "application/pdf"
    )
    # Same file twice: fresh id, key and nonce, so nothing links the two blobs.
    assert again["id"] != REFERENCE["id"]
    assert again["key"] != REFERENCE["key"]
    assert blob != BLOB and blob[:24] != BLOB[:24]
    assert b"passport" not in BLOB


def test_a_megabyte_file_round_trips():
    data = nacl.utils.random(1024 * 1024)
    reference, blob = encrypt_attachment(data, "photo.jpg", "image/jpeg")
    assert len(blob) == 2 * 1024 * 1024 + BLOB_OVERHEAD
    assert decrypt_attachment(reference, blob) == data


def test_attachment_travels_inside_a_sealed_referral():
    payload = referral(attachments=[REFERENCE])
    envelope = seal(ALICE, BOB.public_record(), Kind.REFERRAL, payload, now=NOW)
    reference = open_as(envelope.to_wire()).payload["attachments"][0]
    assert decrypt_attachment(reference, BLOB) == b"%PDF-1.7 scanned passport"


def test_every_flipped_byte_of_the_blob_is_an_attachment_error():
    for index in range(len(BLOB)):
        with pytest.raises(AttachmentError, match="SHA-256"):
            decrypt_attachment(REFERENCE, _flip(BLOB, index))


@pytest.mark.parametrize(
    "blob",
    [b"", BLOB[:-1], BLOB[:24], BLOB + b"\x00", BLOB[1:]],
    ids=["empty", "truncated", "nonce_only", "extended", "shifted"],
)
def test_truncated_or_extended_blob_is_an_attachment_error(blob):
    with pytest.raises(AttachmentError):
        decrypt_attachment(REFERENCE, blob)


def test_the_reference_of_another_attachment_is_an_attachment_error():
    other_reference, other_blob = encrypt_attachment(b"other", "other.txt", "text/plain")
    with pytest.raises(AttachmentError):
        decrypt_attachment(other_reference, BLOB)
    with pytest.raises(AttachmentError):
        decrypt_attachment(REFERENCE, other_blob)


def test_wrong_key_with_matching_hash_is_an_attachment_error():
    # A reference whose hash fits the blob but whose key does not: decryption must fail.
    wrong = {**REFERENCE, "key": b64url_encode(nacl.utils.random(32))}
    with pytest.raises(AttachmentError, match="decrypt"):
        decrypt_attachment(wrong, BLOB)


def test_wrong_size_is_an_attachment_error():
    for size in (REFERENCE["size"] - 1, REFERENCE["size"] + 1, 0):
        with pytest.raises(AttachmentError, match="size"):
            decrypt_attachment({**REFERENCE, "size": size}, BLOB)


def test_wrong_hash_is_an_attachment_error():
    wrong = {**REFERENCE, "sha256": b64url_encode(hashlib.sha256(b"x").digest())}
    with pytest.raises(AttachmentError):
        decrypt_attachment(wrong, BLOB)


def _authentic(plaintext, size=None):
    """A blob made by a hostile sender who holds the key: hash and MAC are right."""
    key = nacl.utils.random(32)
    blob = bytes(nacl.secret.SecretBox(key).encrypt(plaintext))
    reference = {
        **REFERENCE,
        "key": b64url_encode(key),
        "sha256": b64url_encode(hashlib.sha256(blob).digest()),
    }
    if size is not None:
        reference["size"] = size
    return reference, blob


@pytest.mark.parametrize(
    "plaintext",
    [
        b"no padding" * 200,  # not a bucket size
        bytes(1024),  # no marker
        b"x" * 10 + b"\x80" + bytes(2037),  # 2048 bucket for 10 bytes: not the smallest
        b"",
    ],
    ids=["not_a_bucket", "no_marker", "oversized_bucket", "empty"],
)
def test_authentic_blob_with_bad_padding_is_an_attachment_error(plaintext):
    reference, blob = _authentic(plaintext, size=10)
    with pytest.raises(AttachmentError):
        decrypt_attachment(reference, blob)


def test_authentic_control_blob_opens():
    reference, blob = _authentic(b"x" * 10 + b"\x80" + bytes(1013), size=10)
    assert decrypt_attachment(reference, blob) == b"x" * 10


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "short"},
        {"key": b64url_encode(bytes(16))},
        {"size": -1},
        {"size": "25"},
        {"size": True},
        {"id": None},
        {"media_type": "PDF"},
        {"extra": 1},
    ],
)
def test_malformed_reference_is_an_attachment_error(change):
    with pytest.raises(AttachmentError):
        decrypt_attachment({**REFERENCE, **change}, BLOB)


@pytest.mark.parametrize("missing", sorted(REFERENCE))
def test_reference_missing_a_field_is_an_attachment_error(missing):
    reference = {k: v for k, v in REFERENCE.items() if k != missing}
    with pytest.raises(AttachmentError):
        decrypt_attachment(reference, BLOB)


@pytest.mark.parametrize("blob", [None, "text", 5, [1, 2]])
def test_blob_that_is_not_bytes_is_an_attachment_error(blob):
    with pytest.raises(AttachmentError):
        decrypt_attachment(REFERENCE, blob)


@settings(deadline=None, max_examples=200)
@given(json_values)
def test_random_references_are_attachment_errors(reference):
    with pytest.raises(AttachmentError):
        decrypt_attachment(reference, BLOB)


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=3000))
def test_random_blobs_are_attachment_errors(blob):
    with pytest.raises(AttachmentError):
        decrypt_attachment(REFERENCE, blob)


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=3000))
def test_random_blobs_with_a_matching_hash_are_attachment_errors(blob):
    # The hub cannot know the key; a blob that matches the hash still has to decrypt.
    reference = {**REFERENCE, "sha256": b64url_encode(hashlib.sha256(blob).digest())}
    with pytest.raises(AttachmentError):
        decrypt_attachment(reference, blob)
