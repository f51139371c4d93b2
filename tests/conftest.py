"""Shared fixtures: free ports and running ``ponte`` as a real process."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.postgres import PostgresServer

# ./scripts/test runs the suite twice: on SQLite, then with PONTE_TEST_DATABASE=postgresql,
# where every app a test builds in this process gets a fresh PostgreSQL database of its own
# (programs started as real processes keep the embedded SQLite default).
POSTGRES_MODE = os.environ.get("PONTE_TEST_DATABASE") == "postgresql"

# Hundreds of tests enrol, sign in and search from 127.0.0.1 within a minute: the abuse
# limits are off for them (and the processes they start), and on in tests/test_limits.py.
os.environ["PONTE_RATE_LIMITS"] = "false"


def free_port(count: int = 1) -> int:
    """A port such that ``count`` consecutive ports starting there are free right now."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65535 and all(_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def get_json(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(url: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return get_json(url)[0]
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@contextmanager
def ponte_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ponte.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def fast_hashing(monkeypatch):
    """Argon2id still, with cheap parameters: some modules hash a few hundred times."""
    from argon2 import PasswordHasher

    from ponte import accounts

    monkeypatch.setattr(
        accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    accounts._dummy_hash.cache_clear()
    yield
    accounts._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's packages) for the whole test session. Its files are
    not under pytest's tmp dir: that is private to root, and the server runs as postgres."""
    base = Path(tempfile.mkdtemp(prefix="ponte-pg-"))
    server = PostgresServer.start(base, free_port())
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _apps_on_postgres(request) -> Iterator[None]:
    if not POSTGRES_MODE:
        yield
        return
    import ponte.datadir

    server: PostgresServer = request.getfixturevalue("postgres")
    made: dict[str, str] = {}

    def database_url(data_dir, service: str) -> str:
        key = f"{data_dir}|{service}"
        if key not in made:  # one database per data dir, as the SQLite file would be
            made[key] = server.database("t_" + hashlib.sha256(key.encode()).hexdigest()[:24])
        return made[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ponte.datadir, "database_url", database_url)
        yield
