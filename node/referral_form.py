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

CHOICE_LABELS = {
    "assisted_voluntary_return": "Assisted voluntary return",
    "court_hearing_travel": "Travel to a court hearing",
    "non_binary": "Non-binary",
    "not_disclosed": "Prefers not to say",
    "ngo_referral": "Referral from another NGO",
    "share_with_recipient": "Share this referral with the receiving organisation",
    "contact_family": "Contact the person's family",
    "contact_authorities": "Contact the authorities",
    "share_documents": "Share documents",
    "follow_up_contact": "Be contacted for follow-up",
    "national_id": "National ID card",
    "forced_criminality": "Forced criminality",
}


def choice_label(value: str) -> str:
    return CHOICE_LABELS.get(value, value.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Spec:
    path: str  # dotted path in the payload
    label: str
    kind: str  # text | area | date | choice | yesno | check | multi | languages | number
    choices: tuple[str, ...] = ()
    hint: str = ""

    @property
    def name(self) -> str:
        return self.path.replace(".", "_")


@dataclass(frozen=True)
class Group:
    legend: str
    intro: str
    specs: tuple[Spec, ...]


def _contact(prefix: str) -> tuple[Spec, ...]:
    return (
        Spec(f"{prefix}.name", "Name", "text"),
        Spec(f"{prefix}.role", "Role", "text"),
        Spec(f"{prefix}.organisation", "Organisation", "text"),
        Spec(f"{prefix}.email", "E-mail", "text"),
        Spec(f"{prefix}.phone", "Phone", "text"),
    )


GENDERS = ("female", "male", "non_binary", "other", "not_disclosed")
INTAKES = ("hotline", "outreach", "police", "labour_inspection", "ngo_referral")
INTAKES += ("self_referral", "health_service", "embassy", "other")

GROUPS: tuple[Group, ...] = (
    Group(
        "The request",
        "What you are asking the partner organisation to do, and by when.",
        (
            Spec("request_type", "Type of request", "choice", wire.REQUEST_TYPES),
            Spec("urgency", "Urgency", "choice", ("routine", "urgent", "emergency")),
            Spec(
                "requested_by", "Answer needed by", "date", hint="Leave empty if there is no date."
            ),
            Spec("intake", "How the person came to you", "choice", INTAKES),
        ),
    ),
    Group("Your contact", "The caseworker the partner can reach here.", _contact("sender_contact")),
    Group(
        "Contact at the partner organisation",
        "If you already know who will take the case there (optional).",
        _contact("recipient_contact"),
    ),
    Group(
        "The person",
        "Only what the partner needs. Give a case code, initials or both — never the name.",
        (
            Spec(
                "person.case_code",
                "Case code or initials — never the person's name",
                "text",
                hint="Your case code, with at least one digit, for example RO-2026-014.",
            ),
            Spec("person.initials", "Initials", "text", hint="One to four letters, e.g. M.K."),
            Spec("person.gender", "Gender", "choice", GENDERS),
            Spec("person.age_band", "Age band", "choice", wire.AGE_BANDS),
            Spec("person.minor", "Under 18", "yesno"),
            Spec("person.nationality", "Nationality", "text", hint="Two-letter code, e.g. MD."),
            Spec("person.languages", "Languages", "languages", hint="Codes such as ro, ru."),
            Spec("person.interpreter_needed", "Interpreter needed", "yesno"),
            Spec("person.guardian.appointed", "Guardian appointed (for a minor)", "yesno"),
            Spec("person.guardian.details", "About the guardian", "area"),
        ),
    ),
    Group(
        "Consent",
        "A referral is sent only with the person's informed consent to share it.",
        (
            Spec("consent.given", "The person gave informed consent", "check"),
            Spec("consent.form", "How consent was given", "choice", ("written", "verbal")),
            Spec("consent.date", "When consent was given", "date"),
            Spec("consent.scope", "What the person agreed to", "multi", wire.CONSENT_SCOPES),
            Spec(
                "consent.withhold_from_family",
                "What must not be shared with the family",
                "area",
            ),
        ),
    ),
    Group(
        "The case",
        "",
        (
            Spec(
                "case.exploitation_forms", "Forms of exploitation", "multi", wire.EXPLOITATION_FORMS
            ),
            Spec("case.documents_held", "Documents the person has", "multi", wire.DOCUMENTS),
            Spec("case.documents_needed", "Documents the person needs", "multi", wire.DOCUMENTS),
            Spec("case.summary", "Summary", "area"),
        ),
    ),
    Group(
        "Risk assessment",
        "Required for an assisted voluntary return; helpful for any request.",
        (
            Spec("risk_assessment.summary", "Risk assessment", "area"),
            Spec("risk_assessment.level", "Risk level", "choice", ("low", "medium", "high")),
            Spec("risk_assessment.date", "Date of the assessment", "date"),
        ),
    ),
    Group(
        "Logistics",
        "",
        (
            Spec("logistics.departure_date", "Departure date", "date"),
            Spec("logistics.arrival_date", "Arrival date", "date"),
            Spec("logistics.escort", "Escort during travel", "yesno"),
            Spec("logistics.pickup_point", "Pick-up point", "text"),
            Spec("logistics.costs_covered_by", "Who covers the costs", "area"),
        ),
    ),
    Group(
        "Follow-up",
        "",
        (
            Spec("follow_up.schedule", "Follow-up plan", "area"),
            Spec("follow_up.duration_months", "For how many months", "number"),
        ),
    ),
    Group(
        "Restricted notes",
        "Seen only by the caseworkers handling the case on each side.",
        (Spec("restricted_notes", "Restricted notes", "area"),),
    ),
)

SPECS: dict[str, Spec] = {spec.path: spec for group in GROUPS for spec in group.specs}
YES_NO = [SelectChoice("", "Not stated"), SelectChoice("yes", "Yes"), SelectChoice("no", "No")]
LANGUAGE_SPLIT = re.compile(r"[\s,;]+")
INDEX = re.compile(r"\[\d+\]")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _option(value: str) -> SelectChoice:
    return SelectChoice(value, choice_label(value))


def _field(spec: Spec) -> Field:
    hint = {"description": spec.hint} if spec.hint else {}
    if spec.kind == "choice":
        choices = [SelectChoice("", "Choose…"), *(_option(c) for c in spec.choices)]
        return SelectField(spec.label, choices=choices, default="", **hint)
    if spec.kind == "yesno":
        return SelectField(spec.label, choices=YES_NO, default="", **hint)
    if spec.kind == "check":
        return BooleanField(spec.label, **hint)
    if spec.kind == "multi":
        choices = [_option(c) for c in spec.choices]
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
        return "Yes" if value else "No"
    if isinstance(value, list):
        shown = [choice_label(v) if spec.kind == "multi" else str(v) for v in value]
        return ", ".join(shown)
    if spec.kind == "choice":
        return choice_label(str(value))
    return str(value)


def _lookup(payload: dict[str, Any], path: str) -> Any:
    node: Any = payload
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def readable_groups(payload: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The referral as (legend, [(label, value)]) for display; empty groups are left out."""
    shown = []
    for group in GROUPS:
        rows = [
            (spec.label, _readable(spec, value))
            for spec in group.specs
            if (value := _lookup(payload, spec.path)) is not None
        ]
        if rows:
            shown.append((group.legend, rows))
    return shown
