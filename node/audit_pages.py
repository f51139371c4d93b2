"""``/audit``: the node's audit log for node admins (newest entries first, one case's entries,
and a check of the hash chain). Read-only: nothing here changes the log."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from node import audit
from node.extensions import db
from node.login import NODE_ADMIN
from ponte.i18n import localised_moment
from ponte.login import login_required

blueprint = Blueprint("audit", __name__, url_prefix="/audit")
SHOWN = 200


@blueprint.get("/")
@login_required([NODE_ADMIN])
def log() -> ResponseReturnValue:
    case_id = request.args.get("case", "").strip()[:22] or None
    report = audit.verify(db.session) if request.args.get("verify") else None
    return render_template(
        "audit.html",
        entries=audit.latest(db.session, SHOWN, case_id),
        case_id=case_id,
        report=report,
        shown=SHOWN,
        moment=localised_moment,
    )
