"""Open Referral HSDS 3.0: reading HSDS organizations into import records, and (below) the
mapping of the directory to HSDS objects for the API and the export."""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from typing import Any

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from directory.importer import ImportFileError
from directory.models import (
    Contact,
    Location,
    Organization,
    Phone,
    Service,
    ServiceArea,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
    derived_id,
)


def looks_like_hsds(data: object) -> bool:
    """An HSDS organization, a list of them, or an HSDS page ({"contents": [...]})."""
    items = data.get("contents") if isinstance(data, dict) and "contents" in data else data
    items = items if isinstance(items, list) else [items]
    return bool(items) and all(
        isinstance(item, dict) and "id" in item and "description" in item and "kind" not in item
        for item in items
    )


def records_from_hsds(data: object) -> list[object]:
    items = data.get("contents") if isinstance(data, dict) and "contents" in data else data
    items = items if isinstance(items, list) else [items]
    return [_record(item) for item in items]


def _record(item: dict[str, Any]) -> dict[str, Any]:
    """HSDS organization -> seed-shaped record; Ponte's extensions travel under ``x_ponte``."""
    extra = item.get("x_ponte") if isinstance(item.get("x_ponte"), dict) else {}
    services = item.get("services") if isinstance(item.get("services"), list) else []
    phones = item.get("phones") if isinstance(item.get("phones"), list) else []
    locations = [loc for loc in item.get("locations") or [] if isinstance(loc, dict)]
    address = next((loc.get("addresses") or [{}] for loc in locations), [{}])[0] or {}
    record: dict[str, Any] = {
        "id": item.get("id"),
        "name": item.get("name"),
        "acronym": item.get("alternate_name"),
        "notes": item.get("description"),
        "country": extra.get("country") or address.get("country"),
        "city": extra.get("city") or address.get("city"),
        "kind": extra.get("kind", "other"),
        "services": [s.get("name") for s in services if isinstance(s, dict) and s.get("name")],
        "target_groups": extra.get("target_groups", []),
        "languages": extra.get("languages", []),
        "sources": extra.get("source"),
        "last_verified": extra.get("last_verified"),
        "interpreters_available": extra.get("interpreters_available"),
        "contact": {
            key: value
            for key, value in {
                "email": item.get("email"),
                "website": item.get("website"),
                "phone": "; ".join(
                    p["number"]
                    for p in phones
                    if isinstance(p, dict)
                    and p.get("type") != "fax"
                    and isinstance(p.get("number"), str)
                ),
                "fax": "; ".join(
                    p["number"]
                    for p in phones
                    if isinstance(p, dict)
                    and p.get("type") == "fax"
                    and isinstance(p.get("number"), str)
                ),
                "address": address.get("address_1"),
            }.items()
            if value
        },
    }
    if not isinstance(record["id"], str):
        raise ImportFileError("every HSDS organization needs a text id")
    return record


# --- export: the directory as HSDS 3.0 objects ----------------------------------------------
#
# Shapes follow the compiled schemas in the HSDS 3.0 specification (organization.json,
# service.json, service_at_location.json and their *_list.json forms). Rules that hold throughout:
#
# * A field whose value is unknown is left out, never null: HSDS types its fields as plain
#   strings and numbers. Address fields that HSDS requires but Ponte does not record
#   (state_province, a missing postal code or city) are empty strings.
# * What Ponte knows beyond HSDS travels in an ``x_ponte`` object on organizations and services
#   (the schemas allow additional properties; the reader above takes it back).
# * Objects that have no table of their own (addresses, languages, attributes, schedules) get
#   ids derived from their parent's id, so the same entry keeps the same ids in every export.
# * A confidential location (a shelter's address) is never part of any object: not as a
#   location, not inside a service_at_location (such links are skipped whole), not in exports.
#
# Ponte contacts and phones belong to the organisation; a service repeats them under its own
# ``contacts`` and ``phones`` because they are whom to call about that service.

JSON = dict[str, Any]
HSDS_VERSION = "3.0"
LOCATION_TYPE = "physical"
ALL_WEEK = "MO,TU,WE,TH,FR,SA,SU"


def public_links(service: Service) -> list[ServiceAtLocation]:
    return [link for link in service.at_locations if link.location.is_public]


def _compact(fields: JSON) -> JSON:
    return {key: value for key, value in fields.items() if value is not None}


def _timestamp(value: dt.datetime) -> str:
    # SQLite hands back naive datetimes; Ponte stores UTC everywhere.
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


@cache
def _english() -> Locale:
    return Locale("en")


def language_name(code: str) -> str:
    return str(_english().languages.get(code) or code)


def country_name(code: str) -> str:
    return str(_english().territories.get(code) or code)


# --- organizations


def _organization_extensions(org: Organization) -> JSON:
    return {
        "kind": org.kind,
        "country": org.country,
        "city": org.city,
        "target_groups": list(org.target_groups),
        "languages": list(org.languages),
        "source": org.source,
        "last_verified": org.last_verified.isoformat() if org.last_verified else None,
        "interpreters_available": org.interpreters_available,
        # What the import flagged for review, without the printed text it quotes: that text can
        # hold the very addresses the parser chose not to publish (a second, personal mailbox).
        "flags": [
            {key: flag.get(key) for key in ("field", "code", "message")}
            for flag in org.flags
            if isinstance(flag, dict)
        ],
    }


def organization_item(org: Organization) -> JSON:
    """organization_list.json: the organization's own fields."""
    fields = _compact(
        {
            "id": org.id,
            "name": org.name,
            "alternate_name": org.alternate_name,
            "description": org.description or "",
            "email": org.email,
            "website": org.website,
        }
    )
    return {**fields, "x_ponte": _organization_extensions(org)}


def organization_full(org: Organization, full_service: bool) -> JSON:
    """organization.json: with contacts, phones, public locations and services (the services'
    own fields, or fully nested ones with ``full_service``)."""
    services = [
        _service_in_organization(service) if full_service else _service_fields(service)
        for service in org.services
    ]
    return {
        **organization_item(org),
        "contacts": [contact_item(contact) for contact in org.contacts],
        "phones": [phone_item(phone) for phone in org.phones],
        "locations": [location_full(loc) for loc in org.public_locations],
        "services": services,
    }


def _service_in_organization(service: Service) -> JSON:
    # The organization is the parent here; repeating it inside each service adds nothing.
    return {key: value for key, value in service_full(service).items() if key != "organization"}


def contact_item(contact: Contact) -> JSON:
    return _compact(
        {
            "id": contact.id,
            "organization_id": contact.organization_id,
            "name": contact.name,
            "title": contact.title,
            "email": contact.email,
        }
    )


def phone_item(phone: Phone) -> JSON:
    return _compact(
        {
            "id": phone.id,
            "organization_id": phone.organization_id,
            "number": phone.number,
            "type": phone.type,
            "description": phone.description,
        }
    )


# --- locations


def location_item(location: Location) -> JSON:
    """A location's own fields; callers must have checked ``Location.is_public``."""
    return _compact(
        {
            "id": location.id,
            "location_type": LOCATION_TYPE,
            "organization_id": location.organization_id,
            "name": location.name,
        }
    )


def location_full(location: Location) -> JSON:
    addresses = [address_item(location)] if location.address_1 else []
    return {**location_item(location), "addresses": addresses}


def address_item(location: Location) -> JSON:
    return {
        "id": derived_id("address", location.id),
        "location_id": location.id,
        "address_1": location.address_1 or "",
        "city": location.city or "",
        "state_province": "",
        "postal_code": location.postal_code or "",
        "country": location.country,
        "address_type": LOCATION_TYPE,
    }


# --- services


def _service_fields(service: Service) -> JSON:
    fields = _compact(
        {
            "id": service.id,
            "organization_id": service.organization_id,
            "name": service.name,
            "description": service.description,
            "status": service.status,
            "interpretation_services": service.interpretation_services,
            "eligibility_description": service.eligibility_description,
            "wait_time": service.wait_time,
            "last_modified": _timestamp(service.modified) if service.modified else None,
        }
    )
    return {**fields, "x_ponte": {"open_24_7": service.open_24_7}}


def service_item(service: Service) -> JSON:
    """service_list.json: the service's own fields and its organization's."""
    return {**_service_fields(service), "organization": organization_item(service.organization)}


def service_full(service: Service) -> JSON:
    """service.json: the service with everything about it nested."""
    org = service.organization
    return {
        **service_item(service),
        "phones": [phone_item(phone) for phone in org.phones],
        "contacts": [contact_item(contact) for contact in org.contacts],
        "service_areas": [service_area_item(area) for area in service.areas],
        "service_at_locations": [_link_in_service(link) for link in public_links(service)],
        "languages": [language_item(service, code) for code in service.languages],
        "attributes": [attribute_item(service, service.term)] if service.term else [],
        "schedules": [always_open_schedule(service)] if service.open_24_7 else [],
    }


def _link_in_service(link: ServiceAtLocation) -> JSON:
    return {
        "id": link.id,
        "service_id": link.service_id,
        "location_id": link.location_id,
        "location": location_full(link.location),
    }


def service_area_item(area: ServiceArea) -> JSON:
    return {
        "id": area.id,
        "service_id": area.service_id,
        "name": country_name(area.country),
        "extent": area.country,  # ISO 3166-1 alpha-2 (XK for Kosovo)
        "extent_type": "text",
    }


def language_item(service: Service, code: str) -> JSON:
    return {
        "id": derived_id("language", service.id, code),
        "service_id": service.id,
        "name": language_name(code),
        "code": code,
    }


def attribute_item(service: Service, term: TaxonomyTerm) -> JSON:
    """The link from a service to its term in Ponte's service taxonomy."""
    return {
        "id": derived_id("attribute", service.id, term.id),
        "link_id": service.id,
        "link_entity": "service",
        "taxonomy_term_id": term.id,
        "taxonomy_term": taxonomy_term_item(term, with_taxonomy=False),
    }


def always_open_schedule(service: Service) -> JSON:
    return {
        "id": derived_id("schedule", service.id, "24/7"),
        "service_id": service.id,
        "freq": "WEEKLY",
        "byday": ALL_WEEK,
        "opens_at": "00:00",
        "closes_at": "23:59",
        "description": "Open 24 hours a day, 7 days a week.",
    }


# --- service at location


def service_at_location_item(link: ServiceAtLocation) -> JSON:
    """service_at_location_list.json; callers must have checked ``Location.is_public``."""
    return {
        "id": link.id,
        "service_id": link.service_id,
        "location_id": link.location_id,
        "location": location_item(link.location),
        "service": service_item(link.service),
    }


def service_at_location_full(link: ServiceAtLocation) -> JSON:
    """service_at_location.json; callers must have checked ``Location.is_public``."""
    service = {
        key: value
        for key, value in service_full(link.service).items()
        if key != "service_at_locations"  # this link is the one being shown
    }
    return {
        "id": link.id,
        "service_id": link.service_id,
        "location_id": link.location_id,
        "location": location_full(link.location),
        "service": service,
    }


# --- taxonomy


def taxonomy_item(taxonomy: Taxonomy) -> JSON:
    return _compact(
        {
            "id": taxonomy.id,
            "name": taxonomy.name,
            "description": taxonomy.description,
            "uri": taxonomy.uri,
            "version": taxonomy.version,
        }
    )


def taxonomy_term_item(term: TaxonomyTerm, with_taxonomy: bool = True) -> JSON:
    fields = _compact(
        {
            "id": term.id,
            "code": term.code,
            "name": term.name,
            "description": term.description,
            "parent_id": term.parent_id,
            "taxonomy": term.taxonomy.name,
            "taxonomy_id": term.taxonomy_id,
            "language": "en",
        }
    )
    if with_taxonomy:
        fields["taxonomy_detail"] = taxonomy_item(term.taxonomy)
    return {**fields, "x_ponte": {"labels": dict(term.labels)}}


# --- pages and exports


def page(items: list[JSON], total: int, page_number: int, per_page: int) -> JSON:
    """The HSDS Page: ``size`` counts this page's items, ``empty`` says this page has none."""
    total_pages = math.ceil(total / per_page)
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page_number,
        "size": len(items),
        "first_page": page_number == 1,
        "last_page": page_number >= total_pages,
        "empty": not items,
        "contents": items,
    }


def service_loads() -> list[LoaderOption]:
    """Loader options for :func:`service_full` on many services in a handful of queries."""
    organization = selectinload(Service.organization)
    return [
        organization.selectinload(Organization.phones),
        organization.selectinload(Organization.contacts),
        selectinload(Service.areas),
        selectinload(Service.at_locations).selectinload(ServiceAtLocation.location),
        selectinload(Service.term).selectinload(TaxonomyTerm.taxonomy),
    ]


def organization_loads() -> list[LoaderOption]:
    """Loader options for :func:`organization_full` with full services."""
    services = selectinload(Organization.services)
    return [
        selectinload(Organization.contacts),
        selectinload(Organization.phones),
        selectinload(Organization.locations),
        services.selectinload(Service.areas),
        services.selectinload(Service.at_locations).selectinload(ServiceAtLocation.location),
        services.selectinload(Service.term).selectinload(TaxonomyTerm.taxonomy),
    ]


def export_all(session: Session) -> list[JSON]:
    """Every organization, fully nested with full services, for ``ponte hub export-hsds``."""
    query = select(Organization).options(*organization_loads())
    organizations = session.scalars(query.order_by(Organization.name, Organization.id))
    return [organization_full(org, full_service=True) for org in organizations]
