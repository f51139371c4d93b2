"""Open Referral HSDS 3.0: reading HSDS organizations into import records, and (below) the
mapping of the directory to HSDS objects for the API and the export."""

from __future__ import annotations

from typing import Any

from directory.importer import ImportFileError


def looks_like_hsds(data: object) -> bool:
    """An HSDS organization, a list of them, or an HSDS page ({"contents": [...]})."""
    items = data.get("contents") if isinstance(data, dict) and "contents" in data else data
    items = items if isinstance(items, list) else [items]
    return bool(items) and all(
        isinstance(item, dict) and "id" in item and "description" in item and "kind" not in item
        for item in items
    )


def records_from_hsds(data: object) -> list[object]:
    items = data.get("contents") if isinstance(data, dict) and "contents" in data else data
    items = items if isinstance(items, list) else [items]
    return [_record(item) for item in items]


def _record(item: dict[str, Any]) -> dict[str, Any]:
    """HSDS organization -> seed-shaped record; Ponte's extensions travel under ``x_ponte``."""
    extra = item.get("x_ponte") if isinstance(item.get("x_ponte"), dict) else {}
    services = item.get("services") if isinstance(item.get("services"), list) else []
    phones = item.get("phones") if isinstance(item.get("phones"), list) else []
    locations = [loc for loc in item.get("locations") or [] if isinstance(loc, dict)]
    address = next((loc.get("addresses") or [{}] for loc in locations), [{}])[0] or {}
    record: dict[str, Any] = {
        "id": item.get("id"),
        "name": item.get("name"),
        "acronym": item.get("alternate_name"),
        "notes": item.get("description"),
        "country": extra.get("country") or address.get("country"),
        "city": extra.get("city") or address.get("city"),
        "kind": extra.get("kind", "other"),
        "services": [s.get("name") for s in services if isinstance(s, dict) and s.get("name")],
        "target_groups": extra.get("target_groups", []),
        "languages": extra.get("languages", []),
        "sources": extra.get("source"),
        "contact": {
            key: value
            for key, value in {
                "email": item.get("email"),
                "website": item.get("website"),
                "phone": "; ".join(p["number"] for p in phones
                                   if isinstance(p, dict) and p.get("type") != "fax"
                                   and isinstance(p.get("number"), str)),
                "fax": "; ".join(p["number"] for p in phones
                                 if isinstance(p, dict) and p.get("type") == "fax"
                                 and isinstance(p.get("number"), str)),
                "address": address.get("address_1"),
            }.items()
            if value
        },
    }
    if not isinstance(record["id"], str):
        raise ImportFileError("every HSDS organization needs a text id")
    return record
