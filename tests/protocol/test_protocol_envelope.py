"""Envelopes: seal / open round trips, tampering, and every rejection reason.

Hand-built envelopes use the module's own building blocks (signed_bytes, pad, SealedBox), the
way an attacker or a buggy implementation would, never a mock.
"""

import dataclasses
import json
import struct

import nacl.public
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_testkit import (
    ALICE,
    BOB,
    CAROL,
    MALLORY,
    MIB,
    NOW,
    T0,
    big_text,
    json_values,
    loose_values,
    minor_referral,
    newsletter,
    open_as,
    receipt,
    referral,
    referral_update,
    resolve,
    resolve_nobody,
    return_referral,
    same_json,
    sealed_receipt,
    valid_referrals,
)

from protocol import (
    Envelope,
    EnvelopeRejected,
    Header,
    Kind,
    MemorySeenIds,
    NodeIdentity,
    ProtocolError,
    Reason,
    ValidationError,
    b64url_decode,
    canonical_json,
    new_id,
    open_envelope,
    parse_json,
    seal,
)
from protocol.envelope import CLOCK_SKEW, DEFAULT_TTL, MAX_TTL, SIGNATURE_SIZE, signed_bytes
from protocol.padding import MAX_ENVELOPE_BUCKET, pad, unpad

SEAL_OVERHEAD = 48  # crypto_box_seal: ephemeral public key + Poly1305 tag
# Ids whose base64url spelling uses "-" and "_", the two url-safe characters.
DASH_ID = b64url_decode("--------------------AA")
UNDERSCORE_ID = b64url_decode("____________________AQ")


def header_bytes(header):
    return canonical_json(header.to_dict())


def rejection(envelope, recipient=BOB, *, now=NOW, seen=None, resolver=resolve):
    with pytest.raises(EnvelopeRejected) as caught:
        open_envelope(envelope, recipient, resolver, seen or MemorySeenIds(), now=now)
    return caught.value.reason


def plaintext(envelope, recipient=BOB):
    """What the recipient finds in the body: (signature, canonical payload)."""
    padded = nacl.public.SealedBox(recipient.private_box_key).decrypt(envelope.body)
    plain = unpad(padded)
    return plain[:SIGNATURE_SIZE], plain[SIGNATURE_SIZE:]


def hand_seal(header, payload_bytes, *, signer=ALICE, to=BOB, signed_header=None, padder=pad):
    """Sign ``signed_header`` (default: ``header``) and seal under ``header``, by hand."""
    signed = header_bytes(signed_header or header)
    signature = signer.signing_key.sign(signed_bytes(signed, payload_bytes)).signature
    body = nacl.public.SealedBox(to.public_record().public_box_key).encrypt(
        padder(signature + payload_bytes)
    )
    return Envelope(header, body)


def is_power_of_two(n):
    return n > 0 and n & (n - 1) == 0


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (Kind.RECEIPT, receipt()),
        (Kind.REFERRAL, referral()),
        (Kind.REFERRAL, minor_referral()),
        (Kind.REFERRAL, return_referral()),
        (Kind.REFERRAL_UPDATE, referral_update()),
        (Kind.NEWSLETTER, newsletter()),
    ],
)
def test_every_kind_round_trips_through_the_wire(kind, payload):
    thread = new_id()
    envelope = seal(ALICE, BOB.public_record(), kind, payload, now=NOW, thread=thread)
    header = envelope.header
    assert (header.kind, header.sender, header.recipient) == (kind, ALICE.node_id, BOB.node_id)
    assert (header.created, header.expires) == (NOW, NOW + DEFAULT_TTL)
    assert header.thread == thread and len(header.message_id) == 16
    opened = open_as(envelope.to_wire())
    assert opened.header == header
    assert opened.payload == payload
    assert open_as(envelope).payload == payload  # the parsed object opens the same way


def test_wire_form_is_magic_length_header_body():
    envelope = sealed_receipt()
    wire = envelope.to_wire()
    header = header_bytes(envelope.header)
    assert wire == b"PNTE" + struct.pack(">I", len(header)) + header + envelope.body
    assert Envelope.from_wire(wire) == envelope
    assert parse_json(header) == envelope.header.to_dict()


def test_seal_uses_given_ids_and_fresh_ones_otherwise():
    first = seal(
        ALICE,
        BOB.public_record(),
        "receipt",
        receipt(),
        now=NOW,
        message_id=DASH_ID,
        thread=UNDERSCORE_ID,
    )
    assert (first.header.message_id, first.header.thread) == (DASH_ID, UNDERSCORE_ID)
    second, third = sealed_receipt(), sealed_receipt()
    assert second.header.message_id != third.header.message_id
    assert second.header.thread != third.header.thread
    assert open_as(first.to_wire()).header.message_id == DASH_ID


def test_body_reveals_only_the_size_bucket():
    small = seal(ALICE, BOB.public_record(), "newsletter", newsletter("x"), now=NOW)
    larger = seal(ALICE, BOB.public_record(), "newsletter", newsletter("x" * 350), now=NOW)
    assert len(small.body) == len(larger.body) == 1024 + SEAL_OVERHEAD
    bigger = seal(ALICE, BOB.public_record(), "newsletter", newsletter("x" * 5000), now=NOW)
    assert len(bigger.body) == 8192 + SEAL_OVERHEAD
    # The same message sealed twice gives unrelated bodies (fresh ephemeral key).
    same = receipt()
    first, second = (
        seal(
            ALICE,
            BOB.public_record(),
            "receipt",
            same,
            now=NOW,
            message_id=DASH_ID,
            thread=UNDERSCORE_ID,
        )
        for _ in range(2)
    )
    assert first.header == second.header
    assert first.body != second.body


@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(big_text(1_500_000, max_bytes=MIB - 800))
def test_newsletters_up_to_a_mebibyte_round_trip(body):
    payload = newsletter(body)
    size = len(canonical_json(payload))
    assert size <= MIB
    envelope = seal(ALICE, BOB.public_record(), Kind.NEWSLETTER, payload, now=NOW)
    padded = len(envelope.body) - SEAL_OVERHEAD
    assert is_power_of_two(padded) and padded >= 1024
    assert padded // 2 < SIGNATURE_SIZE + size + 1 or padded == 1024
    opened = open_as(envelope.to_wire())
    assert opened.payload == payload
    assert opened.payload["statement"]["body_markdown"] == body


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(valid_referrals())
def test_referrals_with_long_notes_round_trip(payload):
    envelope = seal(ALICE, BOB.public_record(), Kind.REFERRAL, payload, now=NOW)
    assert open_as(envelope.to_wire()).payload == payload


def test_exactly_one_mebibyte_of_payload_round_trips():
    payload = newsletter("x")
    payload["statement"]["body_markdown"] = ""
    filler = MIB - len(canonical_json(payload))
    payload["statement"]["body_markdown"] = "é" * (filler // 2) + "x" * (filler % 2)
    assert len(canonical_json(payload)) == MIB
    envelope = seal(ALICE, BOB.public_record(), Kind.NEWSLETTER, payload, now=NOW)
    assert len(envelope.body) == 2 * MIB + SEAL_OVERHEAD
    assert open_as(envelope.to_wire()).payload == payload


def test_largest_payload_fills_the_last_bucket_and_one_more_byte_is_refused():
    payload = newsletter("x")
    payload["statement"]["body_markdown"] = ""
    largest = MAX_ENVELOPE_BUCKET - 1 - SIGNATURE_SIZE  # room for the signature and 0x80
    filler = largest - len(canonical_json(payload))
    payload["statement"]["body_markdown"] = "é" * (filler // 2) + "x" * (filler % 2)
    assert len(canonical_json(payload)) == largest
    envelope = seal(ALICE, BOB.public_record(), Kind.NEWSLETTER, payload, now=NOW)
    assert len(envelope.body) == MAX_ENVELOPE_BUCKET + SEAL_OVERHEAD
    assert open_as(envelope.to_wire()).payload == payload
    payload["statement"]["body_markdown"] += "x"
    with pytest.raises(ValidationError) as caught:
        seal(ALICE, BOB.public_record(), Kind.NEWSLETTER, payload, now=NOW)
    assert caught.value.field == "payload"


def test_recipient_may_hold_several_key_versions():
    old = BOB
    new = NodeIdentity.generate(BOB.node_id, now=T0, key_version=2)
    to_old = seal(ALICE, old.public_record(), "receipt", receipt(), now=NOW)
    to_new = seal(ALICE, new.public_record(), "receipt", receipt(), now=NOW)
    for envelope in (to_old, to_new):
        open_envelope(envelope, [new, old], resolve, MemorySeenIds(), now=NOW)
    assert rejection(to_old, [new]) is Reason.DECRYPTION_FAILED
    # Identities of other nodes in the list are not tried at all.
    assert rejection(to_old, [CAROL, MALLORY]) is Reason.WRONG_RECIPIENT


def test_sender_may_have_rotated_keys():
    old = ALICE
    new = NodeIdentity.generate(ALICE.node_id, now=T0, key_version=2)
    records = [new.public_record(), old.public_record()]
    for sender in (old, new):
        envelope = seal(sender, BOB.public_record(), "receipt", receipt(), now=NOW)
        open_envelope(envelope, BOB, lambda _: records, MemorySeenIds(), now=NOW)
    envelope = seal(new, BOB.public_record(), "receipt", receipt(), now=NOW)
    assert rejection(envelope, resolver=lambda _: [old.public_record()]) is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------- seal refuses


@pytest.mark.parametrize("ttl", [0, -1, MAX_TTL + 1])
def test_seal_refuses_a_bad_ttl(ttl):
    with pytest.raises(ValidationError) as caught:
        seal(ALICE, BOB.public_record(), "receipt", receipt(), now=NOW, ttl=ttl)
    assert caught.value.field == "ttl"


def test_seal_accepts_the_longest_ttl():
    envelope = seal(ALICE, BOB.public_record(), "receipt", receipt(), now=NOW, ttl=MAX_TTL)
    assert envelope.header.expires == NOW + MAX_TTL
    assert open_as(envelope.to_wire()).header.expires == NOW + MAX_TTL


def test_seal_refuses_a_sender_key_that_is_not_valid_now():
    retired = NodeIdentity.generate(ALICE.node_id, now=T0, lifetime=60)
    with pytest.raises(ValidationError) as caught:
        seal(retired, BOB.public_record(), "receipt", receipt(), now=NOW)
    assert caught.value.field == "sender"
    future = NodeIdentity.generate(ALICE.node_id, now=NOW + 1)
    with pytest.raises(ValidationError) as caught:
        seal(future, BOB.public_record(), "receipt", receipt(), now=NOW)
    assert caught.value.field == "sender"


@pytest.mark.parametrize("now", [T0 - 1, BOB.expires + 1])
def test_seal_refuses_a_recipient_key_that_is_not_valid_now(now):
    with pytest.raises(ValidationError) as caught:
        seal(ALICE, BOB.public_record(), "receipt", receipt(), now=now)
    assert caught.value.field == "recipient"


def test_seal_validates_the_payload_and_kind():
    with pytest.raises(ValidationError) as caught:
        seal(ALICE, BOB.public_record(), "referral", referral(consent={"given": False}), now=NOW)
    assert caught.value.field.startswith("consent")
    with pytest.raises(ValidationError) as caught:
        seal(ALICE, BOB.public_record(), "memo", receipt(), now=NOW)
    assert caught.value.field == "kind"


@pytest.mark.parametrize("field", ["message_id", "thread"])
def test_seal_refuses_ids_that_are_not_16_bytes(field):
    with pytest.raises(ProtocolError):
        seal(ALICE, BOB.public_record(), "receipt", receipt(), now=NOW, **{field: b"8 bytes!"})


# --------------------------------------------------------------------------- each rejection reason


def test_wrong_recipient():
    envelope = sealed_receipt()
    assert rejection(envelope.to_wire(), CAROL) is Reason.WRONG_RECIPIENT
    assert rejection(envelope, []) is Reason.WRONG_RECIPIENT
    # Carol cannot open it even by claiming to be Bob: the box key is Bob's.
    carol_as_bob = dataclasses.replace(CAROL, node_id=BOB.node_id)
    assert rejection(envelope, carol_as_bob) is Reason.DECRYPTION_FAILED


def test_replay_with_the_same_seen_store():
    envelope = sealed_receipt()
    seen = MemorySeenIds()
    open_envelope(envelope.to_wire(), BOB, resolve, seen, now=NOW)
    assert seen.seen(ALICE.node_id, envelope.header.message_id)
    assert rejection(envelope.to_wire(), seen=seen, now=NOW + 1) is Reason.REPLAY
    assert rejection(envelope, seen=seen) is Reason.REPLAY
    # Another message is unaffected, and so is another receiver's store.
    open_envelope(sealed_receipt(), BOB, resolve, seen, now=NOW)
    open_envelope(envelope, BOB, resolve, MemorySeenIds(), now=NOW)


def test_replay_of_the_same_body_under_a_new_message_id_fails_the_signature():
    envelope = sealed_receipt()
    seen = MemorySeenIds()
    open_envelope(envelope, BOB, resolve, seen, now=NOW)
    renamed = Envelope(dataclasses.replace(envelope.header, message_id=new_id()), envelope.body)
    assert rejection(renamed, seen=seen) is Reason.BAD_SIGNATURE


def test_replay_set_is_keyed_by_sender():
    # Carol reusing an id already accepted from Alice is not a replay (SPEC 6.1 check 11).
    first = sealed_receipt(message_id=DASH_ID)
    second = seal(CAROL, BOB.public_record(), "receipt", receipt(), now=NOW, message_id=DASH_ID)
    seen = MemorySeenIds()
    open_envelope(first, BOB, resolve, seen, now=NOW)
    open_envelope(second, BOB, resolve, seen, now=NOW)
    assert rejection(first, seen=seen) is Reason.REPLAY
    assert rejection(second, seen=seen) is Reason.REPLAY


def test_every_rejection_leaves_the_replay_set_unchanged():
    seen = MemorySeenIds()
    genuine = sealed_receipt()
    for envelope, kwargs in [
        (genuine, {"resolver": resolve_nobody}),
        (Envelope(genuine.header, sealed_receipt().body), {}),
        (Envelope(genuine.header, b""), {}),
        (genuine, {"now": genuine.header.expires + 1}),
        (hand_seal(genuine.header, b"{}"), {}),
    ]:
        rejection(envelope, seen=seen, **kwargs)
        assert len(seen) == 0
    open_envelope(genuine, BOB, resolve, seen, now=NOW)
    assert len(seen) == 1


def test_a_rejected_envelope_is_not_remembered():
    envelope = sealed_receipt()
    seen = MemorySeenIds()
    assert rejection(envelope, seen=seen, resolver=resolve_nobody) is Reason.UNKNOWN_SENDER
    assert not seen.seen(ALICE.node_id, envelope.header.message_id)
    assert len(seen) == 0
    open_envelope(envelope, BOB, resolve, seen, now=NOW)
    assert len(seen) == 1


def test_expiry_boundary():
    envelope = sealed_receipt(ttl=3600)
    expires = envelope.header.expires
    open_as(envelope, now=expires)  # still valid at the expiry second
    assert rejection(envelope, now=expires + 1) is Reason.EXPIRED
    assert rejection(envelope.to_wire(), now=expires + 10**6) is Reason.EXPIRED


def test_purged_ids_do_not_reopen_an_expired_message():
    envelope = sealed_receipt(ttl=3600)
    seen = MemorySeenIds()
    open_envelope(envelope, BOB, resolve, seen, now=NOW)
    seen.purge(envelope.header.expires + 1)
    assert not seen.seen(ALICE.node_id, envelope.header.message_id)
    assert rejection(envelope, seen=seen, now=envelope.header.expires + 1) is Reason.EXPIRED


def test_not_yet_valid_boundary():
    at_skew = sealed_receipt(now=NOW + CLOCK_SKEW)
    open_as(at_skew, now=NOW)  # ten minutes of clock skew are tolerated
    beyond = sealed_receipt(now=NOW + CLOCK_SKEW + 1)
    assert rejection(beyond, now=NOW) is Reason.NOT_YET_VALID
    far = sealed_receipt(now=NOW + 30 * 86_400)
    assert rejection(far.to_wire(), now=NOW) is Reason.NOT_YET_VALID


def test_unknown_sender():
    envelope = sealed_receipt()
    assert rejection(envelope, resolver=resolve_nobody) is Reason.UNKNOWN_SENDER
    # Records for another node do not count, even if the resolver returns them.
    assert rejection(envelope, resolver=lambda _: resolve(CAROL.node_id)) is (Reason.UNKNOWN_SENDER)


def test_impostor_with_the_senders_name_fails_the_signature():
    impostor = NodeIdentity.generate(ALICE.node_id, now=T0)
    envelope = seal(impostor, BOB.public_record(), "receipt", receipt(), now=NOW)
    assert rejection(envelope.to_wire()) is Reason.BAD_SIGNATURE


def test_sender_key_must_be_valid_when_the_message_was_created():
    envelope = sealed_receipt()
    record = ALICE.public_record()
    later = dataclasses.replace(record, created=NOW + 1)
    earlier = dataclasses.replace(record, expires=NOW - 1)
    assert rejection(envelope, resolver=lambda _: [later]) is Reason.BAD_SIGNATURE
    assert rejection(envelope, resolver=lambda _: [earlier]) is Reason.BAD_SIGNATURE
    open_envelope(envelope, BOB, lambda _: [later, record], MemorySeenIds(), now=NOW)


def test_header_swap_between_two_envelopes_fails_the_signature():
    first = sealed_receipt()
    second = seal(
        ALICE, BOB.public_record(), "receipt", receipt(), now=NOW, thread=first.header.thread
    )
    assert first.header.sender == second.header.sender
    assert first.header.recipient == second.header.recipient
    assert rejection(Envelope(first.header, second.body)) is Reason.BAD_SIGNATURE
    assert rejection(Envelope(second.header, first.body).to_wire()) is Reason.BAD_SIGNATURE
    # Even with every header field but the id identical.
    twin = seal(
        ALICE,
        BOB.public_record(),
        "receipt",
        receipt(),
        now=NOW,
        thread=first.header.thread,
        message_id=DASH_ID,
    )
    assert rejection(Envelope(first.header, twin.body)) is Reason.BAD_SIGNATURE


def test_forwarding_a_signed_body_to_a_third_node_fails_the_signature():
    payload = referral()
    original = seal(ALICE, BOB.public_record(), Kind.REFERRAL, payload, now=NOW)
    signature, payload_bytes = plaintext(original, BOB)
    assert payload_bytes == canonical_json(payload)
    # Control: the signature Bob holds is genuine for the header addressed to Bob...
    ALICE.public_record().verify_key.verify(
        signed_bytes(header_bytes(original.header), payload_bytes), signature
    )

    # ...and re-sealing it to Bob under the original header opens.
    def reseal(header, to):
        body = nacl.public.SealedBox(to.public_record().public_box_key).encrypt(
            pad(signature + payload_bytes)
        )
        return Envelope(header, body)

    assert open_as(reseal(original.header, BOB)).payload == payload
    # Bob forwards it to Carol, as if Alice had addressed it to her.
    to_carol = dataclasses.replace(original.header, recipient=CAROL.node_id)
    assert rejection(reseal(to_carol, CAROL), CAROL) is Reason.BAD_SIGNATURE
    assert rejection(reseal(to_carol, CAROL).to_wire(), CAROL) is Reason.BAD_SIGNATURE
    fresh = dataclasses.replace(to_carol, message_id=new_id(), created=NOW + 60)
    assert rejection(reseal(fresh, CAROL), CAROL, now=NOW + 60) is Reason.BAD_SIGNATURE
    # Nor can Bob present it as his own message to Carol.
    as_bob = dataclasses.replace(to_carol, sender=BOB.node_id)
    assert rejection(reseal(as_bob, CAROL), CAROL) is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        {"message_id": DASH_ID},
        {"thread": UNDERSCORE_ID},
        {"kind": Kind.REFERRAL_UPDATE},
        {"created": NOW - 1},
        {"expires": NOW + DEFAULT_TTL - 1},
        {"expires": NOW + 1},
        {"sender": CAROL.node_id},
        {"sender": MALLORY.node_id},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_header_field_changed_by_the_hub_fails_the_signature(change):
    envelope = sealed_receipt()
    tampered = Envelope(dataclasses.replace(envelope.header, **change), envelope.body)
    assert rejection(tampered) is Reason.BAD_SIGNATURE
    assert rejection(tampered.to_wire()) is Reason.BAD_SIGNATURE


def test_readdressing_to_another_node_is_refused_by_that_node():
    envelope = sealed_receipt()
    tampered = Envelope(
        dataclasses.replace(envelope.header, recipient=CAROL.node_id), envelope.body
    )
    assert rejection(tampered, BOB) is Reason.WRONG_RECIPIENT
    assert rejection(tampered, CAROL) is Reason.DECRYPTION_FAILED


def test_decryption_failed_for_a_body_sealed_to_another_key():
    to_carol = seal(ALICE, CAROL.public_record(), "receipt", receipt(), now=NOW)
    to_bob = sealed_receipt()
    assert rejection(Envelope(to_bob.header, to_carol.body)) is Reason.DECRYPTION_FAILED
    assert rejection(Envelope(to_bob.header, bytes(1072))) is Reason.DECRYPTION_FAILED
    # A body whose length is no bucket plus the seal overhead is refused before decryption.
    assert rejection(Envelope(to_bob.header, b"")) is Reason.MALFORMED
    assert rejection(Envelope(to_bob.header, bytes(47))) is Reason.MALFORMED


@pytest.mark.parametrize(
    ("padder", "reason"),
    [
        (lambda plain: plain + bytes(1024 - len(plain)), Reason.BAD_PADDING),  # no 0x80 marker
        (lambda plain: pad(plain)[:-1] + b"\x01", Reason.BAD_PADDING),  # junk after the marker
        (lambda plain: pad(plain) + bytes(1024), Reason.BAD_PADDING),  # a needlessly big bucket
        # A body whose size is no bucket is refused by its length, before decryption.
        (lambda plain: plain + b"\x80" + bytes(1000 - len(plain)), Reason.MALFORMED),
        (lambda plain: plain, Reason.MALFORMED),  # no padding at all
    ],
    ids=["no_marker", "junk_after_marker", "oversized_bucket", "not_a_bucket", "unpadded"],
)
def test_bad_padding(padder, reason):
    envelope = sealed_receipt()
    tampered = hand_seal(envelope.header, canonical_json(receipt()), padder=padder)
    assert rejection(tampered) is reason


def test_body_shorter_than_a_signature_is_bad_padding():
    envelope = sealed_receipt()
    short = nacl.public.SealedBox(BOB.public_record().public_box_key).encrypt(pad(bytes(63)))
    assert rejection(Envelope(envelope.header, short)) is Reason.BAD_PADDING


@pytest.mark.parametrize(
    "payload_bytes",
    [
        b'{"status": "delivered", "message_id": "AAAAAAAAAAAAAAAAAAAAAA"}',
        b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"delivered"}\n',
        b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"d\\u0065livered"}',
    ],
)
def test_signed_non_canonical_payload_is_accepted_as_signed(payload_bytes):
    # SPEC 6.1 check 16: the receiver verifies P as received and does not demand canonical
    # form; the strict parser leaves one meaning.
    envelope = hand_seal(sealed_receipt().header, payload_bytes)
    opened = open_as(envelope.to_wire())
    assert opened.payload == {"message_id": "AAAAAAAAAAAAAAAAAAAAAA", "status": "delivered"}


def test_hand_sealed_control_opens():
    header = sealed_receipt().header
    payload = receipt()
    assert open_as(hand_seal(header, canonical_json(payload)).to_wire()).payload == payload


@pytest.mark.parametrize(
    ("kind", "payload_bytes"),
    [
        (Kind.RECEIPT, b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"read"}'),
        (Kind.RECEIPT, b"not json"),
        (Kind.RECEIPT, b""),
        (Kind.RECEIPT, b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"delivered","x":1.5}'),
        (Kind.RECEIPT, b'"\\ud800"'),
        (Kind.REFERRAL, canonical_json(receipt())),  # a valid receipt under a referral header
        (Kind.REFERRAL, canonical_json(referral(person={"full_name": "Maria Popescu"}))),
        (Kind.RECEIPT, b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"delivered\xff"}'),
        (
            Kind.RECEIPT,
            b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"delivered","status":"delivered"}',
        ),
        (
            Kind.RECEIPT,
            b'{"message_id":"AAAAAAAAAAAAAAAAAAAAAA","status":"delivered","n":9007199254740992}',
        ),
    ],
    ids=[
        "bad_status",
        "not_json",
        "empty",
        "float",
        "lone_surrogate",
        "kind_mismatch",
        "full_name",
        "bad_utf8",
        "duplicate_key",
        "big_int",
    ],
)
def test_signed_but_invalid_payload(kind, payload_bytes):
    header = dataclasses.replace(sealed_receipt().header, kind=kind)
    envelope = hand_seal(header, payload_bytes)
    assert rejection(envelope) is Reason.INVALID_PAYLOAD
    assert rejection(envelope.to_wire()) is Reason.INVALID_PAYLOAD


# --------------------------------------------------------------------------- order of the checks


def test_checks_run_in_order_and_the_first_failure_is_named():
    expired_to_carol = sealed_receipt(ttl=60)
    assert rejection(expired_to_carol, CAROL, now=NOW + 61) is Reason.WRONG_RECIPIENT
    seen = MemorySeenIds()
    envelope = sealed_receipt(ttl=60)
    open_envelope(envelope, BOB, resolve, seen, now=NOW)
    assert rejection(envelope, seen=seen, now=NOW + 61) is Reason.EXPIRED
    garbage = Envelope(envelope.header, bytes(1072))
    assert rejection(garbage, seen=seen) is Reason.REPLAY
    # Decryption comes before the sender is even looked up.
    assert rejection(Envelope(sealed_receipt().header, bytes(1072)), resolver=resolve_nobody) is (
        Reason.DECRYPTION_FAILED
    )
    # The signature is checked before the payload is parsed.
    invalid = hand_seal(sealed_receipt().header, b"not json", signer=MALLORY)
    assert rejection(invalid) is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------- tampering with bytes

WIRE_ENVELOPE = seal(
    ALICE,
    BOB.public_record(),
    "receipt",
    receipt(),
    now=NOW,
    message_id=DASH_ID,
    thread=UNDERSCORE_ID,
)
WIRE = WIRE_ENVELOPE.to_wire()
HEADER_END = 8 + struct.unpack(">I", WIRE[4:8])[0]
BIG_ENVELOPE = seal(
    ALICE, BOB.public_record(), Kind.REFERRAL, referral(restricted_notes="Ж" * 40_000), now=NOW
)


def _check_mutated_wire(mutated):
    """A changed wire is rejected, unless it parses to exactly the original envelope."""
    try:
        opened = open_as(mutated)
    except EnvelopeRejected:
        return
    assert Envelope.from_wire(mutated) == WIRE_ENVELOPE
    assert opened.header == WIRE_ENVELOPE.header


def _substitutions(data, positions, values):
    for index in positions:
        for value in values:
            if value != data[index]:
                yield data[:index] + bytes([value]) + data[index + 1 :]


def test_every_byte_substitution_in_the_header_is_rejected():
    values = [value for value in range(256) if value not in b"+/"]
    for mutated in _substitutions(WIRE, range(HEADER_END), values):
        _check_mutated_wire(mutated)


def test_header_substitution_with_standard_base64_characters_is_rejected():
    for mutated in _substitutions(WIRE, range(HEADER_END), b"+/"):
        with pytest.raises(EnvelopeRejected):
            open_as(mutated)


def test_every_byte_flip_in_the_body_fails_decryption():
    for index in range(HEADER_END, len(WIRE)):
        mutated = bytearray(WIRE)
        mutated[index] ^= 0x01
        assert rejection(bytes(mutated)) is Reason.DECRYPTION_FAILED


@settings(deadline=None, max_examples=300)
@given(st.integers(0, len(WIRE) - 1), st.integers(1, 255))
def test_random_byte_flips_in_the_wire_are_rejected(index, mask):
    mutated = bytearray(WIRE)
    mutated[index] ^= mask
    _check_mutated_wire(bytes(mutated))
    if index >= HEADER_END:
        assert rejection(bytes(mutated)) is Reason.DECRYPTION_FAILED


@settings(deadline=None, max_examples=200)
@given(st.data())
def test_any_flipped_byte_of_the_decoded_body_fails_decryption(data):
    envelope = data.draw(st.sampled_from([WIRE_ENVELOPE, BIG_ENVELOPE]))
    index = data.draw(st.integers(0, len(envelope.body) - 1))
    mask = data.draw(st.integers(1, 255))
    body = bytearray(envelope.body)
    body[index] ^= mask
    assert rejection(Envelope(envelope.header, bytes(body))) is Reason.DECRYPTION_FAILED


def test_every_truncation_or_extension_of_the_wire_is_malformed():
    for end in range(len(WIRE)):
        assert rejection(WIRE[:end]) is Reason.MALFORMED
    for extra in (b"\x00", b"x" * 47, bytes(1000), bytes(1025)):
        assert rejection(WIRE + extra) is Reason.MALFORMED


# --------------------------------------------------------------------------- parsers on junk


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=2000))
def test_open_envelope_on_random_bytes_is_rejected_as_malformed(data):
    assert rejection(data) is Reason.MALFORMED


@settings(deadline=None, max_examples=300)
@given(
    st.binary(max_size=300)
    | st.builds(lambda rest: b"PNTE" + rest, st.binary(max_size=300))
    | st.builds(
        lambda header, body: b"PNTE" + struct.pack(">I", len(header)) + header + body,
        json_values.map(canonical_json) | st.binary(max_size=200),
        st.sampled_from([b"", bytes(1024 + SEAL_OVERHEAD), bytes(1071)]),
    )
)
def test_from_wire_on_random_input_raises_envelope_rejected(data):
    with pytest.raises(EnvelopeRejected) as caught:
        Envelope.from_wire(data)
    assert caught.value.reason in (Reason.MALFORMED, Reason.UNSUPPORTED_VERSION)


def test_body_larger_than_the_envelope_limit_is_malformed():
    header = WIRE_ENVELOPE.header_bytes
    big = b"PNTE" + struct.pack(">I", len(header)) + header + bytes(4 * MIB + SEAL_OVERHEAD)
    assert rejection(big) is Reason.MALFORMED
    ok_size = b"PNTE" + struct.pack(">I", len(header)) + header + bytes(2 * MIB + SEAL_OVERHEAD)
    assert rejection(ok_size) is Reason.DECRYPTION_FAILED


def test_header_longer_than_1024_bytes_is_malformed():
    header = canonical_json(HEADER_DICT) + b" " * (1025 - len(canonical_json(HEADER_DICT)))
    assert parse_json(header) == HEADER_DICT
    assert rejection(_wire_with_header(header)) is Reason.MALFORMED
    assert rejection(_wire_with_header(header[:1024])) is Reason.BAD_SIGNATURE


@settings(deadline=None, max_examples=200)
@given(json_values | st.sets(st.integers()) | st.builds(object))
def test_from_wire_refuses_non_bytes(value):
    with pytest.raises(EnvelopeRejected):
        Envelope.from_wire(value)


HEADER_DICT = WIRE_ENVELOPE.header.to_dict()


@settings(deadline=None, max_examples=300)
@given(loose_values)
def test_header_from_dict_on_random_values_raises_envelope_rejected(value):
    with pytest.raises(EnvelopeRejected) as caught:
        Header.from_dict(value)
    assert caught.value.reason in (Reason.MALFORMED, Reason.UNSUPPORTED_VERSION)


@settings(deadline=None, max_examples=500)
@given(st.sampled_from(sorted(HEADER_DICT)), loose_values, st.booleans())
def test_header_from_dict_with_one_field_replaced(name, value, delete):
    data = dict(HEADER_DICT)
    if delete:
        del data[name]
    else:
        data[name] = value
    try:
        header = Header.from_dict(data)
    except EnvelopeRejected as error:
        if name == "v" and not delete and type(value) is int and value != 1:
            assert error.reason is Reason.UNSUPPORTED_VERSION
        else:
            assert error.reason is Reason.MALFORMED
        return
    # Accepted: it must be exactly what was given (same JSON types too).
    assert same_json(header.to_dict(), data)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"v": 2}, Reason.UNSUPPORTED_VERSION),
        ({"v": 0}, Reason.UNSUPPORTED_VERSION),
        ({"v": -1}, Reason.UNSUPPORTED_VERSION),
        ({"v": "1"}, Reason.MALFORMED),
        ({"v": None}, Reason.MALFORMED),
        ({"v": True}, Reason.MALFORMED),
        ({"v": [1]}, Reason.MALFORMED),
        ({"id": "AAAA"}, Reason.MALFORMED),
        ({"thread": 5}, Reason.MALFORMED),
        ({"kind": "memo"}, Reason.MALFORMED),
        ({"sender": "NGO"}, Reason.MALFORMED),
        ({"recipient": ""}, Reason.MALFORMED),
        ({"created": -1}, Reason.MALFORMED),
        ({"created": True}, Reason.MALFORMED),
        ({"expires": NOW}, Reason.MALFORMED),  # not after created
        ({"expires": NOW - 1}, Reason.MALFORMED),
        ({"expires": NOW + MAX_TTL + 1}, Reason.MALFORMED),  # longer than 90 days
        ({"extra": 1}, Reason.MALFORMED),
    ],
)
def test_header_rules(change, reason):
    data = {**HEADER_DICT, "created": NOW, "expires": NOW + 3600, **change}
    with pytest.raises(EnvelopeRejected) as caught:
        Header.from_dict(data)
    assert caught.value.reason is reason
    # The same header on the wire is refused before anything is decrypted.
    header = canonical_json(data)
    wire = b"PNTE" + struct.pack(">I", len(header)) + header + WIRE_ENVELOPE.body
    assert rejection(wire) is reason


def test_header_with_exactly_ninety_days_is_fine():
    data = {**HEADER_DICT, "created": NOW, "expires": NOW + MAX_TTL}
    assert Header.from_dict(data).expires == NOW + MAX_TTL


def test_version_is_checked_before_the_member_set():
    # SPEC 6.1 checks 4-6: a missing v is malformed; v=2 with other members is unsupported.
    without_v = {k: v for k, v in HEADER_DICT.items() if k != "v"}
    with pytest.raises(EnvelopeRejected) as caught:
        Header.from_dict(without_v)
    assert caught.value.reason is Reason.MALFORMED
    with pytest.raises(EnvelopeRejected) as caught:
        Header.from_dict({"v": 2, "something": "else"})
    assert caught.value.reason is Reason.UNSUPPORTED_VERSION
    # ...and before the body length: a v2 header with a truncated body is unsupported.
    header = canonical_json({**HEADER_DICT, "v": 2})
    assert rejection(b"PNTE" + struct.pack(">I", len(header)) + header + b"x") is (
        Reason.UNSUPPORTED_VERSION
    )


def _wire_with_header(header_bytes, body=None):
    body = WIRE_ENVELOPE.body if body is None else body
    return b"PNTE" + struct.pack(">I", len(header_bytes)) + header_bytes + body


def test_relay_turning_version_1_into_true_is_malformed():
    assert rejection(_wire_with_header(canonical_json({**HEADER_DICT, "v": True}))) is (
        Reason.MALFORMED
    )


@pytest.mark.parametrize(
    "respell",
    [
        lambda h: json.dumps(h).encode(),  # spaces after separators, original member order
        lambda h: json.dumps(h, sort_keys=True, indent=1).encode(),
        lambda h: canonical_json(h) + b" ",
        lambda h: canonical_json(h).replace(b'"kind"', b'"\\u006bind"'),
    ],
    ids=["spaces", "indented", "trailing_space", "escaped_key"],
)
def test_relay_re_encoding_the_header_breaks_the_signature(respell):
    header = HEADER_DICT
    wire = _wire_with_header(respell(header))
    assert parse_json(wire[8 : 8 + struct.unpack(">I", wire[4:8])[0]]) == header
    assert rejection(wire) is Reason.BAD_SIGNATURE


def test_sender_signed_non_canonical_header_is_verified_as_received():
    # SPEC 5.2: the receiver verifies over H_wire as received and never re-encodes it.
    header = sealed_receipt().header
    spelled = json.dumps(header.to_dict(), indent=2).encode()
    payload = canonical_json(receipt())
    signature = ALICE.signing_key.sign(signed_bytes(spelled, payload)).signature
    body = nacl.public.SealedBox(BOB.public_record().public_box_key).encrypt(
        pad(signature + payload)
    )
    opened = open_as(_wire_with_header(spelled, body))
    assert opened.header == header


def test_envelope_object_whose_header_disagrees_with_its_bytes_is_rejected():
    genuine = sealed_receipt(ttl=60)
    later = dataclasses.replace(genuine.header, expires=genuine.header.expires + 3600)
    forged = Envelope(later, genuine.body, genuine.header_bytes)
    with pytest.raises(EnvelopeRejected):
        open_as(forged, now=genuine.header.expires + 60)


def test_open_envelope_never_raises_anything_but_envelope_rejected_for_non_envelopes():
    for junk in (None, 5, "PNTE", [], {"header": HEADER_DICT, "body": ""}):
        assert rejection(junk) is Reason.MALFORMED


def test_a_json_envelope_is_not_a_wire_envelope():
    body = WIRE_ENVELOPE.to_wire()[HEADER_END:]
    from protocol import b64url_encode

    as_json = canonical_json({"header": HEADER_DICT, "body": b64url_encode(body)})
    assert rejection(as_json) is Reason.MALFORMED
