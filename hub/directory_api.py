"""``/api/v1``: search the partner directory, read an organisation, read a country."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from directory import catalogue
from directory.importer import is_country_code
from directory.models import KINDS, CountryContact, Organization, TaxonomyTerm
from directory.places import country_name, country_names
from directory.search import SearchQuery
from hub.enrolment import organisation_nodes
from hub.extensions import db
from hub.models import Node
from hub.search_index import search_index
from ponte.accounts import as_utc
from ponte.params import int_arg, query_args, text_arg
from ponte.problems import ProblemError, invalid_parameter
from protocol import PublicKeyRecord, fingerprint

blueprint = Blueprint("directory_api", __name__, url_prefix="/api/v1")

SEARCH_PARAMETERS = ("q", "country", "service", "language", "kind", "page", "per_page")
MAX_QUERY_LENGTH = 500
MAX_PAGE = 1000
MAX_PER_PAGE = 100


def parse_search_query(args: dict[str, str]) -> SearchQuery:
    """A validated :class:`SearchQuery` from request parameters (pages and the API share it).

    A blank filter means any, as hub/openapi.py documents; one with spaces around it is refused.
    """
    country = args.get("country", "").upper() or None
    if country and not is_country_code(country):
        raise invalid_parameter("country", "not an ISO 3166-1 alpha-2 country code")
    service = args.get("service") or None
    if (
        service
        and db.session.scalar(select(TaxonomyTerm.id).where(TaxonomyTerm.code == service)) is None
    ):
        raise invalid_parameter("service", "not a service term (see /hsds/taxonomy_terms)")
    language = args.get("language", "").lower() or None
    if language and not (len(language) == 2 and language.isascii() and language.isalpha()):
        raise invalid_parameter("language", "not an ISO 639-1 language code")
    kind = args.get("kind") or None
    if kind and kind not in KINDS:
        raise invalid_parameter("kind", f"must be one of {', '.join(KINDS)}")
    return SearchQuery(
        text=text_arg(args, "q", MAX_QUERY_LENGTH),
        country=country,
        service=service,
        language=language,
        kind=kind,
        page=int_arg(args, "page", 1, 1, MAX_PAGE),
        per_page=int_arg(args, "per_page", 20, 1, MAX_PER_PAGE),
    )


@blueprint.get("/search")
def search() -> Response:
    query = parse_search_query(query_args(SEARCH_PARAMETERS))
    result = search_index().search(query)
    return jsonify(
        {
            "total": result.total,
            "page": result.page,
            "per_page": result.per_page,
            "results": [
                {
                    "organisation": hit.organisation,
                    "services": hit.services,
                    "score": hit.score,
                    "highlights": hit.highlights,
                }
                for hit in result.hits
            ],
            "facets": result.facets,
        }
    )


def organisation_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "acronym": org.alternate_name,
        "kind": org.kind,
        "country": org.country,
        "country_name": country_name(org.country),
        "city": org.city,
        "description": org.description,
        "target_groups": org.target_groups,
        "languages": org.languages,
        "interpreters_available": org.interpreters_available,
        "email": org.email,
        "website": org.website,
        "phones": [{"number": p.number, "type": p.type} for p in org.phones],
        "addresses": [
            {"address": loc.address_1, "city": loc.city, "country": loc.country}
            for loc in org.public_locations
        ],
        "services": [
            {
                "id": service.id,
                "name": service.name,
                "term": service.term.code if service.term else None,
                "term_labels": service.term.labels if service.term else {},
                "eligibility": service.eligibility_description,
                "open_24_7": service.open_24_7,
                "wait_time": service.wait_time,
                "languages": service.languages,
                "countries_served": [area.country for area in service.areas],
            }
            for service in org.services
        ],
        "contact_as_printed": org.contact_as_printed,
        "review_flags": org.flags,
        "last_verified": org.last_verified.isoformat() if org.last_verified else None,
        "source": org.source,
        "modified": as_utc(org.modified).isoformat(),  # SQLite reads it back without its zone
        "nodes": [
            {"node_id": node.id, "fingerprint": fingerprint, "active": node.active}
            for node, fingerprint in member_nodes(org.id)
        ],
    }


def member_nodes(organisation_id: str) -> list[tuple[Node, str]]:
    """The organisation's enrolled nodes with their current key fingerprint."""
    return [
        (node, fingerprint(PublicKeyRecord.from_dict(node.current_key.record)))
        for node in organisation_nodes(db.session, organisation_id)
    ]


@blueprint.get("/organisations/<id>")
def organisation(id: str) -> Response:
    query_args(())
    org = catalogue.get_organisation(db.session, id)
    if org is None:
        raise ProblemError(404, "Not Found", "No organisation has this id.")
    return jsonify(organisation_json(org))


def country_contact_json(contact: CountryContact) -> dict[str, Any]:
    return {
        "role": contact.role,
        "name": contact.name,
        "organisation_id": contact.organization_id,
        "phone": contact.phone,
        "email": contact.email,
        "website": contact.website,
        "notes": contact.notes,
    }


@blueprint.get("/countries/<code>")
def country(code: str) -> Response:
    query_args(())
    code = code.upper()
    if not is_country_code(code):
        raise invalid_parameter("code", "not an ISO 3166-1 alpha-2 country code")
    organisations = catalogue.country_organisations(db.session, code)
    return jsonify(
        {
            "code": code,
            "names": country_names(code),
            "organisations": [
                {
                    "id": org.id,
                    "name": org.name,
                    "acronym": org.alternate_name,
                    "kind": org.kind,
                    "city": org.city,
                    "services": sorted({s.term.code for s in org.services if s.term}),
                }
                for org in organisations
            ],
            "contacts": [
                country_contact_json(c) for c in catalogue.country_contacts(db.session, code)
            ],
        }
    )
