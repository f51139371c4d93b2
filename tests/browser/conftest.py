"""A real hub and two real enrolled nodes (started as ``ponte`` processes with ponte/demo.py's
functions), Debian's Chromium driven by Playwright, and axe-core evaluated in every page.

Screenshots go to ``test-artifacts/screenshots/<test>/<nn-step>.png``, the services' output to
``test-artifacts/logs/``, and the pages axe-core checked, each with the languages it was checked
in, to ``test-artifacts/axe-checked-pages.json``. The browser tests are skipped only when
Chromium is missing on a developer's machine; in CI (``CI=true``) a missing Chromium fails them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from ponte.demo import (
    DEMO_MEMBERS,
    READY_TIMEOUT,
    Service,
    _stop,
    demo_services,
    enrol_member,
    ponte_command,
    run_step,
    wait_ready,
)
from tests.conftest import free_port
from tests.test_production import database_env

BROWSER_TESTS = Path(__file__).resolve().parent
ROOT = BROWSER_TESTS.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# What Debian's Chromium needs to run headless in a container without reaching out anywhere.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SCRIPT = BROWSER_TESTS / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
PASSWORD = "browser tests password"
SYNC_INTERVAL = "0.5"  # seconds between the running nodes' sync passes
WAIT_TIMEOUT = 30.0


# --- the services -------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    email: str
    password: str = PASSWORD
    totp_secret: str | None = None

    def code(self) -> str:
        return pyotp.TOTP(self.totp_secret).now() if self.totp_secret else ""


@dataclass(frozen=True)
class Site:
    """The running hub and nodes, and who can sign in to them."""

    hub: Service
    node_a: Service
    node_b: Service
    secretariat: Account  # on the hub, with TOTP
    caseworker_a: Account  # a caseworker on node A
    admin_b: Account  # a node admin on node B (the profile page is theirs)

    @property
    def services(self) -> tuple[Service, Service, Service]:
        return (self.hub, self.node_a, self.node_b)

    @property
    def organisation_b(self) -> str:
        return DEMO_MEMBERS[1][1]


def _start(service: Service, logs: Path, stack: ExitStack) -> Service:
    """Serve ``service`` on a port chosen just now (one chosen earlier may meanwhile have become
    the local end of an outgoing connection), its output in ``logs``."""
    service = replace(service, port=free_port())
    log = stack.enter_context((logs / f"{service.data_dir.name}.log").open("wb"))
    process = subprocess.Popen(
        service.command(), env={**os.environ, **service.env}, stdout=log, stderr=log
    )
    stack.callback(_stop, [process])
    wait_ready(service, process, time.monotonic() + READY_TIMEOUT)
    return service


def _add_account(service: Service, email: str, role: str | None = None) -> Account:
    """A real account made with the command line: ``hub create-admin`` (with TOTP) or
    ``node add-user``."""
    if service.group == "hub":
        command = ponte_command("hub", "create-admin", "--totp")
    else:
        command = ponte_command("node", "add-user", "--role", role or "caseworker")
    command += ["--data-dir", str(service.data_dir), "--email", email]
    output = run_step(command, {**service.env, "PONTE_PASSWORD": PASSWORD}, f"adding {email}")
    secret = re.search(r"type the secret: (\w+)", output)
    return Account(email, totp_secret=secret.group(1) if secret else None)


def _configured(request: pytest.FixtureRequest, service: Service) -> Service:
    """Nodes sync every half second; on the suite's PostgreSQL run, each service (and each
    command run on its data dir) has a PostgreSQL database of its own."""
    env = {**service.env, "PONTE_NODE_SYNC_INTERVAL": SYNC_INTERVAL}
    env |= database_env(request, "browser_" + service.data_dir.name.replace("-", "_"))
    return replace(service, env=env)


@pytest.fixture(scope="session")
def site(request, tmp_path_factory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("browser-site")
    logs = ARTIFACTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    hub, node_a, node_b = (_configured(request, s) for s in demo_services(base, 0))
    with ExitStack() as stack:  # stops the nodes first, the hub last
        run_step(ponte_command("hub", "seed", "--data-dir", str(hub.data_dir)), hub.env, "seed")
        hub = _start(hub, logs, stack)
        for node in (node_a, node_b):
            enrol_member(hub, node)  # `ponte hub invite` and `ponte node init`, for real
        accounts = (
            _add_account(hub, "secretariat@example.org"),
            _add_account(node_a, "caseworker@node-a.example.org"),
            _add_account(node_b, "admin@node-b.example.org", "admin"),
        )
        node_a, node_b = _start(node_a, logs, stack), _start(node_b, logs, stack)
        yield Site(hub, node_a, node_b, *accounts)


# --- the browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        # launch() gives every run a fresh, temporary user-data dir of its own.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Browser, axe_source: str) -> Iterator[Callable[..., Page]]:
    """Pages for separate people: each has its own context (its own cookies), as hub and
    nodes share the host 127.0.0.1 and cookies do not tell ports apart."""
    contexts: list[BrowserContext] = []

    def open_page(locale: str = "en-GB") -> Page:
        """A page in a context of its own, whose browser asks for ``locale``'s language."""
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
        context.set_default_timeout(10_000)
        # axe-core in every document from the start (as the browser's own script, which the
        # pages' CSP does not govern): sent to the browser once, not once for each page checked.
        context.add_init_script(axe_source)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


# --- axe-core ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core as package-lock.json pins it; installed here if missing (CI installs it)."""
    if not AXE_SCRIPT.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install axe-core into tests/browser/node_modules")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_TESTS, check=True)
    return AXE_SCRIPT.read_text(encoding="utf-8")


# One round trip to the browser for each page checked: axe-core's findings and the page's language.
AXE_RUN = """async options => window.axe === undefined ? null : {
  violations: (await window.axe.run(document, options)).violations,
  lang: document.documentElement.lang,
}"""


@dataclass
class Axe:
    source: str
    checked: dict[str, set[str]] = field(default_factory=dict)  # URL: the languages checked

    def violations(self, page: Page) -> list[dict[str, Any]]:
        """axe-core's serious and critical WCAG 2.1 A/AA violations on ``page`` as it is now.
        Evaluated, not added as a <script>: the pages' CSP allows no inline scripts."""
        options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
        result = page.evaluate(AXE_RUN, options)
        if result is None:  # a page opened without new_page's init script
            page.evaluate(self.source)
            result = page.evaluate(AXE_RUN, options)
        self.checked.setdefault(page.url.split("#")[0], set()).add(result["lang"])
        return [v for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]


def describe_violations(url: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{url}: {len(violations)} serious or critical axe-core violations"]
    for violation in violations:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"    {violation['helpUrl']}")
        for node in violation["nodes"][:10]:
            lines.append(f"    at {' '.join(map(str, node['target']))}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe(axe_source) -> Iterator[Axe]:
    checker = Axe(axe_source)
    yield checker
    ARTIFACTS.mkdir(exist_ok=True)
    checked = {url: sorted(languages) for url, languages in sorted(checker.checked.items())}
    listed = json.dumps(checked, indent=2, ensure_ascii=False)
    (ARTIFACTS / "axe-checked-pages.json").write_text(listed + "\n", encoding="utf-8")


@dataclass
class Steps:
    """Each step of a flow: a screenshot (unless told not to), then axe-core on the page as it
    is."""

    axe: Axe
    folder: Path
    count: int = 0
    numbered: bool = True  # the files named in the order of the steps, else by name alone

    def check(self, page: Page, name: str, *, screenshot: bool = True) -> list[str]:
        """Screenshot ``page`` and return what axe-core found serious or critical on it."""
        self.count += 1
        if screenshot:
            file = f"{self.count:02d}-{name}.png" if self.numbered else f"{name}.png"
            page.screenshot(path=self.folder / file, full_page=True)
        violations = self.axe.violations(page)
        return [describe_violations(page.url, violations)] if violations else []

    def __call__(self, page: Page, name: str) -> None:
        failures = self.check(page, name)
        assert not failures, failures[0]


@pytest.fixture
def step(request, axe) -> Steps:
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Steps(axe, folder)
