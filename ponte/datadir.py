"""The data directory every command takes (``--data-dir``): database, keys and index live here."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


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
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value


def sqlite_url(data_dir: Path, name: str) -> str:
    return f"sqlite:///{data_dir / name}"


def database_url(data_dir: Path, service: str) -> str:
    """``DATABASE_URL`` when set (PostgreSQL in production), else the embedded SQLite file
    ``<service>.sqlite3`` in the data dir."""
    return os.environ.get("DATABASE_URL") or sqlite_url(data_dir, f"{service}.sqlite3")
