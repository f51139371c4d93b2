"""Sets of documents as Python ints used as bitsets (bit n set: document number n is in), and
the postings of a term read into one."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass

_ONE = re.compile("1")


def bitset_from(docnums: list[int]) -> int:
    """A set of document numbers as an int with those bits set (via its binary text, which
    int() reads in C)."""
    if not docnums:
        return 0
    digits = bytearray(b"0") * (max(docnums) + 1)
    for docnum in docnums:
        digits[docnum] = 49  # "1"
    digits.reverse()
    return int(digits, 2)


def docnums_in(bits: int) -> list[int]:
    """The set bits, in increasing order (scanning the binary text runs in C)."""
    return [match.start() for match in _ONE.finditer(bin(bits)[:1:-1])]


def union_of(bitsets: Iterable[int]) -> int:
    return functools.reduce(operator.or_, bitsets, 0)


@dataclass(frozen=True)
class Postings:
    """The documents holding a term or phrase, as a bitset, and the term's frequency in those
    (few) where it occurs more than once."""

    bits: int
    count: int
    repeats: dict[int, float]


NO_POSTINGS = Postings(0, 0, {})
