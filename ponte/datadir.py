"""The data directory every command takes (``--data-dir``): database, keys and index live here."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# The Flask session key, kept so that sign-ins survive restarts (and restores).
SECRET_KEY_FILE = "secret_key"


def ensure_data_dir(path: Path) -> Path:
    """Create the directory (owner-only) if missing and return its absolute path."""
    path = path.expanduser().resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def load_or_create_secret(path: Path) -> str:
    """A random secret kept in a 0600 file: the Flask session key survives restarts."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    # Written whole to a private temp file, then linked into place: several workers starting
    # on a new data dir at once all end up with the one secret that won, never a torn file.
    value = secrets.token_urlsafe(48)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    try:
        os.link(temp, path)
    except FileExistsError:
        value = path.read_text(encoding="ascii").strip()
    finally:
        temp.unlink()
    return value


def sqlite_url(data_dir: Path, name: str) -> str:
    return f"sqlite:///{data_dir / name}"


def database_url(data_dir: Path, service: str) -> str:
    """The ``DATABASE_URL`` setting when set (PostgreSQL in production; from
    ``PONTE_DATABASE_URL``, ``DATABASE_URL`` or the config file), else the embedded SQLite
    file ``<service>.sqlite3`` in the data dir."""
    from ponte.config import load_settings

    configured = load_settings(service)["DATABASE_URL"]
    return configured or sqlite_url(data_dir, f"{service}.sqlite3")
