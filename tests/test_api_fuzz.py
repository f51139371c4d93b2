"""Schemathesis fuzzes the hub's HTTP API against its descriptions (Ponte issue 9).

Two descriptions drive it, both in process over WSGI:

* the hub's own ``/openapi.json`` (hub/openapi.py), every operation; those that need a token
  get a real one of the scope they declare, and are also asked without one, with an unknown
  one and with one of another scope (401, 401, 403 as documented);
* the official HSDS 3.0 description (``openapi.local.json`` beside the HSDS schemas), its paths
  mounted where the hub serves them, under ``/hsds``.

Each operation gets positive examples (valid by its description), negative ones (invalid types,
unknown parameters, bodies that break the schema) and, where it has path parameters, positive
ones on objects that exist. Every answer must be: no 5xx; a status code and media type that the
description documents; a body and headers that conform to the documented schemas; and a 4xx for
invalid input. Counts are bounded and derandomized so CI is fast and a failure reproduces (each
one prints a curl command); the totals are printed at the end of the module.

The official HSDS description documents the 200 answers only, and its parameters loosely
(``per_page`` any integer, ``format`` any string). A 400 for a value Ponte cannot honour or a
404 for an unknown id contradicts nothing in it, so those answers are held to the hub's own
description of the same path instead: documented there, and a problem body.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from directory.catalogue import import_directory
from directory.models import Organization
from hub import create_app
from hub.enrolment import create_invitation, redeem_invitation
from hub.extensions import db
from hub.identity import hub_identity
from hub.oauth import MAX_TOKEN_LIFETIME, SCOPES
from hub.openapi import SCHEMAS, openapi_document
from hub.search_index import search_index
from node.oauth_client import ASSERTION_TYPE, assertion_claims, sign_claims
from protocol import NodeIdentity, enrolment_proof, seal
from protocol.profile import profile_update
from tests.test_feeds import SETTINGS, build_corpus
from tests.test_hsds import OPENAPI as HSDS_OPENAPI
from tests.test_hsds import SPEC_DIR as HSDS_DIR
from tests.test_relay import bearer, referral

# At most this many generated examples per operation and kind of example (positive, negative,
# on existing objects): under a minute for the whole module. PONTE_FUZZ_EXAMPLES=500 fuzzes
# deeper on a developer's machine.
EXAMPLES_PER_RUN = int(os.environ.get("PONTE_FUZZ_EXAMPLES", "20"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_RUN,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI reproduces what a developer saw
    database=None,
    phases=[Phase.generate],  # every failure is collected and reported, none shrunk
    suppress_health_check=list(HealthCheck),
)
# The directory seed in the shared folder beside the HSDS standard (the copy in
# directory/data is the same file).
SEED = HSDS_DIR.parents[1] / "seed" / "organisations.json"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
HSDS_BASE_URL = "http://localhost/hsds"  # hub/hsds_api.py mounts the HSDS paths here
# The 3.0 OpenAPI file declares service.json for /service_at_locations/{id}, which no
# service_at_location can satisfy (it has no name or status); the upstream fix,
# openreferral/specification#574, declares the compiled service_at_location.json, as
# tests/test_hsds.py does. The operation is fuzzed against the fixed declaration.
HSDS_ERRATUM = ("/service_at_locations/{id}", "./service_at_location.json")
MAX_REPORTED = 8

HUB_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def _operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


def _hsds_document() -> dict[str, Any]:
    if not HSDS_OPENAPI.is_file():  # tests/test_hsds.py fails with the same cause
        return {"paths": {}}
    return json.loads(HSDS_OPENAPI.read_text(encoding="utf-8"))


HUB_OPERATIONS = _operations(openapi_document())
HSDS_OPERATIONS = _operations(_hsds_document())


# --- the hub under test -----------------------------------------------------------------------


@dataclass
class FuzzedHub:
    app: Any
    member: NodeIdentity
    organisation_id: str
    tokens: dict[str, dict[str, str]]  # Authorization headers by scope
    known: dict[str, dict[str, str]]  # path parameters of existing objects, by path template
    examples: Counter[str] = field(default_factory=Counter)  # generated, by description
    probes: Counter[str] = field(default_factory=Counter)  # hand-made requests, by description


def _enrol(app: Any, organisation_id: str, name: str) -> NodeIdentity:
    identity = NodeIdentity.generate(name)
    with app.app_context():
        token = create_invitation(db.session, organisation_id, "test").token
        record = identity.public_record().to_dict()
        redeem_invitation(
            db.session, hub_identity(), token, record, enrolment_proof(identity, token)
        )
    return identity


def _post_blob(app: Any, sender: NodeIdentity, recipient: str) -> str:
    """An attachment blob waiting for ``recipient``: a 1 KiB bucket plus nonce and tag."""
    blob_id = secrets.token_urlsafe(16)
    response = app.test_client().post(
        "/api/v1/relay/blobs",
        query_string={"recipient": recipient, "id": blob_id, "expires": int(time.time()) + 3600},
        data=secrets.token_bytes(1024 + 40),
        headers={**bearer(app, sender), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.get_json()
    return blob_id


def _post_envelope(app: Any, sender: NodeIdentity, recipient: NodeIdentity) -> str:
    sealed = seal(sender, recipient.public_record(), "referral", referral())
    response = app.test_client().post(
        "/api/v1/relay/envelopes",
        data=sealed.to_wire(),
        headers={**bearer(app, sender), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _acknowledge(app: Any, recipient: NodeIdentity, message_id: str) -> None:
    response = app.test_client().post(
        "/api/v1/relay/ack", json={"ids": [message_id]}, headers=bearer(app, recipient)
    )
    assert response.get_json()["acknowledged"] == [message_id]


def _first_ids(app: Any) -> dict[str, str]:
    client = app.test_client()
    plurals = ("organizations", "services", "service_at_locations", "taxonomies", "taxonomy_terms")
    return {name: client.get(f"/hsds/{name}").get_json()["contents"][0]["id"] for name in plurals}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, request) -> Iterator[FuzzedHub]:
    """The hub on the real seed, with publications, two enrolled nodes, envelopes both ways
    (one delivered) and a blob; its member node holds a token of every scope."""
    # The fuzzer sends hundreds of requests a minute from one address: no abuse limits here;
    # tokens as long-lived as the hub allows, for deeper runs (PONTE_FUZZ_EXAMPLES).
    overrides = {**SETTINGS, "RATE_LIMITS": False, "OAUTH_TOKEN_LIFETIME": MAX_TOKEN_LIFETIME}
    app = create_app(tmp_path_factory.mktemp("hub"), overrides)
    with app.app_context():
        import_directory(db.session, search_index(), SEED if SEED.is_file() else None)
        organisations = db.session.scalars(
            select(Organization.id).order_by(Organization.name).limit(2)
        ).all()
    corpus = build_corpus(app)
    member = _enrol(app, organisations[0], "node-fuzzed")
    other = _enrol(app, organisations[1], "node-other")
    _post_envelope(app, other, member)  # in the member's inbox
    _acknowledge(app, other, _post_envelope(app, member, other))  # in the member's notices
    blob_id = _post_blob(app, other, member.node_id)
    ids = _first_ids(app)
    known = {
        "/api/v1/organisations/{id}": {"id": organisations[0]},
        "/api/v1/countries/{code}": {"code": "IT"},
        "/api/v1/nodes/{node_id}/keys": {"node_id": member.node_id},
        "/api/v1/organisations/{organisation_id}/profile": {"organisation_id": organisations[0]},
        "/api/v1/publications/{item_id}": {"item_id": corpus.resource},
        "/api/v1/publications/{item_id}/file": {"item_id": corpus.resource},
        "/api/v1/relay/blobs/{sender}/{blob_id}": {"sender": other.node_id, "blob_id": blob_id},
    }
    for plural, object_id in ids.items():
        known[f"/hsds/{plural}/{{id}}"] = known[f"/{plural}/{{id}}"] = {"id": object_id}
    fuzzed = FuzzedHub(
        app=app,
        member=member,
        organisation_id=organisations[0],
        tokens={scope: bearer(app, member, scope) for scope in SCOPES},
        known=known,
    )
    yield fuzzed
    _report(request, fuzzed)


def _report(request: pytest.FixtureRequest, fuzzed: FuzzedHub) -> None:
    """The counts the lead reports as "examples fuzzed", shown whatever pytest captures."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        for name in sorted(fuzzed.examples.keys() | fuzzed.probes.keys()):
            reporter.write_line(
                f"schemathesis, {name}: {fuzzed.examples[name]} examples fuzzed "
                f"(+ {fuzzed.probes[name]} hand-made probes)"
            )


@pytest.fixture(scope="module")
def hub_schema(hub):
    """The description the hub serves, loaded the way a client would load it."""
    return schemathesis.openapi.from_wsgi("/openapi.json", hub.app)


@pytest.fixture(scope="module")
def hsds_schema(hub):
    if not HSDS_OPENAPI.is_file():
        pytest.fail(f"the HSDS 3.0 description is missing from {HSDS_DIR} (set HSDS_SPEC_DIR)")
    schema = schemathesis.openapi.from_path(HSDS_OPENAPI)  # resolves ./service.json beside it
    path, declared = HSDS_ERRATUM
    response = schema.raw_schema["paths"][path]["get"]["responses"]["200"]
    response["content"]["application/json"]["schema"] = {"$ref": declared}
    schema.app = hub.app
    return schema


# --- running examples and collecting failures -------------------------------------------------


@dataclass
class Failures:
    seen: dict[str, str] = field(default_factory=dict)  # a short key -> the full report

    def add(self, error: BaseException, status: int, label: str) -> None:
        titles = sorted(
            str(getattr(one, "title", type(one).__name__))
            for one in getattr(error, "exceptions", [error])
        )
        key = f"{label} {status} {' / '.join(titles)}"
        self.seen.setdefault(key, str(error))

    def check(self) -> None:
        if self.seen:
            reports = list(self.seen.values())[:MAX_REPORTED]
            pytest.fail(
                f"distinct failures: {len(self.seen)} (at most {MAX_REPORTED} shown)\n"
                + "\n---\n".join(reports),
                pytrace=False,
            )


@dataclass(frozen=True)
class Run:
    """One batch of generated examples for one operation."""

    mode: GenerationMode
    headers: dict[str, str] | None = None
    path_parameters: dict[str, str] | None = None


def _fuzz(
    operation: Any,
    run: Run,
    checks: list[Callable[..., Any]],
    failures: Failures,
    base_url: str | None = None,
) -> int:
    """Send up to EXAMPLES_PER_RUN generated requests and check every answer; returns how many."""
    strategy = operation.as_strategy(
        generation_mode=run.mode, headers=run.headers, path_parameters=run.path_parameters
    )
    sent = 0

    @FUZZ_SETTINGS
    @given(case=strategy)
    def send(case: Any) -> None:
        nonlocal sent
        sent += 1
        _call_and_check(case, checks, failures, base_url)

    send()
    return sent


def _call_and_check(
    case: Any, checks: list[Callable[..., Any]], failures: Failures, base_url: str | None = None
) -> Any:
    response = case.call(base_url=base_url)
    try:
        case.validate_response(response, checks=checks)
    except (FailureGroup, AssertionError) as error:
        failures.add(error, response.status_code, case.operation.label)
    return response


def _scopes(operation: Any) -> tuple[list[str], bool]:
    """The scopes an operation's security names, and whether a request may go without one."""
    requirements = operation.definition.raw.get("security") or []
    scopes = [scope for one in requirements for scope in one.get("bearer", [])]
    return scopes, not requirements or {} in requirements


def _can_be_invalid(operation: Any) -> bool:
    """Whether any request to the operation breaks its description: it reads query parameters
    (an unknown one, at least), a structured body, or a path parameter that is more than any
    string. Otherwise Hypothesis spends hundreds of tries to find that none does."""
    structured = [body for body in operation.body if body.media_type != "application/octet-stream"]
    constrained = [
        parameter
        for parameter in operation.path_parameters
        if set(parameter.definition.get("schema", {})) - {"type"}
    ]
    return bool(list(operation.query) or structured or constrained)


def _runs(operation: Any, hub: FuzzedHub, known_path: str) -> list[Run]:
    scopes, anonymous = _scopes(operation)
    identities: list[dict[str, str] | None] = [hub.tokens[s] for s in scopes[:1]]
    if anonymous:
        identities.insert(0, None)
    known = hub.known.get(known_path)
    runs = []
    for headers in identities:
        runs.append(Run(GenerationMode.POSITIVE, headers))
        if _can_be_invalid(operation):
            runs.append(Run(GenerationMode.NEGATIVE, headers))
        if known:
            runs.append(Run(GenerationMode.POSITIVE, headers, known))
    return runs


# --- the hub's own description ----------------------------------------------------------------


def test_every_operation_the_hub_describes_is_fuzzed(hub_schema):
    served = {(op.ok().method.upper(), op.ok().path) for op in hub_schema.get_all_operations()}
    assert served == set(HUB_OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path"), HUB_OPERATIONS, ids=[" ".join(o) for o in HUB_OPERATIONS]
)
def test_hub_operation_answers_as_described(hub, hub_schema, method, path):
    operation = hub_schema[path][method]
    failures = Failures()
    for run in _runs(operation, hub, path):
        hub.examples["hub /openapi.json"] += _fuzz(operation, run, HUB_CHECKS, failures)
    _probe_unknown_parameter(hub, operation, path, failures)
    _probe_tokens(hub, operation, path, failures)
    failures.check()


def _probe_case(hub: FuzzedHub, operation: Any, path: str, **changes: Any) -> Any:
    """A request on an existing object where there is one, else on "x"."""
    parameters = {parameter.name: "x" for parameter in operation.path_parameters}
    parameters.update(hub.known.get(path, {}))
    return operation.Case(path_parameters=parameters, **changes)


def _probe_unknown_parameter(hub: FuzzedHub, operation: Any, path: str, failures: Failures) -> None:
    """Schemathesis adds unknown query parameters only where some are declared; the hub
    refuses them everywhere (ponte/params.py), and that 400 must be documented too."""
    scopes, _ = _scopes(operation)
    headers = hub.tokens[scopes[0]] if scopes else {}
    case = _probe_case(hub, operation, path, query={"fuzz_unknown": "1"}, headers=headers)
    _call_and_check(case, HUB_CHECKS, failures)
    hub.probes["hub /openapi.json"] += 1


def _probe_tokens(hub: FuzzedHub, operation: Any, path: str, failures: Failures) -> None:
    """Without a token (where one is required), with an unknown one, with one of another scope:
    401, 401, 403, each as documented (RFC 6750 errors with WWW-Authenticate)."""
    scopes, anonymous = _scopes(operation)
    if not scopes:
        return
    other_scope = next(scope for scope in SCOPES if scope not in scopes)
    expected = [
        ({"Authorization": "Bearer not-a-token"}, 401),
        (hub.tokens[other_scope], 403),
    ]
    if not anonymous:
        expected.append(({}, 401))
    for headers, status in expected:
        case = _probe_case(hub, operation, path, headers=headers)
        response = _call_and_check(case, HUB_CHECKS, failures)
        hub.probes["hub /openapi.json"] += 1
        assert response.status_code == status, (operation.label, headers, response.content[:300])
        assert response.headers["www-authenticate"][0].startswith('Bearer realm="ponte-hub"')


# --- the official HSDS 3.0 description --------------------------------------------------------

PROBLEM = Draft202012Validator(SCHEMAS["Problem"])


def error_answers_follow_the_hub_description(ctx: Any, response: Any, case: Any) -> None:
    """Any answer but 200 (all the HSDS description documents) must be one the hub's own
    description documents for this path, with a problem body."""
    status = response.status_code
    if status == 200:
        return
    hub_path = "/hsds" + case.operation.path  # "/" is "/hsds/"
    documented = openapi_document()["paths"][hub_path]["get"]["responses"]
    if str(status) not in documented:
        raise AssertionError(f"{status} is documented neither by HSDS nor for {hub_path}")
    media_type = response.headers.get("content-type", [""])[0].split(";")[0]
    if media_type != "application/problem+json":
        raise AssertionError(f"a {status} answered {media_type!r}, not a problem")
    errors = [error.message for error in PROBLEM.iter_errors(response.json())]
    if errors:
        raise AssertionError(f"a {status} problem body does not conform: {errors}")


HSDS_CHECKS = [
    not_a_server_error,
    error_answers_follow_the_hub_description,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def test_every_operation_of_the_hsds_description_is_fuzzed(hsds_schema):
    described = {(op.ok().method.upper(), op.ok().path) for op in hsds_schema.get_all_operations()}
    assert described == set(HSDS_OPERATIONS)
    assert len(described) == 11  # the root, and a list and an item for each of five kinds


@pytest.mark.parametrize(
    ("method", "path"), HSDS_OPERATIONS, ids=[" ".join(o) for o in HSDS_OPERATIONS]
)
def test_hsds_operation_answers_as_the_standard_describes(hub, hsds_schema, method, path):
    operation = hsds_schema[path][method]
    failures = Failures()
    for run in _runs(operation, hub, path):
        sent = _fuzz(operation, run, HSDS_CHECKS, failures, base_url=HSDS_BASE_URL)
        hub.examples["HSDS 3.0 openapi.local.json"] += sent
    failures.check()


# --- what the fuzzing found -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/search?page=%C2%B2",  # superscript two: str.isdigit() said yes, int() no (a 500)
        "/api/v1/publications?after=%E2%91%A0",  # circled one (a 500)
        "/hsds/services?per_page=%D9%A3",  # Arabic-Indic three (read as 3)
        "/hsds/organizations?page=--1",  # a sign stripped twice (a 500)
        "/hsds/taxonomies?page=",  # blank: the descriptions say integer (read as absent)
        "/api/v1/publications?limit=",
    ],
)
def test_malformed_whole_numbers_are_a_400_naming_the_parameter(hub, url):
    response = hub.app.test_client().get(url)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    name = url.split("?")[1].split("=")[0]
    assert response.get_json()["invalid_params"][0]["name"] == name


def _nul_urls(document: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(method, path, url) with a NUL in one path or query parameter at a time."""
    for method, path in _operations(document):
        operation = document["paths"][path][method.lower()]
        parameters = operation.get("parameters", [])
        names = [p["name"] for p in parameters if p["in"] == "path"]
        for name in names:
            yield method, path, path.replace(f"{{{name}}}", "a%00b")
        plain = path
        for name in names:
            plain = plain.replace(f"{{{name}}}", "x")
        for parameter in parameters:
            if parameter["in"] == "query":
                yield method, path, f"{plain}?{parameter['name']}=a%00b"


@pytest.mark.parametrize(("method", "path", "url"), list(_nul_urls(openapi_document())))
def test_a_nul_in_a_url_is_a_4xx(hub, method, path, url):
    """PostgreSQL refuses a NUL in a text value outright (a 500 if it reaches a query)."""
    described = openapi_document()["paths"][path][method.lower()]
    scopes = [scope for one in described.get("security", []) for scope in one.get("bearer", [])]
    headers = hub.tokens[scopes[0]] if scopes else {}
    response = hub.app.test_client().open(url, method=method, headers=headers)
    assert 400 <= response.status_code < 500, (url, response.get_data(as_text=True)[:300])
    assert str(response.status_code) in described["responses"]
    assert response.mimetype in ("application/problem+json", "application/json")


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "node\x00", "sub": "node\x00"},  # looked up before the signature is checked
        {"iss": 7, "sub": 7},
        {"iss": ["node-fuzzed"], "sub": ["node-fuzzed"]},
        {"jti": "jti\x00"},  # stored once the signature verifies
        {"jti": 7},
    ],
)
def test_an_assertion_naming_what_no_node_can_be_is_an_oauth_error(hub, claims):
    claims = {**assertion_claims(hub.member, "http://localhost/oauth/token"), **claims}
    form = {
        "grant_type": "client_credentials",
        "scope": "relay",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": sign_claims(hub.member, claims),
    }
    response = hub.app.test_client().post("/oauth/token", data=form)
    assert response.status_code in (400, 401), response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] in ("invalid_client", "invalid_request")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "Shelter\x00"}, "changes.description"),
        (
            {"services": [{"term": "shelter", "name": "Beds\x00", "open_24_7": None,
                           "wait_time": None, "eligibility": None}]},
            "changes.services[0].name",
        ),
    ],
)  # fmt: skip
def test_a_signed_profile_update_with_a_nul_is_a_400_naming_the_field(hub, changes, field):
    """protocol/fields.py lets a NUL through; PostgreSQL cannot store one (a 500 before)."""
    document = profile_update(hub.member, hub.organisation_id, changes, int(time.time()))
    response = hub.app.test_client().post(
        f"/api/v1/organisations/{hub.organisation_id}/profile",
        json=document,
        headers=hub.tokens["directory:write"],
    )
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["invalid_params"][0]["name"] == field


@pytest.mark.parametrize(
    ("method", "path", "limit"),
    [
        ("GET", "/api/v1/search", "RATE_LIMIT_SEARCH"),
        ("POST", "/oauth/token", "RATE_LIMIT_TOKEN"),
        ("POST", "/api/v1/enrol", "RATE_LIMIT_INVITATION"),
    ],
)
def test_an_abuse_limit_answers_as_documented(tmp_path, method, path, limit):
    """ponte/limits.py's 429 on the operations it limits (tests/conftest.py turns limits off
    everywhere else)."""
    app = create_app(tmp_path / "hub", {**SETTINGS, "RATE_LIMITS": True, limit: "1 per minute"})
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]
    failures = Failures()
    answers = [_call_and_check(operation.Case(), HUB_CHECKS, failures) for _ in range(2)]
    failures.check()
    assert answers[1].status_code == 429
    assert int(answers[1].headers["retry-after"][0]) > 0
