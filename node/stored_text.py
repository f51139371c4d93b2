"""Messages the node keeps in its database (why an item failed verification, why a file is
unavailable, why a case was withdrawn) are stored in English: the sync worker writes them
outside any page, and the logs and the command line show them as they are. A page shows them
in its reader's language: each is a marked msgid with named fields (``%(error)s``), and
:func:`translated` recognises the stored English again and translates it with its fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from flask_babel import gettext

FIELD = re.compile(r"%\((\w+)\)s")


def english(msgid: str, **values: object) -> str:
    """The text to store: the msgid with its fields filled in, untranslated."""
    return msgid % values if values else msgid


def translated(text: str, msgids: Iterable[str]) -> str:
    """``text`` in the page's language if it is one of ``msgids`` filled in; else as stored
    (a message from an older version, or words a partner wrote)."""
    for msgid in msgids:
        match = _pattern(msgid).fullmatch(text)
        if match:
            return gettext(msgid, **match.groupdict())
    return text


@lru_cache(maxsize=64)
def _pattern(msgid: str) -> re.Pattern[str]:
    parts = FIELD.split(msgid)  # literal, field name, literal, field name, ..., literal
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*?)"
        for index, part in enumerate(parts)
    )
    return re.compile(regex, re.S)
