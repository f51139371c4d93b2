"""The e-mail digest: people who opted in (``/news/subscription``) get one e-mail with the
items that arrived since their last one.

Public items go in full; of a members-only item only its title and a link (its text stays on
the node, behind sign-in). Every e-mail carries an unsubscribe link with a new random token,
kept here only as its SHA-256, and the RFC 8058 one-click headers.

An item is marked as sent to a person *before* the e-mail goes out, and unmarked if sending
fails (the next pass retries it): a crash in between can lose one digest, but nobody is ever
sent the same item twice. Settings (app config, else environment): SMTP_HOST, SMTP_PORT,
SMTP_USERNAME, SMTP_PASSWORD (never logged), SMTP_STARTTLS, SMTP_FROM, NODE_URL, and
PONTE_LANGUAGE: the language the e-mails are written in (they go out with no page, so no
reader's language to follow).
"""

from __future__ import annotations

import email.policy
import logging
import os
import secrets
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from directory.places import LANGUAGES
from node.models import DigestSent, DigestSubscription, NewsItem, UnsubscribeToken, User, utcnow
from ponte.accounts import token_digest
from ponte.i18n import DEFAULT_LANGUAGE, localised_moment
from ponte.markdown import render_markdown
from ponte.topics import ITEM_KIND_LABELS

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 30
MAX_ITEMS = 50  # per e-mail; more wait for the next pass
MAX_TOKEN = 100
# Header lines up to RFC 5322's hard limit: a long List-Unsubscribe URL must stay one plain
# <URL>, which the default 78-character folding would turn into an RFC 2047 encoded word.
MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998)
TRUE = frozenset({"1", "true", "yes", "on"})
# The server refused this one message (its recipient, its size...): the others may still go.
MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException)


class DigestNotConfigured(Exception):
    """The node has no mail settings (or bad ones); the message says which."""


@dataclass(frozen=True)
class DigestSettings:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)  # kept out of reprs, tracebacks and logs
    starttls: bool
    sender: str
    node_url: str
    language: str = DEFAULT_LANGUAGE  # of the e-mails (PONTE_LANGUAGE)


@dataclass
class DigestReport:
    sent: int = 0
    failed: int = 0


def digest_settings(config: Mapping[str, Any]) -> DigestSettings:
    """The mail settings from the app's config, else the environment."""

    def get(name: str) -> str:
        value = config.get(name)
        return str(value if value not in (None, "") else os.environ.get(name, "")).strip()

    missing = [name for name in ("SMTP_HOST", "SMTP_FROM", "NODE_URL") if not get(name)]
    if missing:
        raise DigestNotConfigured(f"set {', '.join(missing)} to send e-mail digests")
    url = urlsplit(get("NODE_URL"))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise DigestNotConfigured("NODE_URL must be the node's address, e.g. https://node.example")
    starttls = get("SMTP_STARTTLS").lower() in TRUE if get("SMTP_STARTTLS") else True
    port = get("SMTP_PORT") or ("587" if starttls else "25")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise DigestNotConfigured("SMTP_PORT must be a port number")
    # Only the PONTE_ name: a bare LANGUAGE is gettext's own variable ("en_US:en").
    language = (get("PONTE_LANGUAGE") or DEFAULT_LANGUAGE).lower()
    if language not in LANGUAGES:
        raise DigestNotConfigured(f"PONTE_LANGUAGE must be one of {', '.join(LANGUAGES)}")
    return DigestSettings(
        host=get("SMTP_HOST"),
        port=int(port),
        username=get("SMTP_USERNAME") or None,
        password=get("SMTP_PASSWORD") or None,
        starttls=starttls,
        sender=get("SMTP_FROM"),
        node_url=get("NODE_URL").rstrip("/"),
        language=language,
    )


# -- subscriptions ----------------------------------------------------------------------------


def subscription_of(session: Session, user_id: int) -> DigestSubscription | None:
    return session.get(DigestSubscription, user_id)


def set_subscription(session: Session, user_id: int, wanted: bool) -> None:
    """Opt in or out (commits). Opting in again starts afresh: what arrived meanwhile is
    not sent."""
    subscription = session.get(DigestSubscription, user_id)
    if wanted and (subscription is None or not subscription.active):
        if subscription is None:
            subscription = DigestSubscription(user_id=user_id)
            session.add(subscription)
        subscription.active, subscription.since = True, utcnow()
    elif not wanted and subscription is not None:
        subscription.active = False
    session.commit()


def unsubscribe(session: Session, token: str) -> bool:
    """Opt out whoever the e-mail with this link went to (commits); False if unknown."""
    user_id = token_owner(session, token)
    if user_id is None:
        return False
    set_subscription(session, user_id, False)
    return True


def token_owner(session: Session, token: str) -> int | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    row = session.get(UnsubscribeToken, token_digest(token))
    return None if row is None else row.user_id


# -- sending ----------------------------------------------------------------------------------


def send_digests_after_sync(session: Session) -> None:
    """At the end of each sync pass: send what is new, retry what failed. Quiet when the node
    has no mail settings (e-mail is optional)."""
    if not has_app_context():
        return
    try:
        settings = digest_settings(current_app.config)
    except DigestNotConfigured:
        return
    report = send_digests(session, settings)
    if report.sent or report.failed:
        log.info("digests: %d sent, %d failed (retried next pass)", report.sent, report.failed)


def due_digests(session: Session) -> list[tuple[User, list[NewsItem]]]:
    """Each active subscriber with the items not yet sent to them (oldest first)."""
    query = (
        select(DigestSubscription, User)
        .join(User, User.id == DigestSubscription.user_id)
        .where(DigestSubscription.active.is_(True))
        .order_by(User.id)
    )
    due = []
    for subscription, user in session.execute(query).all():
        items = list(session.scalars(_new_items(subscription)))
        if items:
            due.append((user, items))
    return due


def _new_items(subscription: DigestSubscription) -> Any:
    sent = exists().where(
        DigestSent.user_id == subscription.user_id, DigestSent.item_id == NewsItem.item_id
    )
    return (
        select(NewsItem)
        .where(
            NewsItem.status == "published",
            NewsItem.received_at >= subscription.since,
            ~sent,
        )
        .order_by(NewsItem.published, NewsItem.item_id)
        .limit(MAX_ITEMS)
    )


def send_digests(session: Session, settings: DigestSettings) -> DigestReport:
    """One SMTP connection for everyone due; failures are logged and retried next pass."""
    report = DigestReport()
    due = due_digests(session)
    if not due:
        return report
    try:
        with _connect(settings) as smtp:
            for user, items in due:
                _send_one(session, smtp, settings, user, items, report)
    except (OSError, smtplib.SMTPException) as error:
        session.rollback()
        report.failed = len(due) - report.sent
        log.warning(
            "digests not sent through %s:%d: %s",
            settings.host,
            settings.port,
            _safe(error, settings),
        )
    return report


def _connect(settings: DigestSettings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
    try:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _send_one(
    session: Session,
    smtp: smtplib.SMTP,
    settings: DigestSettings,
    user: User,
    items: list[NewsItem],
    report: DigestReport,
) -> None:
    token = secrets.token_urlsafe(32)
    session.add(UnsubscribeToken(token_hash=token_digest(token), user_id=user.id))
    session.add_all(DigestSent(user_id=user.id, item_id=item.item_id) for item in items)
    subscription = session.get(DigestSubscription, user.id)
    assert subscription is not None
    subscription.last_sent_at = utcnow()
    message = compose(settings, user.email, items, token)
    session.commit()  # marked first: an item never goes to the same person twice
    try:
        smtp.send_message(message)
    except OSError as error:  # smtplib's errors are OSErrors too
        _unmark(session, user.id, [item.item_id for item in items])
        report.failed += 1
        log.warning("digest for user %d not sent: %s", user.id, _safe(error, settings))
        if not isinstance(error, MESSAGE_REFUSED):
            raise  # the connection is gone: everyone left waits for the next pass
        return
    report.sent += 1


def _unmark(session: Session, user_id: int, item_ids: list[str]) -> None:
    session.execute(
        delete(DigestSent).where(DigestSent.user_id == user_id, DigestSent.item_id.in_(item_ids))
    )
    session.commit()


def _safe(error: BaseException, settings: DigestSettings) -> str:
    """The error's text, with the password blotted out should a server ever echo it."""
    text = str(error)
    return text.replace(settings.password, "********") if settings.password else text


# -- the e-mail -------------------------------------------------------------------------------


def compose(
    settings: DigestSettings, address: str, items: list[NewsItem], token: str
) -> EmailMessage:
    """A multipart/alternative e-mail (plain text and HTML) with the one-click headers,
    written in the node's language."""
    unsubscribe = node_link(settings, "news.unsubscribe", token=token)
    links = {
        item.item_id: node_link(settings, "news.show_item", item_id=item.item_id) for item in items
    }
    context = {
        "items": items,
        "links": links,
        "unsubscribe": unsubscribe,
        "kind_label": lambda kind: str(ITEM_KIND_LABELS.get(kind, kind)),
        "day": lambda moment: localised_moment(moment, with_time=False),
        "news_link": node_link(settings, "news.list_items"),
        "render_markdown": render_markdown,  # sanitised HTML: no script reaches an inbox
    }
    with force_locale(settings.language):
        subject = ngettext(
            "Ponte news: %(num)d new item", "Ponte news: %(num)d new items", len(items)
        )
        text = _text_body(context)
        html = render_template("news/digest_email.html", **context)
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = address
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=urlsplit(settings.node_url).hostname)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _text_body(context: dict[str, Any]) -> str:
    lines = [_("New from the secretariat, on your organisation's Ponte node."), ""]
    for item in context["items"]:
        lines += [item.title, "=" * min(len(item.title), 72)]
        kind, day = context["kind_label"](item.kind), context["day"](item.published)
        lines.append(_("%(kind)s, %(date)s", kind=kind, date=day))
        if item.audience == "members":
            lines.append(_("Members only: sign in to read it on the node."))
        else:
            lines += ["", item.body_markdown.strip()]
        link = context["links"][item.item_id]
        lines += ["", _("Read it on the node: %(link)s", link=link), "", ""]
    lines += [
        _("You receive this digest because you asked for it on the node."),
        _("All news: %(link)s", link=context["news_link"]),
        _("Unsubscribe: %(link)s", link=context["unsubscribe"]),
    ]
    return "\n".join(lines) + "\n"


def node_link(settings: DigestSettings, endpoint: str, **values: Any) -> str:
    """An absolute link to a page of this node at NODE_URL (works outside a request)."""
    url = urlsplit(settings.node_url)
    adapter = current_app.url_map.bind(
        url.netloc, script_name=url.path or "/", url_scheme=url.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
