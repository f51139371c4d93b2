"""The hub's directory over HTTP: search API, organisation and country API, pages, OpenAPI."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from directory.catalogue import import_directory
from directory.models import Location, Organization
from hub import create_app
from hub.extensions import db
from hub.openapi import openapi_document
from hub.search_index import search_index

SECRET_ADDRESS = "Via Segreta 17, 00100 Roma"
SECRET_ID = "5ec2e700-0000-4000-8000-00000000beef"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("hub"), {"TESTING": True})
    with app.app_context():
        import_directory(db.session, search_index())
        org = db.session.scalars(select(Organization).where(Organization.name == "Atina")).one()
        org.locations.append(
            Location(id=SECRET_ID, address_1=SECRET_ADDRESS, country="RS", confidential=True)
        )
        db.session.commit()
        search_index().update([org])
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def org_id(app, name):
    with app.app_context():
        return db.session.scalars(select(Organization.id).where(Organization.name == name)).one()


DOCUMENT = openapi_document()
REGISTRY = Registry().with_resource(
    "urn:ponte", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)


def validate(path, status, body):
    responses = DOCUMENT["paths"][path]["get"]["responses"]
    response = responses[str(status)]
    if "$ref" in response:
        schema = {"$ref": "urn:ponte#/components/schemas/Problem"}
    else:
        ref = response["content"]["application/json"]["schema"]["$ref"]
        schema = {"$ref": "urn:ponte" + ref}
    Draft202012Validator(schema, registry=REGISTRY).validate(body)


def test_search_answers_the_documented_shape(client):
    response = client.get("/api/v1/search?q=shelter&per_page=5")
    assert response.status_code == 200
    body = response.get_json()
    validate("/api/v1/search", 200, body)
    assert body["total"] > 5 and len(body["results"]) == 5
    assert set(body["facets"]) == {"country", "service", "language", "kind"}
    # Every hit offers shelter or is named for it (name counts more than services).
    assert all(
        any(s["term"] == "shelter" for s in hit["services"])
        or "shelter" in hit["organisation"]["name"].lower()
        for hit in body["results"]
    )


def test_search_filters_and_facets(client):
    body = client.get("/api/v1/search?q=shelter&country=IT&kind=ngo").get_json()
    assert body["total"] >= 1
    assert {hit["organisation"]["country"] for hit in body["results"]} == {"IT"}
    assert {hit["organisation"]["kind"] for hit in body["results"]} == {"ngo"}
    assert body["facets"]["country"] == {"IT": body["total"]}


def test_multilingual_query_finds_romanian_shelters(client):
    body = client.get("/api/v1/search", query_string={"q": "alloggio protetto Romania"}).get_json()
    top = [hit["organisation"]["name"] for hit in body["results"][:3]]
    assert "Asociatia FREE" in top


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("country=ZZ", "country"),
        ("country=Italy", "country"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("per_page=1000000000", "per_page"),
        ("service=unicorns", "service"),
        ("kind=charity", "kind"),
        ("language=english", "language"),
        ("colour=red", "colour"),
        ("q=a&q=b", "q"),
        ("q=" + "x" * 100_000, "q"),
    ],
)
def test_bad_search_parameters_are_400_problems(client, query, parameter):
    response = client.get(f"/api/v1/search?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    validate("/api/v1/search", 400, body)
    assert body["invalid_params"][0]["name"] == parameter


@pytest.mark.parametrize("q", ['"unpaired', "a AND (b OR", "*:*", "title:x^2~", "\\", "🙂 ✓"])
def test_query_syntax_characters_are_just_text(client, q):
    response = client.get("/api/v1/search", query_string={"q": q})
    assert response.status_code == 200
    validate("/api/v1/search", 200, response.get_json())


def test_non_utf8_query_is_a_400(client):
    response = client.get("/api/v1/search?q=%FF%FE")
    assert response.status_code == 400
    assert response.get_json()["title"] == "Invalid query string"


def test_organisation_api(app, client):
    response = client.get(f"/api/v1/organisations/{org_id(app, 'Payoke')}")
    assert response.status_code == 200
    body = response.get_json()
    validate("/api/v1/organisations/{id}", 200, body)
    assert body["country"] == "BE" and body["website"] == "https://www.payoke.be/en/"
    assert {"number": "+32 (0)3 233 23 24", "type": "fax"} in body["phones"]


def test_unknown_organisation_is_404(client):
    response = client.get("/api/v1/organisations/not-a-real-id")
    assert response.status_code == 404
    validate("/api/v1/organisations/{id}", 404, response.get_json())


def test_country_api_lists_organisations_and_contacts(client):
    response = client.get("/api/v1/countries/ro")
    body = response.get_json()
    validate("/api/v1/countries/{code}", 200, body)
    assert body["names"]["it"] == "Romania" and body["names"]["de"] == "Rumänien"
    assert len(body["organisations"]) == 15
    assert "national_coordinator" in {contact["role"] for contact in body["contacts"]}
    assert client.get("/api/v1/countries/QQ").status_code == 400


def test_confidential_address_appears_nowhere(app, client):
    atina = org_id(app, "Atina")
    urls = [
        f"/api/v1/organisations/{atina}",
        "/api/v1/countries/RS",
        "/api/v1/search?q=Atina",
        "/api/v1/search?q=Segreta",
        "/api/v1/search?q=Roma",
        f"/directory/organisations/{atina}",
        "/directory/countries/RS",
        "/directory/?q=Atina",
    ]
    for url in urls:
        text = client.get(url).get_data(as_text=True)
        assert "Segreta" not in text and SECRET_ID not in text, url
    hits = client.get("/api/v1/search?q=Segreta").get_json()["results"]
    assert hits == []


def test_search_page_renders_results_facets_and_pages_without_javascript(client):
    page = client.get("/directory/?q=shelter&per_page=5")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script" not in html
    assert re.search(r"\d+ organisations found", html)
    assert "Country</h2>" in html and "Service</h2>" in html
    assert 'rel="next"' in html
    assert 'name="viewport"' in html


def test_search_page_states_a_bad_parameter_instead_of_failing(client):
    page = client.get("/directory/?country=ZZ")
    assert page.status_code == 400
    assert "could not be run" in page.get_data(as_text=True)


def test_organisation_page_shows_services_contacts_and_review_flags(app, client):
    html = client.get(
        f"/directory/organisations/{org_id(app, 'Equality Cooperativa Sociale Onlus')}"
    ).get_data(as_text=True)
    assert "info@equalitycoop.or" in html  # kept as printed, shown as a detail to check
    assert "Details to check" in html
    assert "Last verified" in html
    assert client.get("/directory/organisations/nope").status_code == 404


def test_pages_name_services_countries_and_dates_in_the_reader_s_language(app, client):
    german = {"Accept-Language": "de"}
    page = client.get("/directory/?q=shelter", headers=german).get_data(as_text=True)
    assert "Schutzunterkunft" in page and "Rumänien" in page  # service term, country
    html = client.get(
        f"/directory/organisations/{org_id(app, 'Equality Cooperativa Sociale Onlus')}",
        headers=german,
    ).get_data(as_text=True)
    assert "Italien" in html and re.search(r"\d+\. \w+ \d{4}", html)  # "25. November 2026"


def test_country_page_lists_who_to_contact(client):
    html = client.get("/directory/countries/RO").get_data(as_text=True)
    assert "National coordinator" in html and "Inter-Ministerial Working Group" in html


def test_openapi_lists_every_api_route(app, client):
    document = client.get("/openapi.json").get_json()
    documented = set(document["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/hsds", "/healthz", "/oauth", "/.well-known")):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            assert path in documented, path
    Draft202012Validator.check_schema(document["components"]["schemas"]["SearchResponse"])
    json.dumps(document)


def _sample(parameter):
    schema = parameter["schema"]
    if "enum" in schema:
        return schema["enum"][-1 if schema["enum"] == ["true", "false"] else 0]
    if schema.get("type") == "integer":
        return "1"
    if schema.get("format") == "date-time":
        return "2020-01-01T00:00:00Z"
    return "x"


def test_every_documented_query_parameter_is_accepted_and_no_other(client):
    for path, item in DOCUMENT["paths"].items():
        if "{" in path or not path.startswith(("/api/", "/hsds/")) or "get" not in item:
            continue
        if item["get"].get("security"):  # needs a token first; tests/test_relay.py covers it
            continue
        for parameter in item["get"].get("parameters", []):
            if parameter["in"] != "query":
                continue
            response = client.get(path, query_string={parameter["name"]: _sample(parameter)})
            reasons = [p["reason"] for p in (response.get_json() or {}).get("invalid_params", [])]
            assert not any("unknown" in reason for reason in reasons), (path, parameter["name"])
        response = client.get(path, query_string={"no_such_parameter": "1"})
        assert response.status_code == 400, path
