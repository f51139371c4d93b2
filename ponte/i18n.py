"""The five languages of the hub's and the node's pages (Flask-Babel).

Which language a page is in: the one the person chose with the language switcher (a cookie,
set by ``/language/<code>``), else the best match of the browser's ``Accept-Language``, else
English. One catalog (``ponte/translations``) serves the hub, the node and the shared pages,
so a phrase is translated once.

Templates get ``_``/``gettext``/``ngettext`` and ``{% trans %}`` from Flask-Babel, and from
here ``country_name`` (in the page's language), ``format_date``, ``format_datetime``,
``format_number``, ``current_language`` and ``language_links`` for the switcher.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from babel import Locale
from flask import Blueprint, Flask, Response, current_app, has_request_context, redirect, request
from flask import url_for as flask_url_for
from flask_babel import Babel, format_date, format_datetime, format_number, format_time, get_locale

from directory.places import LANGUAGES
from directory.places import country_name as country_name_in
from ponte.headers import cookie_secure
from ponte.login import safe_next_path

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "ponte_language"
COOKIE_MAX_AGE = 365 * 24 * 3600

# Each language's name in itself: a person who cannot read the page can still find theirs.
LANGUAGE_NAMES = {
    code: Locale.parse(code).get_display_name(code).capitalize() for code in LANGUAGES
}

blueprint = Blueprint("language", __name__, template_folder="templates")


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    Babel(app, locale_selector=select_language)
    app.register_blueprint(blueprint)
    app.after_request(_vary_by_language)
    app.jinja_env.globals.update(
        country_name=country_name,
        format_date=format_date,
        format_datetime=format_datetime,
        format_number=format_number,
        current_language=current_language,
        language_links=language_links,
    )


# English pages write dates and times as Europe does ("25 November 2026, 16:44").
FORMATS_OF = {"en": "en_GB"}


def select_language() -> str:
    """The chosen language, else the browser's best match, else English (as a locale)."""
    language = DEFAULT_LANGUAGE
    if has_request_context():
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        matched = request.accept_languages.best_match(LANGUAGES)
        language = chosen if chosen in LANGUAGES else matched or DEFAULT_LANGUAGE
    return FORMATS_OF.get(language, language)


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def country_name(code: str) -> str:
    """A country's name in the page's language (CLDR), the code where CLDR has none."""
    return country_name_in(code, current_language())


def folded(text: str) -> str:
    """Case and accents set aside, to sort or match names as a reader expects: "Égypte" with
    the E's, "asociatia" finds "Asociația", "weisser" finds "Weißer"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def countries_by_name(codes: Iterable[str]) -> list[str]:
    """Country codes in the order of their names in the page's language."""
    return sorted(codes, key=lambda code: folded(country_name(code)))


def localised_moment(moment: dt.datetime | None, *, with_time: bool = True) -> str:
    """A UTC date (and time) as the page's language writes it, e.g. "25 novembre 2026"."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # SQLite hands datetimes back without their zone: stored UTC
        moment = moment.replace(tzinfo=dt.UTC)
    day = format_date(moment, "long")
    return f"{day}, {format_time(moment, 'short')} UTC" if with_time else day


def language_links() -> list[dict[str, Any]]:
    """The switcher's links: each language, in its own name, back to this page."""
    here = request.full_path.rstrip("?") if has_request_context() else "/"
    active = current_language()
    return [
        {
            "code": code,
            "name": LANGUAGE_NAMES[code],
            "url": flask_url_for("language.choose", code=code, next=here),
            "active": code == active,
        }
        for code in LANGUAGES
    ]


def _vary_by_language(response: Response) -> Response:
    # A page's words depend on these two headers: no cache may serve one reader's language
    # to another.
    if response.mimetype == "text/html":
        response.vary.update(("Accept-Language", "Cookie"))
    return response


@blueprint.get("/language/<code>")
def choose(code: str) -> Response:
    """Remember the chosen language and go back to the page the person was on."""
    target = safe_next_path(request.args.get("next")) or "/"
    response = redirect(target, code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=cookie_secure(current_app),
        )
    return response
