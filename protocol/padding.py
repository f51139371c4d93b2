"""Padding to size buckets, so that the hub learns only a coarse size of what it relays.

Scheme: ISO/IEC 7816-4 — append one 0x80 byte, then 0x00 bytes up to the bucket size. Buckets
are powers of two from 1 KiB: a 3 KiB referral and a 3.9 KiB one look the same (4 KiB).
"""

from __future__ import annotations

from protocol.errors import EncodingError

MIN_BUCKET = 1024
MAX_ENVELOPE_BUCKET = 2 * 1024 * 1024
MAX_ATTACHMENT_BUCKET = 32 * 1024 * 1024


def bucket_size(length: int, max_bucket: int = MAX_ENVELOPE_BUCKET) -> int:
    """The smallest bucket that holds ``length`` bytes plus the 0x80 marker."""
    bucket = MIN_BUCKET
    while bucket < length + 1:
        bucket *= 2
    if bucket > max_bucket:
        raise EncodingError(f"{length} bytes do not fit the largest bucket ({max_bucket} bytes)")
    return bucket


def pad(data: bytes, max_bucket: int = MAX_ENVELOPE_BUCKET) -> bytes:
    size = bucket_size(len(data), max_bucket)
    return data + b"\x80" + bytes(size - len(data) - 1)


def is_bucket_size(size: int, max_bucket: int = MAX_ENVELOPE_BUCKET) -> bool:
    return MIN_BUCKET <= size <= max_bucket and not size & (size - 1)


def unpad(padded: bytes, max_bucket: int = MAX_ENVELOPE_BUCKET) -> bytes:
    """Strip padding; raise :class:`EncodingError` unless the length is the smallest bucket
    that fits the content and the marker is where it must be."""
    if not is_bucket_size(len(padded), max_bucket):
        raise EncodingError(f"padded length {len(padded)} is not a bucket size")
    # rfind is memrchr (fast); then everything after the marker must be zero.
    marker = padded.rfind(b"\x80")
    if marker < 0 or padded[marker + 1 :] != bytes(len(padded) - marker - 1):
        raise EncodingError("padding marker missing")
    if len(padded) > MIN_BUCKET and marker + 1 <= len(padded) // 2:
        raise EncodingError("padded to a larger bucket than the content needs")
    return padded[:marker]
