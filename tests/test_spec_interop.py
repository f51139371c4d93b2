"""Ponte v1 implemented again from protocol/SPEC.md alone, and run against every vector file.

Independent on purpose: nothing here comes from the ``protocol`` package, only the standard
library and libsodium's raw bindings. When these tests pass, SPEC.md (not the reference code)
is enough to interoperate. Section and check numbers refer to SPEC.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import struct
import unicodedata
from collections.abc import Callable
from pathlib import Path

import nacl.bindings as sodium
import pytest
from nacl.exceptions import CryptoError

VECTORS = Path(__file__).resolve().parent.parent / "protocol" / "vectors"
MAX_INT = 2**53 - 1
ENVELOPE_MAX, ATTACHMENT_MAX = 2**21, 2**25
NOW, DAY = 1_790_000_000, 86_400
# Section 1 whitespace, written for use inside a regex character class.
WS = "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class Bad(Exception):
    """Input that the spec says to reject."""


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def seed(label: str) -> bytes:
    return hashlib.sha256(b"ponte-vector:" + label.encode()).digest()


# --- Sections 1 and 2: base64url, strict parsing, canonical JSON -------------------------------


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64d(text: object, length: int | None = None) -> bytes:
    if not isinstance(text, str) or len(text) % 4 == 1 or not re.fullmatch(r"[\w-]*", text, re.A):
        raise Bad("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64e(data) != text or length not in (None, len(data)):
        raise Bad("not canonical base64url of the right length")
    return data


def is_int(value: object) -> bool:
    return type(value) is int  # a JSON boolean is not an integer


def _no_duplicates(pairs: list) -> dict:
    if len({key for key, _ in pairs}) != len(pairs):
        raise Bad("duplicate member")
    return dict(pairs)


def _refuse(text: str) -> None:
    raise Bad(f"{text} is not allowed")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Bad("lone surrogate") from exc


def _check_parsed(value: object, depth: int = 0) -> None:
    if depth > 32:
        raise Bad("nested too deep")
    if isinstance(value, str):
        _utf8(value)
    elif is_int(value) and abs(value) > MAX_INT:
        raise Bad("integer out of range")
    elif isinstance(value, dict):
        for key, item in value.items():
            _utf8(key)
            _check_parsed(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_parsed(item, depth + 1)


def parse(data: bytes) -> object:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_float=_refuse,
            parse_constant=_refuse,
        )
    except (ValueError, RecursionError) as exc:  # bad UTF-8, BOM, syntax
        raise Bad("not JSON") from exc
    _check_parsed(value)
    return value


ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _string(text: str) -> str:
    _utf8(text)
    return '"' + "".join(ESCAPES.get(c, f"\\u{ord(c):04x}" if c < " " else c) for c in text) + '"'


def _jcs(value: object, depth: int) -> str:
    if depth > 32:
        raise Bad("nested too deep")
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if is_int(value) and abs(value) <= MAX_INT:
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(_jcs(item, depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(f"{_string(k)}:{_jcs(value[k], depth + 1)}" for k in keys) + "}"
    raise Bad(f"cannot serialise {value!r}")


def canonical(value: object) -> bytes:
    return _jcs(value, 0).encode("utf-8")


# --- Section 5.4: padding ------------------------------------------------------------------------


def is_bucket(size: int, largest: int) -> bool:
    return 1024 <= size <= largest and size & (size - 1) == 0


def pad(data: bytes, largest: int) -> bytes:
    bucket = 1024
    while bucket < len(data) + 1:
        bucket *= 2
    if bucket > largest:
        raise Bad("too large")
    return data + b"\x80" + bytes(bucket - len(data) - 1)


def unpad(padded: bytes, largest: int) -> bytes:
    end = len(padded.rstrip(b"\x00"))  # e: one past the last non-zero byte
    smallest = len(padded) == 1024 or 2 * end > len(padded)
    if not (is_bucket(len(padded), largest) and end and padded[end - 1] == 0x80 and smallest):
        raise Bad("bad padding")
    return padded[: end - 1]


# --- Section 4: keys, records, fingerprints, statements -----------------------------------------


def is_time(value: object) -> bool:
    return is_int(value) and 0 <= value < 2**53


def is_node_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{2,62}", value) is not None


def node(vector: dict) -> dict:
    """A node identity (4.1) from keys.json, with the keys derived from its secrets."""
    sign_seed, box_secret = (bytes.fromhex(vector[k]) for k in ("sign_seed_hex", "box_secret_hex"))
    sign_public, sign_secret = sodium.crypto_sign_seed_keypair(sign_seed)
    return {
        **{k: vector[k] for k in ("node_id", "created", "expires", "key_version")},
        "sign_seed": sign_seed,
        "sign_public": sign_public,
        "sign_secret": sign_secret,
        "box_secret": box_secret,
        "box_public": sodium.crypto_scalarmult_base(box_secret),
    }


def record_of(identity: dict) -> dict:
    return {
        "v": 1,
        "node_id": identity["node_id"],
        "sign_key": b64e(identity["sign_public"]),
        "box_key": b64e(identity["box_public"]),
        **{k: identity[k] for k in ("created", "expires", "key_version")},
    }


def _key_fields_ok(entry: dict) -> bool:
    times = is_time(entry["created"]) and is_time(entry["expires"])
    version = is_int(entry["key_version"]) and 1 <= entry["key_version"] < 2**31
    return (
        is_node_id(entry["node_id"]) and times and entry["expires"] > entry["created"] and version
    )


def parse_record(data: bytes) -> dict:
    record = parse(data)
    members = {"v", "node_id", "sign_key", "box_key", "created", "expires", "key_version"}
    if not (isinstance(record, dict) and set(record) == members and is_int(record["v"])):
        raise Bad("not a key record")
    b64d(record["sign_key"], 32), b64d(record["box_key"], 32)
    if record["v"] != 1 or not _key_fields_ok(record):
        raise Bad("bad key record")
    return record


def fingerprint_half(record: dict) -> str:
    keys = b64d(record["sign_key"], 32) + b64d(record["box_key"], 32)
    domain = b"ponte-fingerprint-v1\x00" + record["node_id"].encode("ascii") + b"\x00"
    digest = hashlib.sha512(domain + keys).digest()
    for _ in range(5200):
        digest = hashlib.sha512(digest + keys).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def grouped(digits: str) -> str:
    return " ".join(digits[i : i + 5] for i in range(0, len(digits), 5))


def verifies(signature: bytes, message: bytes, public_key: bytes) -> bool:
    try:
        sodium.crypto_sign_open(signature + message, public_key)
    except CryptoError:
        return False
    return len(signature) == 64


def sign(message: bytes, identity: dict) -> bytes:
    return sodium.crypto_sign(message, identity["sign_secret"])[:64]


def statement_bytes(context: str, document: object) -> bytes:
    if not re.fullmatch(r"[a-z0-9-]{1,64}", context):
        raise Bad("bad context")
    return b"ponte-statement-v1\x00" + context.encode() + b"\x00" + canonical(document)


# --- Section 7: payload schemas ------------------------------------------------------------------

Check = Callable[[object], bool]


def text(limit: int, pattern: str | None = None) -> Check:
    return lambda v: (
        isinstance(v, str)
        and not re.fullmatch(f"[{WS}]*", v)
        and len(v) <= limit
        and (pattern is None or re.fullmatch(pattern, v) is not None)
    )


def enum(names: str) -> Check:
    """One of the space-separated ``names``."""
    return lambda v: isinstance(v, str) and v in names.split()


def integer(low: int, high: int) -> Check:
    return lambda v: is_int(v) and low <= v <= high


def boolean(value: object) -> bool:
    return isinstance(value, bool)


def date(value: object) -> bool:
    if not (isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)):
        return False
    try:
        dt.date(int(value[:4]), int(value[5:7]), int(value[8:]))
    except ValueError:
        return False
    return True


def b64(length: int) -> Check:
    def check(value: object) -> bool:
        try:
            b64d(value, length)
        except Bad:
            return False
        return True

    return check


def listof(item: Check, low: int = 0, high: int = 20, unique: bool = True) -> Check:
    return lambda v: (
        isinstance(v, list)
        and low <= len(v) <= high
        and all(map(item, v))
        and (not unique or len(set(v)) == len(v))
    )


def obj(fields: dict[str, Check]) -> Check:
    """Members named "x?" are optional; unknown members are rejected."""
    required = {name for name in fields if not name.endswith("?")}
    checks = {name.rstrip("?"): check for name, check in fields.items()}
    return lambda v: (
        isinstance(v, dict)
        and required <= v.keys() <= checks.keys()
        and all(checks[name](item) for name, item in v.items())
    )


def initials(value: object) -> bool:
    if not text(12)(value):
        return False
    runs = [run for run in re.split(f"[.{WS}]", unicodedata.normalize("NFC", value)) if run]
    letters = "".join(runs)
    is_letter = all(unicodedata.category(c).startswith("L") for c in letters)
    # str.islower of one code point is the Unicode property Lowercase.
    joined_lower = any(len(run) > 1 and any(c.islower() for c in run) for run in runs)
    return 1 <= len(letters) <= 4 and is_letter and not joined_lower


EMAIL, URL = f"[^@{WS}]+@[^@{WS}]+", f"https?://[^{WS}]+"
COUNTRY, LANGUAGE = r"[A-Z]{2}", r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*"
CASE_CODE = r"(?=[^0-9]*[0-9])[A-Za-z0-9][A-Za-z0-9/_.-]{1,39}"
CONTACT = obj(
    {
        "name": text(200),
        "role?": text(200),
        "organisation?": text(200),
        "email?": text(200, EMAIL),
        "phone?": text(40, r"[0-9+()./ -]{4,40}"),
    }
)
ATTACHMENT = obj(
    {
        "id": b64(16),
        "name": text(200),
        "media_type": text(100, r"[a-z]+/[A-Za-z0-9.+-]+"),
        "size": integer(0, 33_554_431),
        "key": b64(32),
        "sha256": b64(32),
    }
)
ATTACHMENTS = listof(ATTACHMENT, unique=False)
DOCUMENTS = enum(
    "passport national_id birth_certificate residence_permit travel_document police_report "
    "medical_report court_summons other"
)
MINOR_BANDS = ("0-11", "12-15", "16-17")
PERSON = {
    "case_code?": text(40, CASE_CODE),
    "initials?": initials,
    "gender": enum("female male non_binary other not_disclosed"),
    "age_band": enum("0-11 12-15 16-17 18-24 25-34 35-49 50-64 65+ unknown"),
    "minor": boolean,
    "nationality?": text(2, COUNTRY),
    "languages?": listof(text(20, LANGUAGE), 0, 10),
    "interpreter_needed?": boolean,
    "guardian?": obj({"appointed": boolean, "details?": text(2000)}),
}
CONSENT = {
    "given": boolean,
    "form": enum("written verbal"),
    "date": date,
    "scope": listof(
        enum(
            "share_with_recipient contact_family contact_authorities share_documents "
            "follow_up_contact"
        ),
        1,
        20,
    ),
    "withhold_from_family?": text(2000),
}
CASE = {
    "exploitation_forms?": listof(
        enum(
            "sexual labour forced_criminality forced_begging domestic_servitude forced_marriage "
            "organ_removal other"
        )
    ),
    "documents_held?": listof(DOCUMENTS),
    "documents_needed?": listof(DOCUMENTS),
    "summary?": text(100_000),
}
LOGISTICS = {
    "departure_date?": date,
    "arrival_date?": date,
    "escort?": boolean,
    "pickup_point?": text(500),
    "costs_covered_by?": text(500),
}
REFERRAL = {
    "request_type": enum(
        "assisted_voluntary_return family_tracing identity_documents transfer_for_protection "
        "court_hearing_travel shelter legal health other"
    ),
    "urgency": enum("routine urgent emergency"),
    "requested_by?": date,
    "intake?": enum(
        "hotline outreach police labour_inspection ngo_referral self_referral health_service "
        "embassy other"
    ),
    "sender_contact": CONTACT,
    "recipient_contact?": CONTACT,
    "person": obj(PERSON),
    "consent": obj(CONSENT),
    "case?": obj(CASE),
    "risk_assessment?": obj(
        {"summary": text(100_000), "level": enum("low medium high"), "date": date}
    ),
    "logistics?": obj(LOGISTICS),
    "follow_up?": obj({"schedule": text(2000), "duration_months?": integer(1, 120)}),
    "restricted_notes?": text(100_000),
    "attachments?": ATTACHMENTS,
}
SCHEMAS = {
    "referral": obj(REFERRAL),
    "referral_update": obj(
        {
            "status?": enum("accepted declined in_progress completed withdrawn"),
            "message?": text(100_000),
            "reason?": text(2000),
            "attachments?": ATTACHMENTS,
        }
    ),
    "newsletter": lambda v: newsletter_ok(v),  # 7.3: one signed publication (4.6)
    "receipt": obj(
        {"message_id": b64(16), "status": enum("delivered rejected"), "reason?": text(100)}
    ),
}


def valid_payload(kind: str, payload: object) -> bool:
    if not SCHEMAS[kind](payload):
        return False
    if kind == "referral_update":
        return "status" in payload or "message" in payload
    if kind == "newsletter":
        return payload["statement"]["audience"] == "members"
    if kind != "referral":
        return True
    person, consent = payload["person"], payload["consent"]
    band, minor = person["age_band"], person["minor"]
    return (
        ("case_code" in person or "initials" in person)
        and consent["given"] is True
        and "share_with_recipient" in consent["scope"]
        and (minor or band not in MINOR_BANDS)
        and (not minor or (band in (*MINOR_BANDS, "unknown") and "guardian" in person))
        and (payload["request_type"] != "assisted_voluntary_return" or "risk_assessment" in payload)
    )


# --- Section 4.6: publications and contributions (uses the section 7 types) -------------------


class Refused(Exception):
    """A 4.6 document refused: ``reason`` is bad_signature or invalid, ``field`` its path."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{reason} {field or ''}")
        self.reason, self.field = reason, field


def invalid(field: str) -> Refused:
    return Refused("invalid", field)


ITEM_ID, TOPIC, NO_SPACE = r"[A-Za-z0-9_-]{1,100}", r"[a-z0-9][a-z0-9-]{0,99}", f"[^{WS}]+"
FILE_TYPE = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}"
TIME = integer(0, MAX_INT)
# Member tables: "x?" is optional; a nested dict is an object with its own table.
ITEM: dict = {
    "item_kind": enum("newsletter news event call_for_partners policy_update resource"),
    "title": text(300),
    "body_markdown": text(1_500_000),
    "language": text(20, LANGUAGE),
    "topics?": listof(text(100, TOPIC)),
    "countries?": listof(text(2, COUNTRY), 0, 60),
    "url?": text(2000, URL),
    "event?": {"starts": TIME, "ends?": TIME, "place?": text(300), "online_url?": text(2000, URL)},
}
PUBLICATION: dict = {
    **ITEM,
    "publisher": is_node_id,
    "key_version": integer(1, 2**31 - 1),
    "item_id": text(100, ITEM_ID),
    "revision": integer(1, 2**31 - 1),
    "status": enum("published retracted"),
    "audience": enum("public members"),
    "published": TIME,
    "updated": TIME,
    "file?": {
        "name": text(200),
        "media_type": text(100, FILE_TYPE),
        "size": integer(0, 52_428_800),
        "sha256": b64(32),
    },
    "credit?": {"organisation_id": text(100, NO_SPACE), "organisation_name": text(300)},
    "reason?": text(2000),
}
CONTRIBUTION: dict = {
    "node_id": is_node_id,
    "organisation_id": text(100, NO_SPACE),
    "contribution_id": text(100, ITEM_ID),
    "submitted_at": TIME,
    "item": ITEM,
}
MEMBER_KINDS = ("news", "event", "call_for_partners")


def problem(table: dict, value: object, path: str) -> str | None:
    """The path of a member of ``value`` that breaks ``table``, or None."""
    if not isinstance(value, dict):
        return path
    checks = {name.rstrip("?"): check for name, check in table.items()}
    unknown = sorted(set(value) - checks.keys())
    if unknown:
        return f"{path}.{unknown[0]}"
    for name, check in table.items():
        key, where = name.rstrip("?"), f"{path}.{name.rstrip('?')}"
        if key not in value:
            if not name.endswith("?"):
                return where
        elif isinstance(check, dict):
            if found := problem(check, value[key], where):
                return found
        elif not check(value[key]):
            return where
    return None


def item_rules(item: dict, path: str) -> str | None:
    """Rules 1 and 2."""
    if ("event" in item) != (item["item_kind"] == "event"):
        return f"{path}.event"
    event = item.get("event", {})
    if "ends" in event and event["ends"] < event["starts"]:
        return f"{path}.event.ends"
    return None


def publication_problem(statement: dict) -> str | None:
    """Members, then rules 1-5."""
    if found := problem(PUBLICATION, statement, "statement") or item_rules(statement, "statement"):
        return found
    if statement["updated"] < statement["published"]:
        return "statement.updated"
    if "reason" in statement and statement["status"] != "retracted":
        return "statement.reason"
    if "file" in statement and statement["item_kind"] != "resource":
        return "statement.file"
    return None


def newsletter_ok(payload: object) -> bool:
    """Section 7.3, as check 16 sees it: the shape, the statement's members and rules."""
    return (
        isinstance(payload, dict)
        and set(payload) == {"statement", "signature"}
        and b64(64)(payload["signature"])
        and isinstance(payload["statement"], dict)
        and publication_problem(payload["statement"]) is None
    )


def split_document(document: object, name: str) -> tuple[dict, bytes]:
    if not (isinstance(document, dict) and set(document) == {"statement", "signature"}):
        raise invalid(name)
    if not isinstance(document["statement"], dict):
        raise invalid("statement")
    try:
        return document["statement"], b64d(document["signature"], 64)
    except Bad:
        raise invalid("signature") from None


def check_signature(context: str, statement: dict, signature: bytes, record: dict) -> None:
    try:
        signed = statement_bytes(context, statement)
    except Bad:  # a float, a huge integer: no canonical form, so nothing anyone signed
        raise invalid("statement") from None
    if not verifies(signature, signed, b64d(record["sign_key"], 32)):
        raise Refused("bad_signature")


def verify_publication(hub: dict, document: object) -> dict:
    """Checks 1-6 of 4.6 with the pinned hub key record ``hub``."""
    statement, signature = split_document(document, "publication")
    if statement.get("publisher") != hub["node_id"]:
        raise invalid("statement.publisher")
    version = statement.get("key_version")
    if not (is_int(version) and version == hub["key_version"]):
        raise invalid("statement.key_version")
    check_signature("publication", statement, signature, hub)
    if found := publication_problem(statement):
        raise invalid(found)
    return statement


def verify_contribution(record: dict, document: object) -> dict:
    """Checks 1-5 of a contribution with the node's current key record."""
    statement, signature = split_document(document, "contribution")
    if statement.get("node_id") != record["node_id"]:
        raise invalid("statement.node_id")
    check_signature("contribution", statement, signature, record)
    found = problem(CONTRIBUTION, statement, "statement")
    if found or (found := item_rules(statement["item"], "statement.item")):
        raise invalid(found)
    if statement["item"]["item_kind"] not in MEMBER_KINDS:
        raise invalid("statement.item.item_kind")
    return statement


def hub_accepts(statement: dict, now: int, used: set) -> bool:
    """The hub's own checks on a verified contribution: the 600 s window, then replay."""
    key = (statement["node_id"], statement["contribution_id"])
    if abs(now - statement["submitted_at"]) > 600 or key in used:
        return False
    used.add(key)
    return True


# --- Sections 5 and 6: envelopes -----------------------------------------------------------------

HEADER = {"v", "id", "kind", "sender", "recipient", "thread", "created", "expires"}


def envelope_signed(header: bytes, payload: bytes) -> bytes:
    return b"ponte-envelope-v1\x00" + struct.pack(">I", len(header)) + header + payload


def seal_with(header: dict, payload: dict, sender: dict, box_key: bytes, label: str) -> bytes:
    """Section 5 sending, with the vectors' fixed ephemeral key (section 10)."""
    h, p = canonical(header), canonical(payload)
    padded = pad(sign(envelope_signed(h, p), sender) + p, ENVELOPE_MAX)
    epk, esk = sodium.crypto_box_seed_keypair(seed(f"ephemeral/{label}"))
    nonce = hashlib.blake2b(epk + box_key, digest_size=24).digest()
    body = epk + sodium.crypto_box_easy(padded, nonce, box_key, esk)
    return b"PNTE" + struct.pack(">I", len(h)) + h + body


def require(ok: object, reason: str) -> None:
    if not ok:
        raise Rejected(reason)


def _header_ok(h: dict) -> bool:
    try:
        b64d(h["id"], 16), b64d(h["thread"], 16)
    except Bad:
        return False
    people = is_node_id(h["sender"]) and is_node_id(h["recipient"])
    times = is_time(h["created"]) and is_time(h["expires"])
    kinds = ("referral", "referral_update", "newsletter", "receipt")
    return (
        h["kind"] in kinds
        and people
        and times
        and h["created"] < h["expires"] <= h["created"] + 90 * DAY
    )


def parse_wire(wire: bytes) -> tuple[bytes, dict, bytes]:
    """Checks 1-7."""
    require(len(wire) >= 8 and wire[:4] == b"PNTE", "malformed")
    (length,) = struct.unpack(">I", wire[4:8])
    require(length <= 1024 and len(wire) >= 8 + length, "malformed")
    h_wire, body = wire[8 : 8 + length], wire[8 + length :]
    try:
        header = parse(h_wire)
    except Bad:
        raise Rejected("malformed") from None
    require(isinstance(header, dict) and is_int(header.get("v")), "malformed")
    require(header["v"] == 1, "unsupported_version")
    require(set(header) == HEADER and _header_ok(header), "malformed")
    require(is_bucket(len(body) - 48, ENVELOPE_MAX), "malformed")
    return h_wire, header, body


def _open_body(body: bytes, own: list[dict]) -> bytes | None:
    for identity in own:
        try:
            return sodium.crypto_box_seal_open(body, identity["box_public"], identity["box_secret"])
        except CryptoError:
            continue
    return None


def receive(wire: bytes, own: list[dict], lookup: Callable, seen: set, now: int) -> tuple:
    """Section 6.1, checks in order; returns (header, payload, S, P)."""
    h_wire, header, body = parse_wire(wire)
    ours = [identity for identity in own if identity["node_id"] == header["recipient"]]
    require(ours, "wrong_recipient")
    require(now <= header["expires"], "expired")
    require(header["created"] <= now + 600, "not_yet_valid")
    key = (header["sender"], b64d(header["id"], 16))
    require(key not in seen, "replay")
    plain = _open_body(body, ours)
    require(plain is not None, "decryption_failed")
    try:
        signed_part = unpad(plain, ENVELOPE_MAX)
    except Bad:
        raise Rejected("bad_padding") from None
    require(len(signed_part) >= 64, "bad_padding")
    signature, payload_bytes = signed_part[:64], signed_part[64:]
    records = [r for r in lookup(header["sender"]) if r["node_id"] == header["sender"]]
    require(records, "unknown_sender")
    message = envelope_signed(h_wire, payload_bytes)
    require(
        any(
            verifies(signature, message, b64d(r["sign_key"], 32))
            and r["created"] <= header["created"] <= r["expires"]
            for r in records
        ),
        "bad_signature",
    )
    try:
        payload = parse(payload_bytes)
    except Bad:
        raise Rejected("invalid_payload") from None
    require(valid_payload(header["kind"], payload), "invalid_payload")
    seen.add(key)
    return header, payload, signature, payload_bytes


# --- Sections 8 and 9: attachments and the keystore ---------------------------------------------


def open_attachment(reference: object, blob: object) -> bytes:
    if not (ATTACHMENT(reference) and isinstance(blob, bytes)):
        raise Bad("bad reference or blob")
    if hashlib.sha256(blob).digest() != b64d(reference["sha256"], 32):
        raise Bad("SHA-256 differs")
    try:
        padded = sodium.crypto_secretbox_open_easy(blob[24:], blob[:24], b64d(reference["key"], 32))
    except CryptoError:
        raise Bad("does not decrypt") from None
    data = unpad(padded, ATTACHMENT_MAX)
    if len(data) != reference["size"]:
        raise Bad("size differs")
    return data


class KeystoreRefused(Exception):
    pass


def _refuse_unless(ok: object, message: str) -> None:
    if not ok:
        raise KeystoreRefused(message)


def _valid_identity(entry: object) -> bool:
    members = {"node_id", "sign_seed", "box_secret", "created", "expires", "key_version"}
    if not (isinstance(entry, dict) and set(entry) == members):
        return False
    return b64(32)(entry["sign_seed"]) and b64(32)(entry["box_secret"]) and _key_fields_ok(entry)


def open_keystore(data: bytes, passphrase: str) -> list[dict]:
    try:
        document = parse(data)
    except Bad:
        raise KeystoreRefused("damaged file") from None
    is_keystore = isinstance(document, dict) and document.get("format") == "ponte-keystore"
    _refuse_unless(is_keystore, "not a Ponte keystore")
    _refuse_unless(is_int(document.get("v")) and document["v"] == 1, "unsupported version")
    kdf = document.get("kdf")
    _refuse_unless(isinstance(kdf, dict) and kdf.get("alg") == "argon2id13", "unknown KDF")
    ops, mem = kdf.get("opslimit"), kdf.get("memlimit")
    _refuse_unless(is_int(ops) and is_int(mem), "bad cost")
    _refuse_unless(0 < ops <= 16 and 8192 <= mem <= 2**31, "cost out of range")
    try:
        salt, sealed = b64d(kdf.get("salt"), 16), b64d(document.get("sealed"))
    except Bad:
        raise KeystoreRefused("damaged file") from None
    _refuse_unless(passphrase, "the passphrase must not be empty")
    try:
        secret = passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise KeystoreRefused("the passphrase is not valid text") from None
    alg = sodium.crypto_pwhash_ALG_ARGON2ID13
    key = sodium.crypto_pwhash_alg(32, secret, salt, ops, mem, alg)
    try:
        inner = parse(sodium.crypto_secretbox_open_easy(sealed[24:], sealed[:24], key))
    except CryptoError:
        raise KeystoreRefused("wrong passphrase, or the file is damaged") from None
    except Bad:
        raise KeystoreRefused("the keystore content is damaged") from None
    items = inner.get("identities") if isinstance(inner, dict) else None
    _refuse_unless(isinstance(items, list) and items, "the keystore holds no identity")
    _refuse_unless(all(map(_valid_identity, items)), "the keystore content is damaged")
    return items


# --- The vectors (section 10) --------------------------------------------------------------------

KEYS = load("keys.json")
NODES = {v["node_id"]: node(v) for v in KEYS["nodes"] if v.get("name") != "impostor"}
TRUSTED = {
    v["node_id"]: parse_record(bytes.fromhex(v["record_canonical_hex"]))
    for v in KEYS["nodes"]
    if v.get("name") != "impostor"
}
ENVELOPES = load("envelopes.json")
# The reason names of the table in SPEC.md section 6.1.
SPEC = (VECTORS.parent / "SPEC.md").read_text(encoding="utf-8")
REASONS = set(re.findall(r"^\| \d+ \|.*\| `(\w+)` \|$", SPEC, re.MULTILINE))


@pytest.mark.parametrize("case", load("canonical.json")["vectors"], ids=lambda c: c["name"])
def test_canonical(case):
    assert canonical(parse(case["input_json"].encode())).hex() == case["canonical_hex"]


@pytest.mark.parametrize("case", load("padding.json")["vectors"], ids=lambda c: str(c["length"]))
def test_padding(case):
    padded = pad(bytes(case["length"]), ENVELOPE_MAX)
    assert len(padded) == case["bucket"]
    assert unpad(padded, ENVELOPE_MAX) == bytes(case["length"])


@pytest.mark.parametrize("vector", KEYS["nodes"], ids=lambda v: v.get("name", v["node_id"]))
def test_keys(vector):
    identity = node(vector)
    impostor = vector.get("name") == "impostor"
    label = "impostor/{}" if impostor else vector["node_id"] + "/{}/1"
    assert (identity["sign_seed"], identity["box_secret"]) == (
        seed(label.format("sign")),
        seed(label.format("box")),
    )
    window = (NOW - DAY, NOW + DAY) if impostor else (NOW - 30 * DAY, NOW + 700 * DAY)
    assert (identity["created"], identity["expires"]) == window
    assert identity["sign_public"].hex() == vector["sign_public_hex"]
    assert identity["box_public"].hex() == vector["box_public_hex"]
    record = canonical(record_of(identity))
    assert record.hex() == vector["record_canonical_hex"]
    assert parse_record(record) == record_of(identity)
    assert grouped(fingerprint_half(record_of(identity))) == vector["fingerprint"]


def test_safety_numbers():
    for case in KEYS["safety_numbers"]:
        halves = [fingerprint_half(TRUSTED[case[side]]) for side in "ab"]
        assert grouped("".join(sorted(halves))) == case["safety_number"]


def test_statements():
    for case in KEYS["statements"]:
        signer, signature = NODES[case["signer"]], bytes.fromhex(case["signature_hex"])
        signed = statement_bytes(case["context"], case["document"])
        assert signed.hex() == case["signed_bytes_hex"]
        assert verifies(signature, signed, signer["sign_public"])
        assert sign(signed, signer) == signature
        assert not verifies(
            signature, statement_bytes("other", case["document"]), signer["sign_public"]
        )


def test_keystore():
    case = load("keystore.json")
    assert case["file"].endswith("}\n")
    data = case["file"].encode()
    assert canonical(parse(data[:-1])) == data[:-1]
    document = parse(data)
    assert b64d(document["kdf"]["salt"]) == seed("keystore/salt")[:16]
    assert b64d(document["sealed"])[:24] == seed("keystore/nonce")[:24]
    identities = open_keystore(data, case["passphrase"])
    assert identities == case["expect"]
    assert b64d(identities[0]["sign_seed"]) == NODES[identities[0]["node_id"]]["sign_seed"]
    with pytest.raises(KeystoreRefused, match="wrong passphrase"):
        open_keystore(data, case["wrong_passphrase"])


def test_attachment():
    case = load("attachments.json")
    reference, blob = case["reference"], bytes.fromhex(case["blob_hex"])
    assert open_attachment(reference, blob).hex() == case["plaintext_hex"]
    assert (len(bytes.fromhex(case["plaintext_hex"])), len(blob)) == (450, 1064)
    assert b64d(reference["key"]) == seed("attachment/key")
    assert (blob[:24], b64d(reference["id"])) == (
        seed("attachment/nonce")[:24],
        seed("attachment/id")[:16],
    )
    for broken in ({**reference, "size": 451}, {**reference, "extra": 1}):
        with pytest.raises(Bad):
            open_attachment(broken, blob)


def receive_case(case: dict, seen: set) -> tuple:
    known = case["known_senders"]
    return receive(
        bytes.fromhex(case["wire_hex"]),
        [NODES[case["recipient"]]],
        lambda node_id: [TRUSTED[node_id]] if node_id in known else [],
        seen,
        case["now"],
    )


def replay_set(case: dict) -> set:
    return {(entry["sender"], b64d(entry["id"], 16)) for entry in case["seen_ids"]}


@pytest.mark.parametrize("case", ENVELOPES["positive"], ids=lambda c: c["name"])
def test_positive_envelope(case):
    seen, expect, wire = replay_set(case), case["expect"], bytes.fromhex(case["wire_hex"])
    header, payload, signature, payload_bytes = receive_case(case, seen)
    h_wire = parse_wire(wire)[0]
    assert header == case["header"]
    assert h_wire.hex() == canonical(header).hex() == expect["header_canonical_hex"]
    assert payload_bytes.hex() == canonical(payload).hex() == expect["payload_canonical_hex"]
    assert envelope_signed(h_wire, payload_bytes).hex() == expect["signed_bytes_hex"]
    assert signature.hex() == expect["signature_hex"]
    assert len(wire) - 8 - len(h_wire) - 48 == expect["padded_length"]
    assert payload == expect["payload"]
    assert seen == replay_set(case) | {(header["sender"], b64d(header["id"]))}
    assert header["id"] == b64e(seed(f"id/{case['name']}")[:16])
    assert header["thread"] == b64e(seed("thread/RO-2026-0142")[:16])
    assert (header["created"], header["expires"]) == (NOW - 3600, NOW - 3600 + 30 * DAY)
    # The sending side too: the wire form is reproduced byte for byte.
    sender, to = NODES[header["sender"]], NODES[header["recipient"]]
    assert seal_with(header, payload, sender, to["box_public"], case["name"]) == wire
    with pytest.raises(Rejected, match="replay"):
        receive_case(case, seen)


@pytest.mark.parametrize("case", ENVELOPES["negative"], ids=lambda c: c["name"])
def test_negative_envelope(case):
    seen = replay_set(case)
    with pytest.raises(Rejected) as info:
        receive_case(case, seen)
    assert info.value.reason == case["reason"]
    assert seen == replay_set(case)


def test_every_reason_has_a_negative_vector():
    assert {case["reason"] for case in ENVELOPES["negative"]} == REASONS


REFERRAL_WIRE = bytes.fromhex(ENVELOPES["positive"][0]["wire_hex"])
HEADER_0 = ENVELOPES["positive"][0]["header"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({k: v for k, v in HEADER_0.items() if k != "v"}, "malformed"),
        ({**HEADER_0, "v": True}, "malformed"),
        ({**HEADER_0, "v": "1"}, "malformed"),
        ({**HEADER_0, "v": 2}, "unsupported_version"),
        ({**HEADER_0, "v": 0}, "unsupported_version"),
        ({**HEADER_0, "kind": "memo"}, "malformed"),
    ],
)
def test_header_rules(header, reason):
    """The referral vector's body under another clear header: checks 4-6 decide."""
    body = parse_wire(REFERRAL_WIRE)[2]
    encoded = json.dumps(header).encode()
    with pytest.raises(Rejected) as info:
        parse_wire(b"PNTE" + struct.pack(">I", len(encoded)) + encoded + body)
    assert info.value.reason == reason


def test_initials_rule():
    assert all(map(initials, ["AB", "M.K.", "m. k.", "M. K. ", "ნ.ბ.", "M.Ț.", "ǅ", "A\u0301.B"]))
    assert not any(map(initials, ["Ana", "Mk", "ABCDE", ".", "A1", "ªB", " ", "A.B.C.D.E"]))


def test_padding_is_the_smallest_bucket():
    assert [len(pad(bytes(n), ENVELOPE_MAX)) for n in (0, 1, 1023, 1024, 4095, 4096)] == [
        1024, 1024, 1024, 2048, 4096, 8192,
    ]  # fmt: skip
    for content, bucket in ((1024, 4096), (0, 2048)):
        with pytest.raises(Bad):
            unpad(bytes(content) + b"\x80" + bytes(bucket - content - 1), ATTACHMENT_MAX)
    with pytest.raises(Bad):
        pad(bytes(ENVELOPE_MAX), ENVELOPE_MAX)


def test_replay_set_is_keyed_by_sender():
    """An id accepted from one node does not block the same id from another (section 6.1)."""
    case = ENVELOPES["positive"][0]
    header = {**case["header"], "sender": "ngo-hilfe-de"}
    hilfe, casa = NODES["ngo-hilfe-de"], NODES["ngo-casa-it"]
    wire = seal_with(header, case["expect"]["payload"], hilfe, casa["box_public"], "x")
    message_id = b64d(header["id"], 16)
    seen = {("ngo-alba-ro", message_id)}
    receive(wire, [casa], lambda node_id: [TRUSTED[node_id]], seen, NOW)
    assert seen == {("ngo-alba-ro", message_id), ("ngo-hilfe-de", message_id)}
    with pytest.raises(Rejected, match="replay"):
        receive(wire, [casa], lambda node_id: [TRUSTED[node_id]], seen, NOW)


# --- Section 4.6 vectors (publications.json) ----------------------------------------------------

PUBLICATIONS = load("publications.json")
HUB = node(PUBLICATIONS["hub"])
HUB_RECORD = parse_record(bytes.fromhex(PUBLICATIONS["hub"]["record_canonical_hex"]))


def test_hub_vector():
    vector = PUBLICATIONS["hub"]
    assert (HUB["sign_seed"], HUB["box_secret"]) == (
        seed("ponte-hub/sign/1"),
        seed("ponte-hub/box/1"),
    )
    assert (HUB["created"], HUB["expires"]) == (NOW - 30 * DAY, NOW + 700 * DAY)
    assert (HUB["sign_public"].hex(), HUB["box_public"].hex()) == (
        vector["sign_public_hex"],
        vector["box_public_hex"],
    )
    assert canonical(record_of(HUB)).hex() == vector["record_canonical_hex"]
    fingerprint = grouped(fingerprint_half(HUB_RECORD))
    assert fingerprint == vector["fingerprint"]
    # The "key" member of GET /api/v1/publications/{item_id}.
    assert PUBLICATIONS["hub_key"] == {
        "node_id": HUB_RECORD["node_id"],
        "key_version": HUB_RECORD["key_version"],
        "fingerprint": fingerprint,
    }


def _check_reproduced(case: dict, context: str, statement: dict, signer: dict) -> None:
    signed = statement_bytes(context, statement)
    assert signed.hex() == case["signed_bytes_hex"]
    signature = b64d(case["document"]["signature"], 64)
    assert signature.hex() == case["signature_hex"]
    assert sign(signed, signer) == signature
    assert not verifies(signature, statement_bytes("other", statement), signer["sign_public"])


@pytest.mark.parametrize("case", PUBLICATIONS["publications"]["positive"], ids=lambda c: c["name"])
def test_positive_publication(case):
    statement = verify_publication(HUB_RECORD, case["document"])
    _check_reproduced(case, "publication", statement, HUB)
    # Check 16 of a newsletter envelope accepts a well-formed members-only publication (7.3).
    members_only = case["document"]["statement"]["audience"] == "members"
    assert valid_payload("newsletter", case["document"]) is members_only
    assert not valid_payload("newsletter", {**case["document"], "signature": "AA"})
    assert not valid_payload("newsletter", statement)


def test_publication_vectors_cover_the_kinds_of_item():
    positive = [c["document"]["statement"] for c in PUBLICATIONS["publications"]["positive"]]
    assert {p["audience"] for p in positive} == {"public", "members"}
    event = [p for p in positive if p["item_id"] == "event-2026-returns-forum"]
    assert [(p["revision"], p["status"]) for p in event] == [(1, "published"), (2, "retracted")]
    assert all("ends" in p["event"] and "reason" in p for p in event[1:])


@pytest.mark.parametrize("case", PUBLICATIONS["publications"]["negative"], ids=lambda c: c["name"])
def test_negative_publication(case):
    with pytest.raises(Refused) as info:
        verify_publication(HUB_RECORD, case["document"])
    assert (info.value.reason, info.value.field) == (case["reason"], case.get("field"))


@pytest.mark.parametrize("case", PUBLICATIONS["contributions"]["positive"], ids=lambda c: c["name"])
def test_positive_contribution(case):
    statement = verify_contribution(TRUSTED[case["node"]], case["document"])
    _check_reproduced(case, "contribution", statement, NODES[case["node"]])
    assert statement["item"]["item_kind"] in MEMBER_KINDS
    # The hub's checks: inside the window once, then a replay of the same contribution_id.
    used: set = set()
    assert hub_accepts(statement, case["now"], used)
    assert not hub_accepts(statement, case["now"], used)
    late = statement["submitted_at"] + 601
    assert not hub_accepts({**statement, "contribution_id": "other"}, late, used)
    # The hub's key never verifies a member's contribution as a publication.
    with pytest.raises(Refused):
        verify_publication(HUB_RECORD, case["document"])


@pytest.mark.parametrize("case", PUBLICATIONS["contributions"]["negative"], ids=lambda c: c["name"])
def test_negative_contribution(case):
    with pytest.raises(Refused) as info:
        verify_contribution(TRUSTED[case["node"]], case["document"])
    assert (info.value.reason, info.value.field) == (case["reason"], case.get("field"))


def test_publication_signature_is_bound_to_the_pinned_hub_key():
    case = PUBLICATIONS["publications"]["positive"][0]
    other_hub = {**TRUSTED["ngo-hilfe-de"], "node_id": HUB_RECORD["node_id"]}
    with pytest.raises(Refused) as info:
        verify_publication(other_hub, case["document"])
    assert info.value.reason == "bad_signature"
    with pytest.raises(Refused) as info:
        verify_publication({**HUB_RECORD, "key_version": 2}, case["document"])
    assert info.value.field == "statement.key_version"
