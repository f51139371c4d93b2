"""The secretariat's area of the hub, under ``/admin``: sign-in, sign-out and the landing page
(later: invitations, nodes, publishing)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from directory.catalogue import organisation_count
from hub.enrolment import audit
from hub.extensions import db
from hub.models import AdminSession, AdminUser, Node
from ponte.accounts import UserMixin
from ponte.login import current_user, login_blueprint, login_required

SECRETARIAT = "secretariat"

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


def _audit_sign_in(user: UserMixin) -> None:
    audit(db.session, user.email, "admin.sign_in", user.email)


blueprint.register_blueprint(
    login_blueprint(
        db,
        AdminUser,
        AdminSession,
        landing_endpoint="admin.index",
        title=_l("Secretariat sign-in"),
        on_sign_in=_audit_sign_in,
    )
)


@blueprint.get("/")
@login_required(roles={SECRETARIAT})
def index() -> str:
    return render_template(
        "admin/index.html",
        user=current_user(),
        organisations=organisation_count(db.session),
        nodes=active_node_count(),
    )


def active_node_count() -> int:
    return db.session.scalar(select(func.count(Node.id)).where(Node.revoked_at.is_(None))) or 0
