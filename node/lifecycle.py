"""The referral lifecycle: which status may follow which, and which side may move it.

    draft → sent → delivered → accepted | declined
                               accepted → in_progress → completed
    withdrawn (by the referring side) and expired from any open state

``delivered`` and ``expired`` are local facts (a receipt, a relay notice); the other changes
travel to the partner as ``referral_update`` envelopes.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_pgettext

OPEN = frozenset({"draft", "sent", "delivered", "accepted", "in_progress"})
CLOSED = frozenset({"declined", "completed", "withdrawn", "expired"})
STATUSES = OPEN | CLOSED

# status → the statuses it may come from. The partner's answer may overtake the receipt
# (out-of-order arrival), so accepting or declining is also allowed from "sent".
FROM: dict[str, frozenset[str]] = {
    "sent": frozenset({"draft"}),
    "delivered": frozenset({"sent"}),
    "accepted": frozenset({"sent", "delivered"}),
    "declined": frozenset({"sent", "delivered"}),
    "in_progress": frozenset({"accepted"}),
    "completed": frozenset({"in_progress"}),
    "withdrawn": OPEN,
    "expired": OPEN,
}

# Which side of the referral may make each change travel over the wire.
MOVED_BY: dict[str, str] = {
    "accepted": "recipient",
    "declined": "recipient",
    "in_progress": "recipient",
    "completed": "recipient",
    "withdrawn": "sender",
}

# What a page calls each status, in its reader's language (lower case: they sit in sentences
# such as "Marked accepted"). The statuses themselves travel untranslated. The context keeps
# them apart from the same words said of an item, a key or an invitation (another gender).
LABELS = {
    # Translators: a referral's status, lower case in a sentence ("Marked %(status)s").
    "draft": lazy_pgettext("referral status", "draft"),
    "sent": lazy_pgettext("referral status", "sent"),
    "delivered": lazy_pgettext("referral status", "delivered"),
    "accepted": lazy_pgettext("referral status", "accepted"),
    "declined": lazy_pgettext("referral status", "declined"),
    "in_progress": lazy_pgettext("referral status", "in progress"),
    "completed": lazy_pgettext("referral status", "completed"),
    "withdrawn": lazy_pgettext("referral status", "withdrawn"),
    "expired": lazy_pgettext("referral status", "expired"),
}


class TransitionRefused(Exception):
    """A status change that the lifecycle does not allow; the message says why."""


def check_transition(current: str, new: str, role: str | None = None) -> None:
    """Raise :class:`TransitionRefused` unless ``current → new`` is allowed (for ``role``:
    the side making the change, or None for a local fact). The message is in the page's
    language on a page, in English in the sync worker (no page, so no reader's language)."""
    if new not in FROM:
        raise TransitionRefused(
            _("'%(status)s' is not a status a referral can move to.", status=new)
        )
    if role is not None and MOVED_BY.get(new) not in (role, None):
        raise TransitionRefused(_only_side_may(MOVED_BY[new], LABELS[new]))
    if current not in FROM[new]:
        raise TransitionRefused(
            _(
                "A referral that is %(current)s cannot become %(new)s.",
                current=LABELS.get(current, current),
                new=LABELS[new],
            )
        )


def _only_side_may(side: str, status: object) -> str:
    # Two whole sentences: "referring"/"receiving" may need agreeing in other languages.
    if side == "sender":
        return _("Only the referring organisation can mark a referral %(status)s.", status=status)
    return _("Only the receiving organisation can mark a referral %(status)s.", status=status)
