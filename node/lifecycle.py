"""The referral lifecycle: which status may follow which, and which side may move it.

    draft → sent → delivered → accepted | declined
                               accepted → in_progress → completed
    withdrawn (by the referring side) and expired from any open state

``delivered`` and ``expired`` are local facts (a receipt, a relay notice); the other changes
travel to the partner as ``referral_update`` envelopes.
"""

from __future__ import annotations

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

LABELS = {
    "draft": "draft",
    "sent": "sent",
    "delivered": "delivered",
    "accepted": "accepted",
    "declined": "declined",
    "in_progress": "in progress",
    "completed": "completed",
    "withdrawn": "withdrawn",
    "expired": "expired",
}


class TransitionRefused(Exception):
    """A status change that the lifecycle does not allow; the message says why."""


def check_transition(current: str, new: str, role: str | None = None) -> None:
    """Raise :class:`TransitionRefused` unless ``current → new`` is allowed (for ``role``:
    the side making the change, or None for a local fact)."""
    if new not in FROM:
        raise TransitionRefused(f"'{new}' is not a status a referral can move to.")
    if role is not None and MOVED_BY.get(new) not in (role, None):
        side = "referring" if MOVED_BY[new] == "sender" else "receiving"
        raise TransitionRefused(f"Only the {side} organisation can mark a referral {LABELS[new]}.")
    if current not in FROM[new]:
        raise TransitionRefused(
            f"A referral that is {LABELS.get(current, current)} cannot become {LABELS[new]}."
        )
