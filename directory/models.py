"""The partner directory's data model, aligned with Open Referral HSDS 3.0.

HSDS tables (organization, service, location, service_at_location, contact, phone,
service_area, taxonomy, taxonomy_term) keep HSDS names and meanings; what NGOs need beyond HSDS
(organisation kind, per-country contacts, languages spoken, interpreters, 24/7, last verified,
import flags) sits in extra columns or tables. Ids are UUIDs (text). Pure SQLAlchemy: the hub
binds it to Flask, the CLI and the tests use it as it is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ponte.naming import named_metadata

KINDS = ("ngo", "network", "international_org", "government", "other")
COUNTRY_CONTACT_ROLES = ("national_coordinator", "referral_mechanism", "hotline", "police_unit")
# Every id the importer derives is a UUID5 in this namespace, so re-imports find their rows.
ID_NAMESPACE = uuid.UUID("6f1d2c1e-5a0b-4c55-9a57-0d1e8f3c9b21")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts)))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = named_metadata()  # the same constraint names on SQLite and PostgreSQL
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamped:
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )


class Taxonomy(Base):
    __tablename__ = "taxonomy"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[str | None] = mapped_column(String(50))
    terms: Mapped[list[TaxonomyTerm]] = relationship(back_populates="taxonomy")


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_term"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    taxonomy_id: Mapped[str] = mapped_column(ForeignKey("taxonomy.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("taxonomy_term.id"))
    # Beyond HSDS: the label in each of the five languages, and the source labels it covers.
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed_labels: Mapped[list[Any]] = mapped_column(default=list)
    taxonomy: Mapped[Taxonomy] = relationship(back_populates="terms")

    def label(self, language: str) -> str:
        return str(self.labels.get(language) or self.name)


class Organization(Timestamped, Base):
    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    alternate_name: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(500))
    # Beyond HSDS
    kind: Mapped[str] = mapped_column(String(30), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str | None] = mapped_column(String(200))
    target_groups: Mapped[list[Any]] = mapped_column(default=list)
    languages: Mapped[list[Any]] = mapped_column(default=list)  # ISO 639-1 codes spoken
    interpreters_available: Mapped[bool | None] = mapped_column(Boolean)
    last_verified: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    # Contact strings exactly as the source printed them, and what the import could not parse.
    contact_as_printed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flags: Mapped[list[Any]] = mapped_column(default=list)

    services: Mapped[list[Service]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", order_by="Service.name"
    )
    locations: Mapped[list[Location]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )
    phones: Mapped[list[Phone]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )

    @property
    def public_locations(self) -> list[Location]:
        """Locations that may be shown anywhere: never a confidential (shelter) address."""
        return [location for location in self.locations if location.is_public]


class Service(Timestamped, Base):
    __tablename__ = "service"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    term_id: Mapped[str | None] = mapped_column(ForeignKey("taxonomy_term.id"), index=True)
    eligibility_description: Mapped[str | None] = mapped_column(Text)
    interpretation_services: Mapped[str | None] = mapped_column(Text)
    wait_time: Mapped[str | None] = mapped_column(String(200))
    # Beyond HSDS
    open_24_7: Mapped[bool | None] = mapped_column(Boolean)
    languages: Mapped[list[Any]] = mapped_column(default=list)

    organization: Mapped[Organization] = relationship(back_populates="services")
    term: Mapped[TaxonomyTerm | None] = relationship()
    areas: Mapped[list[ServiceArea]] = relationship(
        back_populates="service", cascade="all, delete-orphan"
    )
    at_locations: Mapped[list[ServiceAtLocation]] = relationship(
        back_populates="service", cascade="all, delete-orphan"
    )


class ServiceArea(Base):
    """A country a service covers (HSDS service_area, one country per row)."""

    __tablename__ = "service_area"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("service.id"), index=True)
    country: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(200))
    service: Mapped[Service] = relationship(back_populates="areas")


class Location(Base):
    __tablename__ = "location"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(300))
    address_1: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    # A shelter's address: stored for the organisation's own use, never published anywhere.
    # Confidential unless said otherwise: forgetting the flag must not publish a shelter.
    confidential: Mapped[bool] = mapped_column(Boolean, default=True)
    organization: Mapped[Organization] = relationship(back_populates="locations")
    at_services: Mapped[list[ServiceAtLocation]] = relationship(
        back_populates="location", cascade="all, delete-orphan"
    )

    @property
    def is_public(self) -> bool:
        # "is False", not "not": an unflushed location has no value yet and must stay hidden.
        return self.confidential is False


class ServiceAtLocation(Base):
    __tablename__ = "service_at_location"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("service.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"), index=True)
    service: Mapped[Service] = relationship(back_populates="at_locations")
    location: Mapped[Location] = relationship(back_populates="at_services")


class Contact(Base):
    __tablename__ = "contact"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    organization: Mapped[Organization] = relationship(back_populates="contacts")


class Phone(Base):
    __tablename__ = "phone"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organization.id"), index=True)
    number: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20), default="voice")  # voice, fax, text
    description: Mapped[str | None] = mapped_column(Text)
    organization: Mapped[Organization] = relationship(back_populates="phones")


class CountryContact(Base):
    """Who to call in a country: national coordinator or referral mechanism, hotline, police."""

    __tablename__ = "country_contact"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    role: Mapped[str] = mapped_column(String(40))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organization.id"))
    name: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    organization: Mapped[Organization | None] = relationship()


CHANGE_OPERATIONS = ("upsert", "delete")


class DirectoryChange(Base):
    """One entry of the directory's change log: an organisation whose entry was written (or
    removed), in the transaction that wrote it. Every hub instance keeps its own search index
    current by applying the entries after the last one it applied (directory/changes.py)."""

    __tablename__ = "directory_change"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key: the entry saying an organisation was removed outlives its row.
    organization_id: Mapped[str] = mapped_column(String(36))
    operation: Mapped[str] = mapped_column(String(10))  # one of CHANGE_OPERATIONS
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
