"""Self-service: an organisation's own changes to its directory entry.

``changes`` has the shape of a directory-update statement (protocol/profile.py, SPEC.md 4.5).
It is applied with the importer's conventions: service ids derived from the organisation and
the service's name, one service area for the organisation's country, services carrying the
organisation's languages, ``modified`` bumped on the organisation and its services, an entry
in the change log (directory/changes.py). Recording who asked for it (the audit log, the signed
document) is the caller's job.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import pycountry
from sqlalchemy.orm import Session

from directory.changes import record_changes
from directory.importer import (
    mark_modified,
    place_service,
    service_id_for,
    set_phones,
    term_for_label,
)
from directory.models import Organization, Service, TaxonomyTerm, utcnow
from protocol.errors import ValidationError
from protocol.profile import CHANGE_FIELDS, check_changes

log = logging.getLogger(__name__)

# Import review flags that a change answers: the organisation has now stated it itself.
ANSWERED_FLAGS = {
    "services": ("services",),
    "languages": ("languages",),
    "email": ("contact.email",),
    "website": ("contact.website",),
    "phones": ("contact.phone", "contact.fax"),
}
PLAIN_FIELDS = ("interpreters_available", "email", "website")


class ProfileChangeRefused(Exception):
    """A change this directory cannot take; ``field`` is its dotted path in the update."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def apply_profile_update(
    session: Session,
    organisation: Organization,
    changes: Mapping[str, Any],
    actor: str,
    *,
    today: dt.date | None = None,
) -> list[str]:
    """Apply ``changes`` to ``organisation`` (not committed) and mark it verified ``today``.

    Returns the names of the fields whose value changed, in the order of CHANGE_FIELDS.
    Raises :class:`ProfileChangeRefused` before changing anything if a change is not valid.
    """
    terms = check_profile_changes(session, changes)
    before = entry_snapshot(organisation)
    _apply(organisation, changes, terms)
    after = entry_snapshot(organisation)
    changed = [name for name in CHANGE_FIELDS if name in changes and before[name] != after[name]]
    organisation.last_verified = today or utcnow().date()
    _drop_answered_flags(organisation, changes)
    mark_modified(organisation)
    record_changes(session, [organisation.id])
    log.info("directory entry %s updated by %s: %s", organisation.id, actor, changed)
    return changed


def check_profile_changes(session: Session, changes: Mapping[str, Any]) -> dict[str, TaxonomyTerm]:
    """The update's shape, its service types and its languages; returns the terms it uses."""
    try:
        check_changes(dict(changes))
    except ValidationError as error:
        raise ProfileChangeRefused(error.field, error.problem) from error
    terms = _check_terms(session, changes.get("services", []))
    _check_languages(changes.get("languages", []))
    return terms


def _check_terms(session: Session, services: list[dict[str, Any]]) -> dict[str, TaxonomyTerm]:
    by_label = term_for_label(session)
    terms: dict[str, TaxonomyTerm] = {}
    for index, service in enumerate(services):
        term = by_label.get(service["term"])
        if term is None or term.code != service["term"]:
            raise ProfileChangeRefused(
                f"changes.services[{index}].term",
                "is not a service type of this directory (see /hsds/taxonomy_terms)",
            )
        terms[term.code] = term
    return terms


def _check_languages(codes: list[str]) -> None:
    for index, code in enumerate(codes):
        if pycountry.languages.get(alpha_2=code) is None:
            raise ProfileChangeRefused(
                f"changes.languages[{index}]", f"{code!r} is not an ISO 639-1 language code"
            )


def entry_snapshot(org: Organization) -> dict[str, Any]:
    """The values a directory update can change, comparable before and after."""
    services = [
        (
            service.name,
            service.term.code if service.term else None,
            service.open_24_7,
            service.wait_time,
            service.eligibility_description,
        )
        for service in org.services
    ]
    return {
        "services": sorted(services, key=lambda row: row[0].casefold()),
        "languages": list(org.languages),
        "interpreters_available": org.interpreters_available,
        "email": org.email,
        "website": org.website,
        "phones": [(phone.number, phone.type) for phone in org.phones],
        "description": org.description or "",
    }


def _apply(
    org: Organization, changes: Mapping[str, Any], terms: Mapping[str, TaxonomyTerm]
) -> None:
    if "languages" in changes:
        org.languages = list(changes["languages"])
    if "services" in changes:
        _set_services(org, changes["services"], terms)
    for service in org.services:  # as the importer does: services speak the org's languages
        if service.languages != org.languages:
            service.languages = list(org.languages)
    for name in PLAIN_FIELDS:
        if name in changes:
            setattr(org, name, changes[name])
    if "phones" in changes:
        set_phones(org, [(p["number"].strip(), p["type"]) for p in changes["phones"]])
    if "description" in changes:
        org.description = _clean(changes["description"]) or ""


def _set_services(
    org: Organization, rows: list[dict[str, Any]], terms: Mapping[str, TaxonomyTerm]
) -> None:
    existing = {service.id: service for service in org.services}
    services = []
    for row in rows:
        service_id = service_id_for(org, row["name"])
        service = existing.get(service_id) or Service(id=service_id)
        service.name, service.status = row["name"].strip(), "active"
        service.term = terms[row["term"]]
        service.open_24_7 = row["open_24_7"]
        service.wait_time = _clean(row["wait_time"])
        service.eligibility_description = _clean(row["eligibility"])
        place_service(service, org)
        services.append(service)
    org.services = services


def _clean(value: str | None) -> str | None:
    """Text without surrounding blanks; None for nothing."""
    if value is None:
        return None
    return value.strip() or None


def _drop_answered_flags(org: Organization, changes: Mapping[str, Any]) -> None:
    answered = {field for name in changes for field in ANSWERED_FLAGS.get(name, ())}
    kept = [
        flag for flag in org.flags if not (isinstance(flag, dict) and flag.get("field") in answered)
    ]
    if kept != org.flags:
        org.flags = kept
