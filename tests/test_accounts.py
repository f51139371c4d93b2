"""People's accounts on the hub (secretariat) and the node (caseworkers, node admins):
hashing, lockout, TOTP, server-side sessions, the sign-in pages and the commands."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from urllib.parse import urlencode

import pyotp
import pytest
from argon2 import PasswordHasher, Type
from click.testing import CliRunner
from sqlalchemy import select

import hub
import node
from hub.extensions import db as hub_db
from hub.models import AdminSession, AdminUser
from node.extensions import db as node_db
from node.models import User, UserSession
from ponte import accounts
from ponte.accounts import (
    NOT_RECOGNISED,
    AccountError,
    LockedOut,
    LoginRefused,
    SessionPolicy,
    authenticate,
    create_user,
    enable_totp,
    end_session,
    lockout_after,
    resolve_session,
    start_session,
)
from ponte.cli import main
from ponte.login import TOKEN_KEY, login_required, safe_next_path, session_policy
from tests.postgres import stored_bytes

PASSWORD = "correct horse battery"
T0 = dt.datetime(2030, 3, 1, 9, 0, tzinfo=dt.UTC)
DEFAULT_HASHER = accounts.PASSWORD_HASHER


pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def node_app(data_dir):
    app = node.create_app(data_dir, {"TESTING": True})
    with app.app_context():
        yield app


@pytest.fixture
def hub_app(data_dir):
    """Requests get their own app context (as in production): none is held open here."""
    return hub.create_app(data_dir, {"TESTING": True})


def session_rows(db, model):
    return db.session.scalars(select(model)).all()


def rows(app, db, model):
    with app.app_context():
        return session_rows(db, model)


# --- accounts and passwords --------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id(node_app):
    assert DEFAULT_HASHER.type is Type.ID
    assert DEFAULT_HASHER.hash(PASSWORD).startswith("$argon2id$")
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_email_is_stored_lower_case_and_is_unique(node_app):
    user = create_user(node_db.session, User, "  Lea@NGO.Example ", PASSWORD)
    assert user.email == "lea@ngo.example"
    assert user.role == "caseworker"  # the first role is the default
    with pytest.raises(AccountError, match="already an account"):
        create_user(node_db.session, User, "LEA@ngo.example", PASSWORD)


@pytest.mark.parametrize(
    ("email", "password", "role", "message"),
    [
        ("lea@ngo.example", "short", None, "at least 12 characters"),
        ("lea@ngo.example", "x" * 2000, None, "at most 1024 characters"),
        ("not-an-address", PASSWORD, None, "is not an e-mail address"),
        ("lea@ngo.example", PASSWORD, "root", "role must be one of: caseworker, admin"),
    ],
)
def test_bad_accounts_are_refused_with_a_clear_message(node_app, email, password, role, message):
    with pytest.raises(AccountError, match=message):
        create_user(node_db.session, User, email, password, role)
    assert session_rows(node_db, User) == []


def test_hash_is_upgraded_when_the_parameters_change(node_app, monkeypatch):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    old_hash = user.password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", stronger)
    authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, now=T0)
    assert user.password_hash != old_hash
    assert not stronger.check_needs_rehash(user.password_hash)
    authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, now=T0)  # still works


# --- signing in --------------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_give_the_same_message(node_app):
    create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    with pytest.raises(LoginRefused) as wrong_password:
        authenticate(node_db.session, User, "lea@ngo.example", "not the password", now=T0)
    with pytest.raises(LoginRefused) as unknown_email:
        authenticate(node_db.session, User, "nobody@ngo.example", PASSWORD, now=T0)
    assert wrong_password.value.message == unknown_email.value.message == NOT_RECOGNISED
    assert type(wrong_password.value) is type(unknown_email.value) is LoginRefused


def test_unknown_email_costs_a_hash_verification_too(node_app, monkeypatch):
    verified = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            verified.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "PASSWORD_HASHER", CountingHasher(memory_cost=1024))
    with pytest.raises(LoginRefused):
        authenticate(node_db.session, User, "nobody@ngo.example", PASSWORD, now=T0)
    assert len(verified) == 1 and verified[0].startswith("$argon2id$")


def test_email_is_matched_whatever_its_case(node_app):
    create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    user = authenticate(node_db.session, User, " LEA@ngo.EXAMPLE", PASSWORD, now=T0)
    assert user.last_login is not None


def fail(email, times, now):
    for _ in range(times):
        with pytest.raises(LoginRefused):
            authenticate(node_db.session, User, email, "not the password", now=now)


def test_five_failures_lock_the_account_for_fifteen_minutes(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    fail("lea@ngo.example", 4, T0)
    with pytest.raises(LockedOut) as locked:
        authenticate(node_db.session, User, "lea@ngo.example", "not the password", now=T0)
    assert locked.value.message == "Too many attempts; try again in 15 minutes."
    # Even the right password is refused while locked, with the time left.
    with pytest.raises(LockedOut) as still_locked:
        authenticate(
            node_db.session,
            User,
            "lea@ngo.example",
            PASSWORD,
            now=T0 + dt.timedelta(minutes=14, seconds=30),
        )
    assert still_locked.value.message == "Too many attempts; try again in 1 minute."
    # Once the lock has run out, the right password works and the counter starts over.
    authenticate(
        node_db.session, User, "lea@ngo.example", PASSWORD, now=T0 + dt.timedelta(minutes=15)
    )
    assert user.failed_logins == 0 and user.locked_until is None


def test_after_a_lock_runs_out_each_further_failure_locks_twice_as_long(node_app):
    create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    fail("lea@ngo.example", 5, T0)  # the fifth failure: 15 minutes
    moment, expected = T0, [30, 60, 120]
    for minutes_locked in expected:
        moment += dt.timedelta(minutes=minutes_locked // 2 + 1)  # the last lock has run out
        with pytest.raises(LockedOut) as refused:
            authenticate(node_db.session, User, "lea@ngo.example", "wrong", now=moment)
        assert refused.value.minutes == minutes_locked
        with pytest.raises(LockedOut):  # even the right password waits
            authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, now=moment)
    moment += dt.timedelta(minutes=121)
    authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, now=moment)
    fail("lea@ngo.example", 4, moment)  # a success started the count again: not locked


def test_the_lockout_grows_to_at_most_a_day():
    assert [lockout_after(n).total_seconds() / 60 for n in (5, 6, 7, 8)] == [15, 30, 60, 120]
    assert lockout_after(30) == dt.timedelta(days=1)


def test_success_resets_the_failure_counter(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    fail("lea@ngo.example", 4, T0)
    assert user.failed_logins == 4
    authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, now=T0)
    assert user.failed_logins == 0
    fail("lea@ngo.example", 4, T0)  # four more: still not locked
    authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, now=T0)


def test_totp_is_required_once_enabled_and_checked(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    enrolment = enable_totp(node_db.session, user, "Ponte node")
    assert enrolment.uri.startswith("otpauth://totp/Ponte%20node:lea%40ngo.example?")
    assert f"secret={enrolment.secret}" in enrolment.uri
    totp = pyotp.TOTP(enrolment.secret)

    def attempt(code):
        return authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, code, now=T0)

    for bad_code in (None, "", "123", "abcdef", totp.at(T0 - dt.timedelta(seconds=90))):
        with pytest.raises(LoginRefused) as refused:
            attempt(bad_code)
        assert refused.value.message == NOT_RECOGNISED
        user.failed_logins = 0  # keep these attempts from locking the account
    assert attempt(totp.at(T0)) is user
    assert attempt(totp.at(T0 - dt.timedelta(seconds=30))) is user  # the previous step
    assert attempt(" ".join([totp.at(T0)[:3], totp.at(T0)[3:]])) is user  # typed with a space


def test_wrong_totp_codes_count_towards_the_lockout(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    enable_totp(node_db.session, user, "Ponte node")
    for _ in range(4):
        with pytest.raises(LoginRefused):
            authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, "000000", now=T0)
    with pytest.raises(LockedOut):
        authenticate(node_db.session, User, "lea@ngo.example", PASSWORD, "000000", now=T0)


# --- sessions ----------------------------------------------------------------------------------


def test_session_token_is_stored_only_as_its_hash(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    token = start_session(node_db.session, UserSession, user, now=T0)
    (record,) = session_rows(node_db, UserSession)
    assert record.id == hashlib.sha256(token.encode()).hexdigest()
    stored = [str(getattr(record, column.key)) for column in UserSession.__table__.columns]
    assert not any(token in value for value in stored)
    assert len(token) >= 40  # 32 random bytes


def test_session_ends_after_twelve_hours_even_when_active(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    token = start_session(node_db.session, UserSession, user, now=T0)
    for minutes in range(25, 12 * 60, 25):
        now = T0 + dt.timedelta(minutes=minutes)
        assert resolve_session(node_db.session, UserSession, User, token, now=now) is user
    end = T0 + dt.timedelta(hours=12)
    assert resolve_session(node_db.session, UserSession, User, token, now=end) is None
    assert session_rows(node_db, UserSession) == []


def test_session_ends_after_thirty_idle_minutes(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    token = start_session(node_db.session, UserSession, user, now=T0)
    seen = T0 + dt.timedelta(minutes=29)
    assert resolve_session(node_db.session, UserSession, User, token, now=seen) is user
    idle = seen + dt.timedelta(minutes=30)
    assert resolve_session(node_db.session, UserSession, User, token, now=idle) is None
    assert session_rows(node_db, UserSession) == []


def test_session_lifetimes_are_configurable(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    policy = SessionPolicy(lifetime=dt.timedelta(hours=1), idle_timeout=dt.timedelta(minutes=5))
    token = start_session(node_db.session, UserSession, user, now=T0, policy=policy)
    later = T0 + dt.timedelta(minutes=6)
    assert (
        resolve_session(node_db.session, UserSession, User, token, now=later, policy=policy) is None
    )
    node_app.config.update(PONTE_SESSION_LIFETIME=3600, PONTE_SESSION_IDLE_TIMEOUT=300)
    assert session_policy() == policy


def test_end_session_deletes_the_record_and_sign_in_sweeps_expired_ones(node_app):
    user = create_user(node_db.session, User, "lea@ngo.example", PASSWORD)
    stale = start_session(node_db.session, UserSession, user, now=T0)
    token = start_session(node_db.session, UserSession, user, now=T0 + dt.timedelta(hours=1))
    assert len(session_rows(node_db, UserSession)) == 1  # the idle one was swept away
    end_session(node_db.session, UserSession, token)
    assert session_rows(node_db, UserSession) == []
    now = T0 + dt.timedelta(hours=1)
    for gone in (token, stale, "made-up-token"):
        assert resolve_session(node_db.session, UserSession, User, gone, now=now) is None


# --- pages -------------------------------------------------------------------------------------

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path):
    match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, login_path, email, password=PASSWORD, code=None, query=""):
    data = {"csrf_token": csrf_token(client, login_path), "email": email, "password": password}
    if code is not None:
        data["code"] = code
    return client.post(login_path + query, data=data)


def page_error(response):
    match = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    return match and match.group(1)


ADMIN = "ana@secretariat.example"


@pytest.fixture
def admin(hub_app):
    with hub_app.app_context():
        create_user(hub_db.session, AdminUser, ADMIN, PASSWORD)


def test_secretariat_signs_in_and_sees_the_landing_page(hub_app, admin):
    client = hub_app.test_client()
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/"
    response = sign_in(client, "/admin/login", ADMIN, query="?next=/admin/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "<h1>Secretariat</h1>" in text and ADMIN in text
    assert "Organisations in the directory" in text and "Member nodes" in text


def test_login_page_shows_the_same_message_for_unknown_email_and_wrong_password(hub_app, admin):
    client = hub_app.test_client()
    wrong_password = sign_in(client, "/admin/login", ADMIN, "wrong password!")
    unknown = sign_in(client, "/admin/login", "nobody@secretariat.example")
    assert wrong_password.status_code == unknown.status_code == 200
    assert page_error(wrong_password) == page_error(unknown) == NOT_RECOGNISED
    assert "wrong password!" not in wrong_password.get_data(as_text=True)


def test_login_page_says_when_to_try_again_after_a_lockout(hub_app, admin):
    client = hub_app.test_client()
    for _ in range(4):
        sign_in(client, "/admin/login", ADMIN, "wrong password!")
    locked = sign_in(client, "/admin/login", ADMIN, "wrong password!")
    assert page_error(locked) == "Too many attempts; try again in 15 minutes."


def test_login_page_asks_for_the_code_of_a_totp_account(hub_app, admin):
    with hub_app.app_context():
        (user,) = session_rows(hub_db, AdminUser)
        secret = enable_totp(hub_db.session, user, "Ponte hub").secret
    client = hub_app.test_client()
    without = sign_in(client, "/admin/login", ADMIN)
    assert page_error(without) == NOT_RECOGNISED
    with_code = sign_in(client, "/admin/login", ADMIN, code=pyotp.TOTP(secret).now())
    assert with_code.status_code == 302


def test_login_without_csrf_token_is_refused(hub_app, admin):
    assert hub_app.config["WTF_CSRF_ENABLED"] is True
    client = hub_app.test_client()
    response = client.post("/admin/login", data={"email": ADMIN, "password": PASSWORD})
    assert response.status_code == 400
    assert page_error(response) == "This form had expired. Please try again."
    assert rows(hub_app, hub_db, AdminSession) == []
    assert rows(hub_app, hub_db, AdminUser)[0].last_login is None


def test_logout_needs_the_csrf_token(hub_app, admin):
    client = hub_app.test_client()
    sign_in(client, "/admin/login", ADMIN)
    response = client.post("/admin/logout")
    assert response.status_code == 400
    assert len(rows(hub_app, hub_db, AdminSession)) == 1  # still signed in


def test_logout_ends_the_server_side_session(hub_app, admin):
    client = hub_app.test_client()
    sign_in(client, "/admin/login", ADMIN)
    cookie_name = hub_app.config["SESSION_COOKIE_NAME"]
    with client.session_transaction() as flask_session:
        token = flask_session[TOKEN_KEY]
    old_cookie = client.get_cookie(cookie_name).value
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?signed_out=1"
    assert "You have signed out." in client.get("/admin/login?signed_out=1").get_data(as_text=True)
    assert rows(hub_app, hub_db, AdminSession) == []
    with hub_app.app_context():
        assert resolve_session(hub_db.session, AdminSession, AdminUser, token) is None
    client.set_cookie(cookie_name, old_cookie)  # a copy of the cookie kept from before
    assert client.get("/admin/").status_code == 302


def test_session_token_is_not_in_the_database_file(hub_app, admin, data_dir):
    client = hub_app.test_client()
    sign_in(client, "/admin/login", ADMIN)
    with client.session_transaction() as flask_session:
        token = flask_session[TOKEN_KEY]
        assert set(flask_session) <= {TOKEN_KEY, "csrf_token"}
    with hub_app.app_context():
        hub_db.engine.dispose()
    contents = stored_bytes(hub_app.config["SQLALCHEMY_DATABASE_URI"])
    assert token.encode() not in contents
    assert hashlib.sha256(token.encode()).hexdigest().encode() in contents


def test_an_ended_session_sends_people_to_sign_in_again(hub_app, admin):
    client = hub_app.test_client()
    sign_in(client, "/admin/login", ADMIN)
    with hub_app.app_context():
        (record,) = session_rows(hub_db, AdminSession)
        record.last_seen = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)
        hub_db.session.commit()
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/&expired=1"
    assert rows(hub_app, hub_db, AdminSession) == []
    notice = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has ended. Please sign in again." in notice


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/admin/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/admin/\r\nLocation: https://evil.example",
    ],
)
def test_next_cannot_send_people_to_another_site(hub_app, admin, target):
    client = hub_app.test_client()
    response = sign_in(client, "/admin/login", ADMIN, query="?" + urlencode({"next": target}))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert safe_next_path(target) is None


def test_next_brings_people_back_to_the_page_they_asked_for(hub_app, admin):
    client = hub_app.test_client()
    target = "/directory/?q=shelter"
    response = sign_in(client, "/admin/login", ADMIN, query="?" + urlencode({"next": target}))
    assert response.headers["Location"] == target
    assert client.get("/admin/login").headers["Location"] == "/admin/"  # already signed in


def test_signing_in_again_replaces_the_previous_session(hub_app, admin):
    client = hub_app.test_client()
    sign_in(client, "/admin/login", ADMIN)
    with client.session_transaction() as flask_session:
        first = flask_session[TOKEN_KEY]
    data = {"csrf_token": csrf_token(client, "/admin/"), "email": ADMIN, "password": PASSWORD}
    assert client.post("/admin/login", data=data).status_code == 302
    (record,) = rows(hub_app, hub_db, AdminSession)
    assert record.id != hashlib.sha256(first.encode()).hexdigest()


@pytest.fixture
def node_site(data_dir):
    """A node with a caseworker, a node admin and a page only node admins may see."""
    app = node.create_app(data_dir, {"TESTING": True})

    @app.get("/test-admin-only")
    @login_required(roles={"admin"})
    def admin_only():
        return "node settings"

    with app.app_context():
        create_user(node_db.session, User, "cw@ngo.example", PASSWORD, "caseworker")
        create_user(node_db.session, User, "boss@ngo.example", PASSWORD, "admin")
    return app


def test_a_page_for_another_role_answers_403(node_site):
    client = node_site.test_client()
    sign_in(client, "/login", "cw@ngo.example")
    response = client.get("/test-admin-only")
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "not available to you" in text and "Caseworker" in text
    other = node_site.test_client()
    sign_in(other, "/login", "boss@ngo.example")
    assert other.get("/test-admin-only").get_data(as_text=True) == "node settings"


def test_node_front_page_invites_sign_in_then_greets_with_the_role(node_site):
    client = node_site.test_client()
    text = client.get("/").get_data(as_text=True)
    assert "Ponte node" in text and 'href="/login"' in text and "Sign out" not in text
    response = sign_in(client, "/login", "boss@ngo.example")
    assert response.headers["Location"] == "/"
    text = client.get("/").get_data(as_text=True)
    assert "Welcome, boss@ngo.example" in text and "Your role: Node admin" in text
    assert "Sign out" in text
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.headers["Location"] == "/login?signed_out=1"
    assert rows(node_site, node_db, UserSession) == []


def test_hub_and_node_cookies_do_not_collide(hub_app, node_site):
    assert hub_app.config["SESSION_COOKIE_NAME"] != node_site.config["SESSION_COOKIE_NAME"]
    assert hub_app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert hub_app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


# --- commands ----------------------------------------------------------------------------------


def run(args, password=PASSWORD):
    return CliRunner().invoke(main, args, env={"PONTE_PASSWORD": password})  # None: unset


def test_create_admin_takes_the_password_from_the_environment(data_dir):
    result = run(["hub", "create-admin", "--data-dir", str(data_dir), "--email", "Ana@Sec.example"])
    assert result.exit_code == 0, result.output
    assert "Created the account ana@sec.example (Secretariat)." in result.output
    app = hub.create_app(data_dir, {"TESTING": True})
    with app.app_context():
        (user,) = session_rows(hub_db, AdminUser)
        assert user.role == "secretariat" and user.password_hash.startswith("$argon2id$")
        assert user.totp_secret is None
    assert sign_in(app.test_client(), "/admin/login", "ana@sec.example").status_code == 302


def test_create_admin_refuses_a_short_password(data_dir):
    args = ["hub", "create-admin", "--data-dir", str(data_dir), "--email", "ana@sec.example"]
    result = run(args, password="too short")
    assert result.exit_code == 2
    assert "Error: The password must be at least 12 characters long." in result.output
    with hub.create_app(data_dir).app_context():
        assert session_rows(hub_db, AdminUser) == []


def test_create_admin_without_password_or_terminal_says_what_to_set(data_dir):
    args = ["hub", "create-admin", "--data-dir", str(data_dir), "--email", "ana@sec.example"]
    result = run(args, password=None)
    assert result.exit_code == 2
    assert "Set PONTE_PASSWORD" in result.output


def test_create_admin_with_totp_prints_the_secret_once(data_dir):
    args = ["hub", "create-admin", "--data-dir", str(data_dir), "--email", "a@sec.example"]
    result = run([*args, "--totp"])
    assert result.exit_code == 0, result.output
    secret = re.search(r"secret=([A-Z2-7]+)", result.output).group(1)
    assert "otpauth://totp/Ponte%20hub:a%40sec.example" in result.output
    with hub.create_app(data_dir).app_context():
        assert session_rows(hub_db, AdminUser)[0].totp_secret == secret
    again = run(args)
    assert again.exit_code == 2 and "already an account for a@sec.example" in again.output


def test_node_add_user_creates_caseworkers_and_admins(data_dir):
    base = ["node", "add-user", "--data-dir", str(data_dir)]
    assert run([*base, "--email", "cw@ngo.example"]).exit_code == 0
    result = run([*base, "--email", "boss@ngo.example", "--role", "admin"])
    assert result.exit_code == 0 and "(Node admin)" in result.output
    bad_role = run([*base, "--email", "x@ngo.example", "--role", "root"])
    assert bad_role.exit_code == 2 and "--role" in bad_role.output
    short = run([*base, "--email", "y@ngo.example"], password="short")
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    with node.create_app(data_dir).app_context():
        roles = {user.email: user.role for user in session_rows(node_db, User)}
    assert roles == {"cw@ngo.example": "caseworker", "boss@ngo.example": "admin"}


@pytest.mark.parametrize(
    "command", [["hub", "create-admin"], ["node", "add-user"]], ids=["hub", "node"]
)
def test_account_commands_show_an_example(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert re.search(r"Examples?:", result.output) and "PONTE_PASSWORD" in result.output
