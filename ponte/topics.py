"""What the secretariat publishes about: the topics member NGOs asked for in the platform's
survey (phenomenon, policy, practice), and the kinds of item. Shared by hub and node."""

from __future__ import annotations

from collections.abc import Mapping

TOPIC_GROUPS: Mapping[str, Mapping[str, str]] = {
    "The phenomenon": {
        "newest-developments": "Newest developments",
        "victims-characteristics": "Victims' characteristics",
        "sectors-and-forms": "Sectors and forms of exploitation",
        "flows-and-routes": "Flows and routes",
    },
    "Policy": {
        "programmes": "Programmes and funding",
        "eu-legislation": "EU legislation",
        "events": "Events",
        "international-tools": "International tools",
    },
    "Practice": {
        "protection-and-assistance": "Protection and assistance",
        "access-to-justice": "Access to justice",
        "identification": "Identification",
        "transnational-assistance": "Transnational assistance",
    },
}
TOPICS: Mapping[str, str] = {
    code: label for group in TOPIC_GROUPS.values() for code, label in group.items()
}
ITEM_KIND_LABELS: Mapping[str, str] = {
    "newsletter": "Newsletter",
    "news": "News",
    "event": "Event",
    "call_for_partners": "Call for partners",
    "policy_update": "Policy update",
    "resource": "Resource",
}
