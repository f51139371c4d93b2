"""``/api/v1/relay``: nodes post envelopes, fetch their inbox, acknowledge, read notices, and
hand each other encrypted attachment blobs.

See docs/relay.md. Every call needs a token with scope ``relay``; a node only ever sees its
own inbox and its own notices.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, g, jsonify, request

from hub import relay
from hub.enrolment_api import json_body
from hub.extensions import db
from hub.models import RelayBlob
from hub.oauth import require_token
from hub.publishing import release_due
from ponte.accounts import as_utc
from ponte.csrf import csrf
from ponte.params import MAX_SQL_INTEGER, int_arg, query_args
from ponte.problems import ProblemError, invalid_parameter, problem
from protocol import b64url_encode
from protocol.padding import MAX_ENVELOPE_BUCKET

blueprint = Blueprint("relay_api", __name__, url_prefix="/api/v1/relay")
csrf.exempt(blueprint)

MAX_WIRE = MAX_ENVELOPE_BUCKET + 2048  # largest body plus header and framing
BLOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")
MESSAGE_ID = BLOB_ID  # both are 16 bytes in base64url
# after is a seq: it must fit the seq columns' range.
PAGE = {"after": (0, 0, MAX_SQL_INTEGER), "limit": (50, 1, relay.INBOX_LIMIT)}


@blueprint.errorhandler(relay.RelayError)
def relay_error(error: relay.RelayError) -> Response:
    return problem(
        error.status, error.code.replace("_", " ").capitalize(), error.message, code=error.code
    )


def _relay_now() -> int | None:
    """The relay's clock: the wall clock, unless the app's ``RELAY_CLOCK`` (a callable giving
    Unix time) says otherwise, so that tests can let days pass for expiry."""
    clock = current_app.config.get("RELAY_CLOCK")
    return None if clock is None else int(clock())


def _paging() -> tuple[int, int]:
    args = query_args(PAGE)
    return tuple(int_arg(args, name, *bounds) for name, bounds in PAGE.items())  # type: ignore[return-value]


@blueprint.post("/envelopes")
@require_token("relay")
def post_envelope() -> tuple[Response, int]:
    query_args(())
    if request.content_length and request.content_length > MAX_WIRE:
        raise ProblemError(413, "Envelope too large", f"At most {MAX_WIRE} bytes.")
    wire = request.get_data(cache=False)
    if len(wire) > MAX_WIRE:
        raise ProblemError(413, "Envelope too large", f"At most {MAX_WIRE} bytes.")
    accepted = relay.accept_envelope(db.session, g.node, wire, now=_relay_now())
    message = accepted.message
    body = {"id": message.message_id, "seq": message.seq, "status": message.state}
    return jsonify(body), 201 if accepted.created else 200


@blueprint.get("/inbox")
@require_token("relay")
def inbox() -> Response:
    after, limit = _paging()
    release_due(db.session)  # members-only items scheduled for now go out with this poll
    messages = relay.inbox(db.session, g.node, after, limit, now=_relay_now())
    return jsonify(
        {
            "messages": [
                {
                    "seq": m.seq,
                    "id": m.message_id,
                    "sender": m.sender,
                    "wire": b64url_encode(m.wire or b""),
                }
                for m in messages
            ],
            "next_after": messages[-1].seq if messages else after,
        }
    )


@blueprint.post("/ack")
@require_token("relay")
def ack() -> Response:
    query_args(())
    ids = json_body(frozenset({"ids"}))["ids"]
    if not (
        isinstance(ids, list)
        and 0 < len(ids) <= relay.INBOX_LIMIT
        # Checked before any query: PostgreSQL refuses a NUL in a text parameter outright.
        and all(isinstance(i, str) and MESSAGE_ID.fullmatch(i) for i in ids)
    ):
        raise invalid_parameter("ids", "give 1 to 100 message ids (base64url, 22 characters)")
    done, unknown = relay.acknowledge(db.session, g.node, ids)
    return jsonify({"acknowledged": done, "unknown": unknown})


@blueprint.get("/notices")
@require_token("relay")
def notices() -> Response:
    after, limit = _paging()
    found = relay.notices(db.session, g.node, after, limit)
    return jsonify(
        {
            "notices": [
                {
                    "seq": n.seq,
                    "id": n.message_id,
                    "recipient": n.recipient,
                    "status": n.status,
                    "at": as_utc(n.at).isoformat(),  # SQLite reads it back without its zone
                }
                for n in found
            ],
            "next_after": found[-1].seq if found else after,
        }
    )


# -- attachment blobs ---------------------------------------------------------------------


def _blob_id(value: str, name: str = "id") -> str:
    if not BLOB_ID.fullmatch(value):
        raise invalid_parameter(name, "an attachment id (base64url, 22 characters)")
    return value


def _blob_body() -> bytes:
    too_large = ProblemError(413, "Blob too large", f"At most {relay.MAX_BLOB} bytes.")
    if request.content_length and request.content_length > relay.MAX_BLOB:
        raise too_large
    request.max_content_length = relay.MAX_BLOB  # this request only (the app's limit is 4 MiB)
    data = request.get_data(cache=False)
    if len(data) > relay.MAX_BLOB:
        raise too_large
    return data


@blueprint.post("/blobs")
@require_token("relay")
def post_blob() -> tuple[Response, int]:
    args = query_args(("recipient", "id", "expires"))
    blob_id = _blob_id(args.get("id", ""))
    recipient = args.get("recipient", "")
    if not 0 < len(recipient) <= 63:
        raise invalid_parameter("recipient", "the recipient's node id")
    expires = int_arg(args, "expires", 0, 1, 2**62)
    data = _blob_body()
    blob, created = relay.accept_blob(
        db.session, g.node, blob_id, recipient, expires, data, now=_relay_now()
    )
    body = {"id": blob.blob_id, "size": blob.size, "status": blob.state}
    return jsonify(body), 201 if created else 200


def _own_blob(sender: str, blob_id: str) -> RelayBlob:
    blob = relay.blob_for(db.session, g.node, sender, _blob_id(blob_id), now=_relay_now())
    if blob is None:
        raise ProblemError(404, "No such blob", "No blob with this id is waiting for this node.")
    return blob


@blueprint.get("/blobs/<sender>/<blob_id>")
@require_token("relay")
def get_blob(sender: str, blob_id: str) -> Response:
    query_args(())
    blob = _own_blob(sender, blob_id)
    return Response(blob.data or b"", mimetype="application/octet-stream")


@blueprint.delete("/blobs/<sender>/<blob_id>")
@require_token("relay")
def delete_blob(sender: str, blob_id: str) -> tuple[str, int]:
    query_args(())
    if not relay.drop_blob(db.session, g.node, sender, _blob_id(blob_id)):
        raise ProblemError(404, "No such blob", "No blob with this id is waiting for this node.")
    return "", 204
