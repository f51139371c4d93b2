"""Marking a message for the translators without translating it where it is written.

The rules deep in the code (publishing, enrolment, sign-in, the directory's import) raise
messages that the JSON APIs, the command line and the logs keep in English, and that a page
shows in its own language. ``N_("…")`` returns the English text as it is; scripts/translations
extracts it (``N_`` is one of pybabel's default keywords), and the page translates it with
``gettext`` when it shows it.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message
