"""Importing the directory: the shipped seed, re-imports, bad rows, flags, CSV, the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from directory.country_contacts import rebuild_country_contacts
from directory.importer import (
    SEED_ORGANISATIONS,
    ImportFileError,
    import_records,
    import_taxonomy,
    read_records,
    seed,
)
from directory.models import Base, CountryContact, Location, Organization, Service
from ponte.cli import main

SEED = json.loads(SEED_ORGANISATIONS.read_text(encoding="utf-8"))


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def by_name(session, name):
    return session.scalars(select(Organization).where(Organization.name == name)).one()


def test_seed_imports_every_organisation_and_maps_every_service(session):
    report = seed(session)
    assert (report.created, report.updated, report.problems) == (len(SEED), 0, [])
    assert session.scalar(select(func.count(Organization.id))) == len(SEED) == 225
    unmapped = session.scalars(select(Service).where(Service.term_id.is_(None))).all()
    assert unmapped == []
    services = sum(len(set(record["services"])) for record in SEED)
    assert session.scalar(select(func.count(Service.id))) == services


def test_reimport_updates_in_place_instead_of_duplicating(session):
    seed(session)
    ids = set(session.scalars(select(Organization.id)))
    again = seed(session)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(SEED))
    assert set(session.scalars(select(Organization.id))) == ids

    changed = [dict(record) for record in SEED]
    target = next(r for r in changed if r["name"] == "Atina")
    before = by_name(session, "Atina").modified
    target["services"] = [*target["services"], "hotline"]
    report = import_records(session, changed)
    assert (report.created, report.updated) == (0, 1)
    atina = by_name(session, "Atina")
    assert "hotline" in {service.term.code for service in atina.services}
    assert atina.modified > before


def test_unparseable_contact_text_is_kept_as_printed_and_flagged(session):
    seed(session)
    nahtaz = by_name(session, "Network against Human Trafficking in Azerbaijan")
    assert nahtaz.contact_as_printed["phone"] == "+ 99450 3388072 + 99412 4327625"
    assert {"phone_unparsed", "several_websites"} <= {flag["code"] for flag in nahtaz.flags}
    assert nahtaz.website == "https://www.nahtaz.org"

    equality = by_name(session, "Equality Cooperativa Sociale Onlus")
    assert equality.email is None  # cut short in the source: never used as an address
    assert equality.contact_as_printed["email"] == "info@equalitycoop.or"
    assert [flag["code"] for flag in equality.flags] == ["email_cut_short"]

    hopenow = by_name(session, "HopeNow")
    assert hopenow.email == "michelle@hopenow.dk"
    assert [flag["code"] for flag in hopenow.flags] == ["personal_mailbox"]

    payoke = by_name(session, "Payoke")
    assert {(p.number, p.type) for p in payoke.phones} == {
        ("+32 (0)3 201 16 90", "voice"),
        ("+32 (0)3 233 23 24", "fax"),
    }
    assert not any(flag["field"] == "contact.phone" for flag in payoke.flags)


def test_bad_rows_are_reported_with_position_and_reason_while_the_rest_imports(session):
    seed(session)
    records = [
        {"name": "Good NGO", "country": "IT", "kind": "ngo", "services": ["shelter"]},
        {"name": "", "country": "IT"},
        {"name": "Nowhere NGO", "country": "ZZ"},
        {"name": "Odd NGO", "country": "FR", "kind": "charity"},
        "not an object",
        {"name": "Listless", "country": "DE", "services": "shelter"},
    ]
    report = import_records(session, records)
    assert report.created == 1
    assert [(p.position, p.reason.split(" ")[0]) for p in report.problems] == [
        (2, "no"),
        (3, "unknown"),
        (4, "unknown"),
        (5, "not"),
        (6, "services"),
    ]
    assert "ZZ" in report.problems[1].reason and "charity" in report.problems[2].reason
    assert by_name(session, "Good NGO").services[0].term.code == "shelter"


def test_unknown_service_labels_import_but_are_flagged(session):
    seed(session)
    report = import_records(
        session,
        [
            {
                "name": "New NGO",
                "country": "ES",
                "kind": "ngo",
                "services": ["alojamiento protegido", "bee keeping"],
            }
        ],
    )
    org = by_name(session, "New NGO")
    terms = {service.name: service.term.code if service.term else None for service in org.services}
    assert terms == {"alojamiento protegido": "shelter", "bee keeping": None}
    assert report.flags == 1 and org.flags[0]["code"] == "service_unmapped"


def test_confidential_locations_survive_reimport_and_are_never_public(session):
    seed(session)
    atina = by_name(session, "Atina")
    atina.locations.append(
        Location(
            id="c0ffee00-0000-4000-8000-000000000001",
            address_1="Secret street 1",
            country="RS",
            confidential=True,
        )
    )
    session.commit()
    seed(session)
    atina = by_name(session, "Atina")
    assert [loc.address_1 for loc in atina.locations if loc.confidential] == ["Secret street 1"]
    assert all(not loc.confidential for loc in atina.public_locations)
    for service in atina.services:
        assert all(not link.location.confidential for link in service.at_locations)


def test_country_contacts_are_derived_from_the_directory(session):
    seed(session)
    rebuild_country_contacts(session)
    romania = session.scalars(select(CountryContact).where(CountryContact.country == "RO")).all()
    roles = {(contact.role, contact.name) for contact in romania}
    assert ("national_coordinator", "Inter-Ministerial Working Group (Romania)") in roles
    assert ("referral_mechanism", "MNIR \u2013 national referral mechanism (Romania)") in roles
    # a hotline run by an NGO counts; coordination by an NGO does not
    assert all(
        contact.role == "hotline" or contact.organization.kind == "government"
        for contact in session.scalars(select(CountryContact))
    )


def test_csv_import_with_documented_columns(tmp_path, session):
    seed(session)
    path = tmp_path / "partners.csv"
    path.write_text(
        "name,acronym,country,city,kind,services,languages,phone,email,website,notes\n"
        "Casa Rifugio,CR,IT,Rome,ngo,shelter; legal assistance,Italian; English,"
        '"Tel: +39 06 123 4567",info@casarifugio.example,www.casarifugio.example,Safe house\n'
        ",,IT,,ngo,,,,,,no name\n",
        encoding="utf-8",
    )
    report = import_records(session, read_records(path))
    assert report.created == 1 and report.problems[0].position == 2
    org = by_name(session, "Casa Rifugio")
    assert (org.alternate_name, org.city, org.languages) == ("CR", "Rome", ["it", "en"])
    assert {s.term.code for s in org.services} == {"shelter", "legal"}
    assert org.phones[0].number == "+39 06 123 4567"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,colour\nX,red\n", "unknown CSV columns"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"country\nIT\n", "header row"),
    ],
)
def test_unreadable_csv_is_refused_whole(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        read_records(path)


def test_json_that_is_not_a_directory_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(ImportFileError):
        read_records(path)


def test_taxonomy_reimport_keeps_term_ids(session):
    data = json.loads((SEED_ORGANISATIONS.parent / "taxonomy.json").read_text())
    first = {term.code: term.id for term in import_taxonomy(session, data).terms}
    second = {term.code: term.id for term in import_taxonomy(session, data).terms}
    assert first == second and len(first) == 30


def test_seed_command_reports_and_reimports(tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["hub", "seed", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "Imported 225 organisations: 225 new" in first.output
    second = runner.invoke(main, ["hub", "seed", "--data-dir", str(tmp_path)])
    assert "0 new, 0 updated, 225 unchanged" in second.output


def test_seed_command_with_an_unreadable_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("colour\nred\n")
    result = CliRunner().invoke(main, ["hub", "seed", "--data-dir", str(tmp_path / "d"), str(bad)])
    assert result.exit_code == 2
    assert "header row" in result.output


def test_seed_command_with_only_bad_rows_exits_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,country\nNowhere,ZZ\n")
    result = CliRunner().invoke(main, ["hub", "seed", "--data-dir", str(tmp_path / "d"), str(bad)])
    assert result.exit_code == 2
    assert "row 1 (Nowhere): unknown country code 'ZZ'" in result.output


def test_export_then_import_into_a_new_hub_gives_the_same_directory(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["hub", "seed", "--data-dir", str(tmp_path / "a")])
    exported = tmp_path / "directory.json"
    result = runner.invoke(
        main, ["hub", "export-hsds", "--data-dir", str(tmp_path / "a"), "-o", str(exported)]
    )
    assert result.exit_code == 0, result.output
    organisations = json.loads(exported.read_text(encoding="utf-8"))
    assert len(organisations) == 225
    result = runner.invoke(main, ["hub", "seed", "--data-dir", str(tmp_path / "b"), str(exported)])
    assert "Imported 225 organisations: 225 new" in result.output, result.output
    again = runner.invoke(main, ["hub", "export-hsds", "--data-dir", str(tmp_path / "b")])
    ids = {org["id"]: sorted(s["name"] for s in org.get("services", [])) for org in organisations}
    assert {
        org["id"]: sorted(s["name"] for s in org.get("services", []))
        for org in json.loads(again.output)
    } == ids


def test_reindex_command_rebuilds_the_index(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["hub", "seed", "--data-dir", str(tmp_path)])
    result = runner.invoke(main, ["hub", "reindex", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "Indexed 225 organisations." in result.output


def test_a_location_is_confidential_unless_marked_public(session):
    seed(session)
    atina = by_name(session, "Atina")
    atina.locations.append(
        Location(
            id="c0ffee00-0000-4000-8000-000000000002", address_1="Unflagged street 2", country="RS"
        )
    )
    session.commit()
    assert "Unflagged street 2" not in [
        loc.address_1 for loc in by_name(session, "Atina").public_locations
    ]
