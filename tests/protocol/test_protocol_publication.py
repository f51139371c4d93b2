"""Signed publications and members' contributions (protocol/publication.py, SPEC.md 4.6)."""

import contextlib
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_testkit import (
    ALICE,
    BOB,
    HUB,
    NOW,
    T0,
    json_values,
    loose_values,
    newsletter,
    publication_statement,
)

from protocol import (
    Kind,
    MemorySeenIds,
    NodeIdentity,
    ProtocolError,
    SignatureError,
    ValidationError,
    b64url_decode,
    b64url_encode,
    canonical_json,
    open_envelope,
    parse_json,
    seal,
    validate_payload,
)
from protocol.keys import signed_document
from protocol.publication import (
    CONTEXT,
    CONTRIBUTION_CONTEXT,
    CONTRIBUTION_KINDS,
    ITEM_KINDS,
    SUBMISSION_WINDOW,
    check_item,
    check_publication,
    sign_contribution,
    sign_publication,
    verify_contribution,
    verify_publication,
)
from protocol.vectorgen import VECTORS_DIR

HUB_RECORD = HUB.public_record()
FILE = {
    "name": "guide.pdf",
    "media_type": "application/pdf",
    "size": 1234,
    "sha256": b64url_encode(bytes(range(32))),
}


def statement(**changes):
    value = publication_statement()
    value.update(changes)
    return value


def raw_signed(key, value, context=CONTEXT):
    """Signed as given, bypassing sign_publication's checks: what a buggy or hostile signer
    holding the key could produce."""
    return signed_document(key.signing_key, context, value)


def refused(document, record=HUB_RECORD, verify=verify_publication):
    with pytest.raises(ValidationError) as caught:
        verify(record, document)
    return caught.value.field


def item(**changes):
    value = {
        "item_kind": "news",
        "title": "Shelter places in Milano",
        "body_markdown": "Casa has **three** places from March.",
        "language": "it",
        "topics": ["shelter"],
        "countries": ["IT"],
    }
    value.update(changes)
    return value


def contribution(node=ALICE, **item_changes):
    return sign_contribution(node, "org-alba", "alba-0001", item(**item_changes), NOW)


# --------------------------------------------------------------------------- publications


def test_sign_then_verify_round_trips():
    document = sign_publication(HUB, publication_statement())
    assert set(document) == {"statement", "signature"}
    published = verify_publication(HUB_RECORD, document)
    assert published.statement == publication_statement()
    assert published.signature == b64url_decode(document["signature"], length=64)
    assert (published.item_id, published.revision) == ("alba-2026-01", 1)


def test_a_document_survives_the_wire():
    """Sent as canonical JSON and parsed again (the hub API, a cache), it still verifies."""
    document = sign_publication(HUB, statement(title="Știri din «Alba» 𝄞"))
    again = parse_json(canonical_json(document))
    assert verify_publication(HUB_RECORD, again).statement == document["statement"]


def test_every_flipped_bit_of_the_signature_is_refused():
    document = sign_publication(HUB, publication_statement())
    signature = b64url_decode(document["signature"], length=64)
    for index in range(64):
        for bit in range(8):
            broken = bytearray(signature)
            broken[index] ^= 1 << bit
            forged = {**document, "signature": b64url_encode(bytes(broken))}
            with pytest.raises(SignatureError):
                verify_publication(HUB_RECORD, forged)


@pytest.mark.parametrize(
    "change",
    [
        {"title": "February news"},
        {"body_markdown": "# Hello\n\nNews from Alba!"},
        {"revision": 2},
        {"status": "retracted"},
        {"audience": "public"},
        {"updated": NOW + 1},
        {"countries": ["IT", "RO"]},
    ],
)
def test_a_statement_changed_after_signing_is_refused(change):
    document = sign_publication(HUB, publication_statement())
    document["statement"] = {**document["statement"], **change}
    with pytest.raises(SignatureError):
        verify_publication(HUB_RECORD, document)


def test_another_key_under_the_hubs_name_is_refused():
    document = sign_publication(HUB, publication_statement())
    impostor = NodeIdentity.generate(HUB.node_id, now=T0)
    with pytest.raises(SignatureError):
        verify_publication(impostor.public_record(), document)
    # Signed by the impostor, checked against the pinned hub key.
    with pytest.raises(SignatureError):
        verify_publication(HUB_RECORD, sign_publication(impostor, publication_statement()))


def test_a_hub_other_than_the_pinned_one_is_refused():
    document = sign_publication(HUB, publication_statement())
    assert refused(document, BOB.public_record()) == "statement.publisher"


def test_a_member_node_cannot_publish():
    document = raw_signed(ALICE, statement(publisher=ALICE.node_id))
    assert refused(document) == "statement.publisher"
    with pytest.raises(ValidationError) as caught:
        sign_publication(ALICE, publication_statement())
    assert caught.value.field == "statement.publisher"


def test_key_version_must_be_the_pinned_keys():
    assert refused(raw_signed(HUB, statement(key_version=2))) == "statement.key_version"
    with pytest.raises(ValidationError) as caught:
        sign_publication(HUB, statement(key_version=2))
    assert caught.value.field == "statement.key_version"
    # The hub rotated to version 2; a node that pinned version 1 refuses the new statements.
    rotated = NodeIdentity(
        HUB.node_id, HUB.sign_seed, HUB.box_secret, HUB.created, HUB.expires, key_version=2
    )
    newer = sign_publication(rotated, statement(key_version=2))
    assert refused(newer) == "statement.key_version"
    assert verify_publication(rotated.public_record(), newer).statement["key_version"] == 2


def test_a_contribution_signature_is_not_a_publication_signature():
    """Same key, same statement, other context: refused (SPEC 4.4)."""
    with pytest.raises(SignatureError):
        verify_publication(HUB_RECORD, raw_signed(HUB, publication_statement(), "contribution"))
    with pytest.raises(SignatureError):
        verify_publication(HUB_RECORD, raw_signed(HUB, publication_statement(), "key-attestation"))


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (None, "publication"),
        ([], "publication"),
        ({"statement": {}}, "publication"),
        ({"statement": {}, "signature": "", "extra": 1}, "publication"),
        ({"statement": [], "signature": b64url_encode(bytes(64))}, "statement"),
        (
            {"statement": publication_statement(), "signature": b64url_encode(bytes(63))},
            "signature",
        ),
        ({"statement": publication_statement(), "signature": 7}, "signature"),
        ({"statement": publication_statement(), "signature": "A" * 85 + "="}, "signature"),
    ],
)
def test_document_shape(document, field):
    assert refused(document) == field


def test_a_float_is_refused_even_where_it_equals_the_signed_integer():
    document = sign_publication(HUB, publication_statement())
    document["statement"] = {**document["statement"], "revision": 1.0}
    assert refused(document) == "statement"
    document["statement"] = {**document["statement"], "revision": 1, "published": 2**53}
    assert refused(document) == "statement"


# The rules of SPEC 4.6, each broken alone: the field named, both when the hub signs and when
# a node verifies a (well-signed) statement that breaks it.
EVENT = {"starts": NOW + 86_400, "ends": NOW + 90_000, "place": "Roma"}
BROKEN = [
    ({"event": EVENT}, "statement.event"),
    ({"item_kind": "event"}, "statement.event"),
    (
        {"item_kind": "event", "event": {**EVENT, "ends": EVENT["starts"] - 1}},
        "statement.event.ends",
    ),
    ({"item_kind": "event", "event": {"ends": NOW}}, "statement.event.starts"),
    (
        {"item_kind": "event", "event": {**EVENT, "online_url": "meet"}},
        "statement.event.online_url",
    ),
    ({"updated": NOW - 1}, "statement.updated"),
    ({"reason": "A typo."}, "statement.reason"),
    ({"file": FILE}, "statement.file"),
    ({"item_kind": "resource", "file": {**FILE, "size": 50 * 2**20 + 1}}, "statement.file.size"),
    ({"item_kind": "resource", "file": {**FILE, "media_type": "PDF"}}, "statement.file.media_type"),
    ({"item_kind": "resource", "file": {**FILE, "sha256": "AA"}}, "statement.file.sha256"),
    ({"item_kind": "resource", "file": {"name": "a.pdf"}}, "statement.file.media_type"),
    (
        {"credit": {"organisation_id": "org alba", "organisation_name": "Alba"}},
        "statement.credit.organisation_id",
    ),
    ({"credit": {"organisation_id": "org-alba"}}, "statement.credit.organisation_name"),
    ({"author_email": "ana@alba.example"}, "statement.author_email"),
    ({"item_id": "alba 2026"}, "statement.item_id"),
    ({"item_id": "x" * 101}, "statement.item_id"),
    ({"revision": 0}, "statement.revision"),
    ({"revision": True}, "statement.revision"),
    ({"status": "draft"}, "statement.status"),
    ({"audience": "everyone"}, "statement.audience"),
    ({"item_kind": "memo"}, "statement.item_kind"),
    ({"title": "   "}, "statement.title"),
    ({"title": "x" * 301}, "statement.title"),
    ({"language": "EN"}, "statement.language"),
    ({"topics": ["Returns"]}, "statement.topics[0]"),
    ({"topics": ["returns", "returns"]}, "statement.topics"),
    ({"countries": ["ro"]}, "statement.countries[0]"),
    ({"url": "ftp://alba.example"}, "statement.url"),
    ({"published": -1, "updated": 0}, "statement.published"),
    ({"url": None}, "statement.url"),
    ({"reason": None, "status": "retracted"}, "statement.reason"),
]


@pytest.mark.parametrize(("change", "field"), BROKEN)
def test_item_rules_when_signing(change, field):
    with pytest.raises(ValidationError) as caught:
        sign_publication(HUB, statement(**change))
    assert caught.value.field == field


@pytest.mark.parametrize(("change", "field"), BROKEN)
def test_item_rules_when_verifying(change, field):
    assert refused(raw_signed(HUB, statement(**change))) == field


@pytest.mark.parametrize("field", ["title", "body_markdown", "published", "updated", "status"])
def test_required_members(field):
    value = publication_statement()
    del value[field]
    assert refused(raw_signed(HUB, value)) == f"statement.{field}"


@pytest.mark.parametrize(
    "change",
    [
        {"item_kind": "event", "event": EVENT},
        {"item_kind": "event", "event": {"starts": NOW, "ends": NOW}},  # ends == starts
        {"item_kind": "event", "event": {"starts": NOW}},
        {"updated": NOW},  # == published
        {"status": "retracted", "reason": "Published by mistake.", "revision": 2},
        {"status": "retracted"},  # a retraction may omit its reason
        {"item_kind": "resource", "file": FILE},
        {"item_kind": "resource"},  # and a resource its file
        {"credit": {"organisation_id": "org-alba", "organisation_name": "Asociația Alba"}},
        {"audience": "public", "topics": [], "countries": ["RO", "IT", "DE"]},
        {"body_markdown": "x" * 1_500_000},
    ],
)
def test_valid_variations_round_trip(change):
    value = statement(**change)
    document = sign_publication(HUB, value)
    assert verify_publication(HUB_RECORD, document).statement == value
    assert check_publication(copy.deepcopy(value)) == value


def test_check_item_names_the_path():
    assert check_item(item()) == item()
    with pytest.raises(ValidationError) as caught:
        check_item(item(item_kind="event"), "draft")
    assert caught.value.field == "draft.event"
    with pytest.raises(ValidationError) as caught:
        check_item(item(publisher="ponte-hub"))
    assert caught.value.field == "item.publisher"


def test_newsletter_payload_is_one_signed_publication():
    payload = newsletter()
    validate_payload(Kind.NEWSLETTER, payload)
    assert verify_publication(HUB_RECORD, payload).statement["audience"] == "members"
    with pytest.raises(ValidationError):  # a bare statement is not the payload
        validate_payload(Kind.NEWSLETTER, payload["statement"])


def test_newsletter_envelope_from_the_hub_verifies_end_to_end():
    """The hub seals a members-only item to a node; the node opens the envelope, checks the
    sender is the hub and verifies the statement with the pinned hub key (SPEC 7.3)."""
    envelope = seal(HUB, BOB.public_record(), Kind.NEWSLETTER, newsletter(), now=NOW)
    opened = open_envelope(
        envelope.to_wire(),
        BOB,
        lambda node_id: [HUB_RECORD] if node_id == HUB.node_id else [],
        MemorySeenIds(),
        now=NOW,
    )
    assert opened.header.sender == HUB_RECORD.node_id
    assert verify_publication(HUB_RECORD, opened.payload).item_id == "alba-2026-01"


def test_a_well_formed_but_forged_newsletter_passes_the_envelope_but_not_the_hub_key():
    """Check 16 validates the shape only: the statement signature is the node's check."""
    forged = raw_signed(ALICE, publication_statement())
    validate_payload(Kind.NEWSLETTER, forged)
    with pytest.raises(SignatureError):
        verify_publication(HUB_RECORD, forged)


# --------------------------------------------------------------------------- contributions


def test_contribution_round_trip():
    document = contribution()
    received = verify_contribution(ALICE.public_record(), document)
    assert received.item == item()
    assert received.statement == {
        "node_id": ALICE.node_id,
        "organisation_id": "org-alba",
        "contribution_id": "alba-0001",
        "submitted_at": NOW,
        "item": item(),
    }
    assert received.signature == b64url_decode(document["signature"], length=64)
    again = parse_json(canonical_json(document))
    assert verify_contribution(ALICE.public_record(), again).item == item()


@pytest.mark.parametrize("kind", CONTRIBUTION_KINDS)
def test_every_member_kind_can_be_proposed(kind):
    extra = {"event": {"starts": NOW + 86_400}} if kind == "event" else {}
    document = contribution(item_kind=kind, **extra)
    assert verify_contribution(ALICE.public_record(), document).item["item_kind"] == kind


def test_a_contribution_signed_by_another_node_is_refused():
    statement_ = contribution()["statement"]
    with pytest.raises(SignatureError):
        verify_contribution(ALICE.public_record(), raw_signed(BOB, statement_, "contribution"))


def test_a_contribution_from_another_node_id_is_refused():
    """BOB's genuine contribution, presented as coming from ALICE (the token's node)."""
    document = contribution(BOB)
    field = refused(document, ALICE.public_record(), verify_contribution)
    assert field == "statement.node_id"
    assert verify_contribution(BOB.public_record(), document).statement["node_id"] == BOB.node_id


def test_a_contribution_is_not_a_publication_and_back():
    document = contribution()
    with pytest.raises(ProtocolError):
        verify_publication(HUB_RECORD, document)
    as_publication = raw_signed(ALICE, document["statement"], CONTEXT)
    with pytest.raises(SignatureError):
        verify_contribution(ALICE.public_record(), as_publication)


@pytest.mark.parametrize("kind", sorted(set(ITEM_KINDS) - set(CONTRIBUTION_KINDS)))
def test_kinds_reserved_to_the_secretariat_are_refused(kind):
    with pytest.raises(ValidationError) as caught:
        contribution(item_kind=kind)
    assert caught.value.field == "statement.item.item_kind"
    value = {**contribution()["statement"], "item": item(item_kind=kind)}
    document = raw_signed(ALICE, value, CONTRIBUTION_CONTEXT)
    field = refused(document, ALICE.public_record(), verify_contribution)
    assert field == "statement.item.item_kind"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"item": item(item_kind="event")}, "statement.item.event"),
        ({"item": item(event={"starts": NOW})}, "statement.item.event"),
        (
            {"item": item(item_kind="event", event={"starts": NOW, "ends": NOW - 1})},
            "statement.item.event.ends",
        ),
        ({"item": item(author="Ioana Marin")}, "statement.item.author"),
        ({"item": item(status="published")}, "statement.item.status"),
        ({"item": "a news item"}, "statement.item"),
        ({"organisation_id": "org alba"}, "statement.organisation_id"),
        ({"contribution_id": "alba/1"}, "statement.contribution_id"),
        ({"submitted_at": -1}, "statement.submitted_at"),
        ({"submitted_at": True}, "statement.submitted_at"),
        ({"reason": "please"}, "statement.reason"),
    ],
)
def test_contribution_rules(change, field):
    value = {**contribution()["statement"], **change}
    document = raw_signed(ALICE, value, CONTRIBUTION_CONTEXT)
    assert refused(document, ALICE.public_record(), verify_contribution) == field


def test_contribution_without_a_required_member_is_refused():
    for name in ("organisation_id", "contribution_id", "submitted_at", "item"):
        value = {k: v for k, v in contribution()["statement"].items() if k != name}
        document = raw_signed(ALICE, value, CONTRIBUTION_CONTEXT)
        assert refused(document, ALICE.public_record(), verify_contribution) == f"statement.{name}"


def test_the_time_window_is_the_hubs_check_not_the_libraries():
    """SPEC 4.6: the hub compares submitted_at with its clock (and contribution_id with the
    ones it holds); the signature check itself takes any timestamp."""
    assert SUBMISSION_WINDOW == 600
    old = sign_contribution(ALICE, "org-alba", "alba-0002", item(), 0)
    assert verify_contribution(ALICE.public_record(), old).statement["submitted_at"] == 0


# --------------------------------------------------------------------------- hostile input


def accept_or_refuse(document):
    """Whatever the input, each verifier returns or raises a ProtocolError, nothing else
    (SPEC: callers catch one type); any other exception fails the test."""
    with contextlib.suppress(ProtocolError):
        verify_publication(HUB_RECORD, document)
    with contextlib.suppress(ProtocolError):
        verify_contribution(ALICE.public_record(), document)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, loose_values))
def test_random_json_raises_only_protocol_errors(value):
    accept_or_refuse(value)


def _near(valid, values):
    """A valid statement with some members replaced or added (or an unrelated object)."""
    changes = st.dictionaries(st.sampled_from([*sorted(valid), "x"]), values, max_size=4)
    return st.one_of(
        st.builds(lambda changes: {**valid, **changes}, changes),
        st.dictionaries(st.sampled_from(sorted(valid)), values),
    )


signature_text = st.binary(min_size=64, max_size=64).map(b64url_encode)
documents = st.fixed_dictionaries(
    {
        "statement": st.one_of(
            _near(publication_statement(), loose_values),
            _near(contribution()["statement"], loose_values),
        ),
        "signature": st.one_of(signature_text, loose_values),
    }
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_document_shaped_random_input_raises_only_protocol_errors(document):
    accept_or_refuse(document)


PUBLICATION_KEYS = [*sorted(publication_statement()), "event", "file", "credit", "reason", "x"]
CONTRIBUTION_KEYS = ["node_id", "organisation_id", "contribution_id", "submitted_at", "item", "x"]


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(PUBLICATION_KEYS), json_values, max_size=4),
    st.dictionaries(st.sampled_from([*sorted(item()), "event", "x"]), json_values, max_size=3),
    st.dictionaries(st.sampled_from(CONTRIBUTION_KEYS), json_values, max_size=2),
)
def test_signed_random_statements_raise_only_protocol_errors(changes, item_changes, outer):
    """Well-signed by the right key, so every field rule is reached: each statement is either
    accepted, and then passes the checks again, or refused with a ProtocolError."""
    value = {**publication_statement(), **changes}
    value.update(publisher=HUB.node_id, key_version=1)
    try:
        accepted = verify_publication(HUB_RECORD, raw_signed(HUB, value))
    except ProtocolError:
        pass
    else:
        assert check_publication(accepted.statement) == value
    proposal = {**contribution()["statement"], "item": {**item(), **item_changes}, **outer}
    proposal["node_id"] = ALICE.node_id
    try:
        received = verify_contribution(
            ALICE.public_record(), raw_signed(ALICE, proposal, CONTRIBUTION_CONTEXT)
        )
    except ProtocolError:
        pass
    else:
        assert received.item["item_kind"] in CONTRIBUTION_KINDS


# --------------------------------------------------------------------------- vectors


def _vectors():
    return json.loads((VECTORS_DIR / "publications.json").read_text(encoding="utf-8"))


def _node(vector):
    return NodeIdentity(
        vector["node_id"],
        bytes.fromhex(vector["sign_seed_hex"]),
        bytes.fromhex(vector["box_secret_hex"]),
        vector["created"],
        vector["expires"],
        vector["key_version"],
    )


VECTORS = _vectors()
VECTOR_HUB = _node(VECTORS["hub"]).public_record()
VECTOR_NODES = {
    vector["node_id"]: _node(vector).public_record()
    for vector in json.loads((VECTORS_DIR / "keys.json").read_text(encoding="utf-8"))["nodes"]
    if vector.get("name") != "impostor"
}


def _outcome(verify, record, document):
    try:
        verify(record, document)
    except SignatureError:
        return ("bad_signature", None)
    except ValidationError as error:
        return ("invalid", error.field)
    return ("accepted", None)


@pytest.mark.parametrize(
    "case",
    VECTORS["publications"]["positive"] + VECTORS["publications"]["negative"],
    ids=lambda case: case["name"],
)
def test_publication_vectors(case):
    expected = (case.get("reason", "accepted"), case.get("field"))
    assert _outcome(verify_publication, VECTOR_HUB, case["document"]) == expected


@pytest.mark.parametrize(
    "case",
    VECTORS["contributions"]["positive"] + VECTORS["contributions"]["negative"],
    ids=lambda case: case["name"],
)
def test_contribution_vectors(case):
    expected = (case.get("reason", "accepted"), case.get("field"))
    record = VECTOR_NODES[case["node"]]
    assert _outcome(verify_contribution, record, case["document"]) == expected
