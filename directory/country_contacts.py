"""Per-country contacts: who a caseworker calls first in a country.

Derived from the directory itself: a government body whose services include national
coordination is the country's national coordinator, one running the referral mechanism its
referral mechanism, a police or labour-inspection body its specialised unit, and any
organisation running a hotline a hotline. Rebuilt after every import.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from directory.models import CountryContact, Organization, Service, derived_id

ROLE_BY_TERM = {
    "coordination": "national_coordinator",
    "referral": "referral_mechanism",
    "law-enforcement": "police_unit",
    "hotline": "hotline",
}
GOVERNMENT_ONLY = frozenset({"national_coordinator", "referral_mechanism", "police_unit"})


def _roles(org: Organization) -> list[str]:
    codes = {service.term.code for service in org.services if service.term}
    roles = [role for code, role in ROLE_BY_TERM.items() if code in codes]
    return [role for role in roles if org.kind == "government" or role not in GOVERNMENT_ONLY]


def rebuild_country_contacts(session: Session) -> int:
    """Replace the derived country contacts; return how many there are now."""
    session.execute(delete(CountryContact).where(CountryContact.organization_id.is_not(None)))
    organisations = session.scalars(
        select(Organization).options(
            selectinload(Organization.services).selectinload(Service.term),
            selectinload(Organization.phones),
        )
    )
    count = 0
    for org in organisations:
        voice = next((phone.number for phone in org.phones if phone.type == "voice"), None)
        for role in _roles(org):
            session.add(
                CountryContact(
                    id=derived_id("country-contact", org.id, role),
                    country=org.country,
                    role=role,
                    organization_id=org.id,
                    name=org.name,
                    phone=voice,
                    email=org.email,
                    website=org.website,
                    notes=org.description or None,
                )
            )
            count += 1
    session.commit()
    return count
