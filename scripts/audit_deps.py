"""Reads pip-audit's JSON report; falls back to PyPI's project pages where it could not look.

Usage: audit_deps.py REPORT PIP_AUDIT_EXIT_STATUS (see scripts/audit-deps).
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import urllib.error
import urllib.request
from typing import Any

PYPI = "https://pypi.org/pypi/{name}/json"


def main(report_path: str, status: int) -> int:
    dependencies = read_report(report_path)
    if dependencies is None:
        print(f"pip-audit failed (exit {status}) before it could report")
        return 1
    dependencies = [d for d in dependencies if d["name"] != "ponte"]  # this project itself
    vulnerable = {d["name"]: [v["id"] for v in d["vulns"]] for d in dependencies if d.get("vulns")}
    unchecked = [d for d in dependencies if "skip_reason" in d]
    checked = len(dependencies) - len(unchecked)
    not_audited = []
    for dependency in unchecked:
        # pip-audit names a skipped dependency without its version: ask the venv.
        version = dependency.get("version") or installed_version(dependency["name"])
        found = latest_release_advisories(dependency["name"], version)
        if found is None:
            not_audited.append(f"{dependency['name']} {version}")
            continue
        checked += 1
        if found:
            vulnerable[dependency["name"]] = found
    for name, ids in sorted(vulnerable.items()):
        print(f"VULNERABLE {name}: {', '.join(ids)}")
    print(
        f"dependencies: {len(dependencies)}; checked: {checked}; known vulnerabilities: "
        f"{len(vulnerable)}; not audited (no advisory data reachable for that release): "
        f"{', '.join(not_audited) or 'none'}"
    )
    return 1 if vulnerable else 0


def installed_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def read_report(path: str) -> list[dict[str, Any]] | None:
    try:
        with open(path, encoding="utf-8") as file:
            return list(json.load(file)["dependencies"])
    except (OSError, ValueError, KeyError):
        return None


def latest_release_advisories(name: str, version: str) -> list[str] | None:
    """The advisories PyPI lists for ``name`` when ``version`` is its latest release (the
    only release its project page describes); None when that cannot be known."""
    try:
        with urllib.request.urlopen(PYPI.format(name=name), timeout=20) as answer:
            project = json.load(answer)
    except (urllib.error.URLError, TimeoutError, ValueError):
        return None
    if project.get("info", {}).get("version") != version:
        return None
    return [advisory["id"] for advisory in project.get("vulnerabilities") or []]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
