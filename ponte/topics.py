"""What the secretariat publishes about: the topics member NGOs asked for in the platform's
survey (phenomenon, policy, practice), and the kinds of item. Shared by hub and node.

The labels are lazy: each page shows them in its language. Feeds, JSON and the command line
resolve them outside a request or under ``force_locale("en")``, which gives the English.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import LazyString, lazy_pgettext
from flask_babel import lazy_gettext as _l

TOPIC_GROUPS: Mapping[LazyString, Mapping[str, LazyString]] = {
    _l("The phenomenon"): {
        "newest-developments": _l("Newest developments"),
        "victims-characteristics": _l("Victims' characteristics"),
        "sectors-and-forms": _l("Sectors and forms of exploitation"),
        "flows-and-routes": _l("Flows and routes"),
    },
    _l("Policy"): {
        "programmes": _l("Programmes and funding"),
        "eu-legislation": _l("EU legislation"),
        "events": _l("Events"),
        "international-tools": _l("International tools"),
    },
    _l("Practice"): {
        "protection-and-assistance": _l("Protection and assistance"),
        "access-to-justice": _l("Access to justice"),
        "identification": _l("Identification"),
        "transnational-assistance": _l("Transnational assistance"),
    },
}
TOPICS: Mapping[str, LazyString] = {
    code: label for group in TOPIC_GROUPS.values() for code, label in group.items()
}
ITEM_KIND_LABELS: Mapping[str, LazyString] = {
    "newsletter": _l("Newsletter"),
    # One item (singular), not the News section of the navigation.
    "news": lazy_pgettext("item kind", "News"),
    "event": _l("Event"),
    "call_for_partners": _l("Call for partners"),
    "policy_update": _l("Policy update"),
    "resource": _l("Resource"),
}
