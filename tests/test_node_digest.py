"""The e-mail digest, delivered to a real SMTP server (aiosmtpd) after a node's sync with a
live hub: what is in it, what is never in it, its unsubscribe link end to end, failures
retried, the SMTP password never logged."""

from __future__ import annotations

import email
import email.policy
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from sqlalchemy import select

from node.digest import digest_settings, send_digests
from node.extensions import db
from node.models import DigestSubscription, User
from node.publications import pull_public_items
from ponte.cli import main
from tests.conftest import free_port
from tests.test_enrolment import hub
from tests.test_node_reader import add_account, cheap_hashing, publish, reader_node
from tests.test_referral_pages import csrf, page, signed_in

__all__ = ["cheap_hashing", "hub"]

LEA, ION = "lea@atina.example", "ion@atina.example"
NODE_URL = "https://ponte.atina.example"
SMTP_PASSWORD = "smtp-secret-do-not-log-7f3a"
MEMBERS_TEXT = "Shelter addresses: only for members"


@dataclass
class Mailbox:
    """An aiosmtpd handler keeping what it accepts; ``refuse`` makes it answer 451 to DATA."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    refuse: bool = False

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return "451 Requested action aborted: try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        self.raw.append(envelope.content)
        return "250 Message accepted for delivery"

    def take(self) -> list[tuple[list[str], EmailMessage]]:
        taken, self.messages[:] = list(self.messages), []
        return taken


@pytest.fixture(scope="module")
def mailbox():
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def node(hub, tmp_path_factory, mailbox, cheap_hashing):
    node = reader_node(hub, tmp_path_factory, "Atina", "digest")
    node.app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(mailbox[1]),
        SMTP_STARTTLS="false",
        SMTP_FROM="Ponte at Atina <ponte@atina.example>",
        NODE_URL=NODE_URL,
    )
    add_account(node, LEA, "caseworker")
    add_account(node, ION, "admin")
    browser = signed_in(node, LEA)
    html = page(browser, "/news/subscription")
    assert LEA in html and "checked" not in html.split('id="digest"')[1].split(">")[0]
    response = browser.post("/news/subscription", data={"csrf_token": csrf(html), "digest": "1"})
    assert response.status_code == 302
    assert "checked" in page(browser, "/news/subscription").split('id="digest"')[1].split(">")[0]
    return node


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML alternatives, decoded."""
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return plain, html


def unsubscribe_path(message: EmailMessage) -> str:
    header = message["List-Unsubscribe"]
    assert header.startswith(f"<{NODE_URL}/news/unsubscribe/") and header.endswith(">")
    return urlsplit(header[1:-1]).path


def subscribed(node, address: str) -> bool:
    with node.app.app_context():
        user = db.session.scalars(select(User).where(User.email == address)).one()
        subscription = db.session.get(DigestSubscription, user.id)
        return bool(subscription and subscription.active)


def test_a_subscriber_gets_one_email_with_the_new_items(node, hub, mailbox):
    handler, _ = mailbox
    handler.take()
    public = publish(
        hub,
        "Guidance on **safe returns**",
        body="Read the **new guidance**.\n\n<script>x()</script>",
    )
    members = publish(hub, "Members: shelter capacity", audience="members", body=MEMBERS_TEXT)
    node.sync()
    delivered = handler.take()
    assert [recipients for recipients, _ in delivered] == [[LEA]]  # Ion did not opt in
    message = delivered[0][1]
    plain, html = parts(message)
    assert message["To"] == LEA and "ponte@atina.example" in message["From"]
    assert message["Subject"] == "Ponte news: 2 new items"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = f"{NODE_URL}{unsubscribe_path(message)}"
    raw = handler.raw[-1]  # as it travelled: one plain <URL>, no encoded word
    assert f"\r\nList-Unsubscribe: <{unsubscribe}>\r\n".encode() in raw
    # Public items in full: Markdown in the text, sanitised HTML in the HTML.
    assert "Read the **new guidance**." in plain
    assert "Read the <strong>new guidance</strong>." in html and "<script" not in html
    assert "Guidance on **safe returns**" in html  # a title is text, never markup
    # Members-only items: title and link only; their text never leaves the node.
    assert "Members: shelter capacity" in plain and "Members: shelter capacity" in html
    assert "sign in to read" in plain.lower() and "sign in to read" in html.lower()
    assert MEMBERS_TEXT not in plain + html + message.as_string()
    for item_id in (public, members):
        assert f"{NODE_URL}/news/{item_id}" in plain and f'href="{NODE_URL}/news/{item_id}"' in html
    assert f"Unsubscribe: {unsubscribe}" in plain and f'href="{unsubscribe}"' in html
    node.sync()
    assert handler.take() == []  # nothing new: nobody gets an item twice


def test_later_digests_hold_only_what_is_new(node, hub, mailbox):
    handler, _ = mailbox
    node.sync()
    handler.take()
    publish(hub, "A second round of news")
    node.sync()
    [(recipients, message)] = handler.take()
    plain, _ = parts(message)
    assert recipients == [LEA] and message["Subject"] == "Ponte news: 1 new item"
    assert "A second round of news" in plain and "safe returns" not in plain


def test_a_failed_send_is_logged_and_retried_on_the_next_pass(node, hub, mailbox, caplog):
    handler, _ = mailbox
    handler.refuse = True
    try:
        publish(hub, "News while the mail server is down")
        with caplog.at_level(logging.WARNING, logger="node.digest"):
            node.sync()
        assert handler.take() == []
        assert any("not sent" in record.getMessage() for record in caplog.records)
    finally:
        handler.refuse = False
    node.sync()  # nothing new from the hub; the digest is retried all the same
    [(_, message)] = handler.take()
    assert "News while the mail server is down" in parts(message)[0]


def test_the_smtp_password_is_never_logged(node, hub, mailbox, caplog):
    handler, _ = mailbox
    refusing = Controller(
        Mailbox(),
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=lambda *args: AuthResult(success=False, handled=False),
        auth_require_tls=False,
    )
    refusing.start()
    try:
        settings = digest_settings(
            {
                **node.app.config,
                "SMTP_PORT": str(refusing.port),
                "SMTP_USERNAME": "ponte",
                "SMTP_PASSWORD": SMTP_PASSWORD,
            }
        )
        assert SMTP_PASSWORD not in repr(settings)
        publish(hub, "For a server that refuses our password")
        with node.app.app_context():
            pull_public_items(db.session, node.keys)  # the item is here, no digest sent yet
            with caplog.at_level(logging.DEBUG):
                report = send_digests(db.session, settings)
    finally:
        refusing.stop()
    assert (report.sent, report.failed) == (0, 1)
    assert "not sent" in caplog.text and SMTP_PASSWORD not in caplog.text
    node.sync()  # the right server again: the refused digest goes out now
    [(_, message)] = handler.take()
    assert "For a server that refuses our password" in parts(message)[0]


def test_the_unsubscribe_link_works_end_to_end(node, hub, mailbox):
    handler, _ = mailbox
    node.sync()
    handler.take()
    publish(hub, "Before unsubscribing")
    node.sync()
    [(_, message)] = handler.take()
    path = unsubscribe_path(message)
    stranger = node.app.test_client()  # no session: the link is opened from a mail program
    confirm = stranger.get(path)
    assert confirm.status_code == 200 and "Stop the e-mail digest" in confirm.get_data(True)
    assert confirm.headers["Referrer-Policy"] == "no-referrer"
    assert subscribed(node, LEA)  # opening the link (a mail scanner may) changes nothing
    one_click = stranger.post(path, data={"List-Unsubscribe": "One-Click"})  # RFC 8058
    assert one_click.status_code == 200 and "You are unsubscribed" in one_click.get_data(True)
    assert not subscribed(node, LEA)
    publish(hub, "After unsubscribing")
    node.sync()
    assert handler.take() == []
    assert stranger.get("/news/unsubscribe/not-a-token").status_code == 404
    assert stranger.post("/news/unsubscribe/not-a-token").status_code == 404
    # Opting in again starts afresh: what arrived meanwhile is not sent.
    browser = signed_in(node, LEA)
    token = csrf(page(browser, "/news/subscription"))
    browser.post("/news/subscription", data={"csrf_token": token, "digest": "1"})
    node.sync()
    assert handler.take() == []


def test_send_digest_command(node, hub, mailbox):
    handler, port = mailbox
    browser = signed_in(node, ION)
    token = csrf(page(browser, "/news/subscription"))
    browser.post("/news/subscription", data={"csrf_token": token, "digest": "1"})
    settings = {name: node.app.config.pop(name) for name in ("SMTP_HOST", "NODE_URL")}
    try:
        publish(hub, "Sent by the command")
        node.sync()  # no mail settings in the app now: the item waits
    finally:
        node.app.config.update(settings)
    assert handler.take() == []
    data_dir = ["--data-dir", str(node.data_dir)]
    missing = CliRunner().invoke(main, ["node", "send-digest", *data_dir], env={"SMTP_HOST": ""})
    assert missing.exit_code == 2 and "SMTP_HOST" in missing.output
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_STARTTLS": "no",
        "SMTP_FROM": "ponte@atina.example",
        "NODE_URL": NODE_URL,
    }
    result = CliRunner().invoke(main, ["node", "send-digest", *data_dir], env=env)
    assert result.exit_code == 0, result.output
    assert "Digests sent: 2" in result.output  # Ion's first, Lea's since she opted in again
    titles = {rcpt[0]: parts(message)[0] for rcpt, message in handler.take()}
    assert "Sent by the command" in titles[ION] and "Sent by the command" in titles[LEA]
