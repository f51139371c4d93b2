"""``/openapi.json``: the OpenAPI 3.1 description of the hub's whole HTTP API.

Kept by hand, next to the views it describes; tests check that every API route is in it and
that real responses validate against the schemas here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from directory.models import KINDS
from ponte.params import MAX_SQL_INTEGER
from protocol import publication
from protocol.keys import NODE_ID_PATTERN

blueprint = Blueprint("openapi", __name__)

PROBLEM = {"$ref": "#/components/responses/Problem"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
STRING_OR_NULL = {"type": ["string", "null"]}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


def _pattern(regex: str) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^(?:{regex})$"}


SEARCH_PARAMETERS = [
    _query(
        "q",
        'Free text in any of en, fr, it, es, de (typos and accents tolerated; "quoted phrases").',
        {"type": "string", "maxLength": 500},
    ),
    _query(
        "country",
        "ISO 3166-1 alpha-2 code (XK for Kosovo); empty means any.",
        {"type": "string", "pattern": "^(?:[A-Za-z]{2})?$"},
    ),
    _query(
        "service",
        "Taxonomy term code, e.g. shelter (see /hsds/taxonomy_terms); empty means any.",
        {"type": "string"},
    ),
    _query(
        "language",
        "ISO 639-1 code of a language the organisation speaks; empty means any.",
        {"type": "string", "pattern": "^(?:[A-Za-z]{2})?$"},
    ),
    _query(
        "kind", "Kind of organisation; empty means any.", {"type": "string", "enum": ["", *KINDS]}
    ),
    _query("page", "Page number, from 1.", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("per_page", "Results per page.", {"type": "integer", "minimum": 1, "maximum": 100}),
]

HSDS_PAGE_PARAMETERS = [
    _query(
        "page", "Page number, from 1.", {"type": "integer", "minimum": 1, "maximum": 999_999_999}
    ),
    _query("per_page", "Items per page.", {"type": "integer", "minimum": 1, "maximum": 100}),
    _query("format", "Only json is supported.", {"type": "string", "enum": ["json"]}),
]
TRUE_FALSE = {"type": "string", "enum": ["true", "false"]}
SEARCH_TEXT = _query(
    "search",
    "Case-insensitive text to find in names and descriptions.",
    {"type": "string", "maxLength": 500},
)
MODIFIED_AFTER = _query(
    "modified_after",
    "Only what changed at or after this ISO 8601 moment.",
    {"type": "string", "format": "date-time"},
)
SERVICE_FILTERS = [
    SEARCH_TEXT,
    MODIFIED_AFTER,
    _query("full", "Fully nested objects.", TRUE_FALSE),
    _query("taxonomy_term_id", "Only services with this taxonomy term.", {"type": "string"}),
    _query("taxonomy_id", "Only services with a term of this taxonomy.", {"type": "string"}),
    _query("organization_id", "Only services of this organization.", {"type": "string"}),
]
# What each HSDS list accepts besides paging, as hub/hsds_api.py reads it.
HSDS_LIST_FILTERS: dict[str, list[dict[str, Any]]] = {
    "organizations": [
        SEARCH_TEXT,
        _query("full", "Fully nested organizations.", TRUE_FALSE),
        _query("full_service", "Nest full services (implies full).", TRUE_FALSE),
    ],
    "services": [
        *SERVICE_FILTERS,
        _query("minimal", "Not supported: only false is accepted.", TRUE_FALSE),
    ],
    "service_at_locations": SERVICE_FILTERS,
    "taxonomies": [SEARCH_TEXT],
    "taxonomy_terms": [
        SEARCH_TEXT,
        _query("taxonomy_id", "Terms of this taxonomy.", {"type": "string"}),
        _query("top_only", "Only terms without a parent.", TRUE_FALSE),
        _query("parent_id", "Children of this term.", {"type": "string"}),
    ],
}
HSDS_ITEM_FILTERS: dict[str, list[dict[str, Any]]] = {
    "organizations": [_query("full_service", "Nest full services.", TRUE_FALSE)],
}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "invalid_params": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "reason"],
                    "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "service"],
        "properties": {"status": {"const": "ok"}, "service": {"type": "string"}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "service", "checks"],
        "properties": {
            "status": {"const": "ready"},
            "service": {"type": "string"},
            "checks": {
                "type": "object",
                "description": "Each check (database, search_index) and its outcome.",
                "additionalProperties": {"enum": ["ok", "failing"]},
            },
        },
    },
    "OrganisationSummary": {
        "type": "object",
        "required": ["id", "name", "acronym", "country", "city", "kind"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "acronym": STRING_OR_NULL,
            "country": {"type": "string"},
            "city": STRING_OR_NULL,
            "kind": {"enum": list(KINDS)},
        },
    },
    "SearchResponse": {
        "type": "object",
        "required": ["total", "page", "per_page", "results", "facets"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["organisation", "services", "score", "highlights"],
                    "properties": {
                        "organisation": {"$ref": "#/components/schemas/OrganisationSummary"},
                        "services": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "name", "term"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "name": {"type": "string"},
                                    "term": STRING_OR_NULL,
                                },
                            },
                        },
                        "score": {"type": "number"},
                        "highlights": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                },
            },
            "facets": {
                "type": "object",
                "required": ["country", "service", "language", "kind"],
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
    "Organisation": {
        "type": "object",
        "required": ["id", "name", "kind", "country", "services", "phones", "addresses"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "acronym": STRING_OR_NULL,
            "kind": {"enum": list(KINDS)},
            "country": {"type": "string"},
            "country_name": {"type": "string"},
            "city": STRING_OR_NULL,
            "description": {"type": "string"},
            "target_groups": {"type": "array", "items": {"type": "string"}},
            "languages": {"type": "array", "items": {"type": "string"}},
            "interpreters_available": {"type": ["boolean", "null"]},
            "email": STRING_OR_NULL,
            "website": STRING_OR_NULL,
            "phones": {
                "type": "array",
                "items": {"type": "object", "required": ["number", "type"]},
            },
            "addresses": {"type": "array", "items": {"type": "object"}},
            "services": {"type": "array", "items": {"type": "object", "required": ["id", "name"]}},
            "contact_as_printed": {"type": "object"},
            "review_flags": {"type": "array", "items": {"type": "object"}},
            "last_verified": {"type": ["string", "null"], "format": "date"},
            "source": STRING_OR_NULL,
            "modified": {"type": "string", "format": "date-time"},
            "nodes": {
                "type": "array",
                "items": {"type": "object", "required": ["node_id", "fingerprint", "active"]},
            },
        },
    },
    "Country": {
        "type": "object",
        "required": ["code", "names", "organisations", "contacts"],
        "properties": {
            "code": {"type": "string"},
            "names": {"type": "object", "additionalProperties": {"type": "string"}},
            "organisations": {
                "type": "array",
                "items": {"type": "object", "required": ["id", "name", "kind"]},
            },
            "contacts": {
                "type": "array",
                "items": {"type": "object", "required": ["role", "name"]},
            },
        },
    },
    "HsdsObject": {
        "type": "object",
        "required": ["id"],
        "description": "An HSDS 3.0 object; see the official schemas.",
    },
    "HsdsPage": {
        "type": "object",
        "required": ["total_items", "total_pages", "page_number", "size", "contents"],
        "description": "An HSDS 3.0 page of objects.",
    },
}


KEY_RECORD = {"type": "object", "description": "A protocol key record (protocol/SPEC.md 4.2)."}
ATTESTATION = {
    "type": "object",
    "required": ["statement", "signature"],
    "description": "The hub's signed attestation of a key record (SPEC.md).",
}
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OAUTH_ERROR = {
    "description": "An OAuth 2.0 error (RFC 6749 5.2).",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "error_description": {"type": "string"},
                },
            }
        }
    },
}
CHALLENGE = {
    "description": 'The RFC 6750 challenge, e.g. Bearer realm="ponte-hub", error="invalid_token".',
    "schema": {"type": "string", "pattern": "^Bearer realm="},
}
# hub/oauth.py answers a refused token as RFC 6750 says: an OAuth error body (application/json)
# and a WWW-Authenticate challenge, whatever the endpoint; the hub's own refusals are problems.
BEARER_ERROR = {
    **OAUTH_ERROR,
    "description": "A refused bearer token (RFC 6750 3.1; see WWW-Authenticate).",
    "headers": {"WWW-Authenticate": {**CHALLENGE, "required": True}},
}
# 403 is a refused token (wrong scope) or a request the hub refuses (another node's or
# organisation's, a revoked node): the first an OAuth error, the second a problem.
FORBIDDEN = {
    "description": "A token without the scope (an OAuth error with WWW-Authenticate), or a "
    "request the hub refuses (a problem).",
    "headers": {"WWW-Authenticate": CHALLENGE},
    "content": {**OAUTH_ERROR["content"], **PROBLEM_CONTENT},
}
# ponte/limits.py: an abuse limit's answer, on the operations it names.
TOO_MANY = {
    "description": "Over an abuse limit (ponte/limits.py): wait Retry-After seconds.",
    "headers": {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    "content": PROBLEM_CONTENT,
}
RELAY_PAGING = [
    _query(
        "after",
        "Only items with a larger seq.",
        {"type": "integer", "minimum": 0, "maximum": MAX_SQL_INTEGER},
    ),
    _query("limit", "How many at most.", {"type": "integer", "minimum": 1, "maximum": 100}),
]
SEQ = {"type": "integer", "minimum": 1}
MOMENT = {"type": "string", "format": "date-time"}
RELAY_SCHEMAS: dict[str, Any] = {
    "RelayPosted": {
        "type": "object",
        "required": ["id", "seq", "status"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "seq": SEQ,
            "status": {"enum": ["queued", "delivered", "expired"]},
        },
    },
    "RelayInbox": {
        "type": "object",
        "required": ["messages", "next_after"],
        "additionalProperties": False,
        "properties": {
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seq", "id", "sender", "wire"],
                    "additionalProperties": False,
                    "properties": {
                        "seq": SEQ,
                        "id": {"type": "string"},
                        "sender": {"type": "string"},
                        "wire": {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"},
                    },
                },
            },
            "next_after": {"type": "integer", "minimum": 0},
        },
    },
    "RelayAcknowledged": {
        "type": "object",
        "required": ["acknowledged", "unknown"],
        "additionalProperties": False,
        "properties": {
            "acknowledged": {"type": "array", "items": {"type": "string"}},
            "unknown": {"type": "array", "items": {"type": "string"}},
        },
    },
    "RelayNotices": {
        "type": "object",
        "required": ["notices", "next_after"],
        "additionalProperties": False,
        "properties": {
            "notices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seq", "id", "recipient", "status", "at"],
                    "additionalProperties": False,
                    "properties": {
                        "seq": SEQ,
                        "id": {"type": "string"},
                        "recipient": {"type": "string"},
                        "status": {"enum": ["delivered", "expired"]},
                        "at": MOMENT,
                    },
                },
            },
            "next_after": {"type": "integer", "minimum": 0},
        },
    },
}
SCHEMAS.update(RELAY_SCHEMAS)
RELAY_PATHS: dict[str, Any] = {
    "/api/v1/ping": {
        "get": {
            "summary": "Check a token (a no-op)",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "responses": {
                "200": {
                    "description": "The token's node.",
                    "content": {
                        "application/json": {"schema": {"type": "object", "required": ["node_id"]}}
                    },
                },
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
            },
        }
    },
    "/api/v1/relay/envelopes": {
        "post": {
            "summary": "Post an envelope (its wire bytes) for another node (docs/relay.md)",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            "responses": {
                "201": _json("RelayPosted", "Queued."),
                "200": _json("RelayPosted", "Posted before: the first result."),
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": FORBIDDEN,
                "404": PROBLEM,
                "409": PROBLEM,
                "413": PROBLEM,
                "429": TOO_MANY,
            },
        }
    },
    "/api/v1/relay/inbox": {
        "get": {
            "summary": "This node's undelivered envelopes",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "parameters": RELAY_PAGING,
            "responses": {
                "200": _json("RelayInbox", "Envelopes (base64url wire bytes), oldest first."),
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
            },
        }
    },
    "/api/v1/relay/ack": {
        "post": {
            "summary": "Acknowledge applied envelopes: their bodies are deleted",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["ids"],
                            "additionalProperties": False,
                            "properties": {
                                "ids": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 100,
                                    "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"},
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    "RelayAcknowledged", "Settled, and the ids this node has no mail for."
                ),
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
            },
        }
    },
    "/api/v1/relay/notices": {
        "get": {
            "summary": "What became of this node's sent envelopes",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "parameters": RELAY_PAGING,
            "responses": {
                "200": _json("RelayNotices", "Delivered or expired, oldest first."),
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
            },
        }
    },
}
BLOB_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"}
BLOB_PATH = [
    _path("sender", "The node that posted the blob."),
    {**_path("blob_id", "The attachment id (base64url, 22 characters)."), "schema": BLOB_ID},
]
BLOB_STORED = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["id", "size", "status"],
                "properties": {
                    "id": BLOB_ID,
                    "size": {"type": "integer", "minimum": 0},
                    "status": {"type": "string"},
                },
            }
        }
    }
}
BLOB_PATHS: dict[str, Any] = {
    "/api/v1/relay/blobs": {
        "post": {
            "summary": "Post an encrypted attachment blob for another node (docs/relay.md)",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "parameters": [
                {
                    **_query(
                        "recipient", "The recipient node's id.", _pattern(NODE_ID_PATTERN.pattern)
                    ),
                    "required": True,
                },
                {
                    **_query("id", "The attachment id (base64url, 22 characters).", BLOB_ID),
                    "required": True,
                },
                {
                    **_query(
                        "expires",
                        "When the hub may drop it (Unix time, within 90 days).",
                        {"type": "integer", "minimum": 1, "maximum": 2**62},
                    ),
                    "required": True,
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            "responses": {
                "201": {"description": "Stored.", **BLOB_STORED},
                "200": {"description": "Posted before: the first result.", **BLOB_STORED},
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": FORBIDDEN,
                "404": PROBLEM,
                "409": PROBLEM,
                "413": PROBLEM,
                "429": TOO_MANY,
            },
        }
    },
    "/api/v1/relay/blobs/{sender}/{blob_id}": {
        "get": {
            "summary": "Fetch a blob waiting for this node",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "parameters": BLOB_PATH,
            "responses": {
                "200": {
                    "description": "The blob's bytes.",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
                "404": PROBLEM,
            },
        },
        "delete": {
            "summary": "This node has stored the blob: the hub drops its bytes",
            "tags": ["Relay"],
            "security": [{"bearer": ["relay"]}],
            "parameters": BLOB_PATH,
            "responses": {
                "204": {"description": "Dropped."},
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
                "404": PROBLEM,
            },
        },
    },
}
OAUTH_PATHS: dict[str, Any] = {
    "/oauth/token": {
        "post": {
            "summary": "Client credentials; clients authenticate with private_key_jwt (EdDSA)",
            "tags": ["Membership"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": [
                                "grant_type",
                                "scope",
                                "client_assertion_type",
                                "client_assertion",
                            ],
                            "properties": {
                                "grant_type": {"const": "client_credentials"},
                                "scope": {
                                    "type": "string",
                                    "description": "relay, directory:write, "
                                    "feeds:read, contribute (space-separated)",
                                },
                                "client_assertion_type": {"const": JWT_BEARER},
                                "client_assertion": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "A bearer token (at most 15 minutes).",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["access_token", "token_type", "expires_in", "scope"],
                            }
                        }
                    },
                },
                "400": OAUTH_ERROR,
                "401": OAUTH_ERROR,
                "429": TOO_MANY,
            },
        }
    },
    "/.well-known/oauth-authorization-server": {
        "get": {
            "summary": "Authorization server metadata (RFC 8414)",
            "tags": ["Membership"],
            "responses": {
                "200": {
                    "description": "Metadata.",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["issuer", "token_endpoint"]}
                        }
                    },
                }
            },
        }
    },
}
ENROLMENT_PATHS: dict[str, Any] = {
    "/api/v1/enrol": {
        "post": {
            "summary": "Redeem an invitation: register a node's keys, get them attested",
            "tags": ["Membership"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["invitation", "key_record", "proof"],
                            "additionalProperties": False,
                            "properties": {
                                "invitation": {"type": "string", "maxLength": 200},
                                "key_record": KEY_RECORD,
                                "proof": {"type": "string", "description": "base64url signature"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Enrolled.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": [
                                    "node_id",
                                    "organisation",
                                    "attestation",
                                    "hub_key",
                                    "hub_fingerprint",
                                ],
                                "properties": {
                                    "node_id": {"type": "string"},
                                    "organisation": {"type": "object"},
                                    "attestation": ATTESTATION,
                                    "hub_key": KEY_RECORD,
                                    "hub_fingerprint": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "400": PROBLEM,
                "403": PROBLEM,
                "409": PROBLEM,
                "503": PROBLEM,
                "429": TOO_MANY,
            },
        }
    },
    "/api/v1/hub/key": {
        "get": {
            "summary": "The hub's public key record and fingerprint (pinned by nodes)",
            "tags": ["Membership"],
            "responses": {
                "200": {
                    "description": "The hub key.",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["key_record", "fingerprint"]}
                        }
                    },
                },
                "400": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/v1/nodes/{node_id}/keys": {
        "post": {
            "summary": "Register the node's next key version, signed by its current key",
            "tags": ["Membership"],
            "security": [{"bearer": ["relay"]}],
            "parameters": [_path("node_id", "The node's own id.")],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["key_record", "signature"],
                            "additionalProperties": False,
                            "properties": {
                                "key_record": KEY_RECORD,
                                "signature": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "The new key's attestation.",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["node_id", "attestation"]}
                        }
                    },
                },
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": FORBIDDEN,
                "404": PROBLEM,
            },
        },
        "get": {
            "summary": "A node's attested key versions (needs a token with scope relay)",
            "tags": ["Membership"],
            "security": [{"bearer": ["relay"]}],
            "parameters": [_path("node_id", "The node's id.")],
            "responses": {
                "200": {
                    "description": "Attested keys.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["node_id", "organisation_id", "status", "keys"],
                                "properties": {"keys": {"type": "array", "items": ATTESTATION}},
                            }
                        }
                    },
                },
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
                "404": PROBLEM,
            },
        },
    },
}


NULLABLE_TEXT = {"type": ["string", "null"], "minLength": 1}
SERVICE_CHANGE = {
    "type": "object",
    "required": ["term", "name", "open_24_7", "wait_time", "eligibility"],
    "additionalProperties": False,
    "properties": {
        "term": {"type": "string", "description": "Taxonomy term code (/hsds/taxonomy_terms)."},
        "name": {"type": "string", "minLength": 1, "maxLength": 300},
        "open_24_7": {"type": ["boolean", "null"]},
        "wait_time": {**NULLABLE_TEXT, "maxLength": 200},
        "eligibility": {**NULLABLE_TEXT, "maxLength": 2000},
    },
}
PROFILE_CHANGES = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "description": "Each member present replaces that part of the entry (SPEC.md 4.5).",
    "properties": {
        "services": {"type": "array", "maxItems": 50, "items": SERVICE_CHANGE},
        "languages": {
            "type": "array",
            "maxItems": 50,
            "items": {"type": "string", "pattern": "^[a-z]{2}$"},
        },
        "interpreters_available": {"type": ["boolean", "null"]},
        "email": {**NULLABLE_TEXT, "maxLength": 320},
        "website": {**NULLABLE_TEXT, "maxLength": 500},
        "phones": {
            "type": "array",
            "maxItems": 20,
            "items": {
                "type": "object",
                "required": ["number", "type"],
                "additionalProperties": False,
                "properties": {
                    "number": {"type": "string", "pattern": "^[0-9+()./ -]{4,40}$"},
                    "type": {"enum": ["voice", "fax"]},
                },
            },
        },
        "description": {**NULLABLE_TEXT, "maxLength": 4000},
    },
}
PROFILE_PATHS: dict[str, Any] = {
    "/api/v1/organisations/{organisation_id}/profile": {
        "post": {
            "summary": "Update the node's own organisation's entry (a signed directory update)",
            "description": "The body is a directory-update document signed with the node's "
            "current key (protocol/SPEC.md 4.5). The hub applies it to this organisation only, "
            "keeps it, logs who changed what and sets the entry's last-verified date.",
            "tags": ["Directory"],
            "security": [{"bearer": ["directory:write"]}],
            "parameters": [_path("organisation_id", "The node's own organisation's id.")],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["statement", "signature"],
                            "additionalProperties": False,
                            "properties": {
                                "statement": {
                                    "type": "object",
                                    "required": [
                                        "node_id",
                                        "organisation_id",
                                        "submitted_at",
                                        "changes",
                                    ],
                                    "additionalProperties": False,
                                    "properties": {
                                        "node_id": {"type": "string"},
                                        "organisation_id": {"type": "string"},
                                        "submitted_at": {"type": "integer", "minimum": 0},
                                        "changes": PROFILE_CHANGES,
                                    },
                                },
                                "signature": {"type": "string", "description": "base64url"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json("Organisation", "The organisation as it is now."),
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": FORBIDDEN,
                "404": PROBLEM,
                "409": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
}


# -- publications and contributions (hub/publications_api.py, protocol/SPEC.md 4.6) ----------


def _text(max_length: int, regex: str | None = None) -> dict[str, Any]:
    """SPEC.md's text(n): not blank, at most n characters, maybe matching a pattern."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": max_length}
    schema["pattern"] = f"^(?:{regex})$" if regex else r"\S"
    return schema


TIMESTAMP = {"type": "integer", "minimum": 0, "maximum": publication.MAX_TIME}
WEB_ADDRESS = _text(2000, publication.URL)
ITEM_PROPERTIES: dict[str, Any] = {
    "item_kind": {"enum": list(publication.ITEM_KINDS)},
    "title": _text(300),
    "body_markdown": _text(publication.MAX_BODY),
    "language": _text(20, publication.LANGUAGE),
    "topics": {
        "type": "array",
        "maxItems": 20,
        "uniqueItems": True,
        "items": _text(100, publication.TOPIC),
    },
    "countries": {
        "type": "array",
        "maxItems": 60,
        "uniqueItems": True,
        "items": _pattern(publication.COUNTRY),
    },
    "url": WEB_ADDRESS,
    "event": {
        "type": "object",
        "required": ["starts"],
        "additionalProperties": False,
        "properties": {
            "starts": TIMESTAMP,
            "ends": TIMESTAMP,
            "place": _text(300),
            "online_url": WEB_ADDRESS,
        },
    },
}
ITEM_REQUIRED = ["item_kind", "title", "body_markdown", "language"]
SIGNATURE = {"type": "string", "pattern": "^[A-Za-z0-9_-]{86}$", "description": "base64url"}
NODE_ID = _pattern(NODE_ID_PATTERN.pattern)
PUBLICATION_SCHEMAS: dict[str, Any] = {
    "PublicationDocument": {
        "type": "object",
        "description": "One signed revision of a public item (SPEC.md 4.6): verify the "
        "signature (context publication) with the hub key from /api/v1/hub/key.",
        "required": ["statement", "signature"],
        "additionalProperties": False,
        "properties": {
            "statement": {
                "type": "object",
                "required": [
                    *ITEM_REQUIRED,
                    "publisher",
                    "key_version",
                    "item_id",
                    "revision",
                    "status",
                    "audience",
                    "published",
                    "updated",
                ],
                "additionalProperties": False,
                "properties": {
                    **ITEM_PROPERTIES,
                    "publisher": NODE_ID,
                    "key_version": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                    "item_id": _pattern(publication.ITEM_ID),
                    "revision": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                    "status": {"enum": list(publication.STATUSES)},
                    "audience": {"const": "public"},
                    "published": TIMESTAMP,
                    "updated": TIMESTAMP,
                    "file": {
                        "type": "object",
                        "required": ["name", "media_type", "size", "sha256"],
                        "additionalProperties": False,
                        "properties": {
                            "name": _text(200),
                            "media_type": _text(100, publication.MEDIA_TYPE),
                            "size": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": publication.MAX_FILE,
                            },
                            "sha256": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
                        },
                    },
                    "credit": {
                        "type": "object",
                        "required": ["organisation_id", "organisation_name"],
                        "additionalProperties": False,
                        "properties": {
                            "organisation_id": _text(100, r"\S+"),
                            "organisation_name": _text(300),
                        },
                    },
                    "reason": _text(2000),
                },
            },
            "signature": SIGNATURE,
        },
    },
    "PublicationPage": {
        "type": "object",
        "required": ["publications", "next_after"],
        "additionalProperties": False,
        "properties": {
            "publications": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["seq", "item_id", "revision", "document"],
                    "additionalProperties": False,
                    "properties": {
                        "seq": {"type": "integer", "minimum": 1},
                        "item_id": _pattern(publication.ITEM_ID),
                        "revision": {"type": "integer", "minimum": 1},
                        "document": {"$ref": "#/components/schemas/PublicationDocument"},
                    },
                },
            },
            "next_after": {
                "type": "integer",
                "minimum": 0,
                "description": "Pass as after to get the next page.",
            },
        },
    },
    "Publication": {
        "type": "object",
        "required": ["document", "key"],
        "additionalProperties": False,
        "properties": {
            "document": {"$ref": "#/components/schemas/PublicationDocument"},
            "key": {
                "type": "object",
                "description": "Names the hub key that signed (SPEC.md 4.3 fingerprint).",
                "required": ["node_id", "key_version", "fingerprint"],
                "additionalProperties": False,
                "properties": {
                    "node_id": NODE_ID,
                    "key_version": {"type": "integer", "minimum": 1},
                    "fingerprint": {"type": "string", "pattern": "^[0-9]{5}( [0-9]{5}){5}$"},
                },
            },
        },
    },
    "ContributionDocument": {
        "type": "object",
        "description": "A contribution signed with the node's current key (context "
        "contribution, SPEC.md 4.6).",
        "required": ["statement", "signature"],
        "additionalProperties": False,
        "properties": {
            "statement": {
                "type": "object",
                "required": [
                    "node_id",
                    "organisation_id",
                    "contribution_id",
                    "submitted_at",
                    "item",
                ],
                "additionalProperties": False,
                "properties": {
                    "node_id": NODE_ID,
                    "organisation_id": _text(100, r"\S+"),
                    "contribution_id": _pattern(publication.ITEM_ID),
                    "submitted_at": TIMESTAMP,
                    "item": {
                        "type": "object",
                        "required": ITEM_REQUIRED,
                        "additionalProperties": False,
                        "properties": {
                            **ITEM_PROPERTIES,
                            "item_kind": {"enum": list(publication.CONTRIBUTION_KINDS)},
                        },
                    },
                },
            },
            "signature": SIGNATURE,
        },
    },
    "ContributionStatus": {
        "type": "object",
        "required": ["contribution_id", "state", "title"],
        "additionalProperties": False,
        "properties": {
            "contribution_id": _pattern(publication.ITEM_ID),
            "state": {"enum": ["pending", "approved", "rejected"]},
            "title": {"type": "string"},
            "reason": {"type": "string", "description": "Why it was rejected."},
            "item_id": {"type": "string", "description": "The published item, once approved."},
        },
    },
}
SCHEMAS.update(PUBLICATION_SCHEMAS)
ITEM_ID_PATH = _path("item_id", "The item's id (SPEC.md ITEM_ID).")
PUBLICATION_PATHS: dict[str, Any] = {
    "/api/v1/publications": {
        "get": {
            "summary": "Signed revisions of public items, in the order the hub signed them",
            "tags": ["Publications"],
            "parameters": [
                _query(
                    "after",
                    "Only revisions with a larger seq (the next_after of the last page).",
                    {"type": "integer", "minimum": 0, "maximum": MAX_SQL_INTEGER},
                ),
                _query(
                    "limit",
                    "How many at most (default 50).",
                    {"type": "integer", "minimum": 1, "maximum": 100},
                ),
            ],
            "responses": {
                "200": _json("PublicationPage", "Signed revisions, oldest first."),
                "400": PROBLEM,
            },
        }
    },
    "/api/v1/publications/{item_id}": {
        "get": {
            "summary": "A public item's current signed revision (a retraction, if retracted)",
            "tags": ["Publications"],
            "parameters": [ITEM_ID_PATH],
            "responses": {
                "200": _json("Publication", "The signed document and the key that signed it."),
                "400": PROBLEM,
                "404": PROBLEM,
                "503": PROBLEM,
            },
        }
    },
    "/api/v1/publications/{item_id}/file": {
        "get": {
            "summary": "A resource's file (check its size and sha256 against the signed item)",
            "description": "A public item's file needs no token; a members-only item's needs "
            "a token of scope feeds:read. Without one, a members-only item is a 404 like an "
            "unknown one. A token that is sent is checked first, whatever the item.",
            "tags": ["Publications"],
            "security": [{}, {"bearer": ["feeds:read"]}],
            "parameters": [ITEM_ID_PATH],
            "responses": {
                "200": {
                    "description": "The file, as an attachment, in its stored media type.",
                    "headers": {
                        "Content-Disposition": {"schema": {"type": "string"}},
                    },
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
                "404": PROBLEM,
            },
        }
    },
    "/api/v1/contributions": {
        "post": {
            "summary": "Propose an item to the secretariat (a signed contribution)",
            "description": "Queued for moderation. Sending the same document again answers "
            "200 with its status; a refused one is a problem naming the field.",
            "tags": ["Publications"],
            "security": [{"bearer": ["contribute"]}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ContributionDocument"}
                    }
                },
            },
            "responses": {
                "201": _json("ContributionStatus", "Queued for moderation."),
                "200": _json("ContributionStatus", "Sent before: its status now."),
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": FORBIDDEN,
                "409": PROBLEM,
                "413": PROBLEM,
            },
        },
        "get": {
            "summary": "What became of this node's contributions (newest first, at most 200)",
            "tags": ["Publications"],
            "security": [{"bearer": ["contribute"]}],
            "responses": {
                "200": {
                    "description": "This node's contributions only.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["contributions"],
                                "additionalProperties": False,
                                "properties": {
                                    "contributions": {
                                        "type": "array",
                                        "items": {
                                            "$ref": "#/components/schemas/ContributionStatus"
                                        },
                                    }
                                },
                            }
                        }
                    },
                },
                "400": PROBLEM,
                "401": BEARER_ERROR,
                "403": BEARER_ERROR,
            },
        },
    },
}


SECURITY_SCHEMES = {
    "bearer": {
        "type": "oauth2",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {
                    "relay": "Send and fetch envelopes; read the key directory",
                    "directory:write": "Update the node's own directory entry",
                    "feeds:read": "Read members-only publications",
                    "contribute": "Propose items to the secretariat; follow their moderation",
                },
            }
        },
    }
}


def _hsds_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/hsds/": {
            "get": {
                "summary": "HSDS API root",
                "tags": ["HSDS 3.0"],
                "responses": {
                    "200": {
                        "description": "Version and profile.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "400": PROBLEM,
                },
            }
        }
    }
    for plural in (
        "organizations",
        "services",
        "service_at_locations",
        "taxonomies",
        "taxonomy_terms",
    ):
        paths[f"/hsds/{plural}"] = {
            "get": {
                "summary": f"List {plural.replace('_', ' ')} (HSDS 3.0)",
                "tags": ["HSDS 3.0"],
                "parameters": HSDS_PAGE_PARAMETERS + HSDS_LIST_FILTERS[plural],
                "responses": {"200": _json("HsdsPage", "A page."), "400": PROBLEM},
            }
        }
        paths[f"/hsds/{plural}/{{id}}"] = {
            "get": {
                "summary": f"One of the {plural.replace('_', ' ')} (HSDS 3.0)",
                "tags": ["HSDS 3.0"],
                "parameters": [_path("id", "Its id."), *HSDS_ITEM_FILTERS.get(plural, [])],
                "responses": {
                    "200": _json("HsdsObject", "The object."),
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        }
    return paths


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Ponte hub API",
            "version": "1",
            "description": "The partner directory of anti-trafficking NGOs (search, "
            "organisations, countries) and its Open Referral HSDS 3.0 API. Errors are RFC 9457 "
            "problem details. The HSDS paths follow the official HSDS 3.0 API description.",
        },
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Liveness: the process answers (it checks nothing else)",
                    "responses": {"200": _json("Health", "The hub's process is up.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: the database answers and the search index opens",
                    "responses": {
                        "200": _json("Readiness", "The hub can serve requests."),
                        "503": {
                            "description": "Not ready: `failing` names the failing checks "
                            "and `checks` gives every check's outcome.",
                            "content": PROBLEM_CONTENT,
                        },
                    },
                }
            },
            "/api/v1/search": {
                "get": {
                    "summary": "Search the partner directory",
                    "tags": ["Directory"],
                    "parameters": SEARCH_PARAMETERS,
                    "responses": {
                        "200": _json("SearchResponse", "Ranked organisations, facets."),
                        "400": PROBLEM,
                        "429": TOO_MANY,
                    },
                }
            },
            "/api/v1/organisations/{id}": {
                "get": {
                    "summary": "One organisation with services and contacts",
                    "tags": ["Directory"],
                    "parameters": [_path("id", "Organisation id (UUID).")],
                    "responses": {
                        "200": _json("Organisation", "The organisation."),
                        "400": PROBLEM,
                        "404": PROBLEM,
                    },
                }
            },
            "/api/v1/countries/{code}": {
                "get": {
                    "summary": "A country's organisations and who to contact first",
                    "tags": ["Directory"],
                    "parameters": [_path("code", "ISO 3166-1 alpha-2 code (XK for Kosovo).")],
                    "responses": {"200": _json("Country", "The country."), "400": PROBLEM},
                }
            },
            **ENROLMENT_PATHS,
            **PROFILE_PATHS,
            **OAUTH_PATHS,
            **RELAY_PATHS,
            **BLOB_PATHS,
            **PUBLICATION_PATHS,
            **_hsds_paths(),
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": SECURITY_SCHEMES,
            "responses": {
                "Problem": {
                    "description": "A problem (RFC 9457).",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
        },
    }


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document())
