"""The secretariat's publishing desk under ``/admin/publishing``: write, preview, publish,
schedule, edit and retract items, read their history, moderate members' contributions.

What may be published, and what each step signs and delivers, is decided in
:mod:`hub.publishing` and :mod:`hub.contributions`; these views only call them. Every form
posts with a CSRF token and works without JavaScript. On an error the form comes back with
everything the author typed and the message next to the field.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from typing import Any

from babel import Locale
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString, lazy_pgettext, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from flask_wtf.file import FileField
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import (
    DateTimeLocalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import Optional

from directory.models import utcnow
from hub.contributions import approve_contribution, pending_contributions, reject_contribution
from hub.extensions import db
from hub.membership_pages import (
    actor,
    form_expired,
    hub_fingerprint_if_unlocked,
    secretariat_only,
    when,
)
from hub.models import ItemRevision, MemberContribution, PublicationItem
from hub.publishing import (
    MAX_BODY_CHARS,
    MAX_FILE_BYTES,
    ItemDraft,
    ItemFile,
    PublishingError,
    check_draft,
    check_publish_at,
    create_item,
    edit_item,
    event_fields,
    publish_item,
    retract_item,
    schedule_item,
    signing_identity,
    unschedule_item,
)
from ponte.appfactory import MAX_REQUEST_BYTES
from ponte.i18n import current_language
from ponte.markdown import render_markdown
from ponte.msgids import N_
from ponte.problems import ProblemError
from ponte.topics import ITEM_KIND_LABELS, TOPIC_GROUPS, TOPICS
from protocol import NodeIdentity

blueprint = Blueprint("publishing", __name__, url_prefix="/admin/publishing")
blueprint.register_error_handler(CSRFError, form_expired)

STATES = ("draft", "scheduled", "published", "retracted")
LIST_ROWS = 500
DECIDED_ROWS = 100
# The languages member NGOs write in (named on the page in its language, from CLDR); any other
# ISO 639-1 code may be typed.
LANGUAGES = (
    "en", "fr", "it", "es", "de", "ro", "bg", "el", "hr", "sl", "sk", "cs", "pl", "hu", "lt",
    "lv", "et", "nl", "pt", "sq", "sr", "mk", "uk", "ru", "ar", "ti",
)  # fmt: skip
AUDIENCES = {
    "public": _l("Public: on the website, the feeds and the API"),
    "members": _l("Members only: sent encrypted to every member node"),
}
# What was done to an item in a revision (the same words head columns elsewhere: a context
# keeps the two apart for the translators).
REVISION_ACTIONS = {
    "created": lazy_pgettext("revision action", "Created"),
    "edited": _l("Edited"),
    "published": lazy_pgettext("revision action", "Published"),
    "scheduled": _l("Scheduled"),
    "unscheduled": _l("Unscheduled"),
    "retracted": _l("Retracted"),
}
# An item's state as a word in a sentence ("this one is draft", "scheduled for …").
STATE_LABELS = {
    # Translators: an item's state, lower case in a sentence ("this one is draft").
    "draft": lazy_pgettext("item state", "draft"),
    "scheduled": lazy_pgettext("item state", "scheduled"),
    "published": lazy_pgettext("item state", "published"),
    "retracted": lazy_pgettext("item state", "retracted"),
}
# The list's filter by state: labels of their own, capitalised as each language does (a
# "| capitalize" would lower-case the rest of a label, e.g. a German noun).
STATE_FILTER_LABELS = {
    "draft": lazy_pgettext("state filter", "Drafts"),
    "scheduled": lazy_pgettext("state filter", "Scheduled"),
    "published": lazy_pgettext("state filter", "Published"),
    "retracted": lazy_pgettext("state filter", "Retracted"),
}
# What the list says when a state has no item: a whole sentence each, for the translators.
NO_ITEMS = {
    "draft": _l("No drafts."),
    "scheduled": _l("No scheduled items."),
    "published": _l("No published items."),
    "retracted": _l("No retracted items."),
}
# The fields of a revision's snapshot, named as the form names them.
FIELD_LABELS = {
    "kind": _l("Kind"),
    "title": _l("Title"),
    "language": _l("Language"),
    "topics": _l("Topics"),
    "countries": _l("Countries"),
    "audience": _l("Audience"),
    "url": _l("Web address"),
    "event": _l("Event"),
    "file": _l("File"),
}
CODE_SEPARATORS = re.compile(r"[\s,;]+")
UTC_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
BAD_TIME = N_("Give a date and time like 2030-06-30 14:00 (UTC).")
MAX_BODY_BYTES = 4 * MAX_BODY_CHARS  # the longest body allowed, at 4 UTF-8 bytes a character
# Werkzeug keeps at most 500 kB of one form field by default: too little for that body.
FORM_FIELD_BYTES = MAX_BODY_BYTES + 64 * 1024
KEY_LOCKED = N_(
    "The hub's key is locked (the hub was started without PONTE_HUB_PASSPHRASE), so nothing "
    "can be signed or published now."
)
NOTICES = {
    "saved": _l("The draft is saved. Nothing is published yet."),
    "edited": _l("Your changes are saved."),
    "published": _l("Published: the item is signed with the hub key."),
    "republished": _l("Saved and republished: the new version is signed as a new revision."),
    "scheduled": _l("Scheduled: it will be published at the time shown below."),
    "unscheduled": _l("No longer scheduled: the item is a draft again."),
    "retracted": _l(
        "Retracted: the item has left the feeds and nodes receive the signed retraction."
    ),
    "approved": _l("Approved: the contribution is published, credited to the organisation."),
    "rejected": _l("Rejected: the member's node will see your reason."),
}
WARNINGS = {
    "locked": N_("The item is saved as a draft: publish it once the hub is unlocked."),
}


@blueprint.url_value_preprocessor
def room_for_long_bodies(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # This runs before the app's CSRF check, which is the first to read the form.
    request.max_form_memory_size = FORM_FIELD_BYTES


@blueprint.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over the app's limit: a page that says what fits, not a JSON problem."""
    return render_template(
        "admin/publishing/too_large.html",
        max_request_mib=MAX_REQUEST_BYTES // (1024 * 1024),
        max_file_mib=MAX_FILE_BYTES // (1024 * 1024),
        max_body=MAX_BODY_CHARS,
    ), 413


# --- forms -----------------------------------------------------------------------------------


def key_locked(consequence: str) -> str:
    """The hub key is locked, and what that meant for this request (already translated)."""
    return f"{_(KEY_LOCKED)} {consequence}"


def utc_field(label: str | LazyString) -> DateTimeLocalField:
    return DateTimeLocalField(
        label,
        validators=[Optional()],
        format=UTC_FORMATS,
        tz=dt.UTC,
        invalid_value_message=_l(BAD_TIME),
    )


def choices(labels: Mapping[str, str | LazyString]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


def language_choices() -> list[SelectChoice]:
    """Each language by its name in the page's language, then "Other" (read per form, so
    that each page gets its own language's names)."""
    names = Locale.parse(current_language()).languages
    named = {code: f"{names.get(code, code)} ({code})" for code in LANGUAGES}
    return [*choices(named), SelectChoice("", pgettext("language", "Other"))]


class ItemForm(FlaskForm):
    """What an author writes. Only the time fields check their own format: the rules of
    hub.publishing judge the rest, so that the web, the CLI and the API refuse alike."""

    kind = SelectField(_l("Kind"), choices=choices(ITEM_KIND_LABELS), validate_choice=False)
    title = StringField(_l("Title"))
    body_markdown = TextAreaField(_l("Text"))
    language = SelectField(
        _l("Language"), choices=language_choices, default="en", validate_choice=False
    )
    language_other = StringField(_l("Other language: its two-letter code"))
    topics = SelectMultipleField(_l("Topics"), choices=choices(TOPICS), validate_choice=False)
    countries = StringField(_l("Countries"))
    audience = RadioField(
        _l("Audience"), choices=choices(AUDIENCES), default="public", validate_choice=False
    )
    url = StringField(_l("Web address"))
    event_starts = utc_field(_l("Starts (UTC)"))
    event_ends = utc_field(_l("Ends (UTC)"))
    event_place = StringField(_l("Place"))
    event_online_url = StringField(_l("Online link"))
    file = FileField(_l("File"))
    publish_at = utc_field(_l("Publish at (UTC)"))


# The fields a refusal may name that have a place for its message on the pages.
FIELDS_WITH_ERRORS = frozenset(
    {*(name for name in vars(ItemForm) if not name.startswith("_")), "event", "reason"}
)


class ScheduleForm(FlaskForm):
    publish_at = utc_field(_l("Publish at (UTC)"))


def moment(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def upload_from(storage: FileStorage | None) -> ItemFile | None:
    if storage is None or not storage.filename:
        return None
    # One byte over the limit is enough for the rules to refuse it; no need to read more.
    data = storage.stream.read(MAX_FILE_BYTES + 1)
    return ItemFile(storage.filename, storage.mimetype or "", data)


def draft_from(form: ItemForm) -> ItemDraft:
    return ItemDraft(
        kind=form.kind.data or "",
        title=form.title.data or "",
        body_markdown=form.body_markdown.data or "",
        language=(form.language_other.data or "").strip() or form.language.data or "",
        topics=list(form.topics.data or []),
        countries=CODE_SEPARATORS.split(form.countries.data or ""),
        audience=form.audience.data or "",
        url=form.url.data,
        event=event_fields(
            form.event_starts.data,
            form.event_ends.data,
            form.event_place.data,
            form.event_online_url.data,
        ),
        file=upload_from(form.file.data),
    )


def form_for(item: PublicationItem) -> ItemForm:
    """The edit form, filled in with the item as it is now."""
    event = item.event or {}
    known = item.language in LANGUAGES
    return ItemForm(
        data={
            "kind": item.kind,
            "title": item.title,
            "body_markdown": item.body_markdown,
            "language": item.language if known else "",
            "language_other": "" if known else item.language,
            "topics": list(item.topics),
            "countries": ", ".join(item.countries),
            "audience": item.audience,
            "url": item.url or "",
            "event_starts": moment(event["starts"]) if "starts" in event else None,
            "event_ends": moment(event["ends"]) if "ends" in event else None,
            "event_place": event.get("place", ""),
            "event_online_url": event.get("online_url", ""),
            "publish_at": item.publish_at,
        }
    )


def field_errors(error: PublishingError) -> dict[str, list[str]]:
    """Where a refusal is shown: next to its field, or above the form if it names none."""
    shown = error.field if error.field in FIELDS_WITH_ERRORS else "general"
    return {shown: [error.translated()]}


def unlocked_identity() -> NodeIdentity | None:
    """The hub key, or None while it is locked (the page then says so)."""
    try:
        return signing_identity()
    except ProblemError:
        return None


# --- pages -----------------------------------------------------------------------------------


def page(template: str, status: int = 200, **context: object) -> tuple[str, int]:
    name = request.args.get("notice", "")
    warning = WARNINGS.get(name)
    context.setdefault("error", key_locked(_(warning)) if warning else None)
    return render_template(
        template,
        when=when,
        moment=moment,
        notice=NOTICES.get(name),
        kind_labels=ITEM_KIND_LABELS,
        topic_groups=TOPIC_GROUPS,
        topic_labels=TOPICS,
        audiences=AUDIENCES,
        state_labels=STATE_LABELS,
        state_filter_labels=STATE_FILTER_LABELS,
        render_markdown=render_markdown,
        **context,
    ), status


def form_page(
    form: ItemForm,
    item: PublicationItem | None = None,
    errors: dict[str, list[str]] | None = None,
    preview: object = None,
    status: int = 200,
) -> tuple[str, int]:
    return page(
        "admin/publishing/form.html",
        status,
        form=form,
        item=item,
        errors=errors or {},
        preview=preview,
        max_file_mib=MAX_FILE_BYTES // (1024 * 1024),
        max_body=MAX_BODY_CHARS,
    )


def preview_page(form: ItemForm, item: PublicationItem | None) -> tuple[str, int]:
    """The body rendered as readers will see it, and what would be refused; nothing saved."""
    draft = draft_from(form)
    try:
        check_draft(draft)
        errors: dict[str, list[str]] = {}
    except PublishingError as error:
        errors = field_errors(error)
    return form_page(form, item, errors, render_markdown(draft.body_markdown[:MAX_BODY_CHARS]))


def refused(
    form: ItemForm, error: PublishingError, item: PublicationItem | None = None
) -> tuple[str, int]:
    db.session.rollback()  # nothing half-done stays in the session
    return form_page(form, item, field_errors(error), status=error.status)


def to_item(item: PublicationItem, notice: str) -> ResponseReturnValue:
    return redirect(url_for(".item_page", item_id=item.id, notice=notice))


def known_item(item_id: str) -> PublicationItem:
    item = db.session.get(PublicationItem, item_id)
    if item is None:
        abort(404)
    return item


def revision_counts(item_ids: list[str]) -> dict[str, int]:
    query = (
        select(ItemRevision.item_id, func.count())
        .where(ItemRevision.item_id.in_(item_ids))
        .group_by(ItemRevision.item_id)
    )
    return {item_id: count for item_id, count in db.session.execute(query)}


def pending_count() -> int:
    query = select(func.count(MemberContribution.id)).where(MemberContribution.state == "pending")
    return db.session.scalar(query) or 0


@blueprint.get("/")
@secretariat_only
def items() -> ResponseReturnValue:
    state = request.args.get("state", "")
    query = select(PublicationItem).order_by(PublicationItem.updated_at.desc())
    if state in STATES:
        query = query.where(PublicationItem.state == state)
    rows = list(db.session.scalars(query.limit(LIST_ROWS)))
    counted = select(PublicationItem.state, func.count()).group_by(PublicationItem.state)
    return page(
        "admin/publishing/list.html",
        rows=rows,
        state=state if state in STATES else "",
        states=STATES,
        counts={state: count for state, count in db.session.execute(counted)},
        revisions=revision_counts([row.id for row in rows]),
        no_items=NO_ITEMS,
        pending=pending_count(),
        limit=LIST_ROWS,
        now=utcnow(),
        fingerprint=hub_fingerprint_if_unlocked(),
    )


@blueprint.get("/new")
@secretariat_only
def new_item() -> ResponseReturnValue:
    return form_page(ItemForm(formdata=None))


@blueprint.post("/new")
@secretariat_only
def create() -> ResponseReturnValue:
    form, action = ItemForm(), request.form.get("action", "save")
    if not form.validate():
        return form_page(form, errors=dict(form.errors), status=400)
    if action == "preview":
        return preview_page(form, None)
    try:
        at = check_publish_at(form.publish_at.data) if action == "schedule" else None
        identity = unlocked_identity() if action == "publish" else None
        item = create_item(db.session, draft_from(form), actor())
    except PublishingError as error:
        return refused(form, error)
    return finish(item, action, at, identity, "saved")


def finish(
    item: PublicationItem,
    action: str,
    at: dt.datetime | None,
    identity: NodeIdentity | None,
    saved: str,
) -> ResponseReturnValue:
    """After the item is saved: publish or schedule it if asked to, and say what happened."""
    try:
        if action == "schedule" and at is not None:
            schedule_item(db.session, item, at, actor())
            return to_item(item, "scheduled")
        if action == "publish":
            if identity is None:  # kept as it was saved; the page explains
                return to_item(item, "locked")
            publish_item(db.session, item, actor(), identity)
            return to_item(item, "published")
    except PublishingError as error:
        db.session.rollback()
        return item_view(item, error=error.translated(), status=error.status)
    return to_item(item, saved)


@blueprint.get("/<item_id>")
@secretariat_only
def item_page(item_id: str) -> ResponseReturnValue:
    return item_view(known_item(item_id))


def item_view(
    item: PublicationItem,
    schedule_form: ScheduleForm | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    history = db.session.scalars(
        select(ItemRevision).where(ItemRevision.item_id == item.id).order_by(ItemRevision.id)
    )
    context: dict[str, Any] = {"error": error} if error else {}
    return page(
        "admin/publishing/item.html",
        status,
        item=item,
        history=list(history),
        actions=REVISION_ACTIONS,
        schedule_form=schedule_form or ScheduleForm(formdata=None, publish_at=item.publish_at),
        file_size=len(item.file_data) if item.file_name and item.file_data else 0,
        **context,
    )


@blueprint.get("/<item_id>/edit")
@secretariat_only
def edit_page(item_id: str) -> ResponseReturnValue:
    item = known_item(item_id)
    if item.state == "retracted":
        return item_view(item, error=_("A retracted item cannot be edited."), status=409)
    return form_page(form_for(item), item)


@blueprint.post("/<item_id>/edit")
@secretariat_only
def save_edit(item_id: str) -> ResponseReturnValue:
    item = known_item(item_id)
    form, action = ItemForm(), request.form.get("action", "save")
    if not form.validate():
        return form_page(form, item, dict(form.errors), status=400)
    if action == "preview":
        return preview_page(form, item)
    # A published item is signed again on saving: check the key before anything changes.
    identity = unlocked_identity() if item.state == "published" or action == "publish" else None
    if identity is None and item.state == "published":
        message = key_locked(_("Your changes are not saved yet: they are still in the form."))
        return form_page(form, item, {"general": [message]}, status=503)
    try:
        at = check_publish_at(form.publish_at.data) if action == "schedule" else None
        edit_item(db.session, item, draft_from(form), actor(), identity)
    except PublishingError as error:
        return refused(form, error, item)
    return finish(item, action, at, identity, "republished" if item.revision else "edited")


@blueprint.post("/<item_id>/publish")
@secretariat_only
def publish(item_id: str) -> ResponseReturnValue:
    item = known_item(item_id)
    identity = unlocked_identity()
    if identity is None:
        return item_view(item, error=key_locked(_("Nothing was changed.")), status=503)
    return finish(item, "publish", None, identity, "published")


@blueprint.post("/<item_id>/schedule")
@secretariat_only
def schedule(item_id: str) -> ResponseReturnValue:
    item = known_item(item_id)
    form = ScheduleForm()
    try:
        if not form.validate():
            raise PublishingError("publish_at", BAD_TIME)
        schedule_item(db.session, item, check_publish_at(form.publish_at.data), actor())
    except PublishingError as error:
        db.session.rollback()
        form.publish_at.errors = [error.translated()]
        return item_view(item, form, status=error.status)
    return to_item(item, "scheduled")


@blueprint.post("/<item_id>/unschedule")
@secretariat_only
def unschedule(item_id: str) -> ResponseReturnValue:
    item = known_item(item_id)
    try:
        unschedule_item(db.session, item, actor())
    except PublishingError as error:
        return item_view(item, error=error.translated(), status=error.status)
    return to_item(item, "unscheduled")


class RetractForm(FlaskForm):
    reason = TextAreaField(_l("Why is it retracted?"))


def retract_page(
    item: PublicationItem, form: RetractForm, errors: dict[str, list[str]], status: int = 200
) -> tuple[str, int]:
    return page("admin/publishing/retract.html", status, item=item, form=form, errors=errors)


@blueprint.get("/<item_id>/retract")
@secretariat_only
def confirm_retract(item_id: str) -> ResponseReturnValue:
    return retract_page(known_item(item_id), RetractForm(formdata=None), {})


@blueprint.post("/<item_id>/retract")
@secretariat_only
def retract(item_id: str) -> ResponseReturnValue:
    item, form = known_item(item_id), RetractForm()
    # The key first: retracting signs a retraction, and nothing may change without it.
    identity = unlocked_identity()
    if identity is None:
        message = key_locked(_("Nothing was changed: the item is still published."))
        return retract_page(item, form, {"general": [message]}, 503)
    try:
        retract_item(db.session, item, form.reason.data or "", actor(), identity)
    except PublishingError as error:
        db.session.rollback()
        return retract_page(item, form, field_errors(error), error.status)
    return to_item(item, "retracted")


@blueprint.get("/<item_id>/revisions/<int:revision_id>")
@secretariat_only
def revision_page(item_id: str, revision_id: int) -> ResponseReturnValue:
    item = known_item(item_id)
    revision = db.session.get(ItemRevision, revision_id)
    if revision is None or revision.item_id != item.id:
        abort(404)
    previous = db.session.scalars(
        select(ItemRevision)
        .where(ItemRevision.item_id == item.id, ItemRevision.id < revision.id)
        .order_by(ItemRevision.id.desc())
        .limit(1)
    ).first()
    return page(
        "admin/publishing/revision.html",
        item=item,
        revision=revision,
        previous=previous,
        actions=REVISION_ACTIONS,
        diff=body_diff(previous, revision),
        changed=changed_fields(previous, revision),
    )


def body_diff(previous: ItemRevision | None, revision: ItemRevision) -> list[str]:
    """The body's lines, as a unified diff against the revision before (escaped on the page)."""
    before = previous.snapshot["body_markdown"].splitlines() if previous else []
    after = revision.snapshot["body_markdown"].splitlines()
    names = (_("before"), _("this revision"))  # the diff's two headers, shown on the page
    return list(difflib.unified_diff(before, after, *names, lineterm=""))


def changed_fields(previous: ItemRevision | None, revision: ItemRevision) -> list[str]:
    """The other fields this revision changed, named as the form names them."""
    if previous is None:
        return []
    return [
        str(FIELD_LABELS.get(name, name))
        for name, value in revision.snapshot.items()
        if name not in ("body_markdown", "state") and previous.snapshot.get(name) != value
    ]


# --- moderation ------------------------------------------------------------------------------


def queue_page(
    status: int = 200, failed: int | None = None, error: str | None = None, reason: str = ""
) -> tuple[str, int]:
    """Pending contributions, and the latest decided ones. ``failed`` is the contribution
    whose approval or rejection was refused with ``error``; ``reason`` is what was typed."""
    decided = db.session.scalars(
        select(MemberContribution)
        .where(MemberContribution.state != "pending")
        .order_by(MemberContribution.decided_at.desc())
        .limit(DECIDED_ROWS)
    )
    return page(
        "admin/publishing/contributions.html",
        status,
        pending=pending_contributions(db.session),
        decided=list(decided),
        failed=failed,
        failure=error,
        reason=reason,
        limit=DECIDED_ROWS,
    )


def known_contribution(contribution_id: int) -> MemberContribution:
    contribution = db.session.get(MemberContribution, contribution_id)
    if contribution is None:
        abort(404)
    return contribution


@blueprint.get("/contributions")
@secretariat_only
def contributions() -> ResponseReturnValue:
    return queue_page()


@blueprint.post("/contributions/<int:contribution_id>/approve")
@secretariat_only
def approve(contribution_id: int) -> ResponseReturnValue:
    contribution = known_contribution(contribution_id)
    audience = request.form.get("audience", "public")
    try:
        approve_contribution(db.session, contribution, actor(), audience)
    except ProblemError:  # the hub key is locked; approve_contribution checks it first
        return queue_page(503, contribution.id, key_locked(_("Nothing was changed.")))
    except PublishingError as error:
        db.session.rollback()
        return queue_page(error.status, contribution.id, error.translated())
    return redirect(url_for(".contributions", notice="approved"))


@blueprint.post("/contributions/<int:contribution_id>/reject")
@secretariat_only
def reject(contribution_id: int) -> ResponseReturnValue:
    contribution = known_contribution(contribution_id)
    reason = request.form.get("reason", "")
    try:
        reject_contribution(db.session, contribution, reason, actor())
    except PublishingError as error:
        db.session.rollback()
        return queue_page(error.status, contribution.id, error.translated(), reason)
    return redirect(url_for(".contributions", notice="rejected"))
