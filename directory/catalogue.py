"""Business rules of the directory that the hub's views, the CLI and the tests all call."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from directory.importer import ImportReport, Progress, seed
from directory.models import CountryContact, Organization, Service

if TYPE_CHECKING:
    from directory.search import DirectoryIndex


def organisations_with_details(
    session: Session, ids: Iterable[str] | None = None
) -> list[Organization]:
    """Organisations with everything a page, the API or the index needs, loaded up front."""
    query = (
        select(Organization)
        .options(
            selectinload(Organization.services).selectinload(Service.term),
            selectinload(Organization.services).selectinload(Service.areas),
            selectinload(Organization.locations),
            selectinload(Organization.phones),
            selectinload(Organization.contacts),
        )
        .order_by(Organization.name)
    )
    if ids is not None:
        query = query.where(Organization.id.in_(list(ids)))
    return list(session.scalars(query))


def organisation_count(session: Session) -> int:
    return session.scalar(select(func.count(Organization.id))) or 0


def import_directory(
    session: Session,
    index: DirectoryIndex,
    path: Path | None = None,
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a file (default: the shipped seed) and bring the search index up to date."""
    report = seed(session, path, progress=progress)
    index.update(organisations_with_details(session, report.organisation_ids))
    return report


def rebuild_index(
    session: Session,
    index: DirectoryIndex,
    *,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> int:
    return index.rebuild(organisations_with_details(session), progress=progress, timeout=timeout)


def get_organisation(session: Session, organisation_id: str) -> Organization | None:
    found = organisations_with_details(session, [organisation_id])
    return found[0] if found else None


def country_organisations(session: Session, country: str) -> list[Organization]:
    query = (
        select(Organization)
        .where(Organization.country == country)
        .options(selectinload(Organization.services).selectinload(Service.term))
        .order_by(Organization.name)
    )
    return list(session.scalars(query))


def country_contacts(session: Session, country: str) -> list[CountryContact]:
    query = (
        select(CountryContact)
        .where(CountryContact.country == country)
        .order_by(CountryContact.role, CountryContact.name)
    )
    return list(session.scalars(query))
