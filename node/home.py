"""The node's front page: who is signed in, this node's membership of the hub, and for the
people who may see cases, a small overview of them by status."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, Response, make_response, render_template
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.extensions import db
from node.keys import has_keys, node_keys
from node.lifecycle import LABELS
from node.models import Referral
from node.referral_pages import ROLES as CASE_ROLES
from ponte.charts import BarChart, Row, bar_chart_svg, bar_chart_table
from ponte.login import current_user
from protocol import fingerprint

blueprint = Blueprint("home", __name__)

# The two sides of a referral, as the chart's series: what we referred, what was referred to us.
DIRECTIONS = ("sender", "recipient")


def case_counts(session: Session) -> Counter[tuple[str, str]]:
    """How many of this node's cases are in each (status, role); role is sender | recipient."""
    query = select(Referral.status, Referral.role, func.count()).group_by(
        Referral.status, Referral.role
    )
    return Counter({(status, role): count for status, role, count in session.execute(query)})


def cases_chart(counts: Counter[tuple[str, str]]) -> BarChart:
    """Rows in the lifecycle's order; only the statuses some case is in."""
    present = {status for status, _role in counts}
    ordered = [status for status in LABELS if status in present]
    ordered += sorted(present - set(LABELS))  # a status this code does not know yet
    rows = tuple(
        Row(
            # LABELS holds lazy translations: str() reads them in this page's language.
            label=str(LABELS.get(status, status)),
            values=tuple(counts[status, role] for role in DIRECTIONS),
        )
        for status in ordered
    )
    total = sum(counts.values())
    return BarChart(
        chart_id="cases",
        title=_("Our cases by status"),
        description=ngettext(
            "%(count)s case: how many are in each status, referred by us and referred to us.",
            "%(count)s cases: how many are in each status, referred by us and referred to us.",
            total,
            count=format_number(total),
        ),
        label_heading=_("Status"),
        series=(_("Referred by us"), _("Referred to us")),
        rows=rows,
        empty_text=_("No cases yet."),
    )


def cases_overview() -> dict[str, Markup] | None:
    """The chart and its table for a person who may see cases, else None."""
    user = current_user()
    if user is None or user.role not in CASE_ROLES:
        return None
    chart = cases_chart(case_counts(db.session))
    return {
        "svg": bar_chart_svg(chart, format_number),
        "table": bar_chart_table(chart, format_number),
    }


def membership() -> dict[str, str] | None:
    if not has_keys():
        return None
    keys = node_keys()
    return {
        "organisation": keys.enrolment.organisation_name,
        "node_id": keys.enrolment.node_id,
        "hub_url": keys.enrolment.hub_url,
        "fingerprint": fingerprint(keys.identities[-1].public_record()),
        "hub_fingerprint": fingerprint(keys.enrolment.hub_record),
    }


@blueprint.get("/")
def index() -> Response:
    overview = cases_overview()
    page = render_template("home.html", membership=membership(), cases=overview)
    response = make_response(page)
    if overview is not None:  # figures about the organisation's cases stay out of caches
        response.headers["Cache-Control"] = "no-store"
    return response
