"""Canonical JSON (RFC 8785 for integers only) and strict base64url."""

import base64
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_testkit import json_values, unicode_chars

from protocol import EncodingError, b64url_decode, b64url_encode, canonical_json, parse_json
from protocol.canonical import MAX_DEPTH, MAX_SAFE_INTEGER


@settings(deadline=None, max_examples=300)
@given(json_values)
def test_canonical_json_agrees_with_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(deadline=None, max_examples=300)
@given(json_values)
def test_parse_json_inverts_canonical_json(value):
    assert parse_json(canonical_json(value)) == value


@settings(deadline=None, max_examples=200)
@given(st.dictionaries(st.text(unicode_chars, max_size=4), st.integers(0, 9), max_size=8))
def test_key_order_is_by_utf16_code_units_like_rfc8785(value):
    # Keys mixing BMP characters above U+D800 and astral characters sort differently by code
    # point and by UTF-16 code unit; RFC 8785 wants UTF-16.
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(deadline=None, max_examples=200)
@given(json_values)
def test_any_formatting_parses_to_the_same_value(value):
    pretty = json.dumps(value, indent=2, ensure_ascii=True).encode("ascii")
    assert parse_json(pretty) == value
    assert canonical_json(parse_json(pretty)) == canonical_json(value)


def test_known_canonical_forms():
    assert canonical_json({"b": 1, "a": 2, "aa": 3, "A": 4}) == b'{"A":4,"a":2,"aa":3,"b":1}'
    # Astral U+1F600 is D83D DE00 in UTF-16 and sorts before U+FB33 (code point order would
    # put it after).
    assert canonical_json({"\ufb33": 1, "\U0001f600": 2}) == (
        '{"\U0001f600":2,"\ufb33":1}'.encode()
    )
    assert canonical_json('\x01\x1f\x7f\t"\\é') == b'"\\u0001\\u001f\x7f\\t\\"\\\\\xc3\xa9"'
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0]) == (
        b"[9007199254740991,-9007199254740991,0]"
    )
    assert canonical_json(None) == b"null"
    assert canonical_json([True, False]) == b"[true,false]"
    assert parse_json(b"-0") == 0


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        float("nan"),
        float("inf"),
        MAX_SAFE_INTEGER + 1,
        -MAX_SAFE_INTEGER - 1,
        2**64,
        "\ud800",
        {"\udfff": 1},
        {1: "non-string key"},
        {b"bytes": 1},
        b"bytes",
        {1, 2},
        object(),
    ],
)
def test_canonical_json_rejects_what_json_cannot_say(value):
    with pytest.raises(EncodingError):
        canonical_json(value)


@pytest.mark.parametrize(
    "data",
    [
        b"1.0",
        b"1e3",
        b"[0.5]",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"9007199254740992",
        b"-9007199254740992",
        b"1" * 5000,
        b'{"a":1,"a":2}',
        b'"\\ud800"',
        b'{"\\udc00":1}',
        b"\xff\xfe",
        b"\xef\xbb\xbf{}",
        b"",
        b"{",
        b"[1,]",
        b"{'a':1}",
        b"[" * 100_000,
        b"[" * 40 + b"]" * 40,
        "{}",
        None,
    ],
)
def test_parse_json_rejects_non_protocol_json(data):
    with pytest.raises(EncodingError):
        parse_json(data)


@pytest.mark.parametrize("depth", range(MAX_DEPTH - 2, MAX_DEPTH + 3))
def test_depth_limit_is_the_same_for_encoder_and_parser(depth):
    value = 0
    for _ in range(depth):
        value = [value]
    try:
        encoded = canonical_json(value)
    except EncodingError:
        encodable = False
    else:
        encodable = True
    try:
        parse_json(json.dumps(value).encode())
    except EncodingError:
        parseable = False
    else:
        parseable = True
    assert encodable == parseable
    assert encodable == (depth <= MAX_DEPTH)
    if encodable:
        assert parse_json(encoded) == value


@settings(deadline=None, max_examples=500)
@given(st.binary(max_size=200) | st.text(max_size=60).map(lambda t: t.encode("utf-8", "replace")))
def test_parse_json_on_random_bytes_raises_only_encoding_error(data):
    try:
        value = parse_json(data)
    except EncodingError:
        return
    # Whatever parses is a protocol value: it re-encodes canonically and round-trips.
    assert parse_json(canonical_json(value)) == value


# --------------------------------------------------------------------------- base64url


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=100))
def test_b64url_round_trip(data):
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data
    assert b64url_decode(text, length=len(data)) == data


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_NOT_PLUS_OR_SLASH = st.characters(blacklist_characters="+/", blacklist_categories=("Cs",))


@settings(deadline=None, max_examples=500)
@given(
    st.text(alphabet=_B64URL + "= \n\t.", max_size=30)
    | st.text(_NOT_PLUS_OR_SLASH, max_size=30)
    | st.binary(max_size=30)
    | st.integers()
    | st.none()
)
def test_b64url_decode_accepts_only_the_canonical_spelling(text):
    try:
        data = b64url_decode(text)
    except EncodingError:
        return
    assert b64url_encode(data) == text


@pytest.mark.parametrize(
    "text",
    [
        "AA==",  # padded
        "AB",  # stray trailing bits (canonical is "AA")
        "AAB",  # stray trailing bits (canonical is "AAA")
        "A",  # impossible length
        "AAAAA",
        "AA A",
        "AA\n",
        "AA.A",
        "ÀÀÀÀ",
        b"AAAA",
        None,
        22,
    ],
)
def test_b64url_decode_rejects_non_canonical_spellings(text):
    with pytest.raises(EncodingError):
        b64url_decode(text)


@pytest.mark.parametrize("text", ["+/8A", "AAA+", "AA/A", "_/__"])
def test_b64url_decode_rejects_the_standard_alphabet(text):
    with pytest.raises(EncodingError):
        b64url_decode(text)


@pytest.mark.parametrize("text", ["0/", "0+", "AA/", "AA+", "A" * 21 + "/"])
def test_b64url_decode_with_plus_or_slash_last_raises_encoding_error(text):
    with pytest.raises(EncodingError):
        b64url_decode(text)


def test_b64url_decode_checks_length():
    text = b64url_encode(bytes(16))
    assert b64url_decode(text, length=16) == bytes(16)
    with pytest.raises(EncodingError, match="expected 32 bytes, got 16"):
        b64url_decode(text, length=32)


def test_b64url_matches_the_standard_library():
    data = bytes(range(256))
    assert b64url_encode(data) == base64.urlsafe_b64encode(data).decode().rstrip("=")
