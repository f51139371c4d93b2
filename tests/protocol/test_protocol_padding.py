"""ISO/IEC 7816-4 padding to power-of-two buckets."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import EncodingError
from protocol.padding import (
    MAX_ATTACHMENT_BUCKET,
    MAX_ENVELOPE_BUCKET,
    MIN_BUCKET,
    bucket_size,
    is_bucket_size,
    pad,
    unpad,
)


def is_power_of_two(n):
    return n > 0 and n & (n - 1) == 0


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=5000) | st.integers(0, 70_000).map(lambda n: b"\x00" * n))
def test_pad_is_a_bucket_and_unpad_inverts_it(data):
    padded = pad(data)
    assert is_power_of_two(len(padded))
    assert len(padded) >= MIN_BUCKET
    assert len(padded) > len(data)
    # The smallest bucket: half of it would not hold the data and the marker.
    assert len(padded) == MIN_BUCKET or len(padded) // 2 < len(data) + 1
    assert padded[: len(data)] == data
    assert padded[len(data)] == 0x80
    assert not any(padded[len(data) + 1 :])
    assert unpad(padded) == data


@pytest.mark.parametrize(
    ("length", "bucket"),
    [
        (0, 1024),
        (1, 1024),
        (1023, 1024),
        (1024, 2048),
        (2047, 2048),
        (2048, 4096),
        (1024 * 1024, 2 * 1024 * 1024),
        (MAX_ENVELOPE_BUCKET - 1, MAX_ENVELOPE_BUCKET),
    ],
)
def test_bucket_boundaries(length, bucket):
    assert bucket_size(length) == bucket
    assert len(pad(bytes(length))) == bucket


def test_bucket_overflow_raises_encoding_error():
    with pytest.raises(EncodingError):
        bucket_size(MAX_ENVELOPE_BUCKET)
    with pytest.raises(EncodingError):
        pad(b"\x01" * MAX_ENVELOPE_BUCKET)
    # Attachments have a larger ceiling, but a ceiling all the same.
    assert bucket_size(MAX_ENVELOPE_BUCKET, MAX_ATTACHMENT_BUCKET) == 2 * MAX_ENVELOPE_BUCKET
    with pytest.raises(EncodingError):
        bucket_size(MAX_ATTACHMENT_BUCKET, MAX_ATTACHMENT_BUCKET)
    with pytest.raises(EncodingError):
        pad(b"x" * 2000, max_bucket=1024)


@pytest.mark.parametrize(
    "padded",
    [
        b"",
        b"\x80",
        b"\x80" + bytes(1022),  # 1023 bytes: not a bucket size
        b"\x80" + bytes(1024),  # 1025 bytes
        b"\x80" + bytes(1534),  # 1535 bytes
        bytes(1024),  # no marker at all
        b"data" + b"\x01" + bytes(1019),  # wrong marker
        b"x" * 1024,  # no padding at all
        b"data\x80" + bytes(1018) + b"\x01",  # non-zero after the marker
        b"data\x80\x00\x80" + bytes(1017),  # stray marker after the real one is data, so...
        pad(b"small") + bytes(1024),  # a valid marker, but not the smallest bucket
        b"x" * 1023 + b"\x80" + bytes(1024 * 3),  # 1023 bytes of content in 4096
        pad(b"x" * 2000, max_bucket=2**25) + bytes(2**21),  # beyond the 2 MiB default
    ],
)
def test_unpad_rejects_bad_padding(padded):
    if padded.startswith(b"data\x80\x00\x80"):
        # ...this one is valid: the last 0x80 is the marker, "data\x80\x00" is the data.
        assert unpad(padded) == b"data\x80\x00"
        return
    with pytest.raises(EncodingError):
        unpad(padded)


@settings(deadline=None, max_examples=400)
@given(
    st.binary(max_size=3000)
    | st.sampled_from([1024, 2048, 4096]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
    | st.builds(
        lambda data, index, value: _poke(pad(data), index, value),
        st.binary(max_size=1500),
        st.integers(0, 10_000),
        st.integers(0, 255),
    )
)
def test_unpad_on_any_bytes_raises_encoding_error_or_strips_a_valid_marker(padded):
    try:
        data = unpad(padded)
    except EncodingError:
        return
    # Accepted only if it is exactly what pad() makes of the data (SPEC 5.4: smallest bucket).
    assert pad(data) == padded


def test_unpad_takes_the_same_ceiling_as_pad():
    data = b"a" * MAX_ENVELOPE_BUCKET  # needs the next bucket up: an attachment, not a message
    padded = pad(data, MAX_ATTACHMENT_BUCKET)
    assert len(padded) == 2 * MAX_ENVELOPE_BUCKET
    assert unpad(padded, MAX_ATTACHMENT_BUCKET) == data
    with pytest.raises(EncodingError):
        unpad(padded)  # the envelope ceiling is the default
    assert unpad(pad(b"x" * 5000, MAX_ATTACHMENT_BUCKET), MAX_ATTACHMENT_BUCKET) == b"x" * 5000


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, False),
        (512, False),
        (1023, False),
        (1024, True),
        (1536, False),
        (2048, True),
        (MAX_ENVELOPE_BUCKET, True),
        (2 * MAX_ENVELOPE_BUCKET, False),
        (-1024, False),
    ],
)
def test_is_bucket_size(size, expected):
    assert is_bucket_size(size) is expected
    assert is_bucket_size(size, MAX_ATTACHMENT_BUCKET) is (
        expected or size in (2 * MAX_ENVELOPE_BUCKET,)
    )


def _poke(padded, index, value):
    index %= len(padded)
    return padded[:index] + bytes([value]) + padded[index + 1 :]
