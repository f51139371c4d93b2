"""``POST /api/v1/organisations/<id>/profile``: a node updates its own organisation's entry.

The node sends a directory-update document signed with its current key (SPEC.md 4.5) and a
token of scope ``directory:write``. The hub checks, in the order of the specification, that
the node belongs to the organisation, that the signature and every field are valid and that
the update is fresh; then it applies it to that organisation only, keeps the signed document,
writes the audit log and brings the search index up to date. A refused update changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from directory import catalogue
from directory.models import Organization
from directory.profile import ProfileChangeRefused, apply_profile_update
from hub.directory_api import organisation_json
from hub.enrolment import audit
from hub.enrolment_api import json_body
from hub.extensions import db
from hub.models import DirectoryUpdate, Node
from hub.oauth import current_time, require_token
from hub.search_index import search_index
from ponte.csrf import csrf
from ponte.params import query_args
from ponte.problems import ProblemError
from protocol import (
    ProfileUpdate,
    ProtocolError,
    PublicKeyRecord,
    SignatureError,
    ValidationError,
)
from protocol.profile import SUBMISSION_WINDOW, verify_profile_update

blueprint = Blueprint("profile_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # nodes authenticate with signed documents and tokens, not cookies

DOCUMENT_FIELDS = frozenset({"statement", "signature"})


def _refused(status: int, code: str, detail: str) -> ProblemError:
    return ProblemError(status, code.replace("_", " ").capitalize(), detail, code=code)


def _not_yours() -> ProblemError:
    return _refused(
        403,
        "not_your_organisation",
        "A node can only update the directory entry of its own organisation.",
    )


def _invalid(field: str, problem: str) -> ProblemError:
    return ProblemError(
        400,
        "Invalid update",
        f"{field}: {problem}",
        code="invalid_update",
        invalid_params=[{"name": field, "reason": problem}],
    )


@blueprint.post("/organisations/<organisation_id>/profile")
@require_token("directory:write")
def update_profile(organisation_id: str) -> Response:
    query_args(())
    node: Node = g.node
    if node.organization_id != organisation_id:
        raise _not_yours()
    document = json_body(DOCUMENT_FIELDS)
    update = _verified(node, document)
    if (field := _field_with_nul(update.changes, "changes")) is not None:
        raise _invalid(field, "must not contain NUL characters")  # PostgreSQL cannot store one
    if update.organisation_id != organisation_id:
        raise _not_yours()
    _check_fresh(node, update.submitted_at)
    organisation = catalogue.get_organisation(db.session, organisation_id)
    if organisation is None:  # the node's organisation has been removed from the directory
        raise _refused(404, "unknown_organisation", "No organisation has this id.")
    _apply(node, organisation, update, document)
    updated = catalogue.organisations_with_details(db.session, [organisation_id])
    search_index().update(updated)
    return jsonify(organisation_json(updated[0]))


def _verified(node: Node, document: dict[str, object]) -> ProfileUpdate:
    """The statement, checked against the node's current key (SPEC.md 4.5 checks 2-4)."""
    record = PublicKeyRecord.from_dict(node.current_key.record)
    try:
        return verify_profile_update(record, document)
    except SignatureError as error:
        raise _refused(
            400,
            "invalid_signature",
            "The signature does not verify with this node's current key: sign the update "
            "with the key the hub has for this node.",
        ) from error
    except ValidationError as error:
        raise _invalid(error.field, error.problem) from error
    except ProtocolError as error:
        raise _invalid("statement", str(error)) from error


def _field_with_nul(value: object, path: str) -> str | None:
    """The dotted path (as protocol/fields.py names fields) of the first text holding a NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        parts = ((f"{path}.{name}", part) for name, part in value.items())
    elif isinstance(value, list):
        parts = ((f"{path}[{index}]", part) for index, part in enumerate(value))
    else:
        return None
    return next((found for at, part in parts if (found := _field_with_nul(part, at))), None)


def _check_fresh(node: Node, submitted_at: int) -> None:
    """Within the submission window of the hub's clock, and newer than the last one applied."""
    drift = submitted_at - current_time()
    if abs(drift) > SUBMISSION_WINDOW:
        when = "ahead of" if drift > 0 else "behind"
        raise _refused(
            400,
            "stale_update",
            f"submitted_at is {abs(drift)} seconds {when} the hub's clock (at most "
            f"{SUBMISSION_WINDOW} are accepted). Check the node's clock and send the update again.",
        )
    last = db.session.scalar(
        select(func.max(DirectoryUpdate.submitted_at)).where(DirectoryUpdate.node_id == node.id)
    )
    if last is not None and submitted_at <= last:
        raise _refused(
            409,
            "replayed_update",
            "This update is not newer than the last one applied from this node; "
            "it was already applied or is out of date. Sign a new one.",
        )


def _apply(
    node: Node, organisation: Organization, update: ProfileUpdate, document: dict[str, object]
) -> None:
    """Apply, keep the signed document, audit, commit: all of it or nothing."""
    actor = f"node:{node.id}"
    try:
        changed = apply_profile_update(db.session, organisation, update.changes, actor)
    except ProfileChangeRefused as error:
        db.session.rollback()
        raise _invalid(error.field, error.problem) from error
    db.session.add(
        DirectoryUpdate(
            node_id=node.id,
            organization_id=organisation.id,
            submitted_at=update.submitted_at,
            fields=changed,
            document=document,
        )
    )
    detail = ", ".join(changed) or "no changes: entry confirmed as it is"
    audit(db.session, actor, "directory.update", organisation.id, detail)
    try:
        db.session.commit()
    except IntegrityError as error:  # the same document, applied by a concurrent request
        db.session.rollback()
        raise _refused(409, "replayed_update", "This update was already applied.") from error
