"""Reading a password or passphrase for a command: from its environment variable, or a
hidden prompt when a person is at the terminal. Never from a command-line argument (which
other users of the machine can see)."""

from __future__ import annotations

import os
import sys

import click


def read_secret(variable: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        raise click.UsageError(f"Set {variable} (no terminal to ask for the {prompt.lower()}).")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
