"""Server-rendered directory pages: search with facets, an organisation, a country.

They work without JavaScript and on a phone; bad parameters re-render the search form with
the problem stated (status 400) rather than an error page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select

from directory import catalogue
from directory.contacts import EMAIL_CUT_SHORT
from directory.importer import is_country_code
from directory.models import KINDS, TaxonomyTerm
from hub.directory_api import SEARCH_PARAMETERS, member_nodes, parse_search_query
from hub.extensions import db
from hub.search_index import search_index
from ponte.i18n import current_language
from ponte.params import query_args
from ponte.problems import ProblemError

blueprint = Blueprint("directory_pages", __name__, url_prefix="/directory")

KIND_LABELS = {
    "ngo": _l("NGO"),
    "network": _l("Network"),
    "international_org": _l("International organisation"),
    "government": _l("Public body"),
    "other": lazy_pgettext("organisation kind", "Other"),
}
ROLE_LABELS = {
    "national_coordinator": _l("National coordinator"),
    "referral_mechanism": _l("National referral mechanism"),
    "hotline": _l("Hotline"),
    "police_unit": _l("Specialised police or inspection unit"),
}


def term_labels() -> dict[str, str]:
    """Each service term's label in the page's language (the taxonomy carries all five)."""
    language = current_language()
    terms = db.session.scalars(select(TaxonomyTerm))
    return {term.code: term.label(language) for term in terms}


def flag_message(flag: dict[str, str]) -> str:
    """A review flag's message in the page's language: the import stores it in English."""
    if flag.get("code") == "email_cut_short":
        return _(EMAIL_CUT_SHORT, tld=str(flag.get("value", "")).rsplit(".", 1)[-1])
    message = str(flag.get("message") or "")
    return _(message) if message else ""  # gettext("") would give the catalog's header


def page_url(args: dict[str, str], **changes: str | int | None) -> str:
    merged = {**args, **{key: value for key, value in changes.items()}}
    clean = {key: value for key, value in merged.items() if value not in (None, "")}
    return f"{request.path}?{urlencode(clean)}" if clean else request.path


@blueprint.get("/")
def search_page() -> tuple[str, int] | str:
    args = {key: request.args[key] for key in request.args}
    try:
        query = parse_search_query(query_args(SEARCH_PARAMETERS))
    except ProblemError as error:
        return render_template(
            "directory/search.html", args={}, result=None, error=error.detail, **_labels()
        ), 400
    result = search_index().search(query)
    return render_template(
        "directory/search.html",
        args=args,
        query=query,
        result=result,
        error=None,
        page_url=page_url,
        **_labels(),
    )


def _labels() -> dict[str, object]:
    return {
        "terms": term_labels(),
        "kinds": KIND_LABELS,
        "kind_values": KINDS,
    }


@blueprint.get("/organisations/<organisation_id>")
def organisation_page(organisation_id: str) -> str:
    org = catalogue.get_organisation(db.session, organisation_id)
    if org is None:
        abort(404)
    return render_template(
        "directory/organisation.html",
        org=org,
        nodes=member_nodes(org.id),
        flag_message=flag_message,
        **_labels(),
    )


@blueprint.get("/countries/<code>")
def country_page(code: str) -> str:
    code = code.upper()
    if not is_country_code(code):
        abort(404)
    return render_template(
        "directory/country.html",
        code=code,
        organisations=catalogue.country_organisations(db.session, code),
        contacts=catalogue.country_contacts(db.session, code),
        roles=ROLE_LABELS,
        **_labels(),
    )
