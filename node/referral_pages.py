"""``/cases``: caseworkers refer a case to a partner, follow each case's thread, and see what
is waiting (unanswered referrals, dates near, follow-ups due).

The pages call :mod:`node.referrals` for every change; they only turn forms into calls and
errors into plain messages next to the field. Plain HTML, no scripts, works without JS.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select

from node import audit
from node.attachments import FILE_PROBLEMS, AttachmentLimits, case_attachments
from node.extensions import db
from node.hub_client import HubError
from node.inbound import KNOWN_REASONS
from node.keys import NodeKeys, node_keys
from node.lifecycle import FROM, LABELS, MOVED_BY, OPEN, TransitionRefused
from node.login import CASEWORKER, NODE_ADMIN
from node.models import CaseAttachment, Referral
from node.referral_form import (
    GROUPS,
    ReferralForm,
    field_for_error,
    payload_from,
    plain_problem,
    readable_groups,
)
from node.referrals import (
    AttachmentRefused,
    PartnerUnavailable,
    ReferralError,
    case_events,
    change_status,
    create_referral,
    list_referrals,
    offer_siblings,
)
from node.stored_text import translated
from ponte.i18n import localised_moment
from ponte.login import current_user, login_required
from protocol import ProtocolError, ValidationError

blueprint = Blueprint("cases", __name__, url_prefix="/cases")
ROLES = (CASEWORKER, NODE_ADMIN)
SOON = dt.timedelta(days=7)
ACTION_LABELS = {
    "accepted": _l("Accept the referral"),
    "in_progress": _l("Mark as in progress"),
    "completed": _l("Mark as completed"),
    "withdrawn": _l("Withdraw the referral"),
}
UNANSWERED = frozenset({"sent", "delivered"})
TAKEN = frozenset({"accepted", "in_progress", "completed"})
MAX_CANDIDATES = 5
_organisation_names: dict[str, str] = {}


# --- what is waiting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    unanswered: list[Referral]
    due_soon: list[Referral]
    follow_ups: list[Referral]

    @property
    def empty(self) -> bool:
        return not (self.unanswered or self.due_soon or self.follow_ups)


def needed_by(case: Referral) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(case.payload.get("requested_by")))
    except ValueError:
        return None


def waiting(cases: list[Referral], today: dt.date) -> Waiting:
    def due(case: Referral) -> bool:
        date = needed_by(case)
        return case.status in OPEN and date is not None and date <= today + SOON

    return Waiting(
        unanswered=[c for c in cases if c.role == "recipient" and c.status in UNANSWERED],
        due_soon=sorted((c for c in cases if due(c)), key=lambda c: needed_by(c) or today),
        follow_ups=[c for c in cases if c.status == "in_progress" and "follow_up" in c.payload],
    )


# --- offers: one request, several candidates ----------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """The copies of one request sent to several candidate organisations (first accept wins)."""

    cases: list[Referral]

    @property
    def organisations(self) -> list[str]:
        return list(dict.fromkeys(case.partner_organisation_id for case in self.cases))

    @property
    def taken_by(self) -> Referral | None:
        return next((case for case in self.cases if case.status in TAKEN), None)


def offers_of(cases: list[Referral]) -> dict[str, Offer]:
    """Our outgoing offers among ``cases``, by offer id."""
    grouped: dict[str, list[Referral]] = {}
    for case in cases:
        if case.offer_id is not None and case.role == "sender":
            grouped.setdefault(case.offer_id, []).append(case)
    return {
        offer_id: Offer(sorted(copies, key=lambda c: (c.created, c.id)))
        for offer_id, copies in grouped.items()
    }


def offer_of(case: Referral) -> Offer | None:
    if case.offer_id is None or case.role != "sender":
        return None
    return offers_of([case, *offer_siblings(db.session, case)]).get(case.offer_id)


def chosen_organisations(values: list[str]) -> list[str]:
    """The organisation ids picked in step 1, in order, each once."""
    return list(dict.fromkeys(value.strip() for value in values if value.strip()))


# --- helpers -------------------------------------------------------------------------------------


def case_label(case: Referral) -> str:
    person = case.payload.get("person", {})
    return str(person.get("case_code") or person.get("initials") or case.id)


def organisation_name(keys: NodeKeys, organisation_id: str) -> str:
    if organisation_id not in _organisation_names:
        try:
            _organisation_names[organisation_id] = str(
                keys.hub.organisation(organisation_id)["name"]
            )
        except (HubError, KeyError):
            return organisation_id
    return _organisation_names[organisation_id]


def allowed_actions(case: Referral) -> list[str]:
    """The status changes our side may make now, per the lifecycle (none once erased)."""
    if case.erased_at is not None:
        return []
    return [
        status
        for status, side in MOVED_BY.items()
        if side == case.role and case.status in FROM[status]
    ]


def _author() -> str:
    user = current_user()
    return user.email if user else "unknown"


def needed_by_shown(case: Referral) -> str | None:
    """The date an answer is needed by, as the page's language writes it."""
    date = needed_by(case)
    return None if date is None else format_date(date, "long")


def _template_helpers() -> dict[str, Any]:
    keys = node_keys()
    return {
        "case_label": case_label,
        "status_label": lambda status: LABELS.get(status, status),
        "organisation_name": lambda org_id: organisation_name(keys, org_id),
        "needed_by": needed_by_shown,
        "moment": localised_moment,
        "file_problem": lambda text: translated(text, FILE_PROBLEMS),
        "event_reason": lambda text: translated(text, KNOWN_REASONS),
    }


# --- the list ------------------------------------------------------------------------------------


@blueprint.get("/")
@login_required(ROLES)
def list_cases() -> ResponseReturnValue:
    cases = list_referrals(db.session)
    return render_template(
        "cases.html",
        cases=cases,
        offers=offers_of(cases),
        waiting=waiting(cases, dt.date.today()),
        **_template_helpers(),
    )


# --- a new referral ------------------------------------------------------------------------------


def _organisations_with_nodes(keys: NodeKeys, text: str) -> list[dict[str, Any]]:
    """Search results whose organisation has an active node (other than ours)."""
    found = []
    for result in keys.hub.search(text):
        organisation_id = result["organisation"]["id"]
        if organisation_id == keys.enrolment.organisation_id:
            continue
        entry = keys.hub.organisation(organisation_id)
        if any(node.get("active", True) for node in entry.get("nodes", [])):
            found.append(entry)
    return found


def _search_page(
    query: str, error: str | None = None, chosen: list[str] | None = None, status: int = 200
) -> Any:
    results = None
    if query:
        try:
            results = _organisations_with_nodes(node_keys(), query)
        except HubError as exc:
            error = _("The hub's directory could not be searched just now: %(error)s", error=exc)
    page = render_template(
        "case_search.html",
        query=query,
        results=results,
        error=error,
        chosen=chosen or [],
        max_candidates=MAX_CANDIDATES,
    )
    return page, status


def _form_page(
    form: FlaskForm, partners: list[dict[str, Any]], error: str | None, status: int
) -> Any:
    page = render_template(
        "case_new.html",
        form=form,
        groups=GROUPS,
        partners=partners,
        names=", ".join(str(partner["name"]) for partner in partners),
        error=error,
        limits=attachment_limits(),
    )
    return page, status


@blueprint.route("/new", methods=["GET", "POST"])
@login_required(ROLES)
def new_case() -> ResponseReturnValue:
    """Step 1 (search, tick one or several partners), then step 2 (the form) and sending.

    The chosen organisations travel as repeated ``organisation`` parameters: in the URL from
    step 1, then as hidden fields of the form (the URL's are still read, for links to one).
    """
    query = request.args.get("q", "").strip()
    chosen = chosen_organisations(request.form.getlist("organisation"))
    chosen = chosen or chosen_organisations(request.args.getlist("organisation"))
    if not chosen:
        if request.method == "POST":
            return _search_page(query, _("Choose at least one partner organisation."), status=400)
        return _search_page(query)
    if len(chosen) > MAX_CANDIDATES:
        error = ngettext(
            "You chose %(num)d organisation: a referral can be offered to at most %(most)d at "
            "once. Untick some and continue.",
            "You chose %(num)d organisations: a referral can be offered to at most %(most)d at "
            "once. Untick some and continue.",
            len(chosen),
            most=MAX_CANDIDATES,
        )
        return _search_page(query, error, chosen, 400)
    keys = node_keys()
    try:
        partners = [keys.hub.organisation(organisation_id) for organisation_id in chosen]
    except HubError as exc:
        error = _("This organisation could not be opened: %(error)s", error=exc)
        return _search_page(query, error, chosen, 400)
    form = ReferralForm()
    if request.method == "GET":
        return _form_page(form, partners, None, 200)
    if not form.validate():
        return _form_page(form, partners, _("Please look at the fields marked below."), 400)
    return _send(keys, form, partners)


def attachment_limits() -> AttachmentLimits:
    """The node's limits (``ATTACHMENT_MAX_FILES``, ``ATTACHMENT_MAX_FILE_BYTES`` settings)."""
    config = current_app.config
    default = AttachmentLimits()
    return AttachmentLimits(
        int(config.get("ATTACHMENT_MAX_FILES", default.max_files)),
        int(config.get("ATTACHMENT_MAX_FILE_BYTES", default.max_file_bytes)),
    )


def allow_uploads() -> None:
    """Before CSRF reads the form: a new referral may carry files beyond the usual 4 MiB."""
    if request.endpoint == "cases.new_case" and request.method == "POST":
        request.max_content_length = attachment_limits().max_total_bytes + 1024 * 1024


def _uploaded_files() -> list[tuple[str, str, bytes]]:
    return [
        (upload.filename, upload.mimetype or "application/octet-stream", upload.read())
        for upload in request.files.getlist("attachments")
        if upload.filename
    ]


def _send(keys: NodeKeys, form: FlaskForm, partners: list[dict[str, Any]]) -> ResponseReturnValue:
    try:
        cases = create_referral(
            db.session,
            keys,
            payload_from(form),
            [partner["id"] for partner in partners],
            _author(),
            attachments=_uploaded_files(),
            limits=attachment_limits(),
        )
    except ValidationError as exc:
        name = field_for_error(exc.field)
        if name is None:
            return _form_page(form, partners, plain_problem(str(exc)), 400)
        form[name].errors = [*form[name].errors, plain_problem(exc.problem)]
        return _form_page(form, partners, _("Please look at the fields marked below."), 400)
    except (ReferralError, PartnerUnavailable, HubError, ProtocolError, AttachmentRefused) as exc:
        return _form_page(form, partners, _("Nothing was sent: %(error)s", error=exc), 400)
    # One offer: its first case, whose page lists the other candidates.
    return redirect(url_for("cases.show_case", referral_id=cases[0].id))


# --- one case ------------------------------------------------------------------------------------


def _case_page(referral_id: str, error: str | None = None, status: int = 200) -> Any:
    case = db.session.get(Referral, referral_id)
    if case is None:
        abort(404)
    page = render_template(
        "case.html",
        case=case,
        offer=offer_of(case),
        events=case_events(db.session, referral_id),
        details=readable_groups(case.payload, received=case.role == "recipient"),
        actions=allowed_actions(case),
        attachments=case_attachments(db.session, referral_id),
        action_labels=ACTION_LABELS,
        error=error,
        **_template_helpers(),
    )
    return page, status


@blueprint.get("/<referral_id>")
@login_required(ROLES)
def show_case(referral_id: str) -> ResponseReturnValue:
    page = _case_page(referral_id)
    audit.record(db.session, audit.VIEWED, _author(), referral_id)
    db.session.commit()
    return page


def _change(referral_id: str, status: str | None) -> ResponseReturnValue:
    form = request.form
    try:
        change_status(
            db.session,
            node_keys(),
            referral_id,
            status,
            _author(),
            message=form.get("message", "").strip() or None,
            reason=form.get("reason", "").strip() or None,
        )
    except (ReferralError, TransitionRefused, PartnerUnavailable, HubError) as exc:
        return _case_page(referral_id, _("Nothing was changed: %(error)s", error=exc), 400)
    except ProtocolError as exc:
        error = _("Nothing was changed: %(error)s", error=plain_problem(str(exc)))
        return _case_page(referral_id, error, 400)
    return redirect(url_for("cases.show_case", referral_id=referral_id))


SAFE_INLINE = re.compile(r"(application/pdf|image/(png|jpeg|gif)|text/plain)")


@blueprint.get("/<referral_id>/attachments/<attachment_id>")
@login_required(ROLES)
def download_attachment(referral_id: str, attachment_id: str) -> Response:
    """Always a download (never shown inline), and never sniffed into HTML."""
    query = select(CaseAttachment).where(
        CaseAttachment.referral_id == referral_id,
        CaseAttachment.attachment_id == attachment_id,
    )
    attachment = db.session.scalars(query).first()
    if attachment is None or attachment.data is None:
        abort(404)
    media_type = attachment.media_type
    if not SAFE_INLINE.fullmatch(media_type):
        media_type = "application/octet-stream"
    response = send_file(
        io.BytesIO(attachment.data),
        mimetype=media_type,
        as_attachment=True,
        download_name=attachment.name,
        max_age=0,
    )
    detail = f"file {attachment_id}"  # its id: a file's name may hold personal data
    audit.record(db.session, audit.ATTACHMENT_VIEWED, _author(), referral_id, detail)
    db.session.commit()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/<referral_id>/status")
@login_required(ROLES)
def set_case_status(referral_id: str) -> ResponseReturnValue:
    status = request.form.get("status", "")
    if status not in MOVED_BY:
        return _case_page(referral_id, _("That is not a change this page can make."), 400)
    return _change(referral_id, status)


@blueprint.post("/<referral_id>/message")
@login_required(ROLES)
def send_message(referral_id: str) -> ResponseReturnValue:
    return _change(referral_id, None)
