"""Settings: environment variables and an optional TOML file, checked once at start-up.

Every setting has a NAME (``SMTP_PORT``). It comes from, first to last:

1. the environment variable ``PONTE_<NAME>`` (``PONTE_SMTP_PORT``), or the older bare name
   some settings had before (``SMTP_PORT``, ``DATABASE_URL``, ``HUB_URL``...);
2. the config file named by ``--config FILE`` or ``PONTE_CONFIG``: TOML, one ``name = value``
   per line in lower case (``smtp_port = 587``);
3. its default.

:func:`load_settings` turns them into typed values, or raises :class:`ConfigError` listing
every bad one as ``NAME: what it must be, got 'what it is'``; an empty variable counts as
unset (systemd environment files often hold ``NAME=``). Secrets (passphrases, the SMTP
password, the metrics token, the password inside ``DATABASE_URL``) are never shown: neither
in an error nor by :meth:`Settings.display`.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from limits import parse_many
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from directory.places import LANGUAGES
from protocol.padding import MAX_ATTACHMENT_BUCKET

SERVICES = ("hub", "node")
CONFIG_VARIABLE = "PONTE_CONFIG"
HIDDEN = "(set, hidden)"
MAX_DEFAULT_WORKERS = 8  # each worker holds its own database pool and, on a node, its keys
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})

Raw = str | int | float | bool


class Invalid(ValueError):
    """A value a setting cannot take; the message says what it must be."""


class ConfigError(click.ClickException):
    """Bad settings. The ``ponte`` command exits 2 with the message (bad input)."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        if len(problems) == 1:
            message = problems[0]
        else:
            message = f"{len(problems)} settings need a correction:\n" + "\n".join(
                f"  - {problem}" for problem in problems
            )
        super().__init__(message)


# -- parsers: each turns a raw value into a typed one, or raises Invalid ---------------------


def _shown(raw: Raw) -> str:
    return repr(raw) if isinstance(raw, str) else str(raw).lower()


def _text(raw: Raw) -> str:
    if not isinstance(raw, str):
        raise Invalid(f"must be text, got {_shown(raw)}")
    value = raw.strip()
    if any(ord(char) < 32 for char in value):  # would let a value inject a header line
        raise Invalid("must be one line of text without control characters")
    return value


def number(low: float, high: float, unit: str = "", whole: bool = True) -> Callable[[Raw], Any]:
    kind = int if whole else float
    expected = f"must be a number from {low:g} to {high:g}{unit}"

    def parse(raw: Raw) -> int | float:
        try:
            if isinstance(raw, bool) or (whole and isinstance(raw, float)):
                raise ValueError
            value = kind(raw.strip() if isinstance(raw, str) else raw)
        except ValueError:
            raise Invalid(f"{expected}, got {_shown(raw)}") from None
        if not low <= value <= high:
            raise Invalid(f"{expected}, got {_shown(raw)}")
        return value

    return parse


def boolean(raw: Raw) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise Invalid(f"must be true or false (or yes/no, on/off, 1/0), got {_shown(raw)}")


def web_address(example: str) -> Callable[[Raw], str]:
    """An http(s) address with a host; kept without its trailing slash."""

    def parse(raw: Raw) -> str:
        text = _text(raw)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
            raise Invalid(
                f"must be an https:// or http:// address such as {example}, got {_shown(raw)}"
            )
        return text.rstrip("/")

    return parse


def one_line(raw: Raw) -> str:
    value = _text(raw)
    if not value or len(value) > 200:
        raise Invalid(f"must be one line of 1 to 200 characters, got {_shown(raw)}")
    return value


def host_name(raw: Raw) -> str:
    value = _text(raw)
    if not value or " " in value or len(value) > 253:
        raise Invalid(f"must be a host name such as mail.ngo.example, got {_shown(raw)}")
    return value


def email_address(raw: Raw) -> str:
    value = _text(raw)
    if "@" not in value or " " in value.split("<")[-1]:
        raise Invalid(f"must be an e-mail address such as ponte@ngo.example, got {_shown(raw)}")
    return value


def secret(raw: Raw) -> str:
    if not isinstance(raw, str) or "\n" in raw:
        raise Invalid("must be one line of text (the value is not shown)")
    return raw


def path(raw: Raw) -> Path:
    value = _text(raw)
    if not value:
        raise Invalid("must be a directory path such as /var/lib/ponte/hub")
    return Path(value).expanduser().resolve()


def choice(*options: str) -> Callable[[Raw], str]:
    def parse(raw: Raw) -> str:
        value = _text(raw).lower()
        if value not in options:
            raise Invalid(f"must be one of {', '.join(options)}, got {_shown(raw)}")
        return value

    return parse


def addresses(raw: Raw) -> str:
    """gunicorn's ``forwarded_allow_ips``: addresses or networks, comma-separated, or ``*``."""
    value = _text(raw)
    try:
        for part in filter(None, (part.strip() for part in value.split(","))):
            if part != "*":
                ipaddress.ip_network(part)
    except ValueError:
        raise Invalid(
            "must be IP addresses or networks separated by commas (127.0.0.1,::1 or "
            f"10.0.0.0/8), or *, got {_shown(raw)}"
        ) from None
    return value


def rate_limit(raw: Raw) -> str:
    text = _text(raw)
    try:
        parse_many(text)
    except ValueError:
        raise Invalid('must be limits such as "10 per minute; 100 per hour"') from None
    return text


def limit_storage(raw: Raw) -> str:
    text = _text(raw)
    if urlsplit(text).scheme not in ("memory", "redis", "rediss", "memcached"):
        raise Invalid("must be memory://, redis://HOST:PORT or memcached://HOST:PORT")
    return text


def database_url(raw: Raw) -> str:
    """A SQLAlchemy URL for PostgreSQL or SQLite. ``postgresql://`` gets the psycopg (3)
    driver Ponte installs: SQLAlchemy would otherwise look for psycopg2."""
    text = raw.strip() if isinstance(raw, str) else ""
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        url = None
    if url is None or url.get_backend_name() not in ("postgresql", "postgres", "sqlite"):
        raise Invalid(
            "must be a database URL such as postgresql://ponte:PASSWORD@localhost/ponte_hub "
            "or sqlite:////var/lib/ponte/hub/hub.sqlite3 (the value is not shown: it may "
            "hold a password)"
        )
    if url.drivername in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text  # as given: rendering it again could change how its query is quoted


def masked_database_url(value: str) -> str:
    url: URL = make_url(value)
    return url.render_as_string(hide_password=True)


def default_workers() -> int:
    """gunicorn's rule of thumb, 2 x cores + 1, capped: the work is mostly database and
    network waits, and each worker costs memory."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(2 * cores + 1, MAX_DEFAULT_WORKERS)


# -- the settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    services: tuple[str, ...]
    parse: Callable[[Raw], Any]
    help: str
    default: Any = None
    unset: str = "not set"  # what happens when it is not set and has no default
    secret: bool = False
    legacy: bool = False  # the bare NAME is honoured too (it was read before PONTE_NAME)
    flask: bool = True  # copied into the Flask config under its name

    @property
    def variables(self) -> tuple[str, ...]:
        return (f"PONTE_{self.name}", self.name) if self.legacy else (f"PONTE_{self.name}",)

    @property
    def file_key(self) -> str:
        return self.name.lower()


BOTH = SERVICES
HUB = ("hub",)
NODE = ("node",)

SETTINGS: tuple[Setting, ...] = (
    # where data lives
    Setting("DATA_DIR", BOTH, path, "the data dir of `hub.wsgi`/`node.wsgi` under your own "
            "gunicorn (the commands take --data-dir instead)", flask=False),
    Setting("DATABASE_URL", BOTH, database_url, "PostgreSQL (or SQLite) database URL",
            unset="the SQLite file in the data dir", legacy=True, flask=False),
    # behind a proxy
    Setting("TRUSTED_PROXIES", BOTH, number(0, 5), "how many proxies in front set "
            "X-Forwarded-For/-Proto/-Host (0: trust no such header)", default=0),
    Setting("FORWARDED_ALLOW_IPS", BOTH, addresses, "addresses gunicorn takes "
            "X-Forwarded-Proto from when TRUSTED_PROXIES > 0", default="127.0.0.1,::1",
            legacy=True, flask=False),
    Setting("SECURE_COOKIES", BOTH, boolean, "send sign-in cookies over HTTPS only (set "
            "it behind TLS)", default=False),
    Setting("SESSION_LIFETIME", BOTH, number(5, 10080, " minutes"), "longest sign-in, in "
            "minutes", default=720),
    Setting("SESSION_IDLE_TIMEOUT", BOTH, number(5, 1440, " minutes"), "sign-out after "
            "this many idle minutes", default=30),
    # gunicorn (serve --production)
    Setting("WORKERS", BOTH, number(1, 64), "gunicorn worker processes",
            default=default_workers(), flask=False),
    Setting("THREADS", BOTH, number(1, 64), "threads per gunicorn worker", default=4,
            flask=False),
    # observability (ponte.observability reads these too)
    Setting("LOG_FORMAT", BOTH, choice("text", "json"), "log lines as text or JSON",
            default="text"),
    Setting("METRICS_TOKEN", BOTH, secret, "bearer token that opens /metrics",
            unset="/metrics is closed", secret=True),
    Setting("METRICS_ALLOW_LOCALHOST", BOTH, boolean, "let 127.0.0.1 read /metrics "
            "without the token", default=False),
    # abuse limits (ponte.limits)
    Setting("RATE_LIMITS", BOTH, boolean, "answer 429 to a client over a limit below",
            default=True),
    Setting("RATE_LIMIT_STORAGE", BOTH, limit_storage, "where the counters live; "
            "redis:// or memcached:// shared by every worker and instance",
            default="memory://"),
    Setting("RATE_LIMIT_LOGIN", BOTH, rate_limit, "sign-in attempts per client address",
            default="10 per minute; 50 per hour"),
    Setting("RATE_LIMIT_TOKEN", HUB, rate_limit, "OAuth token requests per address",
            default="60 per minute"),
    Setting("RATE_LIMIT_INVITATION", HUB, rate_limit, "invitation redemptions (enrolment) "
            "per address", default="10 per minute; 30 per hour"),
    Setting("RATE_LIMIT_SEARCH", HUB, rate_limit, "directory searches per address",
            default="120 per minute"),
    Setting("RATE_LIMIT_RELAY", HUB, rate_limit, "relay posts (envelopes, files) per "
            "address", default="600 per minute"),
    # the hub
    Setting("HUB_PASSPHRASE", HUB, secret, "unlocks the hub key (enrolment, attestations, "
            "signed publications)", unset="the hub key stays locked", secret=True),
    Setting("HUB_URL", HUB, web_address("https://hub.example.org"), "the hub's public "
            "address (OAuth audience, feed ids, links)", unset="each request's address",
            legacy=True),
    Setting("SECRETARIAT_NAME", HUB, one_line, "the feeds' author",
            default="Ponte secretariat", legacy=True),
    Setting("OAUTH_TOKEN_LIFETIME", HUB, number(60, 900, " seconds"), "nodes' access "
            "token lifetime", default=600),
    Setting("SEARCH_INDEX_DIR", HUB, path, "the directory search index",
            unset="index/ in the data dir"),
    Setting("SEARCH_FOLLOW_INTERVAL", HUB, number(0, 3600, " seconds", whole=False),
            "seconds between two looks at the directory's change log, which keeps this "
            "instance's search index current (0: no follower thread)", default=1.0),
    # the node
    Setting("PASSPHRASE", NODE, secret, "unlocks the node's keystore", secret=True,
            unset="asked for at a terminal", flask=False),
    Setting("NODE_URL", NODE, web_address("https://ponte.ngo.example"), "the node's public "
            "address (links in e-mails)", legacy=True),
    Setting("NODE_SYNC_INTERVAL", NODE, number(0, 86400, " seconds", whole=False),
            "seconds between sync passes (0: no sync thread in `serve`)", default=5.0,
            legacy=True, flask=False),
    Setting("SMTP_HOST", NODE, host_name, "mail server for the e-mail digest",
            unset="no digest", legacy=True),
    Setting("SMTP_PORT", NODE, number(1, 65535), "mail server port",
            unset="587 (25 without STARTTLS)", legacy=True),
    Setting("SMTP_USERNAME", NODE, one_line, "mail server account", legacy=True),
    Setting("SMTP_PASSWORD", NODE, secret, "mail server password", secret=True, legacy=True),
    Setting("SMTP_STARTTLS", NODE, boolean, "STARTTLS to the mail server", default=True,
            legacy=True),
    Setting("SMTP_FROM", NODE, email_address, "the digest's sender address", legacy=True),
    Setting("LANGUAGE", NODE, choice(*LANGUAGES), "the language of the e-mail digest "
            f"({', '.join(LANGUAGES)})", default="en"),
    Setting("ATTACHMENT_MAX_FILES", NODE, number(1, 20), "files per referral", default=5),
    Setting("ATTACHMENT_MAX_FILE_BYTES", NODE, number(1024, MAX_ATTACHMENT_BUCKET - 1,
            " bytes"), "largest attachment", default=20 * 1024 * 1024),
    Setting("RETENTION_DAYS", NODE, number(1, 3650, " days"), "days a closed case's "
            "personal data is kept before the daily purge erases it", default=90),
)  # fmt: skip
BY_NAME = {setting.name: setting for setting in SETTINGS}
BY_FILE_KEY = {setting.file_key: setting for setting in SETTINGS}


def settings_for(service: str | None) -> list[Setting]:
    """A service's settings; ``None``: those every service has (what gunicorn's config uses)."""
    wanted = SERVICES if service is None else (service,)
    return [s for s in SETTINGS if all(name in s.services for name in wanted)]


@dataclass(frozen=True)
class Settings:
    service: str | None
    values: Mapping[str, Any]  # every setting of the service: its value, default or None
    sources: Mapping[str, str] = field(default_factory=dict)  # only the settings that are set
    config_file: Path | None = None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def is_set(self, name: str) -> bool:
        return name in self.sources

    def shown(self, name: str) -> str:
        """The value as an admin may see it: secrets hidden, a database password masked."""
        setting, value = BY_NAME[name], self.values[name]
        if not self.is_set(name) and value is None:
            return f"({setting.unset})"
        if setting.secret:
            return HIDDEN
        if name == "DATABASE_URL":
            return masked_database_url(value)
        if isinstance(value, bool):
            return str(value).lower()
        return f"{value:g}" if isinstance(value, float) else str(value)

    def display(self) -> list[tuple[str, str, str]]:
        """(name, shown value, where it came from) for every setting of the service."""
        return [(name, self.shown(name), self.sources.get(name, "default")) for name in self.values]

    def flask_config(self) -> dict[str, Any]:
        """The settings that were set, as Flask config keys. Secrets from the environment
        stay out: the code that uses them reads the environment when it needs them."""
        import datetime as dt

        config: dict[str, Any] = {}
        for name, source in self.sources.items():
            setting, value = BY_NAME[name], self.values[name]
            if not setting.flask or (setting.secret and source.startswith("environment")):
                continue
            if name == "SECURE_COOKIES":
                config["SESSION_COOKIE_SECURE"] = value
                config["PREFERRED_URL_SCHEME"] = "https" if value else "http"
            elif name in ("SESSION_LIFETIME", "SESSION_IDLE_TIMEOUT"):
                config[f"PONTE_{name}"] = dt.timedelta(minutes=value)
            elif name == "LANGUAGE":  # a bare LANGUAGE would read like gettext's own variable
                config["PONTE_LANGUAGE"] = value
            else:
                config[name] = str(value) if isinstance(value, Path) else value
        return config


def load_settings(
    service: str | None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The settings of ``service``; :class:`ConfigError` names every bad one."""
    settings, problems = read_settings(service, config_file, environ)
    if problems:
        raise ConfigError(problems)
    return settings


def read_settings(
    service: str | None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, list[str]]:
    """The settings and every problem found (for ``check-config``, which lists them all)."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    file_name = config_file or environ.get(CONFIG_VARIABLE) or None
    file_path = Path(file_name) if file_name else None
    from_file = _read_file(file_path, service, problems) if file_path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in settings_for(service):
        raw, source = _raw_value(setting, environ, from_file, file_path)
        values[setting.name] = setting.default
        if raw is None:
            continue
        try:
            values[setting.name] = setting.parse(raw)
            sources[setting.name] = source
        except Invalid as error:
            problems.append(f"{setting.name}: {error} (from {source})")
    problems += _mail_problems(sources)
    return Settings(service, values, sources, file_path), problems


def _raw_value(
    setting: Setting, environ: Mapping[str, str], from_file: Mapping[str, Raw], file: Path | None
) -> tuple[Raw | None, str]:
    for variable in setting.variables:
        if environ.get(variable, "") != "":
            return environ[variable], f"environment variable {variable}"
    if setting.name in from_file:
        return from_file[setting.name], str(file)
    return None, "default"


def _read_file(path: Path, service: str | None, problems: list[str]) -> dict[str, Raw]:
    """The file's settings by NAME; what is wrong with it goes to ``problems``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{CONFIG_VARIABLE}: cannot read the config file {path}: {error.strerror}")
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        problems.append(f"{CONFIG_VARIABLE}: {path} is not valid TOML: {error}")
        return {}
    found: dict[str, Raw] = {}
    for key, raw in data.items():
        problem = _file_key_problem(key, raw, service)
        if problem:
            problems.append(f"{path}: {problem}")
        else:
            found[BY_FILE_KEY[key].name] = raw
    problems += _exposed_secrets(path, found)
    return found


def _file_key_problem(key: str, raw: object, service: str | None) -> str | None:
    setting = BY_FILE_KEY.get(key)
    if setting is None:
        hint = f" (write it in lower case: {key.lower()})" if key.lower() in BY_FILE_KEY else ""
        return f"unknown setting {key!r}{hint}"
    if service is not None and service not in setting.services:
        return f"{key!r} is a setting of the {' and '.join(setting.services)}, not the {service}"
    if not isinstance(raw, str | int | float | bool):
        return f"{key!r} must be a single value, not a {type(raw).__name__}"
    return None


def _exposed_secrets(path: Path, found: Iterable[str]) -> list[str]:
    """A file that holds a secret must not be readable by every user of the machine."""
    secrets = [BY_NAME[name].file_key for name in found if BY_NAME[name].secret]
    if not secrets:
        return []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & stat.S_IROTH:
        return [
            f"{path}: holds {', '.join(secrets)} but every user can read it (mode "
            f"{mode:04o}); run chmod 640 {path} (owner root, group ponte)"
        ]
    return []


def _mail_problems(sources: Mapping[str, str]) -> list[str]:
    """The e-mail digest needs its server, its sender and the node's address together."""
    needed = ("SMTP_HOST", "SMTP_FROM", "NODE_URL")
    given = [name for name in needed if name in sources]
    if "SMTP_HOST" not in given and "SMTP_FROM" not in given:
        return []  # no digest wanted (NODE_URL alone is harmless)
    return [
        f"{name}: must be set when {' and '.join(given)} "
        f"{'is' if len(given) == 1 else 'are'} (the e-mail digest needs all three)"
        for name in needed
        if name not in given
    ]


def data_dir_of(settings: Settings, service: str) -> Path:
    """``DATA_DIR`` for the WSGI entry points, which have no ``--data-dir``."""
    if settings["DATA_DIR"] is None:
        raise ConfigError(
            [
                f"DATA_DIR: must be set: PONTE_DATA_DIR names the {service}'s data directory "
                f"(`ponte {service} serve --production` sets it)"
            ]
        )
    return Path(settings["DATA_DIR"])
