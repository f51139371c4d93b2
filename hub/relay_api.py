"""``/api/v1/relay``: nodes post envelopes, fetch their inbox, acknowledge, read notices.

See docs/relay.md. Every call needs a token with scope ``relay``; a node only ever sees its
own inbox and its own notices.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from hub import relay
from hub.enrolment_api import json_body
from hub.extensions import db
from hub.oauth import require_token
from ponte.csrf import csrf
from ponte.params import int_arg, query_args
from ponte.problems import ProblemError, invalid_parameter, problem
from protocol import b64url_encode
from protocol.padding import MAX_ENVELOPE_BUCKET

blueprint = Blueprint("relay_api", __name__, url_prefix="/api/v1/relay")
csrf.exempt(blueprint)

MAX_WIRE = MAX_ENVELOPE_BUCKET + 2048  # largest body plus header and framing
PAGE = {"after": (0, 0, 2**62), "limit": (50, 1, relay.INBOX_LIMIT)}


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
        and all(isinstance(i, str) and len(i) == 22 for i in ids)
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
                    "at": n.at.isoformat(),
                }
                for n in found
            ],
            "next_after": found[-1].seq if found else after,
        }
    )
