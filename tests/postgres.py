"""A private PostgreSQL server for the tests, from Debian's packages (`.ci/run` installs them).

``PostgresServer.start(dir)`` runs ``initdb`` and ``pg_ctl`` on a Unix socket in ``dir``
(as the ``postgres`` account when the tests run as root: PostgreSQL refuses to run as root),
with settings for throwaway data (no fsync). ``database(name)`` creates a fresh database and
returns its SQLAlchemy URL. Nothing here is mocked: the tests talk to a real server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT_ACCOUNT = "postgres"  # who runs the server when we are root
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300")


def bin_dir() -> Path | None:
    """Where Debian's PostgreSQL programs are (the newest version), or None if not installed."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def available() -> bool:
    return bin_dir() is not None


@dataclass
class PostgresServer:
    data: Path
    socket_dir: Path
    port: int
    user: str

    @classmethod
    def start(cls, base: Path, port: int) -> PostgresServer:
        programs = bin_dir()
        if programs is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        user = ROOT_ACCOUNT if os.geteuid() == 0 else os.environ.get("USER", "ponte")
        base.mkdir(parents=True, exist_ok=True)
        data, socket_dir = base / "data", base / "socket"
        socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, ROOT_ACCOUNT)
            shutil.chown(socket_dir, ROOT_ACCOUNT)
        server = cls(data, socket_dir, port, user)
        server._run(programs / "initdb", "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8")
        options = f"-k {socket_dir} -p {port} -h '' " + " ".join(f"-c {s}" for s in SETTINGS)
        server._run(programs / "pg_ctl", "-D", str(data), "-o", options, "-w", "start")
        server._wait()
        return server

    def _run(self, *command: object) -> None:
        args = [str(part) for part in command]
        if os.geteuid() == 0:
            args = ["runuser", "-u", ROOT_ACCOUNT, "--", *args]
        log = self.data.parent / "server.log"
        with log.open("a") as output:
            subprocess.run(args, check=True, stdout=output, stderr=subprocess.STDOUT)

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect("postgres"):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=self.user, dbname=database,
            autocommit=True,
        )  # fmt: skip

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg 3, Unix socket)."""
        return (
            f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"
        )

    def database(self, name: str) -> str:
        """Create a fresh, empty database ``name`` (dropping one of that name) and return its
        URL."""
        with self.connect("postgres") as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Stop and start the server again (crash-safety tests)."""
        programs = bin_dir()
        assert programs is not None
        self._run(programs / "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "restart")
        self._wait()

    def stop(self) -> None:
        programs = bin_dir()
        if programs is not None and self.data.exists():
            self._run(programs / "pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")


def stored_bytes(url: str) -> bytes:
    """Everything a database holds, as bytes to scan for what must never be stored: the
    SQLite file with its journal/WAL, or a plain ``pg_dump`` of a PostgreSQL database (the
    caller disposes of its engine first, so SQLite's pages are in the files)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        files = sorted(path.parent.glob(path.name + "*"))
        assert files, f"no database file at {path}"
        return b"".join(part.read_bytes() for part in files)
    programs = bin_dir()
    assert programs is not None, "pg_dump is not installed"
    query = parsed.query
    env = {**os.environ, "PGHOST": str(query["host"]), "PGPORT": str(query["port"])}
    command = [str(programs / "pg_dump"), "-U", str(parsed.username), str(parsed.database)]
    return subprocess.run(command, env=env, check=True, capture_output=True).stdout
