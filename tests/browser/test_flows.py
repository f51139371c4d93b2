"""Ponte in a real browser: the directory, a referral from node A to node B and back, the
secretariat's publishing desk and the node's reader, keyboard use, the language switcher, and
every page in each of the five languages: translated, and through axe-core.

Each flow runs against the real hub and nodes of the ``site`` fixture and saves a screenshot
of every step under test-artifacts/screenshots/<test>/; the crawl of every page, only of a few
key pages, one in each language (<page>-<language>.png).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Locator, Page

from directory.models import derived_id
from directory.places import LANGUAGES
from ponte.demo import DEMO_MEMBERS, publish_demo_items, send_demo_referral
from ponte.i18n import LANGUAGE_COOKIE, TRANSLATIONS_DIR
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
    page.wait_for_url("**#main", timeout=5000)  # the fragment lands a moment after the key
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


# --- f. every page in every language, through axe-core ----------------------------------------

# Each language as a browser asks for it (Accept-Language), English first: the English pass
# leaves each page's <h1> for the other languages' to be compared with.
LOCALES = {"en": "en-GB", "fr": "fr-FR", "it": "it-IT", "es": "es-ES", "de": "de-DE"}
assert tuple(LOCALES) == LANGUAGES
ENGLISH = "en"


@dataclass(frozen=True)
class Visit:
    """A page of the crawl, and what it must be in every language."""

    url: str
    status: int = 200  # what it answers: 404 for the missing news item, 400 for a refused form
    # Its <h1> is data (an organisation's or a country's name, an item's title), the same words
    # in every language: see untranslated_heading.
    data_heading: bool = False
    screenshot: bool = False  # a key page: one screenshot in each language (artifacts stay small)
    name: str = ""  # for the screenshot and the report; made from the URL when not given


def page_name(site: Site, url: str) -> str:
    """A file name for a page's screenshot: the service, the path and the query."""
    parts = urlsplit(url)
    services = {urlsplit(service.url).port: service.data_dir.name for service in site.services}
    name = f"{services.get(parts.port, 'other')}-{parts.path}-{parts.query}"
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:80]


def hrefs(page: Page, selector: str) -> list[str]:
    links = page.locator(selector).evaluate_all("links => links.map(link => link.href)")
    return [urljoin(page.url, link) for link in links]


def hub_public_pages(page: Page, hub: str) -> list[Visit]:
    page.goto(hub + "directory/?q=shelter")
    organisation = hrefs(page, "ol.results h3 a")[0]
    page.goto(hub + "news")
    news_item = hrefs(page, "main a[href*='/news/']")[0]
    return [
        Visit(hub),
        Visit(hub + "directory/"),
        Visit(hub + "directory/?q=shelter", screenshot=True),
        Visit(hub + "directory/?q=shelter&country=RO"),
        Visit(hub + "directory/?q=nothing-matches-this-at-all"),
        Visit(organisation, data_heading=True),
        Visit(hub + "directory/countries/RO", data_heading=True),
        Visit(hub + "news"),
        Visit(news_item, data_heading=True, screenshot=True),
        Visit(hub + "news/not-an-item", status=404),
        Visit(hub + "feeds"),
        Visit(hub + "admin/login"),
    ]


def hub_secretariat_pages(page: Page, hub: str) -> list[Visit]:
    page.goto(hub + "admin/publishing/")
    item = hrefs(page, "table a[href*='/admin/publishing/']")[0]
    page.goto(item)
    revision = hrefs(page, "a[href*='/revisions/']")[0]
    page.goto(hub + "admin/nodes")
    node = hrefs(page, "table a[href*='/admin/nodes/']")[0]
    return [
        *map(Visit, [hub + "admin/", hub + "admin/invitations", hub + "admin/invitations/new"]),
        Visit(hub + "admin/invitations/new?q=Asociatia"),
        *map(Visit, [hub + "admin/nodes", node, node + "/revoke", hub + "admin/audit"]),
        Visit(hub + "admin/publishing/"),
        Visit(hub + "admin/publishing/?state=published"),
        Visit(hub + "admin/publishing/new"),
        Visit(hub + "admin/publishing/contributions"),
        Visit(item, data_heading=True),
        *map(Visit, [item + "/edit", item + "/retract", revision]),
    ]


def node_pages(page: Page, node: str, partner: str) -> list[Visit]:
    """A node admin's pages, the referral form and a case among them."""
    page.goto(node + "cases/")
    case = hrefs(page, "table a[href*='/cases/']")[0]
    page.goto(node + "news/")
    item = hrefs(page, "ul.news-list a")[0]
    return [
        *map(Visit, [node, node + "cases/", node + "cases/new"]),
        Visit(node + "cases/new?q=Mitternachtsmission"),
        Visit(node + f"cases/new?organisation={partner}", screenshot=True),
        Visit(case, screenshot=True),
        Visit(node + "news/"),
        Visit(item, data_heading=True, screenshot=True),
        *map(Visit, [node + "news/subscription", node + "news/contribute"]),
        *map(Visit, [node + "news/contributions", node + "news/problems", node + "partners/"]),
        *map(Visit, [node + "profile", node + "audit/", node + "audit/?verify=1"]),
    ]


def sent(button: Locator) -> int | None:
    """Press a form's button; the HTTP status of the page it leads to."""
    with button.page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    return response.status if response is not None else None


def submitted_forms(
    site: Site, visitor: Page, node_b: Page, secretariat: Page
) -> Iterator[tuple[Page, Visit, int | None]]:
    """Pages as forms leave them: refused, with the errors next to their fields, or done. The
    fields and buttons are found by their names, as their words are in the page's language."""
    visitor.goto(site.node_a.url + "login")
    visitor.locator("input[name=email]").fill("nobody@example.org")
    visitor.locator("input[name=password]").fill("not the password")
    status = sent(visitor.locator("form.account button[type=submit]"))
    yield visitor, Visit(visitor.url, name="node-a-sign-in-refused"), status
    partner = derived_id("org", *DEMO_MEMBERS[0])
    node_b.goto(site.node_b.url + f"cases/new?organisation={partner}")
    status = sent(node_b.locator("form.referral button[type=submit]"))
    refused = Visit(node_b.url, status=400, screenshot=True, name="node-b-referral-refused")
    yield node_b, refused, status
    secretariat.goto(site.hub.url + "admin/publishing/new")
    status = sent(secretariat.locator("main form button[value=save]"))
    yield secretariat, Visit(secretariat.url, status=400, name="hub-item-refused"), status
    secretariat.goto(site.hub.url + "admin/invitations/new?q=Asociatia")
    status = sent(secretariat.locator("main form button[aria-label*='Asociatia FREE']"))
    yield secretariat, Visit(secretariat.url, name="hub-invitation-issued"), status


def translations() -> dict[str, dict[str, str]]:
    """Each language's catalog: its translation of each English phrase (plurals left out)."""
    catalogs = {}
    for language in LANGUAGES:
        if language != ENGLISH:
            with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
                catalog = read_po(po)
            catalogs[language] = {m.id: m.string for m in catalog if isinstance(m.id, str)}
    return catalogs


def untranslated_heading(heading: str, english: str, translated: dict[str, str]) -> bool:
    """Whether a page's <h1> in another language is its English one, left untranslated.

    The rule: it must differ from the English page's <h1>, unless the crawl says that page's
    heading is data (Visit.data_heading: a name or a title, in whatever language its author
    wrote it; a country's name from CLDR, which Italian writes "Romania" too) or the catalog
    translates that very heading into the same words (German keeps "Feeds"). Comparing with the
    English page, not only looking the heading up in the catalog, also catches a heading never
    marked for translation, of which the catalog knows nothing. A heading of words around data
    ("Case DE-0001") must differ too: its words are translated."""
    return heading == english and translated.get(english) != english


LANGUAGE_AND_HEADING = """() => [
  document.documentElement.lang,
  [...document.querySelectorAll('main h1')].map(h1 => h1.innerText).join(' ').trim(),
]"""


# WCAG 1.4.10 (reflow): at 320 CSS pixels nothing but a table or a code block may need scrolling
# sideways. Longer words than English's (German compounds) are what a translation can break.
REFLOW_WIDTH = 320


def reflowed_width(page: Page) -> int:
    """How wide the page is laid out on a ``REFLOW_WIDTH`` screen: wider means sideways
    scrolling. The window is set back after."""
    viewport = page.viewport_size
    page.set_viewport_size({"width": REFLOW_WIDTH, "height": 640})
    width = page.evaluate("document.documentElement.scrollWidth")
    if viewport is not None:
        page.set_viewport_size(viewport)
    return width


@dataclass
class Crawl:
    """Checks each page of the crawl in one language after the other, English first, and keeps
    every failure, so that one run reports them all."""

    site: Site
    step: Steps
    catalogs: dict[str, dict[str, str]]
    english: dict[str, str] = field(default_factory=dict)  # each page's English <h1>
    checked: dict[str, list[str]] = field(default_factory=dict)  # each page's languages
    failures: list[str] = field(default_factory=list)

    def visit(self, page: Page, visits: list[Visit], language: str) -> None:
        for visit in visits:
            response = page.goto(visit.url)
            self.check(page, visit, language, response.status if response else None)

    def check(self, page: Page, visit: Visit, language: str, status: int | None) -> None:
        """The status (no 500 from a broken translation), the language, the heading, axe-core."""
        name = visit.name or page_name(self.site, visit.url)
        self.checked.setdefault(name, []).append(language)
        where = f"{page.url} in {language}"
        if status != visit.status:
            self.failures.append(f"{where}: HTTP {status}, not {visit.status}")
        lang, heading = page.evaluate(LANGUAGE_AND_HEADING)
        if lang != language:
            self.failures.append(f"{where}: <html lang={lang!r}>")
        self.check_heading(heading, visit, language, name, where)
        shot = visit.screenshot
        self.failures += self.step.check(page, f"{name}-{language}", screenshot=shot)
        if (width := reflowed_width(page)) > REFLOW_WIDTH:
            self.failures.append(f"{where}: {width}px wide on a {REFLOW_WIDTH}px screen")

    def check_heading(
        self, heading: str, visit: Visit, language: str, name: str, where: str
    ) -> None:
        if not heading:
            self.failures.append(f"{where}: no <h1>")
        elif language == ENGLISH:
            self.english[name] = heading
        elif not visit.data_heading and untranslated_heading(
            heading, self.english.get(name, ""), self.catalogs[language]
        ):
            self.failures.append(f"{where}: the <h1> {heading!r} is still in English")


def choose_language(page: Page, site: Site, language: str) -> None:
    """What the switcher does: its cookie, which hub and nodes share here (cookies do not tell
    the ports of 127.0.0.1 apart). It outweighs the browser's Accept-Language (English)."""
    cookie = {"name": LANGUAGE_COOKIE, "value": language, "url": site.hub.url}
    page.context.add_cookies([cookie])


def signed_in_pages(site: Site, new_page) -> tuple[Page, Page]:
    """The secretariat, and node B's admin once the demo referral and items have reached B."""
    send_demo_referral(site.node_a, site.node_b)  # once: a case on each node
    publish_demo_items(site.hub)  # once: a public item and a members-only newsletter
    secretariat, node_b = new_page(), new_page()
    sign_in(secretariat, site.hub.url + "admin/login", site.secretariat)
    sign_in(node_b, site.node_b.url + "login", site.admin_b)
    node_b.goto(site.node_b.url + "cases/")
    reload_until(node_b, node_b.locator("table a[href*='/cases/']"), "the demo referral")
    node_b.goto(site.node_b.url + "news/")
    reload_until(node_b, node_b.locator("ul.news-list a"), "the demo items")
    return secretariat, node_b


def test_every_page_in_every_language_is_translated_and_has_no_serious_accessibility_violation(
    site: Site, new_page, step
):
    """Every page, in each of the five languages: no error from a translation, <html lang>
    right, the <h1> translated, and axe-core finds nothing serious or critical. The visitor's
    language comes from the browser (a context per language, its Accept-Language), the signed-in
    people's from the switcher's cookie, changed in place: they sign in once."""
    secretariat, node_b = signed_in_pages(site, new_page)
    visitor = new_page(LOCALES[ENGLISH])
    partner = derived_id("org", *DEMO_MEMBERS[0])
    pages = [  # the visitor's pages first: they are checked in a new context per language
        hub_public_pages(visitor, site.hub.url),
        [Visit(site.node_a.url), Visit(site.node_a.url + "login")],
        hub_secretariat_pages(secretariat, site.hub.url),
        node_pages(node_b, site.node_b.url, partner),
    ]
    crawl = Crawl(site, step, translations())
    step.numbered = False  # a key page's screenshots side by side: <page>-<language>.png
    for language, locale in LOCALES.items():
        visitor = visitor if language == ENGLISH else new_page(locale)
        for signed_in in (secretariat, node_b):
            choose_language(signed_in, site, language)
        for page, visits in zip((visitor, visitor, secretariat, node_b), pages, strict=True):
            crawl.visit(page, visits, language)
        for page, visit, status in submitted_forms(site, visitor, node_b, secretariat):
            crawl.check(page, visit, language, status)
    assert not crawl.failures, "\n".join(crawl.failures)
    assert len(crawl.checked) >= 50  # pages and forms, each checked in every language
    assert all(languages == list(LANGUAGES) for languages in crawl.checked.values())


def test_the_language_switcher_changes_the_page_and_keeps_the_place(site: Site, new_page, step):
    """Clicking the switcher, as a person does: the page comes back at the same address in the
    chosen language, on the hub and on a node."""
    page = new_page()
    search = site.hub.url + "directory/?q=shelter"
    page.goto(search)
    english = page.get_by_role("heading", level=1).inner_text()
    switcher = page.locator("nav.languages")
    assert switcher.locator("[aria-current=true]").get_attribute("lang") == ENGLISH
    go(switcher.get_by_role("link", name="Français"))
    step(page, "hub-directory-switched-to-french")
    assert page.url == search
    assert page.evaluate("document.documentElement.lang") == "fr"
    assert page.get_by_role("heading", level=1).inner_text() not in ("", english)
    assert switcher.locator("[aria-current=true]").get_attribute("lang") == "fr"

    page.goto(site.node_a.url + "login")  # in French: the cookie is the host's, all ports'
    assert page.evaluate("document.documentElement.lang") == "fr"
    french = page.get_by_role("heading", level=1).inner_text()
    go(page.locator("nav.languages").get_by_role("link", name="Deutsch"))
    step(page, "node-login-switched-to-german")
    assert page.url == site.node_a.url + "login"
    assert page.evaluate("document.documentElement.lang") == "de"
    assert page.get_by_role("heading", level=1).inner_text() not in ("", french, english)


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
