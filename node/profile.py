"""``/profile``: node admins keep their organisation's entry in the hub's directory up to date.

The form is filled from the hub's public entry. On submit the node signs a directory update
(protocol/SPEC.md 4.5) with its current key and sends it with a ``directory:write`` token;
the hub applies it to this organisation only. Plain HTML that works without JavaScript: empty
rows stand ready for new services and numbers.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from flask_wtf.i18n import translations
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional, Regexp, ValidationError

from directory.importer import shipped_term_labels
from node.hub_client import HubError
from node.keys import NodeKeys, has_keys, node_keys
from node.login import NODE_ADMIN
from ponte.i18n import current_language, folded
from ponte.login import login_required
from protocol import ProtocolError, profile_update
from protocol import profile as wire

blueprint = Blueprint("profile", __name__)

NEW_SERVICE_ROWS = 3
NEW_PHONE_ROWS = 2
YES_NO = [
    SelectChoice("", _l("Not stated")),
    SelectChoice("yes", _l("Yes")),
    SelectChoice("no", _l("No")),
]
PHONE_KINDS = [SelectChoice("voice", _l("Phone")), SelectChoice("fax", _l("Fax"))]
YES_NO_VALUES: dict[str, bool | None] = {"": None, "yes": True, "no": False}
LANGUAGE_SEPARATORS = re.compile(r"[\s,;]+")
FIELD_PATH = re.compile(r"\bchanges\.([\w.\[\]]+)")


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class RowForm(Form):
    """A row of the profile form: WTForms' own messages (too long...) in the page's language,
    as in the FlaskForm around it."""

    class Meta:
        def get_translations(self, form: Form) -> Any:
            return translations


class ServiceRow(RowForm):
    term = SelectField(_l("Type of service"), choices=[])  # the hub's taxonomy, set per request
    name = StringField(_l("Name"), validators=[Length(max=300)], filters=[_strip])
    open_24_7 = SelectField(_l("Open 24 hours, 7 days a week"), choices=YES_NO)
    wait_time = StringField(_l("Waiting time"), validators=[Length(max=200)], filters=[_strip])
    eligibility = TextAreaField(
        _l("Who can use it"), validators=[Length(max=2000)], filters=[_strip]
    )
    remove = BooleanField(_l("Remove this service"))

    def validate_name(self, field: StringField) -> None:
        if self.remove.data:
            return
        if self.term.data and not field.data:
            raise ValidationError(_("Give the service a name."))
        if field.data and not self.term.data:
            raise ValidationError(_("Choose the type of this service."))


class PhoneRow(RowForm):
    number = StringField(
        _l("Number"),
        validators=[
            Optional(),
            Regexp(f"(?:{wire.PHONE})$", message=_l("Use digits, spaces and + ( ) . / - only.")),
        ],
        filters=[_strip],
    )
    type = SelectField(_l("Kind"), choices=PHONE_KINDS)


class ProfileForm(FlaskForm):
    services = FieldList(FormField(ServiceRow))
    languages = StringField(
        _l("Languages spoken"),
        description=_l("Two-letter codes separated by commas, for example: en, ro, it."),
        filters=[_strip],
    )
    interpreters_available = SelectField(_l("Interpreters available"), choices=YES_NO)
    email = StringField(
        _l("E-mail"),
        validators=[
            Optional(),
            Length(max=320),
            Regexp(f"(?:{wire.EMAIL})$", message=_l("Give one e-mail address.")),
        ],
        filters=[_strip],
    )
    website = StringField(
        _l("Website"),
        validators=[
            Optional(),
            Length(max=500),
            Regexp(f"(?:{wire.URL})$", message=_l("Give the address starting with https://.")),
        ],
        filters=[_strip],
    )
    phones = FieldList(FormField(PhoneRow))
    description = TextAreaField(
        _l("About the organisation"), validators=[Length(max=4000)], filters=[_strip]
    )

    def validate_languages(self, field: StringField) -> None:
        codes = language_codes(field.data)
        if not all(re.fullmatch(wire.LANGUAGE_CODE, code) for code in codes):
            raise ValidationError(
                _("Give two-letter codes such as en, ro, it, separated by commas.")
            )


def language_codes(text: str | None) -> list[str]:
    parts = (part.lower() for part in LANGUAGE_SEPARATORS.split(text or "") if part)
    return list(dict.fromkeys(parts))


# --- between the hub's entry, the form and the signed update -----------------------------


def _yes_no(value: bool | None) -> str:
    return "" if value is None else "yes" if value else "no"


def form_data(entry: dict[str, Any]) -> dict[str, Any]:
    """The form's initial values from the hub's entry, with empty rows for additions."""
    services = [
        {
            "term": service.get("term") or "",
            "name": service.get("name") or "",
            "open_24_7": _yes_no(service.get("open_24_7")),
            "wait_time": service.get("wait_time") or "",
            "eligibility": service.get("eligibility") or "",
        }
        for service in entry.get("services", [])
    ]
    phones = [{"number": p["number"], "type": p["type"]} for p in entry.get("phones", [])]
    return {
        "services": services + [{}] * NEW_SERVICE_ROWS,
        "languages": ", ".join(entry.get("languages", [])),
        "interpreters_available": _yes_no(entry.get("interpreters_available")),
        "email": entry.get("email") or "",
        "website": entry.get("website") or "",
        "phones": phones + [{}] * NEW_PHONE_ROWS,
        "description": entry.get("description") or "",
    }


def changes_from(form: ProfileForm) -> dict[str, Any]:
    """The whole entry as the form states it, in the shape of a directory update."""
    services = [entry.form for entry in form.services]
    phones = [entry.form for entry in form.phones]
    return {
        "services": [
            {
                "term": row.term.data,
                "name": row.name.data,
                "open_24_7": YES_NO_VALUES.get(row.open_24_7.data),
                "wait_time": row.wait_time.data or None,
                "eligibility": row.eligibility.data or None,
            }
            for row in services
            if row.name.data and not row.remove.data
        ],
        "languages": language_codes(form.languages.data),
        "interpreters_available": YES_NO_VALUES.get(form.interpreters_available.data),
        "email": form.email.data or None,
        "website": form.website.data or None,
        "phones": [
            {"number": number, "type": kind}
            for number, kind in dict.fromkeys((row.number.data, row.type.data) for row in phones)
            if number
        ],
        "description": form.description.data or None,
    }


def plain(message: str) -> str:
    """``changes.services[1].name: ...`` as people say it: ``service 2, name: ...``."""

    def readable(match: re.Match[str]) -> str:
        path = re.sub(r"(\w+?)s?\[(\d+)\]", lambda m: f"{m[1]} {int(m[2]) + 1}", match.group(1))
        return path.replace(".", ", ").replace("_", " ")

    return FIELD_PATH.sub(readable, message)


# --- the page ----------------------------------------------------------------------------


@blueprint.route("/profile", methods=["GET", "POST"])
@login_required(roles=[NODE_ADMIN])
def edit() -> ResponseReturnValue:
    if not has_keys():
        return _page(None, error=_("This node has not joined a hub yet."), status=503)
    keys = node_keys()
    try:
        choices = _service_types(keys)
        entry = None if request.method == "POST" else keys.hub.organisation(_organisation(keys))
    except HubError as error:
        message = _("The hub's directory could not be read: %(error)s", error=error)
        return _page(None, error=message, status=502)
    form = ProfileForm() if entry is None else ProfileForm(data=form_data(entry))
    for row in form.services:
        row.form.term.choices = choices
    if request.method == "GET":
        return _page(form, entry=entry)
    if not form.validate_on_submit():
        return _page(form, error=_("Please correct the fields marked below."), status=400)
    return _send(keys, form)


def _send(keys: NodeKeys, form: ProfileForm) -> ResponseReturnValue:
    identity = keys.identities[-1]
    try:
        document = profile_update(
            identity, _organisation(keys), changes_from(form), int(time.time())
        )
        updated = keys.hub.update_profile(identity, document)
    except ProtocolError as error:
        message = _("This cannot be sent: %(error)s", error=plain(str(error)))
        return _page(form, error=message, status=400)
    except HubError as error:
        message = _("The hub did not accept the update: %(error)s", error=plain(str(error)))
        return _page(form, error=message, status=502)
    verified = shown_day(updated.get("last_verified")) or format_date(dt.date.today(), "long")
    flash(
        _(
            "Your organisation's directory entry is updated (last verified %(date)s).",
            date=verified,
        )
    )
    return redirect(url_for("profile.edit"))


def shown_day(iso_date: object) -> str | None:
    """The hub's ``2026-05-03`` as the page's language writes it (as given if not a date)."""
    if not iso_date:
        return None
    try:
        return format_date(dt.date.fromisoformat(str(iso_date)), "long")
    except ValueError:
        return str(iso_date)


@blueprint.errorhandler(CSRFError)
def form_expired(error: CSRFError) -> ResponseReturnValue:
    message = _(
        "This form had expired, so nothing was changed. Open it again to make your changes."
    )
    return _page(None, error=message, status=400)


def _service_types(keys: NodeKeys) -> list[SelectChoice]:
    language = current_language()
    shipped = shipped_term_labels()
    choices = [
        SelectChoice(str(term["code"]), shipped.get(term["code"], {}).get(language) or term["name"])
        for term in keys.hub.taxonomy_terms()
    ]
    choices.sort(key=lambda choice: folded(choice.label))
    return [SelectChoice("", _("Choose a type")), *choices]


def _organisation(keys: NodeKeys) -> str:
    return keys.enrolment.organisation_id


def _page(
    form: ProfileForm | None,
    *,
    entry: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    organisation = node_keys().enrolment.organisation_name if has_keys() else None
    page = render_template(
        "profile.html",
        title=_("Your directory entry"),
        form=form,
        entry=entry,
        last_verified=shown_day((entry or {}).get("last_verified")),
        organisation=organisation,
        error=error,
    )
    return page, status
