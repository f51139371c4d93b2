"""``/api/v1``: the signed documents of public items (SPEC.md 4.6), resources' files, and
members' contributions.

- ``GET /publications?after=&limit=``: signed revisions of public items in signing order;
  ``GET /publications/<item_id>``: an item's current signed revision and which key signed it;
  ``GET /publications/<item_id>/file``: a resource's file. Public, no token; a members-only
  item's file needs a token of scope ``feeds:read``.
- ``POST /contributions`` and ``GET /contributions`` (scope ``contribute``): a member node
  proposes an item (a contribution signed with its key) and follows what became of its own.

What is not public is never acknowledged to an anonymous caller: an unknown item, a draft and a
members-only item all answer the same 404.
"""

from __future__ import annotations

import re

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, abort, g, jsonify, request

from hub.contributions import contribution_status, contributions_of, receive_contribution
from hub.enrolment_api import json_body
from hub.extensions import db
from hub.identity import hub_record
from hub.models import Node, PublicationItem
from hub.news_pages import file_download
from hub.oauth import bearer_error, current_time, protector, require_token
from hub.publishing import PublishingError, latest_signed, release_due, signed_public
from ponte.csrf import csrf
from ponte.params import MAX_SQL_INTEGER, int_arg, query_args
from ponte.problems import ProblemError, problem
from protocol import fingerprint
from protocol.publication import ITEM_ID

blueprint = Blueprint("publications_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # nodes authenticate with tokens and signed documents, not cookies

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_SEQ = MAX_SQL_INTEGER  # the seq column's range
DOCUMENT_FIELDS = frozenset({"statement", "signature"})
MEMBERS_SCOPE = "feeds:read"


@blueprint.errorhandler(PublishingError)
def publishing_error(error: PublishingError) -> Response:
    return problem(
        error.status,
        "Contribution refused",
        error.message,
        invalid_params=[{"name": error.field, "reason": error.message}],
    )


def _not_found() -> ProblemError:
    return ProblemError(404, "Not Found", "No public item has this id.")


@blueprint.get("/publications")
def publications() -> Response:
    args = query_args(("after", "limit"))
    after = int_arg(args, "after", 0, 0, MAX_SEQ)
    limit = int_arg(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    release_due(db.session)
    rows = signed_public(db.session, after, limit)
    return jsonify(
        {
            "publications": [
                {
                    "seq": row.seq,
                    "item_id": row.item_id,
                    "revision": row.revision,
                    "document": row.document,
                }
                for row in rows
            ],
            "next_after": rows[-1].seq if rows else after,
        }
    )


@blueprint.get("/publications/<item_id>")
def publication(item_id: str) -> Response:
    query_args(())
    release_due(db.session)
    signed = latest_signed(db.session, item_id) if re.fullmatch(ITEM_ID, item_id) else None
    if signed is None or signed.audience != "public":
        raise _not_found()
    # Only names the key: a reader verifies with the hub key it pinned or fetched itself.
    record = hub_record()
    return jsonify(
        {
            "document": signed.document,
            "key": {
                "node_id": record.node_id,
                "key_version": record.key_version,
                "fingerprint": fingerprint(record),
            },
        }
    )


@blueprint.get("/publications/<item_id>/file")
def publication_file(item_id: str) -> Response:
    query_args(())
    member = _member_node()
    item = db.session.get(PublicationItem, item_id)
    readable = (
        item is not None
        and item.state == "published"
        and item.file_name is not None
        and (item.audience == "public" or member is not None)
    )
    if not readable:
        raise _not_found()
    assert item is not None
    return file_download(item)


def _member_node() -> Node | None:
    """The node of the request's ``feeds:read`` token; None without an Authorization header.

    A token that is sent is checked before the item is looked up, so the answer to a bad token
    (401/403) is the same whether or not the item exists and who may read it.
    """
    if "Authorization" not in request.headers:
        return None
    try:
        token = protector.acquire_token([MEMBERS_SCOPE])
    except OAuth2Error as error:
        abort(bearer_error(error, MEMBERS_SCOPE))
    node: Node = token.node
    return node


@blueprint.post("/contributions")
@require_token("contribute")
def contribute() -> tuple[Response, int]:
    query_args(())
    document = json_body(DOCUMENT_FIELDS)
    contribution, created = receive_contribution(db.session, g.node, document, current_time())
    return jsonify(contribution_status(contribution)), 201 if created else 200


@blueprint.get("/contributions")
@require_token("contribute")
def contributions() -> Response:
    query_args(())
    return jsonify(
        {"contributions": [contribution_status(c) for c in contributions_of(db.session, g.node)]}
    )
