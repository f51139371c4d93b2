"""Backups of a hub's or a node's data dir, and their restore (``ponte hub|node backup`` and
``restore``; docs/backup.md).

A backup is one tar.gz archive, mode 0600, written under a temporary name and renamed: a
crash never leaves half an archive under the real name. Its first member is
``manifest.json`` (format, service, Ponte version, time, database kind and the SHA-256 of
every other member). Then the database: a copy made with SQLite's online backup API (safe
while the app runs), or a ``pg_dump --format=custom`` dump. Then the key files exactly as
they are on disk, still sealed with their passphrases: neither backing up nor restoring
needs a passphrase, and the archive never holds a private key in clear. A node's attachments
live in its database, so they come with it. The hub's search index does not: the restore
rebuilds it from the database.

A restore reads the whole archive and checks every checksum, then checks the target, before
it writes anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ponte import datadir
from ponte.migrations import DatabaseNotReady
from ponte.sqlite import BUSY_TIMEOUT_S

FORMAT = "ponte-backup"
FORMAT_VERSION = 1
SERVICES = ("hub", "node")
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
FILES = "files/"  # the key files, under their names in the data dir
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
POSTGRES_PROGRAMS = Path("/usr/lib/postgresql")

Report = Callable[[str], None]


class BackupError(Exception):
    """The backup or the restore cannot be done as asked; the message says why."""


def _quiet(_message: str) -> None:
    """The default progress report: none."""


# --- what a backup holds ------------------------------------------------------------------


def key_files(service: str, data_dir: Path) -> list[Path]:
    """The files a backup carries as they are on disk, when present: the sealed keystore (a
    node's pending one too, mid-rotation), the node's enrolment and the session secret."""
    secret = data_dir / datadir.SECRET_KEY_FILE
    if service == "hub":
        from hub.identity import keystore_path as hub_keystore

        return [hub_keystore(data_dir), secret]
    from node.enrolment import enrolment_path
    from node.enrolment import keystore_path as node_keystore
    from node.rotation import pending_path

    return [node_keystore(data_dir), pending_path(data_dir), enrolment_path(data_dir), secret]


@dataclass(frozen=True)
class Member:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    service: str
    database: str  # "sqlite" or "postgresql"
    files: dict[str, Member]  # every member but the manifest, by name
    created: str
    ponte_version: str

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "service": self.service,
            "ponte_version": self.ponte_version,
            "created": self.created,
            "database": self.database,
            "files": [
                {"name": name, "sha256": member.sha256, "size": member.size}
                for name, member in self.files.items()
            ],
        }
        return json.dumps(document, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """The manifest, or BackupError if it is not one this version of Ponte can restore."""
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise BackupError("it is not a Ponte backup")
            if document.get("version") != FORMAT_VERSION:
                raise BackupError(
                    f"it has format version {document.get('version')}; this Ponte reads "
                    f"version {FORMAT_VERSION} (restore it with the Ponte that made it)"
                )
            files = {
                str(item["name"]): Member(str(item["sha256"]), int(item["size"]))
                for item in document["files"]
            }
            manifest = cls(
                str(document["service"]),
                str(document["database"]),
                files,
                str(document["created"]),
                str(document["ponte_version"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackupError(f"its manifest is damaged ({error})") from error
        manifest._check_members()
        return manifest

    def _check_members(self) -> None:
        # Only known names: a restore writes each member to a path chosen here, never to one
        # an altered archive could name.
        if self.service not in SERVICES or self.database not in DATABASE_MEMBERS:
            raise BackupError(f"its manifest names an unknown {self.service}/{self.database}")
        database = DATABASE_MEMBERS[self.database]
        allowed = {database} | {FILES + path.name for path in key_files(self.service, Path())}
        if database not in self.files or not set(self.files) <= allowed:
            raise BackupError("its manifest lists unexpected members")


@dataclass(frozen=True)
class Database:
    """The service's database, as its app opens it (``DATABASE_URL`` or the SQLite file)."""

    url: str

    @classmethod
    def of(cls, service: str, data_dir: Path) -> Database:
        database = cls(datadir.database_url(data_dir, service))
        try:
            kind = database.kind
        except ArgumentError as error:
            raise BackupError(f"DATABASE_URL is not a database URL ({error}).") from error
        if kind not in DATABASE_MEMBERS:
            raise BackupError(f"Only SQLite and PostgreSQL databases can be backed up, not {kind}.")
        return database

    @property
    def kind(self) -> str:
        return make_url(self.url).get_backend_name()

    @property
    def shown(self) -> str:
        """The URL without its password, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path:
        return Path(make_url(self.url).database or "").absolute()


# --- backing up ---------------------------------------------------------------------------


def create_backup(service: str, data_dir: Path, output: Path, report: Report = _quiet) -> Manifest:
    """Back up ``service``'s data dir into the archive ``output`` (replacing it whole)."""
    data_dir = data_dir.expanduser().resolve()
    if not data_dir.is_dir():
        raise BackupError(f"There is no data dir at {data_dir}: nothing to back up.")
    database = Database.of(service, data_dir)
    output = output.expanduser().absolute()
    if not output.parent.is_dir():
        raise BackupError(f"The directory {output.parent} does not exist: create it first.")
    with _scratch_dir(output.parent) as scratch:
        dump = _dump_database(service, database, scratch, report)
        members = {DATABASE_MEMBERS[database.kind]: dump}
        members |= _copy_key_files(service, data_dir, scratch, report)
        manifest = Manifest(
            service,
            database.kind,
            {name: _member(path) for name, path in members.items()},
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ponte_version(),
        )
        report(f"Writing {output}")
        try:
            _write_archive(output, manifest, members)
        except OSError as error:
            raise BackupError(f"Cannot write {output}: {error.strerror}.") from error
    return manifest


def _dump_database(service: str, database: Database, scratch: Path, report: Report) -> Path:
    target = scratch / DATABASE_MEMBERS[database.kind]
    if database.kind == "sqlite":
        report(f"Copying the database {database.sqlite_path} (SQLite online backup)")
        _copy_sqlite(service, database.sqlite_path, target)
    else:
        report(f"Dumping the database {database.shown} (pg_dump)")
        _postgres_tables(database)  # a clear message if it cannot be reached
        _run_postgres(database, "pg_dump", "--format=custom", f"--file={target}")
    return target


def _copy_sqlite(service: str, source_path: Path, target: Path) -> None:
    if not source_path.is_file():
        raise BackupError(
            f"There is no {service} database at {source_path}: is this a {service}'s data dir?"
        )
    try:
        # mode=rw: never create an empty database where the real one was expected.
        source = sqlite3.connect(
            f"{source_path.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S
        )
        with closing(source), closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
            # One self-contained file: the copy needs no write-ahead log beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        raise BackupError(f"Cannot copy the database {source_path}: {error}.") from error


def _copy_key_files(service: str, data_dir: Path, scratch: Path, report: Report) -> dict[str, Path]:
    present = [path for path in key_files(service, data_dir) if path.is_file()]
    names = ", ".join(path.name for path in present) or "none yet"
    report(f"Adding the key files, still sealed: {names}")
    copies = {}
    for path in present:
        # Copied once: the archive holds exactly the bytes that were hashed.
        copies[FILES + path.name] = Path(shutil.copyfile(path, scratch / path.name))
    return copies


def _member(path: Path) -> Member:
    with path.open("rb") as source:
        return Member(_copy(source), path.stat().st_size)


def _write_archive(output: Path, manifest: Manifest, members: dict[str, Path]) -> None:
    mtime = int(dt.datetime.fromisoformat(manifest.created).timestamp())
    with _atomic_file(output) as handle, tarfile.open(fileobj=handle, mode="w:gz") as tar:
        manifest_bytes = manifest.to_json()
        tar.addfile(_entry(MANIFEST, len(manifest_bytes), mtime), io.BytesIO(manifest_bytes))
        for name, path in members.items():
            with path.open("rb") as source:
                tar.addfile(_entry(name, path.stat().st_size, mtime), source)


def _entry(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    # No owner names or ids of this machine in the archive; owner-only permissions.
    entry = tarfile.TarInfo(name)
    entry.size, entry.mtime, entry.mode = size, mtime, 0o600
    return entry


# --- restoring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    replaced: list[str]  # what was in the target before, now replaced or removed
    key_files: list[str]
    indexed: int | None  # organisations in the hub's rebuilt search index
    not_ready: str | None = None  # why the service cannot start on it yet (its schema)


def restore_backup(
    service: str,
    data_dir: Path,
    archive: Path,
    *,
    force: bool = False,
    clean: bool = False,
    report: Report = _quiet,
) -> Restored:
    """Restore ``archive`` into ``service``'s data dir and database. A non-empty data dir is
    only replaced with ``force``, a non-empty PostgreSQL database with ``force`` and
    ``clean``; the archive and the target are checked before anything is written."""
    report(f"Checking {archive}: its manifest and every checksum")
    manifest = verify_archive(archive, service)
    data_dir = data_dir.expanduser().resolve()
    database = Database.of(service, data_dir)
    report("Checking the target data dir and database")
    replaced = _check_target(service, data_dir, manifest, database, force=force, clean=clean)
    if replaced:
        report(f"Replacing (--force): {', '.join(replaced)}")
    data_dir = datadir.ensure_data_dir(data_dir)
    with _scratch_dir(data_dir) as scratch:
        staged = _extract(archive, manifest, scratch)
        report(f"Restoring the database ({manifest.database})")
        _restore_database(database, staged[DATABASE_MEMBERS[manifest.database]], clean)
        report("Restoring the key files (mode 0600)")
        restored = _install_key_files(service, data_dir, staged)
    if service != "hub":
        return Restored(manifest, replaced, restored, None)
    report("Rebuilding the search index from the database")
    try:
        return Restored(manifest, replaced, restored, _rebuild_search_index(data_dir))
    except DatabaseNotReady as error:
        # Another Ponte's schema: the database and keys are in place all the same, and the hub
        # fills its (removed) index when it first starts on the upgraded database.
        return Restored(manifest, replaced, restored, None, error.message)


def verify_archive(archive: Path, service: str | None = None) -> Manifest:
    """The archive's manifest, once every member matched its checksum (and the archive is a
    backup of ``service``, if given); BackupError otherwise. Reads only."""
    if not archive.is_file():
        raise BackupError(f"There is no backup file at {archive}.")
    with _open_archive(archive) as tar:
        manifest = _read_manifest(tar, archive)
        if service is not None and manifest.service != service:
            raise BackupError(
                f"{archive} is a backup of a {manifest.service}, not of a {service}: restore "
                f"it with `ponte {manifest.service} restore`."
            )
        seen = {_check_member(tar, member, manifest, archive) for member in _members(tar)}
        _read_to_end(tar)
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BackupError(f"{archive} is incomplete: {', '.join(missing)} missing.")
    return manifest


@contextmanager
def _open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise BackupError(
            f"{archive} is damaged or is not a Ponte backup ({error or type(error).__name__})."
        ) from error


def _read_to_end(tar: tarfile.TarFile) -> None:
    # tarfile stops at the end-of-archive marker, but gzip checks its CRC and length only at
    # the end of its stream: a damaged copy must not pass for a good one.
    while tar.fileobj is not None and tar.fileobj.read(CHUNK):
        pass


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> Manifest:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise BackupError(f"{archive} is not a Ponte backup: it does not start with a manifest.")
    if first.size > MAX_MANIFEST_BYTES:
        raise BackupError(f"{archive} is not a Ponte backup: its manifest is too large.")
    try:
        return Manifest.from_json(_read(tar, first).read())
    except BackupError as error:
        raise BackupError(f"{archive} cannot be restored: {error}.") from error


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    return (member for member in tar if member.name != MANIFEST)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:  # not a regular file; _check_member refuses those first
        raise BackupError(f"{member.name} is not a file.")
    return handle


def _check_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, manifest: Manifest, archive: Path
) -> str:
    expected = manifest.files.get(member.name)
    if expected is None or not member.isfile():
        raise BackupError(f"{archive} holds {member.name!r}, which its manifest does not list.")
    if member.size != expected.size or _copy(_read(tar, member)) != expected.sha256:
        raise BackupError(
            f"{member.name} in {archive} does not match its checksum: the backup is damaged "
            "or was altered. Use another copy."
        )
    return member.name


def _check_target(
    service: str,
    data_dir: Path,
    manifest: Manifest,
    database: Database,
    *,
    force: bool,
    clean: bool,
) -> list[str]:
    """What the restore would replace; BackupError where it may not (reads only)."""
    if manifest.database != database.kind:
        raise BackupError(
            f"This backup holds a {manifest.database} database, but the target's database is "
            f"{database.kind} ({database.shown}). Restore onto the same kind: set or unset "
            "DATABASE_URL accordingly."
        )
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupError(f"{data_dir} is not a directory.")
    present = sorted(entry.name for entry in data_dir.iterdir()) if data_dir.exists() else []
    if present and not force:
        shown = ", ".join(present[:6]) + (", ..." if len(present) > 6 else "")
        raise BackupError(
            f"{data_dir} is not empty ({shown}). Restore into an empty data dir, or add --force "
            f"to replace the {service}'s database and keys there with the backup's."
        )
    replaced = [name for name in present if name in _restored_names(service, data_dir, database)]
    if database.kind == "sqlite" and database.sqlite_path.parent != data_dir:
        replaced += _existing_sqlite(database, force)
    if database.kind == "postgresql":
        replaced += _existing_tables(database, force=force, clean=clean)
    return replaced


def _restored_names(service: str, data_dir: Path, database: Database) -> set[str]:
    """The entries of the data dir a restore replaces or removes; it keeps any other."""
    names = {path.name for path in key_files(service, data_dir)}
    if database.kind == "sqlite" and database.sqlite_path.parent == data_dir:
        sqlite = database.sqlite_path.name
        names |= {sqlite, *(sqlite + suffix for suffix in SQLITE_SIDE_FILES)}
    if service == "hub":
        from hub.search_index import INDEX_DIR

        names.add(INDEX_DIR)
    return names


def _existing_sqlite(database: Database, force: bool) -> list[str]:
    """A SQLite file outside the data dir (DATABASE_URL) is as much the target as the dir."""
    if not database.sqlite_path.exists():
        return []
    if not force:
        raise BackupError(f"The database {database.sqlite_path} exists: add --force to replace it.")
    return [str(database.sqlite_path)]


def _existing_tables(database: Database, *, force: bool, clean: bool) -> list[str]:
    tables = _postgres_tables(database)
    if not tables:
        return []
    if not (force and clean):
        raise BackupError(
            f"The database {database.shown} is not empty ({len(tables)} tables). Restore into "
            "an empty database, or add --force --clean to drop and replace what the backup "
            "holds."
        )
    return [f"the {len(tables)} tables of {database.shown}"]


def _extract(archive: Path, manifest: Manifest, scratch: Path) -> dict[str, Path]:
    """Every member into ``scratch``, checked again as it is written: the file could have
    changed since it was verified."""
    staged = {}
    with _open_archive(archive) as tar:
        for member in _members(tar):
            target = scratch / PurePosixPath(member.name).name
            with _read(tar, member) as source, _private_file(target) as sink:
                digest = _copy(source, sink)
            expected = manifest.files.get(member.name)
            if expected is None or digest != expected.sha256:
                raise BackupError(f"{archive} changed while it was restored; nothing was changed.")
            staged[member.name] = target
    return staged


def _restore_database(database: Database, staged: Path, clean: bool) -> None:
    if database.kind == "sqlite":
        _install_sqlite(staged, database.sqlite_path)
        return
    options = ["--clean", "--if-exists"] if clean else []
    # One transaction: a failed restore leaves the database as it was. The restored objects
    # belong to the user the service connects as, whoever owned them where the dump was made.
    _run_postgres(
        database,
        "pg_restore",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        *options,
        str(staged),
    )


def _install_sqlite(staged: Path, target: Path) -> None:
    # The old database's write-ahead log would be replayed into the new file: remove it first.
    for suffix in SQLITE_SIDE_FILES:
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, target)  # a rename, unless DATABASE_URL puts it on another disk


def _install_key_files(service: str, data_dir: Path, staged: dict[str, Path]) -> list[str]:
    restored = []
    for path in key_files(service, data_dir):
        copy = staged.get(FILES + path.name)
        if copy is None:
            path.unlink(missing_ok=True)  # the backed-up service had none: neither has this
        else:
            os.replace(copy, path)  # the staged copy is already 0600
            restored.append(path.name)
    return restored


def _rebuild_search_index(data_dir: Path) -> int:
    """hub.create_app opens an empty index and fills it from the database; an old index in
    the data dir described another database, so it goes first."""
    from hub import create_app
    from hub.extensions import db
    from hub.search_index import INDEX_DIR, search_index

    shutil.rmtree(data_dir / INDEX_DIR, ignore_errors=True)
    app = create_app(data_dir)
    with app.app_context():
        index = search_index()
        try:
            return index.count()
        finally:
            index.close()
            db.engine.dispose()


# --- PostgreSQL ---------------------------------------------------------------------------


def libpq_connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for a SQLAlchemy URL (``postgresql+psycopg://...``) and the
    environment that carries its password: every user of the machine can read a command
    line, not a process's environment."""
    parsed = make_url(url)
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "dbname": parsed.database,
    }
    params |= {key: _last(value) for key, value in parsed.query.items()}
    password = params.pop("password", None) or parsed.password
    conninfo = " ".join(
        f"{key}={_libpq_quote(str(value))}" for key, value in params.items() if value
    )
    return conninfo, ({"PGPASSWORD": str(password)} if password else {})


def _last(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else value[-1]


def _libpq_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def postgres_program(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, else the newest in Debian's versioned dirs."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(POSTGRES_PROGRAMS.glob(f"*/bin/{name}"), key=_major_version)
    if not installed:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client programs "
            "(apt-get install postgresql-client)."
        )
    return str(installed[-1])


def _major_version(program: Path) -> tuple[int, ...]:
    version = program.parent.parent.name  # /usr/lib/postgresql/<version>/bin/<program>
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _run_postgres(database: Database, program: str, *arguments: str) -> None:
    conninfo, secrets = libpq_connection(database.url)
    command = [postgres_program(program), "--no-password", f"--dbname={conninfo}", *arguments]
    result = subprocess.run(
        command, env={**os.environ, **secrets}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{program} failed on {database.shown}: {result.stderr.strip()}")


def _postgres_tables(database: Database) -> list[str]:
    """The tables in the database's default schema; BackupError if it cannot be reached."""
    engine = create_engine(database.url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip()
        raise BackupError(f"The database {database.shown} cannot be reached: {reason}") from error
    finally:
        engine.dispose()


# --- files --------------------------------------------------------------------------------


def ponte_version() -> str:
    try:
        return metadata.version("ponte")
    except metadata.PackageNotFoundError:
        return "unknown"


def _copy(source: IO[bytes], sink: IO[bytes] | None = None) -> str:
    """Read ``source`` to its end (writing it to ``sink``, if given); its SHA-256, in hex."""
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest()


@contextmanager
def _scratch_dir(parent: Path) -> Iterator[Path]:
    """A private directory (0700) for files in transit, which hold personal data; removed
    afterwards, whatever happens."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=".ponte-backup-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _private_file(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A new file (0600) that appears at ``path`` whole, or not at all."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
