"""The partner directory as an Open Referral HSDS 3.0 API, read-only, under ``/hsds``.

Endpoints, parameters and response shapes follow the official HSDS 3.0 OpenAPI description,
with these choices:

* ``per_page`` is 1 to 100 (default 20) and ``page`` starts at 1. Out-of-range values are
  refused with 400 rather than clamped, so a client never computes its paging on numbers we
  silently changed. A page past the last one is an empty page (200), not an error.
* Every parameter is checked: an unknown or repeated one, a malformed (or blank) number,
  boolean (``true``/``false``) or ``modified_after`` (ISO 8601) answers 400 naming it, as an
  RFC 9457 problem. Parameters the spec lists that Ponte cannot honour (``minimal``, ``postcode``,
  ``proximity``, a ``format`` other than ``json``) answer 400 too, never a silently wrong list.
* ``search`` is a case-insensitive substring match on names and descriptions (and, for services,
  their organization's name).
* ``/organizations``: ``full_service=true`` implies ``full=true``.
* ``/taxonomy_terms``: ``top_only=true`` returns the terms that have no parent.
* ``/service_at_locations/{id}`` answers service_at_location.json; the 3.0 OpenAPI file declares
  service.json there by mistake (fixed upstream, openreferral/specification#574).

Confidential (shelter) locations never appear: the serializers in :mod:`directory.hsds` skip
them, and the service_at_location queries exclude them, so paging counts stay right.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from directory import hsds
from directory.models import (
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)
from hub.extensions import db
from ponte.params import int_arg, query_args, text_arg
from ponte.problems import invalid_parameter, problem

blueprint = Blueprint("hsds", __name__, url_prefix="/hsds")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 999_999_999
MAX_TEXT = 500  # as hub/openapi.py documents for search
PROFILE_URL = "https://docs.openreferral.org/en/3.0/"
OPENAPI_URL = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/openapi.json"
PAGING = frozenset({"page", "per_page", "format"})
SERVICE_FILTERS = frozenset(
    {"search", "taxonomy_term_id", "taxonomy_id", "organization_id", "modified_after", "full"}
)
# Listed by the spec, but Ponte has no data to answer them truthfully.
UNSUPPORTED = {
    "postcode": "postcode is not supported: Ponte's service areas are whole countries",
    "proximity": "proximity is not supported: Ponte's locations have no coordinates",
}
TRUE_FALSE = {"true": True, "false": False}


def _not_found(kind: str, object_id: str) -> Response:
    return problem(404, "Not Found", f"There is no {kind} with id {object_id[:100]!r}.")


# --- query parameters -----------------------------------------------------------------------


def _check_parameters(allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for name in sorted(UNSUPPORTED.keys() & allowed & set(request.args)):
        raise invalid_parameter(name, UNSUPPORTED[name])
    query_args(allowed - UNSUPPORTED.keys())
    if request.args.get("format", "json") != "json":
        raise invalid_parameter("format", "only json is supported")


def _text(name: str) -> str | None:
    value = text_arg(request.args, name, MAX_TEXT).strip()
    return value or None


def _whole_number(name: str, default: int, highest: int) -> int:
    return int_arg(request.args, name, default, 1, highest)


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in TRUE_FALSE:
        raise invalid_parameter(name, "must be true or false")
    return TRUE_FALSE[value]


def _modified_after() -> dt.datetime | None:
    if "modified_after" not in request.args:
        return None
    value = text_arg(request.args, "modified_after", MAX_TEXT).strip()  # blank is malformed
    # An unencoded "+" in a query string arrives as a space: "...T10:00 02:00" meant "+02:00".
    value = re.sub(r" (\d\d:?\d\d)$", r"+\1", value)
    try:
        moment = dt.datetime.fromisoformat(value)
        # A moment without an offset is taken as UTC, the time zone Ponte stores.
        return moment.replace(tzinfo=moment.tzinfo or dt.UTC).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise invalid_parameter(
            "modified_after", "must be an ISO 8601 date-time, e.g. 2025-01-31T12:00Z"
        ) from None


def _contains(text: str, *columns: Any) -> ColumnElement[bool]:
    return or_(*(column.icontains(text, autoescape=True) for column in columns))


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @classmethod
    def from_request(cls) -> Paging:
        return cls(
            _whole_number("page", 1, MAX_PAGE),
            _whole_number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        )


def _page_of(
    query: Select[Any],
    order: Iterable[Any],
    serialize: Callable[[Any], hsds.JSON],
    loads: Iterable[Any] = (),
) -> Response:
    paging = Paging.from_request()
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(
        query.options(*loads)
        .order_by(*order)
        .limit(paging.per_page)
        .offset((paging.page - 1) * paging.per_page)
    )
    items = [serialize(row) for row in rows]
    return jsonify(hsds.page(items, total, paging.page, paging.per_page))


# --- endpoints ------------------------------------------------------------------------------


@blueprint.get("/")
def about() -> Response:
    _check_parameters(())
    return jsonify(version=hsds.HSDS_VERSION, profile=PROFILE_URL, openapi_url=OPENAPI_URL)


@blueprint.get("/organizations")
def organizations() -> Response:
    _check_parameters({"search", "full", "full_service"} | PAGING)
    full_service = _flag("full_service")
    full = _flag("full") or full_service
    query = select(Organization)
    if search := _text("search"):
        query = query.where(
            _contains(
                search, Organization.name, Organization.alternate_name, Organization.description
            )
        )
    order = [Organization.name, Organization.id]
    if not full:
        return _page_of(query, order, hsds.organization_item)
    return _page_of(
        query,
        order,
        lambda org: hsds.organization_full(org, full_service),
        hsds.organization_loads(),
    )


@blueprint.get("/organizations/<id>")
def organization(id: str) -> Response:  # named as in the HSDS paths
    _check_parameters({"full_service"})
    full_service = _flag("full_service")
    org = db.session.scalar(
        select(Organization).where(Organization.id == id).options(*hsds.organization_loads())
    )
    if org is None:
        return _not_found("organization", id)
    return jsonify(hsds.organization_full(org, full_service))


def _filtered_services(query: Select[Any]) -> Select[Any]:
    """Apply the spec's service filters to a query that has Service and Organization joined."""
    if search := _text("search"):
        query = query.where(_contains(search, Service.name, Service.description, Organization.name))
    if term_id := _text("taxonomy_term_id"):
        query = query.where(Service.term_id == term_id)
    if taxonomy_id := _text("taxonomy_id"):
        terms = select(TaxonomyTerm.id).where(TaxonomyTerm.taxonomy_id == taxonomy_id)
        query = query.where(Service.term_id.in_(terms))
    if organization_id := _text("organization_id"):
        query = query.where(Service.organization_id == organization_id)
    if (modified_after := _modified_after()) is not None:
        query = query.where(Service.modified >= modified_after)
    return query


@blueprint.get("/services")
def services() -> Response:
    _check_parameters(SERVICE_FILTERS | {"minimal"} | PAGING)
    if _flag("minimal"):
        raise invalid_parameter("minimal", "true is not supported; ask for up to 100 per page")
    full = _flag("full")
    query = _filtered_services(select(Service).join(Service.organization))
    order = [Service.name, Service.id]
    if full:
        return _page_of(query, order, hsds.service_full, hsds.service_loads())
    return _page_of(query, order, hsds.service_item, [selectinload(Service.organization)])


@blueprint.get("/services/<id>")
def service(id: str) -> Response:  # named as in the HSDS paths
    _check_parameters(())
    found = db.session.scalar(
        select(Service).where(Service.id == id).options(*hsds.service_loads())
    )
    if found is None:
        return _not_found("service", id)
    return jsonify(hsds.service_full(found))


def _public_links() -> Select[Any]:
    return (
        select(ServiceAtLocation)
        .join(ServiceAtLocation.location)
        .join(ServiceAtLocation.service)
        .join(Service.organization)
        .where(Location.confidential.is_(False))
    )


def _link_loads() -> list[Any]:
    service = selectinload(ServiceAtLocation.service)
    return [
        selectinload(ServiceAtLocation.location),
        *(service.options(load) for load in hsds.service_loads()),
    ]


@blueprint.get("/service_at_locations")
def service_at_locations() -> Response:
    _check_parameters(SERVICE_FILTERS | UNSUPPORTED.keys() | PAGING)
    full = _flag("full")
    query = _filtered_services(_public_links())
    serialize = hsds.service_at_location_full if full else hsds.service_at_location_item
    return _page_of(query, [Service.name, ServiceAtLocation.id], serialize, _link_loads())


@blueprint.get("/service_at_locations/<id>")
def service_at_location(id: str) -> Response:  # named as in the HSDS paths
    _check_parameters(())
    link = db.session.scalar(
        _public_links().where(ServiceAtLocation.id == id).options(*_link_loads())
    )
    if link is None:  # a link to a confidential location does not exist as far as anyone asks
        return _not_found("service_at_location", id)
    return jsonify(hsds.service_at_location_full(link))


@blueprint.get("/taxonomies")
def taxonomies() -> Response:
    _check_parameters({"search"} | PAGING)
    query = select(Taxonomy)
    if search := _text("search"):
        query = query.where(_contains(search, Taxonomy.name, Taxonomy.description))
    return _page_of(query, [Taxonomy.name, Taxonomy.id], hsds.taxonomy_item)


@blueprint.get("/taxonomies/<id>")
def taxonomy(id: str) -> Response:  # named as in the HSDS paths
    _check_parameters(())
    found = db.session.get(Taxonomy, id)
    if found is None:
        return _not_found("taxonomy", id)
    return jsonify(hsds.taxonomy_item(found))


@blueprint.get("/taxonomy_terms")
def taxonomy_terms() -> Response:
    _check_parameters({"search", "taxonomy_id", "top_only", "parent_id"} | PAGING)
    query = select(TaxonomyTerm)
    if search := _text("search"):
        query = query.where(
            _contains(search, TaxonomyTerm.code, TaxonomyTerm.name, TaxonomyTerm.description)
        )
    if taxonomy_id := _text("taxonomy_id"):
        query = query.where(TaxonomyTerm.taxonomy_id == taxonomy_id)
    if _flag("top_only"):
        query = query.where(TaxonomyTerm.parent_id.is_(None))
    if parent_id := _text("parent_id"):
        query = query.where(TaxonomyTerm.parent_id == parent_id)
    return _page_of(
        query,
        [TaxonomyTerm.name, TaxonomyTerm.id],
        hsds.taxonomy_term_item,
        [selectinload(TaxonomyTerm.taxonomy)],
    )


@blueprint.get("/taxonomy_terms/<id>")
def taxonomy_term(id: str) -> Response:  # named as in the HSDS paths
    _check_parameters(())
    found = db.session.get(TaxonomyTerm, id)
    if found is None:
        return _not_found("taxonomy_term", id)
    return jsonify(hsds.taxonomy_term_item(found))
