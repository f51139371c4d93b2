"""Sealed keystores: Argon2id + SecretBox, file handling."""

import json
import os
import stat

import nacl.pwhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_testkit import ALICE, BOB, CAROL, CHEAP_KDF

from protocol import (
    KdfLimits,
    KeystoreError,
    NodeIdentity,
    canonical_json,
    open_keystore,
    parse_json,
    read_keystore,
    seal_keystore,
    write_keystore,
)
from protocol.keystore import _derive

PASSPHRASE = "correct horse battery staple"
IDENTITIES = [ALICE, BOB]
SEALED = seal_keystore(IDENTITIES, PASSPHRASE, CHEAP_KDF)


def test_cheap_kdf_is_libsodium_minimum():
    # The test cost really is the minimum libsodium accepts (otherwise these tests are slow).
    assert CHEAP_KDF.opslimit == nacl.pwhash.argon2id.OPSLIMIT_MIN
    assert CHEAP_KDF.memlimit == nacl.pwhash.argon2id.MEMLIMIT_MIN


def test_round_trip_keeps_every_identity_in_order():
    opened = open_keystore(SEALED, PASSPHRASE)
    assert opened == IDENTITIES
    assert [i.signing_key.verify_key for i in opened] == [
        i.signing_key.verify_key for i in IDENTITIES
    ]


def test_file_names_its_format_and_cost_and_hides_the_keys():
    document = parse_json(SEALED)
    assert document["format"] == "ponte-keystore"
    assert document["v"] == 1
    assert document["kdf"]["alg"] == "argon2id13"
    assert document["kdf"]["opslimit"] == CHEAP_KDF.opslimit
    assert document["kdf"]["memlimit"] == CHEAP_KDF.memlimit
    assert SEALED.endswith(b"\n")
    for identity in IDENTITIES:
        for secret in identity.to_private_dict().values():
            if isinstance(secret, str) and len(secret) > 20:
                assert secret.encode() not in SEALED
    assert ALICE.node_id.encode() not in SEALED


def test_each_seal_uses_a_fresh_salt_and_nonce():
    again = seal_keystore(IDENTITIES, PASSPHRASE, CHEAP_KDF)
    assert again != SEALED
    first, second = parse_json(SEALED), parse_json(again)
    assert first["kdf"]["salt"] != second["kdf"]["salt"]
    assert open_keystore(again, PASSPHRASE) == IDENTITIES


@pytest.mark.parametrize(
    "passphrase", ["Correct horse battery staple", "correct horse battery staple ", "x", "🔑"]
)
def test_wrong_passphrase_says_so(passphrase):
    with pytest.raises(KeystoreError) as caught:
        open_keystore(SEALED, passphrase)
    message = str(caught.value)
    assert "wrong passphrase" in message
    assert "Traceback" not in message and "nacl" not in message.lower()


def test_empty_passphrase_is_refused_both_ways():
    with pytest.raises(KeystoreError, match="passphrase"):
        seal_keystore(IDENTITIES, "", CHEAP_KDF)
    with pytest.raises(KeystoreError, match="passphrase"):
        open_keystore(SEALED, "")


def test_an_empty_keystore_cannot_be_sealed():
    with pytest.raises(KeystoreError):
        seal_keystore([], PASSPHRASE, CHEAP_KDF)


def test_unicode_passphrase_round_trips():
    sealed = seal_keystore([CAROL], "pässwört 🔑 ключ", CHEAP_KDF)
    assert open_keystore(sealed, "pässwört 🔑 ключ") == [CAROL]
    with pytest.raises(KeystoreError):
        open_keystore(sealed, "passwort 🔑 ключ")


def test_unencodable_passphrase_raises_keystore_error():
    with pytest.raises(KeystoreError):
        open_keystore(SEALED, "caf\udce9")


def _document(**changes):
    document = json.loads(SEALED)
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for name in parents:
            target = target[name]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return canonical_json(document)


_DELETE = object()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "damaged"),
        (b"not json at all", "damaged"),
        (b"\xff\xfe\x00", "damaged"),
        (b"[]", "not a Ponte keystore"),
        (b'"ponte-keystore"', "not a Ponte keystore"),
        (_document(format="ponte-keystore-v0"), "not a Ponte keystore"),
        (_document(format=_DELETE), "not a Ponte keystore"),
        (_document(v=2), "version"),
        (_document(v="1"), "version"),
        (_document(v=True), "version"),
        (_document(v=_DELETE), "version"),
        (_document(kdf__opslimit=True), "damaged"),
        (_document(kdf__alg="scrypt"), "damaged"),
        (_document(kdf=_DELETE), "damaged"),
        (_document(kdf=[]), "damaged"),
        (_document(kdf__opslimit="1"), "damaged"),
        (_document(kdf__opslimit=0), "damaged"),
        (_document(kdf__opslimit=10**6), "damaged"),
        (_document(kdf__memlimit=2**40), "damaged"),  # would allocate a terabyte
        (_document(kdf__memlimit=2**53 - 1), "damaged"),
        (_document(kdf__memlimit=4096), "damaged"),
        (_document(kdf__memlimit=None), "damaged"),
        (_document(kdf__salt="short"), "damaged"),
        (_document(kdf__salt=_DELETE), "damaged"),
        (_document(sealed="***"), "damaged"),
        (_document(sealed=_DELETE), "damaged"),
        (_document(sealed=""), "damaged"),
        (_document(sealed="AAAA"), "damaged"),
    ],
)
def test_damaged_or_foreign_file_raises_keystore_error(data, words):
    with pytest.raises(KeystoreError) as caught:
        open_keystore(data, PASSPHRASE)
    assert words in str(caught.value)


def test_every_truncation_raises_keystore_error():
    for end in range(len(SEALED) - 1):  # dropping only the final newline is harmless
        with pytest.raises(KeystoreError):
            open_keystore(SEALED[:end], PASSPHRASE)
    assert open_keystore(SEALED[:-1], PASSPHRASE) == IDENTITIES


def _reseal(content):
    """A keystore whose box authenticates (right passphrase) but holds ``content``."""
    import nacl.secret

    from protocol import b64url_decode, b64url_encode

    document = json.loads(SEALED)
    salt = b64url_decode(document["kdf"]["salt"])
    box = nacl.secret.SecretBox(_derive(PASSPHRASE, salt, CHEAP_KDF))
    document["sealed"] = b64url_encode(bytes(box.encrypt(content)))
    return canonical_json(document)


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"identity": []}',
        b'{"identities": 5}',
        b'{"identities": [5]}',
        b'{"identities": [{}]}',
        b'{"identities": "ab"}',
        b'{"identities": []}',
        b'{"identities": null}',
        canonical_json({"identities": [ALICE.to_private_dict(), 5]}),
        canonical_json({"identities": [{**ALICE.to_private_dict(), "key_version": "2"}]}),
        canonical_json({"identities": [{**ALICE.to_private_dict(), "extra": 1}]}),
        canonical_json({"identities": [{**ALICE.to_private_dict(), "sign_seed": "AAAA"}]}),
    ],
)
def test_authentic_but_damaged_content_raises_keystore_error(content):
    with pytest.raises(KeystoreError, match="content is damaged"):
        open_keystore(_reseal(content), PASSPHRASE)


def test_reseal_helper_builds_a_real_keystore():
    content = canonical_json({"identities": [ALICE.to_private_dict()]})
    assert open_keystore(_reseal(content), PASSPHRASE) == [ALICE]


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_raise_keystore_error(data):
    with pytest.raises(KeystoreError):
        open_keystore(data, PASSPHRASE)


# Replacement bytes: JSON structure, digits, letters, base64url's "-" and "_", controls, high.
_REPLACEMENTS = b'"{}[],:\\ \n\t019AZaz-_\x00\x7f\x80\xff'


def _mutations(data, replacements):
    for index in range(len(data)):
        for byte in replacements:
            if byte != data[index]:
                yield data[:index] + bytes([byte]) + data[index + 1 :]


def _check_mutated_keystore(mutated):
    try:
        opened = open_keystore(mutated, PASSPHRASE)
    except KeystoreError:
        return
    # Only changes that mean nothing may open, and then to exactly the same identities: the
    # final newline turned into other whitespace, or a memlimit in the same KiB (libsodium
    # counts memory in whole KiB, so 8192 and 9192 bytes are the same cost).
    assert opened == IDENTITIES
    document, original = parse_json(mutated), parse_json(SEALED)
    assert document["kdf"].pop("memlimit") // 1024 == original["kdf"].pop("memlimit") // 1024
    assert document == original


def test_every_single_byte_change_raises_keystore_error():
    for mutated in _mutations(SEALED, _REPLACEMENTS):
        _check_mutated_keystore(mutated)


def test_every_single_byte_change_to_plus_or_slash_raises_keystore_error():
    for mutated in _mutations(SEALED, b"+/"):
        _check_mutated_keystore(mutated)


@settings(deadline=None, max_examples=300)
@given(st.integers(0, len(SEALED) - 1), st.integers(1, 255))
def test_random_bit_flips_raise_keystore_error(index, mask):
    mutated = bytearray(SEALED)
    mutated[index] ^= mask
    _check_mutated_keystore(bytes(mutated))


# --------------------------------------------------------------------------- files


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_write_keystore_creates_a_private_file_and_parents(tmp_path):
    path = tmp_path / "deep" / "dir" / "keystore.json"
    old_umask = os.umask(0)  # a permissive umask must not leak into the file mode
    try:
        write_keystore(path, SEALED)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == SEALED
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["keystore.json"]
    assert read_keystore(path, PASSPHRASE) == IDENTITIES


def test_write_keystore_replaces_an_existing_file_and_tightens_its_mode(tmp_path):
    path = tmp_path / "keystore.json"
    path.write_bytes(b"old content")
    path.chmod(0o644)
    replacement = seal_keystore([CAROL], PASSPHRASE, CHEAP_KDF)
    write_keystore(path, replacement)
    assert path.read_bytes() == replacement
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keystore.json"]
    assert read_keystore(path, PASSPHRASE) == [CAROL]


def test_failed_write_leaves_no_temporary_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "keystore.json"
    target.mkdir()  # os.replace of a file onto a directory fails
    (target / "keep").write_bytes(b"x")
    with pytest.raises(OSError):
        write_keystore(target, SEALED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keystore.json"]
    assert (target / "keep").read_bytes() == b"x"


def test_failed_write_of_non_bytes_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "keystore.json"
    path.write_bytes(SEALED)
    with pytest.raises(TypeError):
        write_keystore(path, "text, not bytes")  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["keystore.json"]
    assert path.read_bytes() == SEALED


def test_read_keystore_errors_are_keystore_errors(tmp_path):
    with pytest.raises(KeystoreError, match="no keystore"):
        read_keystore(tmp_path / "missing.json", PASSPHRASE)
    with pytest.raises(KeystoreError, match="cannot read"):
        read_keystore(tmp_path, PASSPHRASE)  # a directory
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(SEALED[:100])
    with pytest.raises(KeystoreError, match="damaged"):
        read_keystore(damaged, PASSPHRASE)


def test_kdf_limits_default_is_moderate():
    assert KdfLimits() == KdfLimits(
        nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE
    )


def test_identities_come_back_as_node_identities():
    assert all(isinstance(i, NodeIdentity) for i in open_keystore(SEALED, PASSPHRASE))
