"""Sign-in and sign-out pages, shared by the hub and the node.

:func:`login_blueprint` builds ``/login`` and ``/logout`` for one pair of account tables;
:func:`current_user` and :func:`login_required` guard the app's other pages. The Flask session
cookie carries the session token (and Flask-WTF's CSRF token), nothing about the person: who
is signed in, and until when, is decided by the server-side session table.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import LazyString, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ponte.accounts import (
    DEFAULT_SESSION_POLICY,
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    LockedOut,
    LoginRefused,
    SessionMixin,
    SessionPolicy,
    UserMixin,
    authenticate,
    end_session,
    resolve_session,
    start_session,
)

TOKEN_KEY = "account_session"  # the Flask session's only account entry
EXTENSION_KEY = "ponte.accounts"
# Per-request memo in the WSGI environ (``g`` lives as long as the app context, which tests
# and scripts may keep open across requests).
USER_KEY = "ponte.account_user"
ENDED_KEY = "ponte.account_session_ended"
FORM_EXPIRED = _l("This form had expired. Please try again.")
SIGN_IN = _l("Sign in")  # the sign-in page's default title
P = ParamSpec("P")


@dataclass(frozen=True)
class AccountSite:
    """What the views, guards and templates of one app need to know about its accounts."""

    db: SQLAlchemy
    user_model: type[UserMixin]
    session_model: type[SessionMixin]
    title: str | LazyString  # lazy: shown in each page's language
    login_endpoint: str
    logout_endpoint: str
    landing_endpoint: str
    on_sign_in: Callable[[UserMixin], None] | None = None  # e.g. the hub's audit log


def _strip(value: str | None) -> str | None:
    return value.strip() if value else value


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-mail"), validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)], filters=[_strip]
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    code = StringField(_l("One-time code"), validators=[Optional(), Length(max=10)])


def login_blueprint(
    db: SQLAlchemy,
    user_model: type[UserMixin],
    session_model: type[SessionMixin],
    *,
    landing_endpoint: str,
    title: str | LazyString = SIGN_IN,
    name: str = "account",
    on_sign_in: Callable[[UserMixin], None] | None = None,
) -> Blueprint:
    """``/login`` and ``/logout`` for these account tables; after sign-in people land on
    ``landing_endpoint`` (or the local page they were sent from). ``on_sign_in(user)`` runs
    in the transaction that starts the session (it may add rows; it must not commit)."""
    blueprint = Blueprint(name, __name__, template_folder="templates")

    def install(state: BlueprintSetupState) -> None:
        full_name = f"{state.name_prefix}.{state.name}".lstrip(".")
        site = AccountSite(
            db=db,
            user_model=user_model,
            session_model=session_model,
            title=title,
            login_endpoint=f"{full_name}.login",
            logout_endpoint=f"{full_name}.logout",
            landing_endpoint=landing_endpoint,
            on_sign_in=on_sign_in,
        )
        _install(state.app, site)

    blueprint.record_once(install)
    blueprint.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    blueprint.add_url_rule("/logout", "logout", logout, methods=["POST"])
    blueprint.register_error_handler(CSRFError, form_expired)
    return blueprint


def _install(app: Flask, site: AccountSite) -> None:
    app.extensions[EXTENSION_KEY] = site
    app.context_processor(_template_context)


def _site() -> AccountSite:
    return current_app.extensions[EXTENSION_KEY]


def _template_context() -> dict[str, Any]:
    if not has_request_context():
        return {}
    site = _site()
    return {
        "current_user": current_user,
        "login_url": url_for(site.login_endpoint),
        "logout_url": url_for(site.logout_endpoint),
    }


# --- views -------------------------------------------------------------------------------------


def login() -> ResponseReturnValue:
    site = _site()
    target = safe_next_path(request.args.get("next"))
    if request.method == "GET" and current_user() is not None:
        return redirect(target or url_for(site.landing_endpoint))
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, notice=_notice())
    try:
        user = authenticate(
            site.db.session, site.user_model, form.email.data, form.password.data, form.code.data
        )
    except LoginRefused as refusal:
        return _login_page(form, error=refusal_text(refusal))
    _sign_in(site, user)
    return redirect(target or url_for(site.landing_endpoint))


def logout() -> ResponseReturnValue:
    site = _site()
    token = session.get(TOKEN_KEY)
    if isinstance(token, str):
        end_session(site.db.session, site.session_model, token)
    session.clear()
    return redirect(url_for(site.login_endpoint, signed_out=1))


def form_expired(error: CSRFError) -> ResponseReturnValue:
    """A form without a valid CSRF token: say so in words and offer the form again."""
    if request.endpoint == _site().login_endpoint:
        return _login_page(LoginForm(), error=FORM_EXPIRED, status=400)
    page = render_template("accounts/form_expired.html", title=_("Form expired"))
    return _no_store(page, 400)


def _login_page(
    form: LoginForm, *, error: str | None = None, notice: str | None = None, status: int = 200
) -> Response:
    site = _site()
    page = render_template(
        "accounts/login.html",
        form=form,
        title=site.title,
        error=error,
        notice=notice,
        action=url_for(site.login_endpoint, next=safe_next_path(request.args.get("next"))),
    )
    return _no_store(page, status)


def refusal_text(refusal: LoginRefused) -> str:
    """Why sign-in failed, in the page's language (the refusal itself is in English)."""
    if isinstance(refusal, LockedOut):
        return ngettext(
            "Too many attempts; try again in %(num)d minute.",
            "Too many attempts; try again in %(num)d minutes.",
            refusal.minutes,
        )
    return _(refusal.message)


def _notice() -> str | None:
    if request.args.get("signed_out"):
        return _("You have signed out.")
    if request.args.get("expired"):
        return _("Your session has ended. Please sign in again.")
    return None


def _sign_in(site: AccountSite, user: UserMixin) -> None:
    previous = session.get(TOKEN_KEY)
    if isinstance(previous, str):  # signing in again, perhaps as someone else
        end_session(site.db.session, site.session_model, previous)
    if site.on_sign_in is not None:
        site.on_sign_in(user)  # committed with the new session, just below
    token = start_session(site.db.session, site.session_model, user, policy=session_policy())
    session.clear()  # nothing from before sign-in carries over
    session[TOKEN_KEY] = token
    request.environ.pop(USER_KEY, None)


# --- guards ------------------------------------------------------------------------------------


def current_user() -> UserMixin | None:
    """The person signed in on this request, or None (looked up once per request)."""
    if USER_KEY not in request.environ:
        request.environ[USER_KEY] = _user_from_cookie()
    return request.environ[USER_KEY]


def _user_from_cookie() -> UserMixin | None:
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str):
        return None
    site = _site()
    user = resolve_session(
        site.db.session, site.session_model, site.user_model, token, policy=session_policy()
    )
    if user is None:
        session.pop(TOKEN_KEY, None)
        request.environ[ENDED_KEY] = True
    return user


def login_required(
    roles: Iterable[str] | None = None,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, Response]]:
    """Only signed-in people (with one of ``roles``, if given) see the page; others are sent
    to sign in and brought back, or told that the page is not for their role (403)."""
    allowed = frozenset(roles) if roles is not None else None

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, Response]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> Response:
            user = current_user()
            if user is None:
                return _redirect_to_login()
            if allowed is not None and user.role not in allowed:
                page = render_template("accounts/forbidden.html", title=_("Not available"))
                return _no_store(page, 403)
            return _no_store(view(*args, **kwargs))

        return guarded

    return decorate


def _redirect_to_login() -> Response:
    here = request.script_root + request.full_path.rstrip("?")
    expired = 1 if request.environ.get(ENDED_KEY) else None
    return redirect(url_for(_site().login_endpoint, next=here, expired=expired))


def _no_store(value: ResponseReturnValue, status: int | None = None) -> Response:
    """Pages about accounts are private: browsers and proxies must not keep a copy."""
    response = make_response(value)
    if status is not None:
        response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_next_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site; None for anything that could leave it
    (``//evil.example``, ``https://...``, ``/\\evil.example``, control characters)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def session_policy() -> SessionPolicy:
    """Session lifetimes from the app's config (``PONTE_SESSION_LIFETIME``,
    ``PONTE_SESSION_IDLE_TIMEOUT``), defaulting to 12 hours and 30 minutes."""
    config = current_app.config
    default = DEFAULT_SESSION_POLICY
    return SessionPolicy(
        lifetime=_duration(config.get("PONTE_SESSION_LIFETIME", default.lifetime)),
        idle_timeout=_duration(config.get("PONTE_SESSION_IDLE_TIMEOUT", default.idle_timeout)),
    )


def _duration(value: dt.timedelta | float) -> dt.timedelta:
    """A config duration: a timedelta, or seconds (as an environment or file would give)."""
    return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=float(value))
