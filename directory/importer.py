"""Importing directory data: the shipped seed, HSDS 3.0 JSON and CSV.

Every format becomes the same record shape (the seed's: name, acronym, country, city, kind,
services, target_groups, languages, contact, sources, notes, optional id) and goes through
:func:`import_records`. Re-importing updates rows in place (ids are derived from country and
name unless the file gives them); a bad row is reported with its position and reason while the
rest imports; contact text that cannot be parsed is kept as printed and flagged.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pycountry
from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.changes import record_changes
from directory.contacts import (
    Flag,
    parse_email,
    parse_languages,
    parse_phones,
    parse_website,
)
from directory.models import (
    KINDS,
    Location,
    Organization,
    Phone,
    Service,
    ServiceArea,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
    derived_id,
    utcnow,
)
from directory.places import country_name
from ponte.msgids import N_

DATA_DIR = Path(__file__).parent / "data"
SEED_ORGANISATIONS = DATA_DIR / "organisations.json"
SEED_TAXONOMY = DATA_DIR / "taxonomy.json"
# Kosovo has no ISO 3166-1 code; XK is the code in common use (and in the seed).
EXTRA_COUNTRIES = frozenset({"XK"})
CSV_COLUMNS = (
    "id",
    "name",
    "acronym",
    "country",
    "city",
    "kind",
    "services",
    "target_groups",
    "languages",
    "phone",
    "fax",
    "email",
    "website",
    "address",
    "notes",
    "source",
)
CSV_LIST_COLUMNS = frozenset({"services", "target_groups", "languages"})
Progress = Callable[[int, int], None]


class ImportFileError(Exception):
    """The file as a whole cannot be read (not JSON, wrong shape): nothing was imported."""


@dataclass(frozen=True)
class RowProblem:
    position: int  # 1-based row or record number in the file
    name: str
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    flags: int = 0
    organisation_ids: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def is_country_code(code: object) -> bool:
    return isinstance(code, str) and (
        code in EXTRA_COUNTRIES or pycountry.countries.get(alpha_2=code) is not None
    )


# --- taxonomy -------------------------------------------------------------------------------


def import_taxonomy(session: Session, data: dict[str, Any]) -> Taxonomy:
    """Create or update the service taxonomy (terms with labels in five languages)."""
    taxonomy_id = derived_id("taxonomy", data["name"])
    taxonomy = session.get(Taxonomy, taxonomy_id) or Taxonomy(id=taxonomy_id)
    taxonomy.name = data["name"]
    taxonomy.version = str(data.get("version", "1"))
    taxonomy.description = "Services for trafficked persons, as NGOs in the network describe them"
    session.add(taxonomy)
    for item in data["terms"]:
        term_id = derived_id("term", item["id"])
        term = session.get(TaxonomyTerm, term_id) or TaxonomyTerm(id=term_id)
        term.code, term.taxonomy = item["id"], taxonomy
        term.name = item["label"]["en"]
        term.description = item.get("description") or item["label"]["en"]
        term.labels, term.seed_labels = dict(item["label"]), list(item.get("seed_labels", []))
        session.add(term)
    session.flush()
    return taxonomy


@cache
def shipped_term_labels() -> dict[str, dict[str, str]]:
    """{term code: {language: label}} of the taxonomy that ships with Ponte: what a node shows
    for the hub's service types in its pages' language (the hub's API names them in English)."""
    taxonomy = json.loads(SEED_TAXONOMY.read_text(encoding="utf-8"))
    return {item["id"]: dict(item["label"]) for item in taxonomy["terms"]}


def term_for_label(session: Session) -> dict[str, TaxonomyTerm]:
    """Map every known label (seed label, code, label in any language), folded, to its term."""
    mapping: dict[str, TaxonomyTerm] = {}
    for term in session.scalars(select(TaxonomyTerm)):
        for label in [term.code, *term.seed_labels, *term.labels.values()]:
            mapping[label.casefold().strip()] = term
    return mapping


# --- organisations --------------------------------------------------------------------------


def _check_record(record: object) -> str | None:
    """Why this record cannot be imported, or None."""
    if not isinstance(record, dict):
        return "not an object"
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        return "no name"
    if not is_country_code(record.get("country")):
        return f"unknown country code {str(record.get('country'))[:20]!r}"
    if record.get("kind", "other") not in KINDS:
        return f"unknown kind {str(record.get('kind'))[:30]!r} (use one of {', '.join(KINDS)})"
    for key in ("services", "target_groups", "languages"):
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"{key} must be a list of text"
    if not isinstance(record.get("contact", {}), dict):
        return "contact must be an object"
    if record.get("interpreters_available") not in (None, True, False):
        return "interpreters_available must be true, false or empty"
    return _check_date(record.get("last_verified"))


def _check_date(value: object) -> str | None:
    if value is None:
        return None
    try:
        dt.date.fromisoformat(str(value))
    except ValueError:
        return f"last_verified {str(value)[:20]!r} is not a date written YYYY-MM-DD"
    return None


def _apply_contact(org: Organization, contact: dict[str, Any], flags: list[Flag]) -> None:
    printed = {key: str(value) for key, value in contact.items() if value}
    org.contact_as_printed = printed
    words = " ".join(filter(None, [org.name, org.alternate_name, printed.get("website")])).lower()
    org.email, email_flags = (None, [])
    if "email" in printed:
        org.email, email_flags = parse_email(printed["email"], "contact.email", words)
    org.website, web_flags = (None, [])
    if "website" in printed:
        org.website, web_flags = parse_website(printed["website"], "contact.website")
    flags += email_flags + web_flags
    wanted: list[tuple[str, str]] = []
    for key, default_type in (("phone", "voice"), ("fax", "fax")):
        if key in printed:
            phones, phone_flags = parse_phones(printed[key], f"contact.{key}", default_type)
            flags += phone_flags
            wanted += [(phone.number, phone.type) for phone in phones]
    set_phones(org, wanted)
    _apply_address(org, printed.get("address"))


def set_phones(org: Organization, numbers: Iterable[tuple[str, str]]) -> None:
    """The organisation's phones, as (number, type) pairs in order; repeats are dropped."""
    existing = {phone.id: phone for phone in org.phones}
    phones = []
    for index, (number, kind) in enumerate(dict.fromkeys(numbers)):
        phone_id = derived_id("phone", org.id, str(index))
        phone = existing.get(phone_id) or Phone(id=phone_id)
        phone.number, phone.type = number, kind
        phones.append(phone)
    org.phones = phones


def _apply_address(org: Organization, address: str | None) -> None:
    kept = [location for location in org.locations if not location.is_public]
    if address:
        location_id = derived_id("location", org.id, "main")
        location = next((loc for loc in org.locations if loc.id == location_id), None)
        location = location or Location(id=location_id, confidential=False)
        location.name = org.name
        location.address_1 = ", ".join(line.strip() for line in address.splitlines() if line)
        location.city, location.country = org.city, org.country
        kept.append(location)
    org.locations = kept  # confidential locations are never touched by an import


def _apply_services(
    org: Organization, labels: list[str], terms: dict[str, TaxonomyTerm], flags: list[Flag]
) -> None:
    existing = {service.id: service for service in org.services}
    services = []
    for label in dict.fromkeys(label.strip() for label in labels if label.strip()):
        service_id = service_id_for(org, label)
        service = existing.get(service_id) or Service(id=service_id, status="active")
        service.name = label
        term = terms.get(label.casefold())
        service.term_id = term.id if term else None
        if term is None:
            flags.append(
                Flag(
                    "services",
                    "service_unmapped",
                    N_("no taxonomy term matches this service label"),
                    label,
                )
            )
        service.languages = list(org.languages)
        service.eligibility_description = "; ".join(org.target_groups) or None
        place_service(service, org)
        services.append(service)
    org.services = services


def service_id_for(org: Organization, name: str) -> str:
    """A service's id, derived from its organisation and its name (case does not matter)."""
    return derived_id("service", org.id, name.strip().casefold())


def place_service(service: Service, org: Organization) -> None:
    """The service covers the organisation's country (one service area) and is offered at
    each of its public locations; rows already right are left alone."""
    area_id = derived_id("area", service.id, org.country)
    if [area.id for area in service.areas] != [area_id]:
        area = ServiceArea(id=area_id, country=org.country, name=country_name(org.country))
        service.areas = [area]
    wanted = {derived_id("sal", service.id, loc.id): loc for loc in org.public_locations}
    if {link.id for link in service.at_locations} != set(wanted):
        service.at_locations = [
            ServiceAtLocation(id=link_id, location=loc) for link_id, loc in wanted.items()
        ]


def _apply_record(
    org: Organization, record: dict[str, Any], terms: dict[str, TaxonomyTerm]
) -> list[Flag]:
    flags: list[Flag] = []
    org.name = record["name"].strip()
    org.alternate_name = record.get("acronym") or None
    org.country, org.city = record["country"], record.get("city") or None
    org.kind = record.get("kind", "other")
    org.description = (record.get("notes") or "").strip()
    org.target_groups = [group.strip() for group in record.get("target_groups", [])]
    org.languages, language_flags = parse_languages(record.get("languages", []), "languages")
    org.source = record.get("sources") or record.get("source") or None
    org.interpreters_available = record.get("interpreters_available")
    verified = record.get("last_verified")
    org.last_verified = dt.date.fromisoformat(verified) if verified else None
    flags += language_flags
    _apply_contact(org, record.get("contact", {}), flags)
    _apply_services(org, record.get("services", []), terms, flags)
    org.flags = [flag.as_dict() for flag in flags]
    return flags


def import_records(
    session: Session,
    records: Iterable[object],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Create or update organisations from seed-shaped records; commit once at the end."""
    records = list(records)
    terms = term_for_label(session)
    report = ImportReport()
    for position, record in enumerate(records, start=1):
        problem = _check_record(record)
        if problem:
            name = record.get("name") if isinstance(record, dict) else None
            report.problems.append(RowProblem(position, str(name or "")[:100], problem))
        else:
            _import_one(session, record, terms, report)  # type: ignore[arg-type]
        if progress:
            progress(position, len(records))
    # Every imported organisation, unchanged ones too: the taxonomy's labels, which their
    # index documents carry, may have changed with this import.
    record_changes(session, report.organisation_ids)
    session.commit()
    return report


def _import_one(
    session: Session, record: dict[str, Any], terms: dict[str, TaxonomyTerm], report: ImportReport
) -> None:
    org_id = record.get("id") or derived_id("org", record["country"], record["name"].strip())
    org = session.get(Organization, org_id)
    is_new = org is None
    if org is None:
        org = Organization(id=org_id)
        session.add(org)
    report.flags += len(_apply_record(org, record, terms))
    if is_new:
        report.created += 1
    elif _graph_changed(session, org):
        mark_modified(org)
        report.updated += 1
    else:
        report.unchanged += 1
    report.organisation_ids.append(org_id)
    session.flush()


def mark_modified(org: Organization) -> None:
    """A change to a phone or a service is a change to the entry, and a full HSDS service
    carries the organisation's phones: bump them all, so modified_after sees it."""
    now = utcnow()
    for entity in (org, *org.services):
        entity.modified = now


def _graph_changed(session: Session, org: Organization) -> bool:
    children: list[object] = [*org.services, *org.phones, *org.locations]
    for service in org.services:
        children += [*service.areas, *service.at_locations]
    return session.is_modified(org) or any(
        child in session.new or session.is_modified(child) for child in children
    )


# --- files ----------------------------------------------------------------------------------


def read_records(path: Path) -> list[object]:
    """Seed JSON (a list of records), HSDS 3.0 JSON (organizations) or CSV, by content."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".csv":
        return records_from_csv(raw)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFileError(f"{path.name} is neither JSON nor CSV: {exc}") from exc
    from directory.hsds import looks_like_hsds, records_from_hsds

    if looks_like_hsds(data):
        return records_from_hsds(data)
    if isinstance(data, list):
        return data
    raise ImportFileError(f"{path.name}: expected a list of organisations or HSDS organizations")


def records_from_csv(raw: bytes) -> list[object]:
    """CSV with a header row; list columns are separated by ';' (see docs/directory-import.md)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the CSV file is not UTF-8 text: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "name" not in reader.fieldnames:
        raise ImportFileError("the CSV file needs a header row with at least a 'name' column")
    unknown = sorted(set(reader.fieldnames) - set(CSV_COLUMNS))
    if unknown:
        raise ImportFileError(f"unknown CSV columns: {', '.join(unknown)}")
    return [_csv_record(row) for row in reader]


def _csv_record(row: dict[str, str | None]) -> dict[str, Any]:
    values = {key: (value or "").strip() for key, value in row.items() if key}
    record: dict[str, Any] = {
        key: [part.strip() for part in values.get(key, "").split(";") if part.strip()]
        for key in CSV_LIST_COLUMNS
    }
    for key in ("id", "name", "acronym", "country", "city", "kind", "notes"):
        if values.get(key):
            record[key] = values[key]
    record["country"] = values.get("country", "").upper()
    record["sources"] = values.get("source") or None
    record["contact"] = {
        key: values[key]
        for key in ("phone", "fax", "email", "website", "address")
        if values.get(key)
    }
    return record


def seed(
    session: Session,
    path: Path | None = None,
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the taxonomy that ships with Ponte, then organisations from ``path`` (default:
    the shipped seed)."""
    import_taxonomy(session, json.loads(SEED_TAXONOMY.read_text(encoding="utf-8")))
    records = read_records(path or SEED_ORGANISATIONS)
    report = import_records(session, records, progress=progress)
    from directory.country_contacts import rebuild_country_contacts

    rebuild_country_contacts(session)
    return report
