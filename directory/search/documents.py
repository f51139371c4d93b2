"""What is indexed: one document per organisation, and one small document per taxonomy term.

A term's labels in the five languages are indexed once, in its term document, and a label
match stands for every organisation offering that term: the same result as copying five labels
into every organisation, at a fraction of the index and of the postings to read. No address,
phone, e-mail or contact person is indexed or stored, so a confidential (shelter) location can
never leak through search."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from directory.search.analysis import LANGUAGES, acronym_key, fold
from directory.search.gazetteer import city_key, country_names
from directory.search.schema import (
    ACRONYM,
    GROUPS,
    LABEL_FIELDS,
    NAME,
    NOTES,
    PLACES,
    SERVICES,
    TERMS,
)

if TYPE_CHECKING:
    from directory.models import Organization


def _service_record(service: Any) -> dict[str, Any]:
    term = service.term
    labels = dict(term.labels) if term is not None else {}
    return {
        "id": service.id,
        "name": service.name,
        "term": term.code if term is not None else None,
        "labels": {language: labels[language] for language in LANGUAGES if labels.get(language)},
        "description": service.description or "",
    }


def document_for(org: Organization) -> dict[str, Any]:
    """The flat document indexed for one organisation (its active services only). Only what
    the directory publishes goes in: locations (so any confidential shelter address), phones
    and contact persons stay out, and so does the free-text contact as printed."""
    active = [service for service in org.services if (service.status or "active") == "active"]
    services = [_service_record(service) for service in active]
    languages = dict.fromkeys([*org.languages, *(code for s in active for code in s.languages)])
    organisation = {key: getattr(org, key) for key in ("id", "name", "country", "city", "kind")}
    organisation["acronym"] = org.alternate_name
    return {
        "id": org.id,
        "doctype": "org",
        NAME: " ".join(filter(None, [org.name, org.alternate_name])),
        ACRONYM: acronym_key(org.alternate_name or ""),
        SERVICES: "\n".join(part for s in services for part in (s["name"], s["description"])),
        GROUPS: "\n".join(org.target_groups),
        NOTES: org.description or "",
        PLACES: "\n".join([*country_names(org.country), org.city or ""]),
        "country": org.country,
        "city_in": f"{city_key(org.city)}|{org.country}" if org.city else "",
        "kind": org.kind,
        TERMS: " ".join(dict.fromkeys(s["term"] for s in services if s["term"])),
        "languages": " ".join(code for code in languages if isinstance(code, str)),
        "sort_name": f"{fold(org.name).strip()}\x1f{org.id}",
        "payload": {
            "organisation": organisation,
            "services": services,
            "notes": org.description or "",
            "target_groups": list(org.target_groups),
        },
    }


def term_document(code: str, labels: dict[str, str]) -> dict[str, Any]:
    """The document of one taxonomy term: its labels, one field per language."""
    document: dict[str, Any] = {"id": f"term:{code}", "doctype": "term", "payload": {"term": code}}
    for language, name in LABEL_FIELDS.items():
        document[name] = labels.get(language, "")
    return document


def term_documents(documents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The term documents of the taxonomy terms these organisation documents offer."""
    labels: dict[str, dict[str, str]] = {}
    for document in documents:
        for service in document["payload"]["services"]:
            if service["term"]:
                labels[service["term"]] = service["labels"]
    return [term_document(code, term_labels) for code, term_labels in sorted(labels.items())]
