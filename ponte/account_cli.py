"""What ``ponte hub create-admin`` and ``ponte node add-user`` share: reading the password,
creating the account, showing the TOTP secret once."""

from __future__ import annotations

import click

from ponte.accounts import AccountError, DbSession, UserMixin, create_user, enable_totp
from ponte.options import BadInput
from ponte.secret_input import read_secret

PASSWORD_VARIABLE = "PONTE_PASSWORD"

totp_option = click.option(
    "--totp",
    is_flag=True,
    help="Also require a one-time code from an authenticator app; prints its secret once.",
)


class InvalidAccount(BadInput):
    """The account cannot be created as asked: bad input, so exit code 2."""


def add_account(
    db: DbSession, user_model: type[UserMixin], email: str, role: str, *, totp_issuer: str | None
) -> None:
    """Create the account (password from ``PONTE_PASSWORD`` or a hidden prompt) and report it;
    with ``totp_issuer``, enrol TOTP and print the secret and its otpauth URI."""
    password = read_secret(PASSWORD_VARIABLE, "Password", confirm=True)
    try:
        user = create_user(db, user_model, email, password, role)
    except AccountError as error:
        raise InvalidAccount(str(error)) from error
    click.echo(f"Created the account {user.email} ({user.role_label}).")
    if totp_issuer is not None:
        enrolment = enable_totp(db, user, totp_issuer)
        click.echo("Add this to the person's authenticator app now; it is not shown again:")
        click.echo(f"  {enrolment.uri}")
        click.echo(f"  (or type the secret: {enrolment.secret})")
