"""The hub's front page: what Ponte is, and where the network reaches (organisations and
services in the directory, per country, as a chart drawn on the server)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, url_for
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from directory.models import Organization, Service
from hub.extensions import db
from ponte.charts import BarChart, Row, bar_chart_svg, bar_chart_table
from ponte.i18n import country_name

blueprint = Blueprint("home", __name__)


@dataclass(frozen=True)
class CountryCount:
    country: str  # ISO 3166-1 alpha-2
    organisations: int
    services: int  # active services of the country's organisations


def country_counts(session: Session) -> list[CountryCount]:
    """Organisations and their active services per country, most organisations first.

    One query: each organisation joined to its active services (or none), grouped by the
    organisation's country. Inactive services are left out, as the search index leaves them."""
    active = and_(
        Service.organization_id == Organization.id,
        or_(Service.status == "active", Service.status.is_(None)),
    )
    query = (
        select(
            Organization.country,
            func.count(func.distinct(Organization.id)),
            func.count(Service.id),
        )
        .outerjoin(Service, active)
        .group_by(Organization.country)
    )
    counts = [
        CountryCount(country, orgs, services) for country, orgs, services in session.execute(query)
    ]
    return sorted(counts, key=lambda count: (-count.organisations, -count.services, count.country))


def reach_summary(counts: list[CountryCount]) -> str:
    """ "225 organisations in 38 countries, 900 services", in the page's language."""
    organisations = sum(count.organisations for count in counts)
    services = sum(count.services for count in counts)
    countries = len(counts)
    # Each number gets its own plural form, then the three go into one sentence. The count
    # is passed as "count", written for the locale: ngettext would insert "num" raw.
    return _(
        "%(organisations)s in %(countries)s, %(services)s",
        organisations=ngettext(
            "%(count)s organisation",
            "%(count)s organisations",
            organisations,
            count=format_number(organisations),
        ),
        countries=ngettext(
            "%(count)s country", "%(count)s countries", countries, count=format_number(countries)
        ),
        services=ngettext(
            "%(count)s service", "%(count)s services", services, count=format_number(services)
        ),
    )


def reach_chart(counts: list[CountryCount], summary: str) -> BarChart:
    rows = tuple(
        Row(
            label=country_name(count.country),
            values=(count.organisations, count.services),
            href=url_for("directory_pages.country_page", code=count.country),
        )
        for count in counts
    )
    return BarChart(
        chart_id="reach",
        title=_("Organisations and services per country"),
        description=_("%(summary)s. Sorted by number of organisations.", summary=summary),
        label_heading=_("Country"),
        series=(_("Organisations"), _("Services")),
        rows=rows,
        empty_text=_("No organisations in the directory yet."),
    )


@blueprint.get("/")
def index() -> str:
    counts = country_counts(db.session)
    summary = reach_summary(counts)
    chart = reach_chart(counts, summary)
    return render_template(
        "home.html",
        reach_summary=summary if counts else None,
        reach_svg=bar_chart_svg(chart, format_number),
        reach_table=bar_chart_table(chart, format_number),
    )
