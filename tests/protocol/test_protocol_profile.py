"""Directory updates signed by a node (context directory-update, SPEC.md 4.5)."""

import copy

import pytest

from protocol import (
    NodeIdentity,
    ProtocolError,
    SignatureError,
    ValidationError,
    b64url_encode,
    profile_update,
    sign_statement,
    verify_profile_update,
)
from protocol.profile import CHANGE_FIELDS, CONTEXT, check_changes

NOW = 1_790_000_000
NODE = NodeIdentity.generate("node-abc", now=NOW - 10)
SERVICE = {
    "term": "shelter",
    "name": "Safe house",
    "open_24_7": True,
    "wait_time": None,
    "eligibility": "Adult women",
}
EVERYTHING = {
    "services": [SERVICE, {**SERVICE, "term": "legal", "name": "Legal aid", "open_24_7": None}],
    "languages": ["ro", "en"],
    "interpreters_available": None,
    "email": "info@ngo.example",
    "website": "https://ngo.example/",
    "phones": [{"number": "+40 21 123 45 67", "type": "voice"}, {"number": "021 1", "type": "fax"}],
    "description": "Shelter and legal aid in Bucharest.",
}


def update(changes=None, identity=NODE):
    return profile_update(identity, "org-1", EVERYTHING if changes is None else changes, NOW)


def test_round_trip():
    result = verify_profile_update(NODE.public_record(), update())
    assert (result.node_id, result.organisation_id, result.submitted_at) == (
        "node-abc",
        "org-1",
        NOW,
    )
    assert result.changes == EVERYTHING
    assert set(EVERYTHING) == set(CHANGE_FIELDS)


def test_every_member_is_optional_but_one_is_needed():
    for name, value in EVERYTHING.items():
        assert verify_profile_update(NODE.public_record(), update({name: value})).changes == {
            name: value
        }
    with pytest.raises(ValidationError, match="at least one"):
        update({})


@pytest.mark.parametrize("name", ["interpreters_available", "email", "website", "description"])
def test_null_clears_a_value(name):
    assert verify_profile_update(NODE.public_record(), update({name: None})).changes[name] is None


def test_another_key_does_not_verify():
    impostor = NodeIdentity.generate("node-abc", now=NOW - 10)
    with pytest.raises(SignatureError):
        verify_profile_update(NODE.public_record(), update(identity=impostor))


def test_a_signature_made_for_another_purpose_does_not_verify():
    document = update()
    other = sign_statement(NODE.signing_key, "key-attestation", document["statement"])
    with pytest.raises(SignatureError):
        verify_profile_update(NODE.public_record(), {**document, "signature": b64url_encode(other)})


def test_a_statement_for_another_node_id_is_refused():
    other = NodeIdentity.generate("node-xyz", now=NOW - 10)
    with pytest.raises(ValidationError, match=r"statement\.node_id"):
        verify_profile_update(NODE.public_record(), update(identity=other))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("organisation_id",), "org-2"),
        (("submitted_at",), NOW + 1),
        (("changes", "languages", 0), "it"),
        (("changes", "services", 0, "open_24_7"), False),
        (("changes", "phones", 1, "type"), "voice"),
    ],
)
def test_any_change_breaks_the_signature(path, value):
    document = copy.deepcopy(update())
    target = document["statement"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SignatureError):
        verify_profile_update(NODE.public_record(), document)


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        {"statement": {}, "signature": ""},
        {**update(), "extra": 1},
        {"statement": {**update()["statement"], "extra": 1}, "signature": update()["signature"]},
        {"statement": update()["statement"], "signature": "not base64url!"},
        {"statement": update()["statement"], "signature": b64url_encode(b"short")},
    ],
)
def test_malformed_documents_raise_protocol_errors(document):
    with pytest.raises(ProtocolError):
        verify_profile_update(NODE.public_record(), document)


def test_values_canonical_json_cannot_hold_are_validation_errors():
    statement = {**update()["statement"], "submitted_at": NOW + 0.5}
    document = {"statement": statement, "signature": update()["signature"]}
    with pytest.raises(ValidationError, match="canonical JSON"):
        verify_profile_update(NODE.public_record(), document)


def _signed(changes):
    statement = {**update()["statement"], "changes": changes}
    signature = sign_statement(NODE.signing_key, CONTEXT, statement)
    return {"statement": statement, "signature": b64url_encode(signature)}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ("services", "changes"),
        ({"hours": "9-17"}, "changes.hours"),
        ({"services": {}}, "changes.services"),
        ({"services": [SERVICE] * 2}, "changes.services"),
        ({"services": [{**SERVICE, "name": "  "}]}, "changes.services[0].name"),
        ({"services": [{**SERVICE, "name": "x" * 301}]}, "changes.services[0].name"),
        ({"services": [{**SERVICE, "term": "Shelter"}]}, "changes.services[0].term"),
        ({"services": [{**SERVICE, "open_24_7": "yes"}]}, "changes.services[0].open_24_7"),
        ({"services": [{**SERVICE, "wait_time": 3}]}, "changes.services[0].wait_time"),
        ({"services": [{**SERVICE, "eligibility": ""}]}, "changes.services[0].eligibility"),
        ({"services": [{**SERVICE, "areas": ["RO"]}]}, "changes.services[0].areas"),
        (
            {"services": [{k: v for k, v in SERVICE.items() if k != "wait_time"}]},
            "changes.services[0].wait_time",
        ),
        (
            {"services": [SERVICE, {**SERVICE, "name": " SAFE house", "term": "legal"}]},
            "changes.services[1].name",
        ),
        (
            {"services": [SERVICE] + [{**SERVICE, "name": str(n)} for n in range(50)]},
            "changes.services",
        ),
        ({"languages": ["ro", "RO"]}, "changes.languages[1]"),
        ({"languages": ["ron"]}, "changes.languages[0]"),
        ({"languages": ["ro", "ro"]}, "changes.languages"),
        ({"languages": None}, "changes.languages"),
        ({"interpreters_available": "yes"}, "changes.interpreters_available"),
        ({"email": "two@at@signs"}, "changes.email"),
        ({"email": ""}, "changes.email"),
        ({"website": "ftp://ngo.example"}, "changes.website"),
        ({"website": "https://ngo.example/" + "a" * 500}, "changes.website"),
        ({"phones": [{"number": "call us", "type": "voice"}]}, "changes.phones[0].number"),
        ({"phones": [{"number": "0800 123", "type": "pager"}]}, "changes.phones[0].type"),
        ({"phones": [{"number": "0800 123"}]}, "changes.phones[0].type"),
        ({"description": "x" * 4001}, "changes.description"),
        ({"description": 42}, "changes.description"),
    ],
)
def test_malformed_changes_name_the_field(changes, field):
    with pytest.raises(ValidationError) as refused:
        verify_profile_update(NODE.public_record(), _signed(changes))
    assert refused.value.field == field
    with pytest.raises(ValidationError) as refused_to_sign:
        update(changes)
    assert refused_to_sign.value.field == field


def test_a_node_cannot_sign_for_an_organisation_id_with_spaces_or_a_bad_time():
    with pytest.raises(ValidationError, match="organisation_id"):
        profile_update(NODE, "org 1", {"languages": []}, NOW)
    with pytest.raises(ValidationError, match="submitted_at"):
        profile_update(NODE, "org-1", {"languages": []}, -1)


def test_check_changes_returns_what_it_was_given():
    assert check_changes(EVERYTHING) is EVERYTHING
