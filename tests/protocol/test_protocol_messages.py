"""Message kinds and payload rules (referral, referral_update, newsletter, receipt)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_testkit import (
    deep_copy,
    json_values,
    minor_referral,
    newsletter,
    receipt,
    referral,
    referral_update,
    return_referral,
    valid_referrals,
)

from protocol import Kind, ValidationError, b64url_encode, encrypt_attachment, validate_payload

VALID = {
    Kind.REFERRAL: referral,
    Kind.REFERRAL_UPDATE: referral_update,
    Kind.NEWSLETTER: newsletter,
    Kind.RECEIPT: receipt,
}


def rejected(kind, payload):
    with pytest.raises(ValidationError) as caught:
        validate_payload(kind, payload)
    return caught.value


@pytest.mark.parametrize("kind", list(Kind))
def test_valid_examples_of_every_kind_pass(kind):
    validate_payload(kind, VALID[kind]())
    validate_payload(kind.value, VALID[kind]())


@pytest.mark.parametrize("payload", [minor_referral(), return_referral()])
def test_valid_special_referrals_pass(payload):
    validate_payload(Kind.REFERRAL, payload)


@settings(deadline=None, max_examples=60)
@given(valid_referrals())
def test_generated_valid_referrals_pass(payload):
    validate_payload(Kind.REFERRAL, payload)


@pytest.mark.parametrize("kind", ["", "Referral", "referrals", "newsletter ", None, 1, [], {}])
def test_unknown_kind_is_rejected(kind):
    assert rejected(kind, receipt()).field == "kind"


# --------------------------------------------------------------------------- identity of the person


def test_case_code_or_initials_is_required():
    payload = referral()
    del payload["person"]["case_code"]
    error = rejected(Kind.REFERRAL, payload)
    assert error.field == "person.case_code"
    payload["person"]["initials"] = "M.P."
    validate_payload(Kind.REFERRAL, payload)


@pytest.mark.parametrize(
    "initials",
    [
        "Maria Popescu",
        "Maria",
        "Popescu",
        "M. Popescu",
        "Maria P.",
        "M.K.L.P.Q.",
        "ABCDE",
        "M1",
        "A1",
        "Ana",  # a short name is not initials (SPEC 7.1 initials rule (b))
        "Ion",
        "Li Na",
        "Mk",
        "ab",
        ".",
        "M_K",
        "M-K",
        "   ",
        "M.K.          ",  # 14 characters
    ],
)
def test_a_name_is_not_initials(initials):
    payload = referral()
    payload["person"]["initials"] = initials
    assert rejected(Kind.REFERRAL, payload).field == "person.initials"


@pytest.mark.parametrize(
    "initials", ["M.P.", "MP", "M. P.", "m. k.", "M. K. ", "É.Ş.", "ЖК", "A", "ნ.ბ.", "M.Ț.", "a b"]
)
def test_real_initials_pass(initials):
    payload = referral()
    del payload["person"]["case_code"]
    payload["person"]["initials"] = initials
    validate_payload(Kind.REFERRAL, payload)


@pytest.mark.parametrize(
    "case_code", ["MariaPopescu", "Maria-Popescu", "ABC", "RO 2026 014", "R", "-2026", "x" * 41]
)
def test_bad_case_codes_are_rejected(case_code):
    payload = referral()
    payload["person"]["case_code"] = case_code
    assert rejected(Kind.REFERRAL, payload).field == "person.case_code"


@pytest.mark.parametrize("case_code", ["RO-2026-014", "IT/25/7", "a1", "CASE_0001.b"])
def test_good_case_codes_pass(case_code):
    payload = referral()
    payload["person"]["case_code"] = case_code
    validate_payload(Kind.REFERRAL, payload)


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("person", "full_name"),
        ("person", "date_of_birth"),
        ("person", "address"),
        ("consent", "signature_image"),
        ("sender_contact", "home_address"),
        (None, "full_name"),
    ],
)
def test_unknown_fields_are_rejected_naming_their_path(section, field):
    payload = referral()
    target = payload[section] if section else payload
    target[field] = "Maria Popescu"
    expected = f"{section}.{field}" if section else field
    assert rejected(Kind.REFERRAL, payload).field == expected


def test_nested_unknown_field_path():
    payload = referral(case={"summary": "x", "victim_name": "Maria Popescu"})
    assert rejected(Kind.REFERRAL, payload).field == "case.victim_name"
    payload = referral()
    payload["person"]["guardian"] = {"appointed": True, "name": "Ion Popescu"}
    assert rejected(Kind.REFERRAL, payload).field == "person.guardian.name"


# --------------------------------------------------------------------------- consent


@pytest.mark.parametrize("given_value", [False, None, "true", 1])
def test_consent_must_be_given(given_value):
    payload = referral()
    payload["consent"]["given"] = given_value
    assert rejected(Kind.REFERRAL, payload).field == "consent.given"


def test_consent_scope_must_include_sharing_with_the_recipient():
    payload = referral()
    payload["consent"]["scope"] = ["contact_family", "contact_authorities"]
    error = rejected(Kind.REFERRAL, payload)
    assert error.field == "consent.scope"
    assert "recipient" in error.problem


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ([], "consent.scope"),
        (["share_with_recipient", "share_with_recipient"], "consent.scope"),
        (["share_with_recipient", "sell_data"], "consent.scope[1]"),
        ("share_with_recipient", "consent.scope"),
    ],
)
def test_consent_scope_shape(scope, field):
    payload = referral()
    payload["consent"]["scope"] = scope
    assert rejected(Kind.REFERRAL, payload).field == field


@pytest.mark.parametrize("date", ["2026-02-30", "10/01/2026", "2026-1-10", "", 20260110])
def test_consent_date_must_be_a_real_date(date):
    payload = referral()
    payload["consent"]["date"] = date
    assert rejected(Kind.REFERRAL, payload).field == "consent.date"


# --------------------------------------------------------------------------- minors and returns


def test_a_minor_needs_a_guardian_statement():
    payload = minor_referral()
    del payload["person"]["guardian"]
    assert rejected(Kind.REFERRAL, payload).field == "person.guardian"
    payload["person"]["guardian"] = {"appointed": False}  # saying "none yet" is enough
    validate_payload(Kind.REFERRAL, payload)


@pytest.mark.parametrize("band", ["0-11", "12-15", "16-17"])
def test_a_minor_age_band_must_be_flagged_minor(band):
    payload = referral()
    payload["person"]["age_band"] = band
    assert rejected(Kind.REFERRAL, payload).field == "person.minor"


@pytest.mark.parametrize("band", ["18-24", "25-34", "65+"])
def test_a_minor_cannot_have_an_adult_age_band(band):
    payload = minor_referral()
    payload["person"]["age_band"] = band
    assert rejected(Kind.REFERRAL, payload).field == "person.age_band"


def test_a_minor_of_unknown_age_band_passes():
    payload = minor_referral()
    payload["person"]["age_band"] = "unknown"
    validate_payload(Kind.REFERRAL, payload)


def test_assisted_voluntary_return_needs_a_risk_assessment():
    payload = return_referral()
    del payload["risk_assessment"]
    assert rejected(Kind.REFERRAL, payload).field == "risk_assessment"
    payload["request_type"] = "shelter"  # other requests do not
    validate_payload(Kind.REFERRAL, payload)


def test_risk_assessment_fields_are_checked():
    payload = return_referral()
    payload["risk_assessment"]["level"] = "extreme"
    assert rejected(Kind.REFERRAL, payload).field == "risk_assessment.level"
    payload = return_referral()
    del payload["risk_assessment"]["summary"]
    assert rejected(Kind.REFERRAL, payload).field == "risk_assessment.summary"


# --------------------------------------------------------------------------- field shapes


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("request_type",), "deportation", "request_type"),
        (("urgency",), "asap", "urgency"),
        (("person", "gender"), "F", "person.gender"),
        (("person", "minor"), "no", "person.minor"),
        (("person", "nationality"), "ro", "person.nationality"),
        (("person", "nationality"), "ROU", "person.nationality"),
        (("person", "languages"), ["ro", "ro"], "person.languages"),
        (("person", "languages"), ["Romanian"], "person.languages[0]"),
        (("sender_contact", "email"), "not an email", "sender_contact.email"),
        (("sender_contact", "phone"), "call me", "sender_contact.phone"),
        (("sender_contact", "name"), "   ", "sender_contact.name"),
        (("sender_contact", "name"), "x" * 201, "sender_contact.name"),
        (("sender_contact",), "Ioana", "sender_contact"),
        (("restricted_notes",), "x" * 100_001, "restricted_notes"),
        (("restricted_notes",), "", "restricted_notes"),
        (("requested_by",), "soon", "requested_by"),
        (
            ("follow_up",),
            {"schedule": "monthly", "duration_months": 0},
            "follow_up.duration_months",
        ),
        (
            ("follow_up",),
            {"schedule": "monthly", "duration_months": True},
            "follow_up.duration_months",
        ),
        (("attachments",), [{"id": "x"}], "attachments[0].id"),
    ],
)
def test_field_rules_name_the_dotted_path(path, value, field):
    payload = referral()
    target = payload
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    error = rejected(Kind.REFERRAL, payload)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "missing", ["request_type", "urgency", "sender_contact", "person", "consent"]
)
def test_required_referral_fields(missing):
    payload = referral()
    del payload[missing]
    assert rejected(Kind.REFERRAL, payload).field == missing


def test_restricted_notes_may_be_long():
    validate_payload(Kind.REFERRAL, referral(restricted_notes="x" * 100_000))


def test_attachment_references_from_encrypt_attachment_are_valid():
    reference, _ = encrypt_attachment(b"scan", "passport.pdf", "application/pdf")
    validate_payload(Kind.REFERRAL, referral(attachments=[reference]))
    validate_payload(Kind.REFERRAL_UPDATE, {"message": "see file", "attachments": [reference]})
    bad = {**reference, "key": b64url_encode(bytes(16))}
    assert rejected(Kind.REFERRAL, referral(attachments=[bad])).field == "attachments[0].key"


# --------------------------------------------------------------------------- other kinds


def test_referral_update_needs_status_or_message():
    assert rejected(Kind.REFERRAL_UPDATE, {}).field == "status"
    assert rejected(Kind.REFERRAL_UPDATE, {"reason": "because"}).field == "status"
    validate_payload(Kind.REFERRAL_UPDATE, {"status": "declined", "reason": "no capacity"})
    validate_payload(Kind.REFERRAL_UPDATE, {"message": "hello"})
    assert rejected(Kind.REFERRAL_UPDATE, {"status": "lost"}).field == "status"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"item_kind": "gossip"}, "item_kind"),
        ({"language": "English"}, "language"),
        ({"published": -1}, "published"),
        ({"published": 2**53}, "published"),
        ({"url": "ftp://x"}, "url"),
        ({"countries": ["XXX"]}, "countries[0]"),
        ({"body_markdown": ""}, "body_markdown"),
        ({"body_markdown": "x" * 1_500_001}, "body_markdown"),
        ({"title": "t" * 301}, "title"),
        ({"author": "me"}, "author"),
    ],
)
def test_newsletter_rules(change, field):
    payload = newsletter()
    payload["statement"].update(change)
    assert rejected(Kind.NEWSLETTER, payload).field == f"statement.{field}"


def test_newsletter_body_may_be_a_megabyte_and_a_half():
    validate_payload(Kind.NEWSLETTER, newsletter("x" * 1_500_000))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "delivered"}, "message_id"),
        ({"message_id": b64url_encode(bytes(15)), "status": "delivered"}, "message_id"),
        ({"message_id": b64url_encode(bytes(16)), "status": "read"}, "status"),
        (
            {"message_id": b64url_encode(bytes(16)), "status": "rejected", "reason": "r" * 101},
            "reason",
        ),
    ],
)
def test_receipt_rules(payload, field):
    assert rejected(Kind.RECEIPT, payload).field == field


@pytest.mark.parametrize("payload", [None, [], "referral", 5, True])
@pytest.mark.parametrize("kind", list(Kind))
def test_a_payload_must_be_an_object(kind, payload):
    assert rejected(kind, payload).field == "payload"


# --------------------------------------------------------------------------- fuzzing


@settings(deadline=None, max_examples=100)
@given(st.sampled_from(list(Kind)), json_values)
def test_random_json_raises_only_validation_error(kind, value):
    try:
        validate_payload(kind, value)
    except ValidationError as error:
        assert isinstance(error.field, str)
        assert str(error) == f"{error.field}: {error.problem}"
        return
    # Random values pass only for kinds whose required fields they happen to supply.
    assert isinstance(value, dict)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    value = deep_copy(value)
    target = value
    for step in path[:-1]:
        target = target[step]
    if new is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return value


_DELETE = object()


@settings(deadline=None, max_examples=300)
@given(
    st.sampled_from(
        [(k, f) for k, f in VALID.items()]
        + [(Kind.REFERRAL, minor_referral), (Kind.REFERRAL, return_referral)]
    ),
    st.data(),
)
def test_valid_payload_with_one_part_replaced_raises_only_validation_error(example, data):
    kind, build = example
    payload = build()
    path = data.draw(st.sampled_from(list(_paths(payload))))
    new = data.draw(json_values | st.just(_DELETE)) if path else data.draw(json_values)
    mutated = _replace(payload, path, new)
    try:
        validate_payload(kind, mutated)
    except ValidationError as error:
        assert isinstance(error.field, str)
        assert str(error) == f"{error.field}: {error.problem}"


def test_initials_typed_with_combining_accents_are_accepted():
    from protocol.messages import initials

    initials("A\u0301.B.", "person.initials")  # "Á.B." as some keyboards type it
    with pytest.raises(ValidationError):
        initials("A\u0301na", "person.initials")
