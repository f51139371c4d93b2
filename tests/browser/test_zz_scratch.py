import json
from collections import defaultdict
from tests.browser import test_flows as f
from tests.browser.conftest import Axe


class AllAxe(Axe):
    def violations(self, page):
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.source)
        r = page.evaluate("() => axe.run(document)")
        return r["violations"]


def test_scratch(site, new_page, axe):
    allaxe = AllAxe(axe.source)
    f.send_demo_referral(site.node_a, site.node_b)
    f.publish_demo_items(site.hub)
    visitor, secretariat, node_b = new_page(), new_page(), new_page()
    f.sign_in(secretariat, site.hub.url + "admin/login", site.secretariat)
    f.sign_in(node_b, site.node_b.url + "login", site.admin_b)
    node_b.goto(site.node_b.url + "cases/")
    f.reload_until(node_b, node_b.locator("table a[href*='/cases/']"), "x")
    node_b.goto(site.node_b.url + "news/")
    f.reload_until(node_b, node_b.locator("ul.news-list a"), "x")
    partner = f.derived_id("org", *f.DEMO_MEMBERS[0])
    visits = [
        (visitor, f.hub_public_pages(visitor, site.hub.url)),
        (visitor, [site.node_a.url, site.node_a.url + "login"]),
        (secretariat, f.hub_secretariat_pages(secretariat, site.hub.url)),
        (node_b, f.node_pages(node_b, site.node_b.url, partner)),
    ]
    found = defaultdict(list)

    def note(page):
        for v in allaxe.violations(page):
            found[(v["id"], v["impact"], v["help"], ",".join(v["tags"]))].append(
                (
                    page.url.split("/", 3)[-1],
                    [" ".join(map(str, n["target"])) for n in v["nodes"][:4]],
                )
            )

    for page, urls in visits:
        for url in urls:
            page.goto(url)
            note(page)
    for page, _ in f.submitted_forms(site, visitor, node_b, secretariat):
        note(page)
    for key, where in found.items():
        print("\n==", key)
        for w in where[:8]:
            print("   ", w)
