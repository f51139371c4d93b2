"""The secretariat's membership pages under ``/admin``: invitations, member nodes, the audit log.

Who may join, and what revoking does, is decided in :mod:`hub.enrolment`; these views only
call it. Every form posts with a CSRF token and works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from directory.models import Organization, utcnow
from hub.admin import SECRETARIAT
from hub.enrolment import (
    EnrolmentError,
    create_invitation,
    node_keys,
    organisation_nodes,
    revoke_invitation,
    revoke_node,
)
from hub.extensions import db
from hub.identity import hub_fingerprint, hub_identity
from hub.models import AuditEntry, Invitation, Node, NodeKey
from hub.oauth import issuer
from ponte.i18n import folded, localised_moment
from ponte.login import current_user, login_required
from ponte.problems import ProblemError
from protocol import PublicKeyRecord, fingerprint

blueprint = Blueprint("membership", __name__, url_prefix="/admin")
secretariat_only = login_required(roles={SECRETARIAT})

AUDIT_ROWS = 200
MAX_QUERY_LENGTH = 200
MAX_MATCHES = 30
ACTION_LABELS = {
    "invitation.create": _l("Invited an organisation"),
    "invitation.revoke": _l("Withdrew an invitation"),
    "node.enrol": _l("Node enrolled"),
    "node.rotate_keys": _l("Node registered a new key"),
    "node.revoke": _l("Revoked a node"),
    "item.created": _l("Wrote a new item"),
    "item.edited": _l("Edited an item"),
    "item.published": _l("Published an item"),
    "item.scheduled": _l("Scheduled an item"),
    "item.unscheduled": _l("Unscheduled an item"),
    "item.retracted": _l("Retracted an item"),
    "contribution.received": _l("A member proposed an item"),
    "contribution.approved": _l("Approved a member's item"),
    "contribution.rejected": _l("Rejected a member's item"),
    "directory.update": _l("A member updated its directory entry"),
    "directory.import": _l("Imported directory data"),
    "admin.create": _l("Created a secretariat account"),
    "admin.sign_in": _l("Signed in"),
}
NOTICES = {
    "withdrawn": _l("The invitation is withdrawn: its token no longer works."),
    "not-open": _l("This invitation was already used, so nothing was changed."),
    "revoked": _l(
        "The node is revoked: its tokens no longer work and its keys are attested as revoked."
    ),
}
# A node's status, a key's status and an invitation's state, as the tables show them: one
# context each, as the word agrees with a different noun in most languages.
NODE_STATUS_LABELS = {
    # Translators: a member node's status, in a table cell.
    "active": lazy_pgettext("node status", "active"),
    "revoked": lazy_pgettext("node status", "revoked"),
}
KEY_STATUS_LABELS = {
    # Translators: a node key's status as the hub attested it, in a table cell.
    "active": lazy_pgettext("key status", "active"),
    "revoked": lazy_pgettext("key status", "revoked"),
    "not attested": lazy_pgettext("key status", "not attested"),
}
INVITATION_STATE_LABELS = {
    # Translators: an invitation's state, in a table cell.
    "open": lazy_pgettext("invitation state", "open"),
    "used": lazy_pgettext("invitation state", "used"),
    "withdrawn": lazy_pgettext("invitation state", "withdrawn"),
    "expired": lazy_pgettext("invitation state", "expired"),
}


@blueprint.errorhandler(CSRFError)
def form_expired(error: CSRFError) -> ResponseReturnValue:
    """A post without a valid CSRF token changes nothing; say so in words (400)."""
    response = make_response(render_template("admin/form_expired.html"), 400)
    response.headers["Cache-Control"] = "no-store"
    return response


class InviteForm(FlaskForm):
    organisation_id = HiddenField(validators=[DataRequired(), Length(max=36)])


class ConfirmForm(FlaskForm):
    """A button that changes something: the CSRF token is its only field."""


# --- small helpers ---------------------------------------------------------------------------


def as_utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back without their zone; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def when(moment: dt.datetime | None) -> str:
    """A moment in the page's language, in UTC; "—" for none."""
    return localised_moment(moment)


def actor() -> str:
    user = current_user()
    if user is None:  # login_required lets nobody else in
        abort(403)
    return user.email


def page(template: str, status: int = 200, **context: object) -> tuple[str, int]:
    notice = NOTICES.get(request.args.get("notice", ""))
    return render_template(
        template,
        when=when,
        notice=notice,
        node_status_labels=NODE_STATUS_LABELS,
        invitation_state_labels=INVITATION_STATE_LABELS,
        **context,
    ), status


def key_fingerprint(key: NodeKey) -> str:
    return fingerprint(PublicKeyRecord.from_dict(key.record))


def attested_status(key: NodeKey) -> str:
    status = str(key.attestation.get("statement", {}).get("status", "not attested"))
    return str(KEY_STATUS_LABELS.get(status, status))


# --- invitations -----------------------------------------------------------------------------


def invitation_state(invitation: Invitation, now: dt.datetime) -> str:
    if invitation.revoked_at is not None:
        return "withdrawn"
    if invitation.used_at is not None:
        return "used"
    if as_utc(invitation.expires) <= now:
        return "expired"
    return "open"


@dataclass(frozen=True)
class InvitationRow:
    invitation: Invitation
    state: str


def invitation_rows() -> list[InvitationRow]:
    now = utcnow()
    query = (
        select(Invitation)
        .options(selectinload(Invitation.organization))
        .order_by(Invitation.created.desc())
    )
    return [InvitationRow(row, invitation_state(row, now)) for row in db.session.scalars(query)]


@blueprint.get("/invitations")
@secretariat_only
def invitations() -> ResponseReturnValue:
    return page("admin/invitations.html", rows=invitation_rows(), form=ConfirmForm())


@dataclass(frozen=True)
class OrganisationMatch:
    organisation: Organization
    active_nodes: int


def matching_organisations(text: str) -> list[OrganisationMatch]:
    """Directory organisations whose name contains ``text``, the first MAX_MATCHES by name."""
    wanted = folded(text)
    everyone = db.session.scalars(select(Organization).order_by(Organization.name))
    found = [org for org in everyone if wanted in folded(f"{org.name} {org.alternate_name or ''}")][
        :MAX_MATCHES
    ]
    return [OrganisationMatch(org, active_node_count(org.id)) for org in found]


def active_node_count(organisation_id: str) -> int:
    return sum(node.active for node in organisation_nodes(db.session, organisation_id))


def invite_page(
    form: InviteForm, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    text = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    matches = matching_organisations(text) if text else []
    return page(
        "admin/invite.html",
        status,
        q=text,
        matches=matches,
        max_matches=MAX_MATCHES,
        form=form,
        error=error,
    )


@blueprint.get("/invitations/new")
@secretariat_only
def new_invitation() -> ResponseReturnValue:
    return invite_page(InviteForm())


@blueprint.post("/invitations")
@secretariat_only
def create() -> ResponseReturnValue:
    form = InviteForm()
    if not form.validate_on_submit():
        return invite_page(form, _("Choose an organisation to invite."), 400)
    try:
        issued = create_invitation(db.session, form.organisation_id.data, actor())
    except EnrolmentError as error:  # its message is English and marked for the catalog
        return invite_page(form, _(error.message), error.status)
    # The token is shown on this response only: no redirect, so it is in no URL or cookie.
    return page(
        "admin/invitation_issued.html",
        invitation=issued.invitation,
        token=issued.token,
        hub_url=issuer(),
        hub_fingerprint=hub_fingerprint_if_unlocked(),
    )


def hub_fingerprint_if_unlocked() -> str | None:
    try:
        return hub_fingerprint()
    except ProblemError:
        return None


@blueprint.post("/invitations/<invitation_id>/withdraw")
@secretariat_only
def withdraw(invitation_id: str) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        invitation = revoke_invitation(db.session, invitation_id, actor())
    except EnrolmentError:
        abort(404)
    # revoke_invitation leaves a used invitation as it is.
    notice = "withdrawn" if invitation.revoked_at is not None else "not-open"
    return redirect(url_for(".invitations", notice=notice))


# --- nodes -----------------------------------------------------------------------------------


@blueprint.get("/nodes")
@secretariat_only
def nodes() -> ResponseReturnValue:
    query = (
        select(Node)
        .options(selectinload(Node.organization), selectinload(Node.keys))
        .order_by(Node.enrolled.desc())
    )
    return page(
        "admin/nodes.html", nodes=list(db.session.scalars(query)), fingerprint=key_fingerprint
    )


def known_node(node_id: str) -> Node:
    try:
        return node_keys(db.session, node_id)
    except EnrolmentError:
        abort(404)


def enrolling_invitation(node_id: str) -> Invitation | None:
    query = select(Invitation).where(Invitation.used_by_node == node_id)
    return db.session.scalars(query).first()


@blueprint.get("/nodes/<node_id>")
@secretariat_only
def node_detail(node_id: str) -> ResponseReturnValue:
    return page(
        "admin/node.html",
        node=known_node(node_id),
        invitation=enrolling_invitation(node_id),
        fingerprint=key_fingerprint,
        attested_status=attested_status,
    )


def revoke_page(node: Node, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return page("admin/revoke_node.html", status, node=node, form=ConfirmForm(), error=error)


@blueprint.get("/nodes/<node_id>/revoke")
@secretariat_only
def confirm_revoke(node_id: str) -> ResponseReturnValue:
    return revoke_page(known_node(node_id))


@blueprint.post("/nodes/<node_id>/revoke")
@secretariat_only
def revoke(node_id: str) -> ResponseReturnValue:
    node = known_node(node_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        hub = hub_identity()
    except ProblemError:
        message = _(
            "The hub's key is locked (the hub was started without PONTE_HUB_PASSPHRASE, or "
            "the passphrase does not open its keystore), so the revocation cannot be signed. "
            "Nothing was changed; the node is still active."
        )
        return revoke_page(node, message, 503)
    revoke_node(db.session, hub, node.id, actor())
    return redirect(url_for(".node_detail", node_id=node.id, notice="revoked"))


# --- audit -----------------------------------------------------------------------------------


def organisation_names(ids: set[str]) -> dict[str, str]:
    query = select(Organization.id, Organization.name).where(Organization.id.in_(ids))
    return {row.id: row.name for row in db.session.execute(query)}


@blueprint.get("/audit")
@secretariat_only
def audit_log() -> ResponseReturnValue:
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    entries = list(db.session.scalars(query.limit(AUDIT_ROWS)))
    names = organisation_names({entry.subject for entry in entries if entry.subject})
    return page(
        "admin/audit.html",
        entries=entries,
        names=names,
        labels=ACTION_LABELS,
        limit=AUDIT_ROWS,
    )
