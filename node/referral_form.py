"""The structured referral form: one field per REFERRAL payload field (protocol/messages.py).

Each :class:`Spec` ties a form field to its dotted path in the payload, so the same table
builds the form, turns its values into a payload, places the protocol's errors next to the
right field, and shows a received referral in readable form. The person is asked for a case
code or initials only; no field asks for a name of the person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from protocol import messages as wire

Text = str | LazyString  # a label in the page's language, looked up when it is shown

# Every value the protocol allows, as a person reads it. The values travel untranslated.
CHOICE_LABELS: dict[str, Text] = {
    # type of request
    "assisted_voluntary_return": _l("Assisted voluntary return"),
    "family_tracing": _l("Family tracing"),
    "identity_documents": _l("Identity documents"),
    "transfer_for_protection": _l("Transfer for protection"),
    "court_hearing_travel": _l("Travel to a court hearing"),
    "shelter": _l("Shelter"),
    "legal": _l("Legal assistance"),
    "health": _l("Health care"),
    # urgency
    "routine": _l("Routine"),
    "urgent": _l("Urgent"),
    "emergency": _l("Emergency"),
    # how the person came to you
    "hotline": _l("Hotline"),
    "outreach": _l("Outreach"),
    "police": _l("Police"),
    "labour_inspection": _l("Labour inspection"),
    "ngo_referral": _l("Referral from another NGO"),
    "self_referral": _l("Self-referral"),
    "health_service": _l("Health service"),
    "embassy": _l("Embassy"),
    # gender
    "female": _l("Female"),
    "male": _l("Male"),
    "non_binary": _l("Non-binary"),
    "not_disclosed": _l("Prefers not to say"),
    # age band (the others are numbers)
    "unknown": _l("Unknown"),
    # consent
    "written": _l("Written"),
    "verbal": _l("Verbal"),
    "share_with_recipient": _l("Share this referral with the receiving organisation"),
    "contact_family": _l("Contact the person's family"),
    "contact_authorities": _l("Contact the authorities"),
    "share_documents": _l("Share documents"),
    "follow_up_contact": _l("Be contacted for follow-up"),
    # forms of exploitation
    "sexual": _l("Sexual exploitation"),
    "labour": _l("Labour exploitation"),
    "forced_criminality": _l("Forced criminality"),
    "forced_begging": _l("Forced begging"),
    "domestic_servitude": _l("Domestic servitude"),
    "forced_marriage": _l("Forced marriage"),
    "organ_removal": _l("Organ removal"),
    # documents
    "passport": _l("Passport"),
    "national_id": _l("National ID card"),
    "birth_certificate": _l("Birth certificate"),
    "residence_permit": _l("Residence permit"),
    "travel_document": _l("Travel document"),
    "police_report": _l("Police report"),
    "medical_report": _l("Medical report"),
    "court_summons": _l("Court summons"),
    # risk level
    "low": _l("Low"),
    "medium": _l("Medium"),
    "high": _l("High"),
}


# "Other" in each field that offers it: the word agrees with a different noun in each (a
# request, a way in, a gender, a form of exploitation, a document), so each has a context.
OTHER_LABELS: dict[str, Text] = {
    "request_type": lazy_pgettext("request type", "Other"),
    "intake": lazy_pgettext("intake", "Other"),
    "person.gender": lazy_pgettext("gender", "Other"),
    "case.exploitation_forms": lazy_pgettext("form of exploitation", "Other"),
    "case.documents_held": lazy_pgettext("document", "Other"),
    "case.documents_needed": lazy_pgettext("document", "Other"),
}


def choice_label(value: str, path: str = "") -> Text:
    """The value's label in the field at ``path``; a value from a newer protocol, readable
    if untranslated."""
    if value == "other" and path in OTHER_LABELS:
        return OTHER_LABELS[path]
    return CHOICE_LABELS.get(value, value.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Spec:
    path: str  # dotted path in the payload
    label: Text
    kind: str  # text | area | date | choice | yesno | check | multi | languages | number
    choices: tuple[str, ...] = ()
    hint: Text = ""

    @property
    def name(self) -> str:
        return self.path.replace(".", "_")


@dataclass(frozen=True)
class Group:
    legend: Text
    intro: Text
    specs: tuple[Spec, ...]
    # The legend on the receiving side's case page, where "your" and "partner" point the
    # other way ("" when the same legend reads right from both sides).
    received_legend: Text = ""


def _contact(prefix: str) -> tuple[Spec, ...]:
    return (
        Spec(f"{prefix}.name", _l("Name"), "text"),
        Spec(f"{prefix}.role", _l("Role"), "text"),
        Spec(f"{prefix}.organisation", _l("Organisation"), "text"),
        Spec(f"{prefix}.email", _l("E-mail"), "text"),
        Spec(f"{prefix}.phone", _l("Phone"), "text"),
    )


GENDERS = ("female", "male", "non_binary", "other", "not_disclosed")
INTAKES = ("hotline", "outreach", "police", "labour_inspection", "ngo_referral")
INTAKES += ("self_referral", "health_service", "embassy", "other")

# The wording about the person stays respectful and non-judgemental: the form asks only for
# what a partner needs, never the person's name, and consent comes first.
GROUPS: tuple[Group, ...] = (
    Group(
        _l("The request"),
        _l("What you are asking the partner organisation to do, and by when."),
        (
            Spec("request_type", _l("Type of request"), "choice", wire.REQUEST_TYPES),
            Spec("urgency", _l("Urgency"), "choice", ("routine", "urgent", "emergency")),
            Spec(
                "requested_by",
                _l("Answer needed by"),
                "date",
                hint=_l("Leave empty if there is no date."),
            ),
            Spec("intake", _l("How the person came to you"), "choice", INTAKES),
        ),
    ),
    Group(
        _l("Your contact"),
        _l("The caseworker the partner can reach here."),
        _contact("sender_contact"),
        received_legend=_l("Contact at the referring organisation"),
    ),
    Group(
        _l("Contact at the partner organisation"),
        _l("If you already know who will take the case there (optional)."),
        _contact("recipient_contact"),
        received_legend=_l("Contact at your organisation"),
    ),
    Group(
        _l("The person"),
        # Translators: about a survivor of trafficking; keep it respectful and non-judgemental.
        _l("Only what the partner needs. Give a case code, initials or both — never the name."),
        (
            Spec(
                "person.case_code",
                # Translators: the person is a survivor; the form must never ask for a name.
                _l("Case code or initials — never the person's name"),
                "text",
                hint=_l("Your case code, with at least one digit, for example RO-2026-014."),
            ),
            Spec(
                "person.initials",
                _l("Initials"),
                "text",
                hint=_l("One to four letters, e.g. M.K."),
            ),
            Spec("person.gender", _l("Gender"), "choice", GENDERS),
            Spec("person.age_band", _l("Age band"), "choice", wire.AGE_BANDS),
            Spec("person.minor", _l("Under 18"), "yesno"),
            Spec(
                "person.nationality",
                _l("Nationality"),
                "text",
                hint=_l("Two-letter code, e.g. MD."),
            ),
            Spec(
                "person.languages",
                _l("Languages"),
                "languages",
                hint=_l("Codes such as ro, ru."),
            ),
            Spec("person.interpreter_needed", _l("Interpreter needed"), "yesno"),
            Spec("person.guardian.appointed", _l("Guardian appointed (for a minor)"), "yesno"),
            Spec("person.guardian.details", _l("About the guardian"), "area"),
        ),
    ),
    Group(
        _l("Consent"),
        # Translators: informed consent as in victim-assistance practice, not a legal form.
        _l("A referral is sent only with the person's informed consent to share it."),
        (
            Spec("consent.given", _l("The person gave informed consent"), "check"),
            Spec("consent.form", _l("How consent was given"), "choice", ("written", "verbal")),
            Spec("consent.date", _l("When consent was given"), "date"),
            Spec("consent.scope", _l("What the person agreed to"), "multi", wire.CONSENT_SCOPES),
            Spec(
                "consent.withhold_from_family",
                _l("What must not be shared with the family"),
                "area",
            ),
        ),
    ),
    Group(
        _l("The case"),
        "",
        (
            Spec(
                "case.exploitation_forms",
                _l("Forms of exploitation"),
                "multi",
                wire.EXPLOITATION_FORMS,
            ),
            Spec("case.documents_held", _l("Documents the person has"), "multi", wire.DOCUMENTS),
            Spec(
                "case.documents_needed", _l("Documents the person needs"), "multi", wire.DOCUMENTS
            ),
            Spec("case.summary", _l("Summary"), "area"),
        ),
    ),
    Group(
        _l("Risk assessment"),
        _l("Required for an assisted voluntary return; helpful for any request."),
        (
            Spec("risk_assessment.summary", _l("Risk assessment"), "area"),
            Spec("risk_assessment.level", _l("Risk level"), "choice", ("low", "medium", "high")),
            Spec("risk_assessment.date", _l("Date of the assessment"), "date"),
        ),
    ),
    Group(
        _l("Logistics"),
        "",
        (
            Spec("logistics.departure_date", _l("Departure date"), "date"),
            Spec("logistics.arrival_date", _l("Arrival date"), "date"),
            Spec("logistics.escort", _l("Escort during travel"), "yesno"),
            Spec("logistics.pickup_point", _l("Pick-up point"), "text"),
            Spec("logistics.costs_covered_by", _l("Who covers the costs"), "area"),
        ),
    ),
    Group(
        _l("Follow-up"),
        "",
        (
            Spec("follow_up.schedule", _l("Follow-up plan"), "area"),
            Spec("follow_up.duration_months", _l("For how many months"), "number"),
        ),
    ),
    Group(
        _l("Restricted notes"),
        _l("Seen only by the caseworkers handling the case on each side."),
        (Spec("restricted_notes", _l("Restricted notes"), "area"),),
    ),
)

SPECS: dict[str, Spec] = {spec.path: spec for group in GROUPS for spec in group.specs}
YES_NO = [
    SelectChoice("", _l("Not stated")),
    SelectChoice("yes", _l("Yes")),
    SelectChoice("no", _l("No")),
]
LANGUAGE_SPLIT = re.compile(r"[\s,;]+")
INDEX = re.compile(r"\[\d+\]")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _option(value: str, path: str) -> SelectChoice:
    return SelectChoice(value, choice_label(value, path))


def _field(spec: Spec) -> Field:
    hint = {"description": spec.hint} if spec.hint else {}
    if spec.kind == "choice":
        choices = [SelectChoice("", _l("Choose…")), *(_option(c, spec.path) for c in spec.choices)]
        return SelectField(spec.label, choices=choices, default="", **hint)
    if spec.kind == "yesno":
        return SelectField(spec.label, choices=YES_NO, default="", **hint)
    if spec.kind == "check":
        return BooleanField(spec.label, **hint)
    if spec.kind == "multi":
        choices = [_option(c, spec.path) for c in spec.choices]
        return SelectMultipleField(
            spec.label,
            choices=choices,
            widget=ListWidget(prefix_label=False),
            option_widget=CheckboxInput(),
            **hint,
        )
    if spec.kind == "area":
        return TextAreaField(spec.label, filters=[_strip], **hint)
    render = {"type": "date"} if spec.kind == "date" else {}
    return StringField(spec.label, filters=[_strip], render_kw=render, **hint)


ReferralForm: type[FlaskForm] = type(
    "ReferralForm", (FlaskForm,), {spec.name: _field(spec) for spec in SPECS.values()}
)


def _value(spec: Spec, raw: Any) -> tuple[bool, Any]:
    """(present, value) for the payload; empty answers are left out."""
    if spec.kind == "check":
        return True, bool(raw)
    if spec.kind == "yesno":
        return raw in ("yes", "no"), raw == "yes"
    if spec.kind == "multi":
        return bool(raw), list(raw or [])
    if spec.kind == "languages":
        codes = [code for code in LANGUAGE_SPLIT.split(raw or "") if code]
        return bool(codes), codes
    if spec.kind == "number" and raw:
        return True, int(raw) if raw.isdigit() else raw
    return bool(raw), raw


def payload_from(form: FlaskForm) -> dict[str, Any]:
    """The REFERRAL payload the form's answers make (not yet validated)."""
    payload: dict[str, Any] = {}
    for spec in SPECS.values():
        present, value = _value(spec, form[spec.name].data)
        if present:
            *parents, leaf = spec.path.split(".")
            node = payload
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
    return payload


def field_for_error(path: str) -> str | None:
    """The form field where a protocol error on ``path`` is shown (None: above the form)."""
    path = INDEX.sub("", path)
    if path in SPECS:
        return SPECS[path].name
    inside = [spec for spec in SPECS.values() if spec.path.startswith(path + ".")]
    return inside[0].name if inside else None


def plain_problem(problem: str) -> str:
    return problem[:1].upper() + problem[1:] + ("" if problem.endswith(".") else ".")


def _readable(spec: Spec, value: Any) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        shown = [str(choice_label(v, spec.path)) if spec.kind == "multi" else str(v) for v in value]
        return ", ".join(shown)
    if spec.kind == "choice":
        return str(choice_label(str(value), spec.path))
    return str(value)


def _lookup(payload: dict[str, Any], path: str) -> Any:
    node: Any = payload
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def readable_groups(
    payload: dict[str, Any], *, received: bool = False
) -> list[tuple[Text, list[tuple[Text, str]]]]:
    """The referral as (legend, [(label, value)]) for display; empty groups are left out.
    ``received``: shown on the receiving side, whose legends speak from its point of view."""
    shown = []
    for group in GROUPS:
        rows = [
            (spec.label, _readable(spec, value))
            for spec in group.specs
            if (value := _lookup(payload, spec.path)) is not None
        ]
        if rows:
            shown.append(((received and group.received_legend) or group.legend, rows))
    return shown
