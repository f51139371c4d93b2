"""``/api/v1``: enrolment of nodes, the hub's public key, and the attested key directory."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from hub import enrolment
from hub.extensions import db
from hub.identity import hub_fingerprint, hub_identity, hub_record
from hub.oauth import require_token
from hub.publishing import deliver_backlog
from ponte.csrf import csrf
from ponte.params import query_args
from ponte.problems import ProblemError, problem
from protocol import PublicKeyRecord, fingerprint

blueprint = Blueprint("enrolment_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # nodes authenticate with invitations and tokens, not cookies

ENROL_FIELDS = frozenset({"invitation", "key_record", "proof"})


@blueprint.errorhandler(enrolment.EnrolmentError)
def enrolment_error(error: enrolment.EnrolmentError) -> Response:
    title = error.code.replace("_", " ").capitalize()
    return problem(error.status, title, error.message, code=error.code)


def json_body(fields: frozenset[str]) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ProblemError(400, "Invalid request", "Send a JSON object.", code="invalid_request")
    unknown = sorted(set(body) - fields)
    missing = sorted(fields - set(body))
    if unknown or missing:
        raise ProblemError(
            400,
            "Invalid request",
            f"Expected the fields {', '.join(sorted(fields))}"
            f" (missing: {', '.join(missing) or 'none'}; unknown: "
            f"{', '.join(unknown)[:200] or 'none'}).",
            code="invalid_request",
        )
    return body


@blueprint.post("/enrol")
def enrol() -> tuple[Response, int]:
    query_args(())
    body = json_body(ENROL_FIELDS)
    node = enrolment.redeem_invitation(
        db.session, hub_identity(), body["invitation"], body["key_record"], body["proof"]
    )
    deliver_backlog(db.session, hub_identity(), node)  # recent members-only items
    return jsonify(
        {
            "node_id": node.id,
            "organisation": {"id": node.organization.id, "name": node.organization.name},
            "attestation": node.current_key.attestation,
            "hub_key": hub_record().to_dict(),
            "hub_fingerprint": hub_fingerprint(),
        }
    ), 201


@blueprint.get("/hub/key")
def hub_key() -> Response:
    query_args(())
    return jsonify({"key_record": hub_record().to_dict(), "fingerprint": hub_fingerprint()})


@blueprint.get("/nodes/<node_id>/keys")
@require_token("relay")
def node_keys(node_id: str) -> Response:
    query_args(())
    node = enrolment.node_keys(db.session, node_id)
    current = PublicKeyRecord.from_dict(node.current_key.record)
    return jsonify(
        {
            "node_id": node.id,
            "organisation_id": node.organization_id,
            "status": "active" if node.active else "revoked",
            "fingerprint": fingerprint(current),
            "keys": [key.attestation for key in node.keys],
        }
    )


@blueprint.post("/nodes/<node_id>/keys")
@require_token("relay")
def rotate_keys(node_id: str) -> tuple[Response, int]:
    """A node registers its next key version, signed by its current key."""
    query_args(())
    if g.node.id != node_id:
        raise ProblemError(
            403, "Not your node", "A node can only rotate its own keys.", code="not_your_node"
        )
    body = json_body(frozenset({"key_record", "signature"}))
    key = enrolment.rotate_key(
        db.session, hub_identity(), node_id, body["key_record"], body["signature"]
    )
    return jsonify({"node_id": node_id, "attestation": key.attestation}), 201


@blueprint.get("/ping")
@require_token("relay")
def ping() -> Response:
    """A token-authenticated no-op: lets a node (or a benchmark) check its link to the hub."""
    query_args(())
    return jsonify({"node_id": g.node.id})
