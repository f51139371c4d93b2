"""``/news``: the secretariat's items as this node received and verified them, for everyone
signed in here; node admins also propose items and see what failed verification. Each
person may opt in to an e-mail digest (``node.digest``) and leave it from a link in it.

Plain HTML, no scripts. Item bodies are Markdown rendered by ``ponte.markdown`` (sanitised):
a forged or careless text cannot run script on the node.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import pycountry
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import (
    DateTimeLocalField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from node import digest
from node.contributions import KNOWN_FROM_HUB, STATES, list_contributions, submit_contribution
from node.extensions import db
from node.hub_client import HubError
from node.keys import node_keys
from node.login import NODE_ADMIN
from node.models import NewsContribution, NewsItem, PublicationProblem, User
from node.publications import (
    PROBLEMS,
    FileRefused,
    fetch_file,
    item_query,
    mark_read,
    mark_unread,
    read_ids,
)
from node.referral_pages import SAFE_INLINE
from node.stored_text import translated
from ponte.csrf import csrf
from ponte.i18n import countries_by_name, localised_moment
from ponte.login import current_user, login_required
from ponte.markdown import render_markdown
from ponte.topics import ITEM_KIND_LABELS, TOPIC_GROUPS, TOPICS
from protocol import ProtocolError, fingerprint
from protocol.publication import CONTRIBUTION_KINDS, URL, verify_publication

log = logging.getLogger(__name__)
blueprint = Blueprint("news", __name__, url_prefix="/news")

PAGE_SIZE = 20
MAX_SEARCH = 200
BODY_LIMIT = 200_000  # what the hub accepts in an item's text
ADMINS = (NODE_ADMIN,)


# --- helpers -------------------------------------------------------------------------------------


def _user() -> User:
    user = current_user()
    if user is None:  # login_required lets nobody else in
        abort(403)
    return user  # type: ignore[return-value]


def _is_admin() -> bool:
    return _user().role == NODE_ADMIN


def when(moment: dt.datetime | int | None, with_time: bool = False) -> str:
    """A date (and time) in UTC, the same for every reader wherever they are, written as
    the page's language writes dates."""
    if isinstance(moment, int):
        try:
            moment = dt.datetime.fromtimestamp(moment, dt.UTC)
        except (OverflowError, ValueError, OSError):  # signed, but beyond the calendar
            return _("%(seconds)s (seconds since 1970)", seconds=moment)
    return localised_moment(moment, with_time=with_time)


def _helpers() -> dict[str, Any]:
    # No country_name here: the template global gives the page's language.
    return {
        "when": when,
        "kind_label": lambda kind: ITEM_KIND_LABELS.get(kind, kind),
        "topic_label": lambda code: TOPICS.get(code, code),
        "is_admin": _is_admin(),
    }


def _item_or_404(item_id: str) -> NewsItem:
    item = db.session.get(NewsItem, item_id)
    if item is None:
        abort(404)
    return item


# --- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    kind: str = ""
    topic: str = ""
    country: str = ""
    q: str = ""
    unread: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> Filters:
        """What the reader asked for; a value that cannot be one is simply not applied."""
        kind, topic = args.get("kind", ""), args.get("topic", "")
        country = args.get("country", "").strip().upper()
        page = args.get("page", "1")
        whole = page.isascii() and page.isdigit()  # "²" is a digit, but not int()'s
        return cls(
            kind=kind if kind in ITEM_KIND_LABELS else "",
            topic=topic if topic in TOPICS else "",
            country=country
            if len(country) == 2 and country.isascii() and country.isalpha()
            else "",
            q=" ".join(args.get("q", "").split())[:MAX_SEARCH],
            unread=args.get("unread") == "1",
            page=int(page) if whole and 0 < int(page) < 100_000 else 1,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query arguments for a link to this list with ``changes`` (empty ones left out)."""
        values = asdict(replace(self, **changes))
        values["unread"] = "1" if values["unread"] else ""
        return {name: value for name, value in values.items() if value not in ("", 1, None)}


def _problem_count() -> int:
    return db.session.scalar(select(func.count()).select_from(PublicationProblem)) or 0


def _countries_in_use() -> list[str]:
    """The countries items are about, in the order of their names in the page's language."""
    query = select(NewsItem.countries).where(NewsItem.status == "published")
    codes = {code for codes in db.session.scalars(query) for code in codes}
    return countries_by_name(codes)


@blueprint.get("/")
@login_required()
def list_items() -> ResponseReturnValue:
    user = _user()
    filters = Filters.from_args(request.args)
    query = item_query(
        kind=filters.kind,
        topic=filters.topic,
        country=filters.country,
        text=filters.q,
        unread_for=user.id if filters.unread else None,
    )
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-(total or 0) // PAGE_SIZE))
    page = min(filters.page, pages)
    items = list(db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template(
        "news/list.html",
        items=items,
        read=read_ids(db.session, user.id, [item.item_id for item in items]),
        filters=replace(filters, page=page),
        total=total,
        pages=pages,
        problems=_problem_count() if _is_admin() else 0,
        countries=_countries_in_use(),
        topic_groups=TOPIC_GROUPS,
        kinds=ITEM_KIND_LABELS,
        **_helpers(),
    )


@blueprint.post("/read-all")
@login_required()
def read_all() -> ResponseReturnValue:
    ids = list(db.session.scalars(item_query().with_only_columns(NewsItem.item_id)))
    mark_read(db.session, _user().id, ids)
    flash(_("Every item is marked as read."), "notice")
    return redirect(url_for("news.list_items"))


# --- one item ------------------------------------------------------------------------------------


@blueprint.get("/<item_id>")
@login_required()
def show_item(item_id: str) -> ResponseReturnValue:
    item = _item_or_404(item_id)
    keys = node_keys()
    if item.status != "published":
        page = render_template("news/retracted.html", item=item, **_helpers())
        return page, 410
    try:  # checked again on every view: a stored copy changed since is not shown
        statement = verify_publication(keys.enrolment.hub_record, item.document).statement
    except ProtocolError as error:
        log.warning("the stored item %s no longer verifies: %s", item_id, error)
        page = render_template("news/unverified.html", item=item, **_helpers())
        return page, 500
    mark_read(db.session, _user().id, [item_id])
    return render_template(
        "news/item.html",
        item=item,
        statement=statement,
        body=render_markdown(statement["body_markdown"]),
        hub_fingerprint=fingerprint(keys.enrolment.hub_record),
        **_helpers(),
    )


@blueprint.post("/<item_id>/unread")
@login_required()
def unread(item_id: str) -> ResponseReturnValue:
    item = _item_or_404(item_id)
    mark_unread(db.session, _user().id, item_id)
    flash(_("“%(title)s” is marked as unread.", title=item.title), "notice")
    return redirect(url_for("news.list_items"))


@blueprint.get("/<item_id>/file")
@login_required()
def download_file(item_id: str) -> ResponseReturnValue:
    """Fetched from the hub and checked against the signed SHA-256 before it is handed out;
    always a download, never shown inline or sniffed into HTML."""
    item = _item_or_404(item_id)
    try:
        data = fetch_file(node_keys(), item)
    except FileRefused as refused:
        return _message(_("File refused"), str(refused), 502)
    except HubError as error:
        text = _("The hub could not give the file now: %(error)s", error=error)
        return _message(_("File not available"), text, 502)
    reference = item.statement["file"]
    media_type = reference["media_type"]
    response = send_file(
        io.BytesIO(data),
        mimetype=media_type if SAFE_INLINE.fullmatch(media_type) else "application/octet-stream",
        as_attachment=True,
        download_name=reference["name"],
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _message(title: str, text: str, status: int = 200) -> ResponseReturnValue:
    return render_template("news/message.html", title=title, message=text), status


# --- what failed verification (node admins) ------------------------------------------------------


@blueprint.get("/problems")
@login_required(ADMINS)
def problems() -> ResponseReturnValue:
    query = select(PublicationProblem).order_by(PublicationProblem.at.desc()).limit(500)
    return render_template(
        "news/problems.html",
        problems=list(db.session.scalars(query)),
        problem_text=lambda text: translated(text, PROBLEMS),
        **_helpers(),
    )


# --- contributions (node admins: an approved item speaks for the organisation) -------------------


def _language(form: FlaskForm, field: StringField) -> None:
    code = (field.data or "").strip().lower()
    if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
        raise ValidationError(_("Give the language as a two-letter code, e.g. en, ro, de."))
    field.data = code


def country_codes(text: str) -> list[str]:
    return list(
        dict.fromkeys(
            part.strip().upper() for part in text.replace(";", ",").split(",") if part.strip()
        )
    )


def web_address_field(label: str | LazyString) -> StringField:
    """An optional http(s) address, as the protocol accepts it."""
    return StringField(
        label,
        validators=[
            Optional(),
            Length(max=2000),
            Regexp(f"^{URL}$", message=_l("Start with https://.")),
        ],
    )


class ContributionForm(FlaskForm):
    kind = RadioField(
        _l("Kind"),
        choices=[SelectChoice(kind, ITEM_KIND_LABELS[kind]) for kind in CONTRIBUTION_KINDS],
        default="news",
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    body = TextAreaField(
        _l("Text (Markdown: *emphasis*, **bold**, [link](https://…), - lists)"),
        validators=[DataRequired(), Length(max=BODY_LIMIT)],
    )
    language = StringField(_l("Language (two-letter code)"), default="en", validators=[_language])
    topics = SelectMultipleField(
        _l("Topics"), choices=[SelectChoice(code, label) for code, label in TOPICS.items()]
    )
    countries = StringField(_l("Countries (two-letter codes, comma-separated, e.g. RO, DE)"))
    url = web_address_field(_l("Web address (optional)"))
    event_starts = DateTimeLocalField(_l("Starts (UTC)"), validators=[Optional()])
    event_ends = DateTimeLocalField(_l("Ends (UTC, optional)"), validators=[Optional()])
    event_place = StringField(_l("Place (optional)"), validators=[Length(max=300)])
    event_online_url = web_address_field(_l("Online at (optional)"))

    def validate_countries(self, field: StringField) -> None:
        for code in country_codes(field.data or ""):
            if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
                raise ValidationError(
                    _("%(code)s is not a two-letter country code.", code=code[:10])
                )

    def validate(self, extra_validators: Any = None) -> bool:
        # Here, not in validate_event_*: Optional() ends a field's checks when it is empty.
        valid = super().validate(extra_validators)
        if self.kind.data != "event":
            return valid
        starts, ends = self.event_starts, self.event_ends
        if starts.data is None and not starts.errors:
            starts.errors = [_("An event needs the date and time it starts (UTC).")]
        elif ends.data and starts.data and ends.data < starts.data:
            ends.errors = [_("An event cannot end before it starts.")]
        else:
            return valid
        return False

    def item(self) -> dict[str, Any]:
        """The protocol item (protocol/publication.py ITEM) this form describes."""
        item: dict[str, Any] = {
            "item_kind": self.kind.data,
            "title": " ".join((self.title.data or "").split()),
            "body_markdown": (self.body.data or "").replace("\r\n", "\n"),
            "language": self.language.data,
            "topics": list(self.topics.data or []),
            "countries": country_codes(self.countries.data or ""),
        }
        if self.url.data:
            item["url"] = self.url.data.strip()
        if self.kind.data == "event":
            item["event"] = self._event()
        return item

    def _event(self) -> dict[str, Any]:
        event: dict[str, Any] = {"starts": _epoch(self.event_starts.data)}
        if self.event_ends.data:
            event["ends"] = _epoch(self.event_ends.data)
        if (self.event_place.data or "").strip():
            event["place"] = " ".join(self.event_place.data.split())
        if self.event_online_url.data:
            event["online_url"] = self.event_online_url.data.strip()
        return event


def _epoch(moment: dt.datetime | None) -> int:
    assert moment is not None
    return int(moment.replace(tzinfo=dt.UTC).timestamp())  # the form's times are UTC


def _contribute_page(
    form: ContributionForm, *, error: str | None = None, preview: Any = None, status: int = 200
) -> ResponseReturnValue:
    page = render_template(
        "news/contribute.html",
        form=form,
        error=error,
        preview=preview,
        topic_groups=TOPIC_GROUPS,
        **_helpers(),
    )
    return page, status


@blueprint.route("/contribute", methods=["GET", "POST"])
@login_required(ADMINS)
def contribute() -> ResponseReturnValue:
    form = ContributionForm()
    if request.method == "GET":
        return _contribute_page(form)
    if request.form.get("action") == "preview":
        return _contribute_page(form, preview=render_markdown(form.body.data or ""))
    if not form.validate():
        error = _("Please look at the fields marked below.")
        return _contribute_page(form, error=error, status=400)
    try:
        record = submit_contribution(db.session, node_keys(), form.item(), _user().email)
    except ProtocolError as exc:
        return _contribute_page(
            form, error=_("This cannot be sent yet: %(error)s", error=exc), status=400
        )
    except HubError as error:
        return _contribute_page(
            form, error=_not_sent(error), status=503 if not error.status else 400
        )
    flash(_("“%(title)s” was sent to the secretariat for review.", title=record.title), "notice")
    return redirect(url_for("news.list_contributions"))


def _not_sent(error: HubError) -> str:
    if not error.status:
        return _(
            "The hub could not be reached, so nothing was sent. Your text is still here: "
            "send it again in a moment."
        )
    return _(
        "The hub did not accept it: %(error)s Nothing was sent; your text is still here.",
        error=error,
    )


def _submitted_by(record: NewsContribution) -> str:
    # A person's e-mail, or the sign that only the hub knew of the proposal.
    if record.submitted_by == KNOWN_FROM_HUB:
        return _("(known from the hub)")
    return record.submitted_by


@blueprint.get("/contributions", endpoint="list_contributions")
@login_required(ADMINS)
def contributions_page() -> ResponseReturnValue:
    return render_template(
        "news/contributions.html",
        contributions=list_contributions(db.session),
        states=STATES,
        author=_submitted_by,
        **_helpers(),
    )


# --- the e-mail digest ---------------------------------------------------------------------------


@blueprint.route("/subscription", methods=["GET", "POST"])
@login_required()
def subscription() -> ResponseReturnValue:
    user = _user()
    if request.method == "POST":
        wanted = request.form.get("digest") == "1"
        digest.set_subscription(db.session, user.id, wanted)
        flash(
            _("You will get the digest by e-mail.") if wanted else _("No more digests."), "notice"
        )
        return redirect(url_for("news.subscription"))
    try:
        digest.digest_settings(current_app.config)
        mail_ready = True
    except digest.DigestNotConfigured:
        mail_ready = False
    current = digest.subscription_of(db.session, user.id)
    return render_template(
        "news/subscription.html",
        email=user.email,
        subscribed=bool(current and current.active),
        mail_ready=mail_ready,
    )


@blueprint.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Response:
    """The link in every digest. GET asks to confirm (a mail scanner that follows links must
    not unsubscribe anyone); POST unsubscribes, from the confirm page or as the RFC 8058
    one-click POST a mail program sends, without a session: the token is the credential."""
    known = digest.token_owner(db.session, token) is not None
    if request.method == "POST" and known:
        digest.unsubscribe(db.session, token)
    page = render_template(
        "news/unsubscribe.html", known=known, done=request.method == "POST", token=token
    )
    response = make_response(page, 200 if known else 404)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    return response


csrf.exempt(unsubscribe)  # one-click unsubscribe (RFC 8058) comes from a mail program
