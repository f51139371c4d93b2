"""Ponte in a real browser: the directory, a referral from node A to node B and back, the
secretariat's publishing desk and the node's reader, keyboard use, and axe-core on every page.

Each flow runs against the real hub and nodes of the ``site`` fixture and saves a screenshot
of every step under test-artifacts/screenshots/<test>/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import Locator, Page

from directory.models import derived_id
from ponte.demo import DEMO_MEMBERS, publish_demo_items, send_demo_referral
from tests.browser.conftest import WAIT_TIMEOUT, Account, Site, Steps

pytestmark = pytest.mark.browser

# What a keyboard stops on in the forms tested (they have no radio groups, which are one stop).
TAB_STOPS = "a[href], button, select, textarea, input:not([type=hidden])"


# --- helpers ------------------------------------------------------------------------------


def sign_in(page: Page, login_url: str, account: Account) -> None:
    page.goto(login_url)
    page.get_by_label("E-mail").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    if account.totp_secret:
        page.get_by_label("One-time code").fill(account.code())
    submit(page, "Sign in")
    assert page.get_by_role("button", name="Sign out").count() == 1, page.url


def go(locator: Locator) -> None:
    """Click a link or a form's button and wait for the page it leads to."""
    with locator.page.expect_navigation():
        locator.click()


def submit(page: Page, button: str) -> None:
    go(page.get_by_role("button", name=button, exact=True))


def reload_until(page: Page, locator: Locator, what: str) -> None:
    """Reload ``page`` until ``locator`` shows: the running nodes sync every half second."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while locator.count() == 0:
        assert time.monotonic() < deadline, f"{what} did not show on {page.url}"
        time.sleep(0.5)
        page.reload()


def status_of(page: Page) -> str:
    return page.locator("dl.facts dt:text-is('Status') + dd").inner_text().strip()


# --- a. the directory ------------------------------------------------------------------------


def test_a_visitor_searches_the_directory_narrows_it_and_opens_an_organisation(
    site: Site, new_page, step
):
    page = new_page()
    page.goto(site.hub.url + "directory/")
    page.get_by_role("searchbox", name="Search").fill("trafficking")
    go(page.get_by_role("button", name="Search"))
    step(page, "search")
    found = page.get_by_role("heading", level=2, name="found")
    everywhere = int(found.inner_text().split()[0])

    facets = page.get_by_role("complementary", name="Narrow the results")
    go(facets.locator("h2:text-is('Country') + ul").get_by_role("link", name="Romania"))
    step(page, "country-facet")
    in_romania = int(found.inner_text().split()[0])
    assert 0 < in_romania < everywhere
    assert "country=RO" in page.url

    services = facets.locator("h2:text-is('Service') + ul a:not(:text('All'))")
    service = services.first.inner_text()
    go(services.first)
    step(page, "service-facet")
    assert facets.locator("li.active").filter(has_text=service).count() == 1
    assert 0 < int(found.inner_text().split()[0]) <= in_romania

    first = page.locator("ol.results h3 a").first
    name = first.inner_text()
    go(first)
    step(page, "organisation")
    assert page.get_by_role("heading", level=1).inner_text().startswith(name)
    go(page.locator("main p.meta").get_by_role("link", name="Romania"))
    step(page, "country-page")
    assert page.get_by_role("heading", level=1).inner_text() == "Romania"


# --- b and c. a referral from node A to node B, accepted -----------------------------------------


REFERRAL_FIELDS = {  # label: value, as a caseworker fills the form
    "Type of request": "Assisted voluntary return",
    "Urgency": "Urgent",
    "How the person came to you": "Referral from another NGO",
    "Initials": "L.B.",
    "Gender": "Female",
    "Age band": "25-34",
    "Under 18": "No",
    "Nationality": "RO",
    "Languages": "ro, de",
    "How consent was given": "Written",
    "When consent was given": "2026-11-20",
    "Risk level": "Low",
    "Date of the assessment": "2026-11-21",
}


def fill_referral(page: Page, case_code: str) -> None:
    form = page.locator("form.referral")
    contact = form.locator("fieldset", has=page.get_by_text("Your contact", exact=True))
    contact.get_by_label("Name").fill("Browser caseworker")
    for label, value in REFERRAL_FIELDS.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    form.get_by_label("Case code or initials — never the person's name").fill(case_code)
    form.get_by_label("The person gave informed consent").check()
    form.get_by_label("Share this referral with the receiving organisation").check()
    form.get_by_label("Risk assessment", exact=True).fill(
        "She wishes to go home and be met at the airport."
    )


def test_node_a_refers_a_case_to_node_b_which_accepts_it(site: Site, new_page, step):
    case_code = "DE-BROWSER-0001"
    sender = new_page()
    sign_in(sender, site.node_a.url + "login", site.caseworker_a)
    step(sender, "node-a-signed-in")
    go(sender.get_by_role("navigation", name="Main").get_by_role("link", name="Cases"))
    go(sender.get_by_role("link", name="Refer a case to a partner organisation"))
    sender.get_by_label("Organisation, city or service").fill("ADPARE")
    go(sender.get_by_role("button", name="Search"))
    step(sender, "node-a-partner-found")
    sender.get_by_label(site.organisation_b).check()
    go(sender.get_by_role("button", name="Continue with the ticked organisations"))
    step(sender, "node-a-referral-form")
    fill_referral(sender, case_code)
    step(sender, "node-a-referral-filled")
    go(sender.get_by_role("button", name="Send the referral"))
    step(sender, "node-a-referral-sent")
    assert sender.get_by_role("heading", level=1).inner_text() == f"Case {case_code}"

    recipient = new_page()
    sign_in(recipient, site.node_b.url + "login", site.admin_b)
    go(recipient.get_by_role("navigation", name="Main").get_by_role("link", name="Cases"))
    waiting = recipient.locator("section.waiting").get_by_role("link", name=case_code)
    reload_until(recipient, waiting, "the referral from node A")  # A's and B's syncs
    step(recipient, "node-b-referral-waiting")
    go(waiting)
    step(recipient, "node-b-referral-opened")
    assert recipient.get_by_text("Browser caseworker").count() == 1
    go(recipient.get_by_role("button", name="Accept the referral"))
    step(recipient, "node-b-accepted")
    assert status_of(recipient).lower() == "accepted"

    accepted = sender.locator("dl.facts dd strong", has_text="Accepted")
    reload_until(sender, accepted, "node B's acceptance")  # B's and A's syncs
    step(sender, "node-a-sees-accepted")
    assert status_of(sender).lower() == "accepted"


# --- d. the secretariat publishes; the node's reader verifies ------------------------------------


def test_the_secretariat_publishes_and_the_node_reader_shows_it_verified(
    site: Site, new_page, step
):
    title = "Browser test: members' newsletter on identification"
    desk = new_page()
    sign_in(desk, site.hub.url + "admin/login", site.secretariat)
    step(desk, "hub-signed-in")
    go(desk.get_by_role("navigation", name="Main").get_by_role("link", name="Publishing"))
    step(desk, "publishing-desk")
    hub_key = desk.locator("main p.meta code").first.inner_text()  # "signed with the hub key"
    go(desk.get_by_role("link", name="Write a new item"))
    desk.get_by_label("Kind").select_option(label="Newsletter")
    desk.get_by_label("Title").fill(title)
    desk.get_by_label("Text").fill("## Identification\n\nWhat members learnt this month.")
    desk.get_by_label("Identification").check()
    desk.get_by_label("Members only: sent encrypted to every member node").check()
    step(desk, "item-written")
    go(desk.get_by_role("button", name="Publish now"))
    step(desk, "item-published")
    facts = desk.locator("dl.facts")
    assert facts.locator("dt:text-is('State') + dd").inner_text().strip() == "published"

    reader = new_page()
    sign_in(reader, site.node_a.url + "login", site.caseworker_a)
    go(reader.get_by_role("navigation", name="Main").get_by_role("link", name="News"))
    listed = reader.get_by_role("link", name=title)
    reload_until(reader, listed, "the newsletter on node A")  # the hub's relay, A's sync
    step(reader, "node-news-list")
    go(listed)
    step(reader, "node-news-item")
    assert reader.get_by_role("heading", level=1).inner_text() == title
    verified = reader.get_by_role("region", name="Verified")
    assert f"Signed by the secretariat's hub key {hub_key}" in verified.inner_text()


# --- e. keyboard ---------------------------------------------------------------------------


FOCUS_RING = """element => {
  const style = getComputedStyle(element);
  return {outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
          shadow: style.boxShadow};
}"""
NAME = "element => element.id || element.getAttribute('name') || element.textContent.trim()"
IS_DATE = "() => ['date', 'datetime-local', 'time'].includes(document.activeElement.type)"
MAX_DATE_PARTS = 5  # day, month, year, hours, minutes


def focused(page: Page) -> tuple[str, dict[str, str]]:
    """The focused element's name and focus ring, as the keyboard left them."""
    return page.evaluate(
        f"() => [({NAME})(document.activeElement), ({FOCUS_RING})(document.activeElement)]"
    )


def has_ring(ring: dict[str, str]) -> bool:
    width = float(ring["outline"].split()[1].removesuffix("px"))
    return (not ring["outline"].startswith("none") and width >= 2) or ring["shadow"] != "none"


def assert_tab_order_and_focus(page: Page, controls: Locator, step: Steps, name: str) -> None:
    """Tab from the first of ``controls`` visits each of them in document order, and each
    shows a focus ring while the keyboard is on it that it does not show once Tab moved on."""
    names = controls.evaluate_all(f"elements => elements.map({NAME})")
    controls.first.focus()
    page.keyboard.press("Shift+Tab")  # and back: the keyboard, not a script, focuses the first
    page.keyboard.press("Tab")
    step(page, f"{name}-first-field-focused")
    for index, expected in enumerate(names):
        reached, ring = focused(page)
        assert reached == expected, f"Tab reached {reached!r} where {expected!r} was expected"
        next_stop(page, expected)
        left = controls.nth(index).evaluate(FOCUS_RING)
        assert has_ring(ring) and ring != left, f"no visible focus ring on {expected!r}"


def next_stop(page: Page, name: str) -> None:
    """Tab to the next control: Chromium stops on each part of a date or time field."""
    page.keyboard.press("Tab")
    for _ in range(MAX_DATE_PARTS):
        if focused(page)[0] != name or not page.evaluate(IS_DATE):
            return
        page.keyboard.press("Tab")


def assert_skip_link_works(page: Page, step: Steps, name: str) -> None:
    """On a page just opened, the first Tab shows the skip link; following it, the next Tab
    lands in the main content, past the menus."""
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to content"
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0  # on screen once focused
    assert has_ring(focused(page)[1])
    step(page, f"{name}-skip-link")
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.closest('main#main') !== null")


def test_the_keyboard_reaches_every_field_in_order_with_a_visible_focus(site: Site, new_page, step):
    hub = new_page()
    hub.goto(site.hub.url + "directory/")
    assert_skip_link_works(hub, step, "hub-directory")
    hub.goto(site.hub.url + "admin/login")  # the e-mail field has autofocus
    assert_tab_order_and_focus(
        hub, hub.locator("main form.account").locator(TAB_STOPS), step, "hub-login"
    )

    node = new_page()
    node.goto(site.node_a.url)
    assert_skip_link_works(node, step, "node-home")
    node.goto(site.node_a.url + "login")
    assert_tab_order_and_focus(
        node, node.locator("main form").locator(TAB_STOPS), step, "node-login"
    )

    sign_in(node, site.node_a.url + "login", site.caseworker_a)
    node.goto(site.node_a.url + "cases/new?q=ADPARE")
    go(node.get_by_role("link", name=f"Refer a case to {site.organisation_b} only"))
    assert_skip_link_works(node, step, "referral-form")
    referral = node.locator("main form.referral").locator(TAB_STOPS)
    assert_tab_order_and_focus(node, referral, step, "referral-form")


# --- f. axe-core on every page -----------------------------------------------------------------


def page_name(site: Site, url: str) -> str:
    """A file name for a page's screenshot: the service, the path and the query."""
    parts = urlsplit(url)
    services = {urlsplit(service.url).port: service.data_dir.name for service in site.services}
    name = f"{services.get(parts.port, 'other')}-{parts.path}-{parts.query}"
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:80]


def hrefs(page: Page, selector: str) -> list[str]:
    links = page.locator(selector).evaluate_all("links => links.map(link => link.href)")
    return [urljoin(page.url, link) for link in links]


def hub_public_pages(page: Page, hub: str) -> list[str]:
    page.goto(hub + "directory/?q=shelter")
    organisation = hrefs(page, "ol.results h3 a")[0]
    page.goto(hub + "news")
    news_item = hrefs(page, "main a[href*='/news/']")[0]
    return [
        hub,
        hub + "directory/",
        hub + "directory/?q=shelter",
        hub + "directory/?q=shelter&country=RO",
        hub + "directory/?q=nothing-matches-this-at-all",
        organisation,
        hub + "directory/countries/RO",
        hub + "news",
        news_item,
        hub + "news/not-an-item",
        hub + "feeds",
        hub + "admin/login",
    ]


def hub_secretariat_pages(page: Page, hub: str) -> list[str]:
    page.goto(hub + "admin/publishing/")
    item = hrefs(page, "table a[href*='/admin/publishing/']")[0]
    page.goto(item)
    revision = hrefs(page, "a[href*='/revisions/']")[0]
    page.goto(hub + "admin/nodes")
    node = hrefs(page, "table a[href*='/admin/nodes/']")[0]
    return [
        hub + "admin/",
        hub + "admin/invitations",
        hub + "admin/invitations/new",
        hub + "admin/invitations/new?q=Asociatia",
        hub + "admin/nodes",
        node,
        node + "/revoke",
        hub + "admin/audit",
        hub + "admin/publishing/",
        hub + "admin/publishing/?state=published",
        hub + "admin/publishing/new",
        hub + "admin/publishing/contributions",
        item,
        item + "/edit",
        item + "/retract",
        revision,
    ]


def node_pages(page: Page, node: str, partner: str) -> list[str]:
    page.goto(node + "cases/")
    case = hrefs(page, "table a[href*='/cases/']")[0]
    page.goto(node + "news/")
    item = hrefs(page, "ul.news-list a")[0]
    return [
        node,
        node + "cases/",
        node + "cases/new",
        node + "cases/new?q=Mitternachtsmission",
        node + f"cases/new?organisation={partner}",
        case,
        node + "news/",
        item,
        node + "news/subscription",
        node + "news/contribute",
        node + "news/contributions",
        node + "news/problems",
        node + "partners/",
        node + "profile",
    ]


def submitted_forms(
    site: Site, visitor: Page, node_b: Page, secretariat: Page
) -> Iterator[tuple[Page, str]]:
    """Pages as forms leave them: refused, with the errors next to their fields, or done."""
    visitor.goto(site.node_a.url + "login")
    visitor.get_by_label("E-mail").fill("nobody@example.org")
    visitor.get_by_label("Password").fill("not the password")
    submit(visitor, "Sign in")
    yield visitor, "node-a-sign-in-refused"
    partner = derived_id("org", *DEMO_MEMBERS[0])
    node_b.goto(site.node_b.url + f"cases/new?organisation={partner}")
    submit(node_b, "Send the referral")
    yield node_b, "node-b-referral-refused"
    secretariat.goto(site.hub.url + "admin/publishing/new")
    submit(secretariat, "Save draft")
    yield secretariat, "hub-item-refused"
    secretariat.goto(site.hub.url + "admin/invitations/new?q=Asociatia")
    submit(secretariat, "Invite Asociatia FREE")
    yield secretariat, "hub-invitation-issued"


def test_every_page_has_no_serious_or_critical_accessibility_violation(site: Site, new_page, step):
    send_demo_referral(site.node_a, site.node_b)  # once: a case on each node
    publish_demo_items(site.hub)  # once: a public item and a members-only newsletter
    visitor, secretariat, node_b = new_page(), new_page(), new_page()
    sign_in(secretariat, site.hub.url + "admin/login", site.secretariat)
    sign_in(node_b, site.node_b.url + "login", site.admin_b)
    node_b.goto(site.node_b.url + "cases/")
    reload_until(node_b, node_b.locator("table a[href*='/cases/']"), "the demo referral")
    node_b.goto(site.node_b.url + "news/")
    reload_until(node_b, node_b.locator("ul.news-list a"), "the demo items")
    partner = derived_id("org", *DEMO_MEMBERS[0])
    visits = [
        (visitor, hub_public_pages(visitor, site.hub.url)),
        (visitor, [site.node_a.url, site.node_a.url + "login"]),
        (secretariat, hub_secretariat_pages(secretariat, site.hub.url)),
        (node_b, node_pages(node_b, site.node_b.url, partner)),
    ]
    failures = []
    for page, urls in visits:
        for url in urls:
            page.goto(url)
            failures += step.check(page, page_name(site, url))
    for page, name in submitted_forms(site, visitor, node_b, secretariat):
        failures += step.check(page, name)
    assert not failures, "\n".join(failures)
    assert step.count >= 40  # every page above was checked


def test_the_axe_check_finds_a_missing_label_and_poor_contrast_under_a_strict_csp(new_page, axe):
    """The check above is not vacuous: axe-core runs, in a page whose CSP allows no inline
    script and no eval (as Ponte's pages will), and its serious findings come back."""
    page = new_page()
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Broken</title><meta '
        'http-equiv="Content-Security-Policy" content="script-src \'self\'"></head><body>'
        '<main><h1>Broken</h1><input type="text"><p style="color: #b8b8b8">Pale</p></main>'
        "<script>window.inlineRan = true</script>"
    )
    assert page.evaluate("window.inlineRan") is None  # the CSP holds
    found = {(violation["id"], violation["impact"]) for violation in axe.violations(page)}
    assert found == {("label", "critical"), ("color-contrast", "serious")}
