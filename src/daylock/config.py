"""Typed, frozen configuration read once from the environment, and the per-environment
policy table.

This module is the only place that says what differs between ``production``,
``staging`` and ``development``. Guards, settings, the banner, logging, the clock and
the test utilities read :data:`POLICIES` (through :attr:`Config.policy`); nothing else
compares ``APP_ENV`` to a literal.

Parsing is strict and fails closed: a missing ``APP_ENV`` never means "development"
and never means "production". Every problem is raised as a :class:`Refusal` that names
the guard, the variable, what was found and how to fix it.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent
#: Where the development default keeps its SQLite file (``make run``).
VAR_DIR = Path(os.environ.get("DAYLOCK_VAR_DIR", Path.cwd() / "var"))

DISCORD_API_DEFAULT = "https://discord.com/api/v10"
#: Discord's CDN (avatars), which goes with Discord's API.
DISCORD_CDN_DEFAULT = "https://cdn.discordapp.com"
#: Hosts of Discord's own API: their CDN is :data:`DISCORD_CDN_DEFAULT`.
DISCORD_API_HOSTS = frozenset(
    {"discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"}
)
#: Where the in-process Discord emulator is mounted in development.
EMULATOR_MOUNT = "/_emulator/discord"
#: The OAuth2 callback path; the full callback URL is ``PUBLIC_URL + OAUTH_CALLBACK_PATH``.
OAUTH_CALLBACK_PATH = "/auth/discord/callback/"
#: Path prefix of the admin-only test utilities (never mounted in production).
TESTTOOLS_PREFIX = "/staff/testtools/"

#: ``DATABASE_URL`` query parameters that tune the connection without moving it. Any
#: other (``dbname``, ``options``/``search_path``, ``service``, ``host``…) could put
#: Daylock into another database or schema than the URL's path names: refused.
DATABASE_URL_PARAMETERS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslpassword",
        "channel_binding",
        "gssencmode",
        "connect_timeout",
        "application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    }
)
#: libpq's environment variables that choose a database, schema or server behind the
#: URL's back (``PGOPTIONS='-c search_path=…'``, a service file's ``dbname``…).
LIBPQ_REDIRECTING_VARIABLES = (
    "PGDATABASE",
    "PGOPTIONS",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGHOSTADDR",
)

#: How old the last complete member sync may be when entries close, unless
#: ``DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES`` says otherwise (the worker syncs every 10 min).
DEFAULT_MEMBER_SYNC_MAX_AGE_MINUTES = 60
#: How long before an event's last day opens its reminder is posted, unless
#: ``DAYLOCK_LAST_DAY_REMINDER_HOURS`` says otherwise (see daylock.discord.lifecycle).
DEFAULT_LAST_DAY_REMINDER_HOURS = 24

MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARS = 5


class Environment(enum.StrEnum):
    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"


class DeliveryMode(enum.StrEnum):
    """How Discord side effects leave the process (decided per message at delivery)."""

    LIVE = "live"  # really sent
    ALLOWLIST = "allowlist"  # sent only to allow-listed channels of the test guild
    CAPTURE = "capture"  # nothing leaves; everything kept for staff to read


class Refusal(Exception):
    """A guard refused to let the process start (exit status 2).

    ``str(refusal)`` is the single line printed after ``daylock: refused: ``.
    """

    def __init__(self, guard: str, found: str, fix: str) -> None:
        super().__init__(f"{guard}: {found}; {fix}")
        self.guard = guard
        self.found = found
        self.fix = fix


@dataclass(frozen=True)
class EnvironmentPolicy:
    """Everything that differs between environments. One row per environment."""

    environment: Environment
    is_production: bool
    requires_postgres: bool
    requires_redis: bool
    default_database_url: str | None
    default_public_url: str | None
    default_secret_key: str | None
    requires_strong_secret_key: bool
    requires_https: bool
    requires_production_ids_listed: bool
    log_level: str
    log_format: str  # "json" | "human"
    debug: bool
    test_utilities: bool
    clock_override: bool
    allowed_delivery_modes: frozenset[DeliveryMode]
    default_delivery_mode: DeliveryMode
    simulated_prizes: bool
    #: Running a draw releases real prizes: ask for explicit confirmation.
    draws_need_confirmation: bool
    #: Importing an event pack (``daylock event import``, the staff upload page) changes
    #: what real members play: ask for the environment's name typed (or ``--yes``).
    imports_need_confirmation: bool
    #: Staff may read captured/blocked messages in full (a mail catcher); in production
    #: real members' DMs are not for browsing, the pages show a preview.
    outbox_full_content: bool
    #: Also answer on localhost/127.0.0.1/testserver besides PUBLIC_URL's host.
    allows_local_hosts: bool
    seed_and_reset: bool
    #: The Discord emulator, where this environment runs one (``daylock emulator``, the
    #: embedded one), offers the seeded test accounts (:mod:`daylock.seeded_accounts`)
    #: on its consent page. Production talks to Discord itself: never.
    emulator_offers_seeded_accounts: bool
    embedded_emulator: bool
    #: ``daylock runserver PORT`` without a ``PUBLIC_URL`` serves (and takes its OAuth
    #: callback and emulator address) on that port, not the policy's default one.
    public_url_from_runserver: bool
    banner: str | None

    @property
    def name(self) -> str:
        return self.environment.value


POLICIES: Mapping[Environment, EnvironmentPolicy] = {
    Environment.PRODUCTION: EnvironmentPolicy(
        environment=Environment.PRODUCTION,
        is_production=True,
        requires_postgres=True,
        requires_redis=True,
        default_database_url=None,
        default_public_url=None,
        default_secret_key=None,
        requires_strong_secret_key=True,
        requires_https=True,
        requires_production_ids_listed=True,
        log_level="INFO",
        log_format="json",
        debug=False,
        test_utilities=False,
        clock_override=False,
        allowed_delivery_modes=frozenset({DeliveryMode.LIVE}),
        default_delivery_mode=DeliveryMode.LIVE,
        simulated_prizes=False,
        draws_need_confirmation=True,
        imports_need_confirmation=True,
        outbox_full_content=False,
        allows_local_hosts=False,
        seed_and_reset=False,
        emulator_offers_seeded_accounts=False,
        embedded_emulator=False,
        public_url_from_runserver=False,
        banner=None,
    ),
    Environment.STAGING: EnvironmentPolicy(
        environment=Environment.STAGING,
        is_production=False,
        requires_postgres=True,
        requires_redis=True,
        default_database_url=None,
        default_public_url=None,
        default_secret_key=None,
        requires_strong_secret_key=True,
        requires_https=False,
        requires_production_ids_listed=True,
        log_level="DEBUG",
        log_format="json",
        debug=False,
        test_utilities=True,
        clock_override=True,
        allowed_delivery_modes=frozenset({DeliveryMode.ALLOWLIST, DeliveryMode.CAPTURE}),
        default_delivery_mode=DeliveryMode.CAPTURE,
        simulated_prizes=True,
        draws_need_confirmation=False,
        imports_need_confirmation=False,
        outbox_full_content=True,
        allows_local_hosts=True,
        seed_and_reset=True,
        emulator_offers_seeded_accounts=True,
        embedded_emulator=False,
        public_url_from_runserver=False,
        banner="STAGING",
    ),
    Environment.DEVELOPMENT: EnvironmentPolicy(
        environment=Environment.DEVELOPMENT,
        is_production=False,
        requires_postgres=False,
        requires_redis=False,
        default_database_url=f"sqlite:///{VAR_DIR / 'development.sqlite3'}",
        default_public_url="http://127.0.0.1:8000",
        default_secret_key="development-only-not-secret-" + "x" * 40,
        requires_strong_secret_key=False,
        requires_https=False,
        requires_production_ids_listed=False,
        log_level="DEBUG",
        log_format="human",
        debug=True,
        test_utilities=True,
        clock_override=True,
        allowed_delivery_modes=frozenset({DeliveryMode.CAPTURE}),
        default_delivery_mode=DeliveryMode.CAPTURE,
        simulated_prizes=True,
        draws_need_confirmation=False,
        imports_need_confirmation=False,
        outbox_full_content=True,
        allows_local_hosts=True,
        seed_and_reset=True,
        emulator_offers_seeded_accounts=True,
        embedded_emulator=True,
        public_url_from_runserver=True,
        banner="DEVELOPMENT",
    ),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    """The whole configuration of one process, parsed once."""

    app_env: Environment
    secret_key: str
    public_url: str
    database_url: str
    redis_url: str | None
    debug: bool
    discord_client_id: str
    discord_client_secret: str
    discord_bot_token: str
    discord_guild_id: str
    discord_api_base: str
    discord_delivery: DeliveryMode
    #: Where avatars are loaded from (``DISCORD_CDN_BASE``); None: the CDN that goes
    #: with ``discord_api_base`` (:attr:`discord_cdn`).
    discord_cdn_base: str | None = None
    discord_allowed_channel_ids: frozenset[str] = field(default_factory=frozenset)
    production_discord_ids: frozenset[str] = field(default_factory=frozenset)
    discord_admin_role_ids: frozenset[str] = field(default_factory=frozenset)
    discord_moderator_role_ids: frozenset[str] = field(default_factory=frozenset)
    #: Closing a prize's entries refuses (unless forced) when the last complete sync of
    #: the guild's members is older than this (``DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES``).
    member_sync_max_age_minutes: int = DEFAULT_MEMBER_SYNC_MAX_AGE_MINUTES
    #: The "last day opens soon" post goes this long before an event's last day unlocks
    #: (``DAYLOCK_LAST_DAY_REMINDER_HOURS``).
    last_day_reminder_hours: int = DEFAULT_LAST_DAY_REMINDER_HOURS

    @property
    def policy(self) -> EnvironmentPolicy:
        return POLICIES[self.app_env]

    @property
    def is_production(self) -> bool:
        return self.policy.is_production

    @property
    def discord_cdn(self) -> str:
        """Discord's CDN for avatars: ``DISCORD_CDN_BASE``, else the one that goes with
        ``DISCORD_API_BASE`` (:func:`cdn_base_for`), so pointing the API at an emulator
        points avatars at it too."""
        return self.discord_cdn_base or cdn_base_for(self.discord_api_base)

    @property
    def oauth_callback_url(self) -> str:
        return self.public_url + OAUTH_CALLBACK_PATH

    @property
    def security_settings(self) -> dict[str, object]:
        """Cookie and HSTS settings this configuration implies (used by settings.py)."""
        https = urlsplit(self.public_url).scheme == "https"
        return {
            "SESSION_COOKIE_SECURE": https,
            "CSRF_COOKIE_SECURE": https,
            "SECURE_HSTS_SECONDS": 31536000 if self.policy.requires_https else 0,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": self.policy.requires_https,
        }

    @property
    def database_engine(self) -> str:
        scheme = urlsplit(self.database_url).scheme
        return "sqlite" if scheme.startswith("sqlite") else "postgresql"


def _flag(environ: Mapping[str, str], name: str) -> bool | None:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise Refusal(
        "flags" if name == "IS_PRODUCTION" else "config",
        f"{name}={environ[name]!r} is not a boolean",
        f"set {name} to true or false (or leave it unset)",
    )


def _id_set(environ: Mapping[str, str], name: str) -> frozenset[str]:
    items = [part.strip() for part in environ.get(name, "").replace(";", ",").split(",")]
    ids = frozenset(item for item in items if item)
    for item in ids:
        if not item.isdigit():
            raise Refusal(
                "config",
                f"{name} contains {item!r}, which is not a Discord id (a snowflake of digits)",
                f"set {name} to a comma-separated list of numeric ids",
            )
    return ids


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise Refusal(
            "config",
            f"{name}={raw!r} is not a whole number of at least 1",
            f"set {name} to a positive number (or leave it unset for {default})",
        )
    return int(raw)


def parse_app_env(environ: Mapping[str, str]) -> Environment:
    """The flags guard: ``APP_ENV`` set and known, ``IS_PRODUCTION`` consistent."""
    raw = environ.get("APP_ENV")
    known = ", ".join(e.value for e in Environment)
    if raw is None or raw.strip() == "":
        raise Refusal(
            "flags",
            "APP_ENV is not set",
            f"set APP_ENV to one of {known}; Daylock never guesses the environment",
        )
    try:
        env = Environment(raw.strip().lower())
    except ValueError:
        raise Refusal(
            "flags", f"APP_ENV={raw!r} is not a known environment", f"set APP_ENV to one of {known}"
        ) from None
    declared = _flag(environ, "IS_PRODUCTION")
    derived = POLICIES[env].is_production
    if declared is not None and declared != derived:
        raise Refusal(
            "flags",
            f"IS_PRODUCTION={environ['IS_PRODUCTION']} contradicts APP_ENV={env.value} "
            f"(which means IS_PRODUCTION={'true' if derived else 'false'})",
            "fix whichever of the two is wrong, or unset IS_PRODUCTION (APP_ENV implies it)",
        )
    return env


def check_database_url_stays_home(url: str, environ: Mapping[str, str]) -> None:
    """Refuse connection settings that move Daylock off the database the URL names.

    Daylock owns a database of its own; the guards then verify, over the live
    connection, that the database reached is the one named here.
    """
    import dj_database_url

    try:
        dj_database_url.parse(url)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except (ValueError, dj_database_url.ParseError) as exc:
        raise Refusal(
            "config",
            f"DATABASE_URL cannot be read as one database's address ({exc})",
            "write it as postgres://user@host:port/name (IPv6 hosts in brackets, "
            "special characters percent-encoded, one host only)",
        ) from None
    if "," in parts.netloc:
        raise Refusal(
            "config",
            "DATABASE_URL names several hosts",
            "name the one server of this environment's own database: postgres://user@host/name",
        )
    names = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)})
    moving = [name for name in names if name.lower() not in DATABASE_URL_PARAMETERS]
    if moving:
        raise Refusal(
            "config",
            f"DATABASE_URL carries {', '.join('?' + n + '=' for n in moving)} (connection "
            "settings that can move Daylock into another database or schema)",
            "remove them: name this environment's own database in the URL's path; Daylock "
            "uses its public schema (allowed: " + ", ".join(sorted(DATABASE_URL_PARAMETERS)) + ")",
        )
    if not unquote(parts.path.lstrip("/")):
        raise Refusal(
            "config",
            "DATABASE_URL names no database",
            "put this environment's own database name in the URL's path: postgres://host/name",
        )
    set_here = [name for name in LIBPQ_REDIRECTING_VARIABLES if environ.get(name, "").strip()]
    if set_here:
        raise Refusal(
            "config",
            f"{', '.join(set_here)} set in the environment (libpq would use it to choose "
            "another database, schema or server than DATABASE_URL names)",
            f"unset {', '.join(set_here)} for Daylock's processes; DATABASE_URL alone says "
            "where the database is",
        )


def check_redis_url(url: str) -> None:
    """A ``REDIS_URL`` redis-py reads as one DB of one server, or a refusal (the guards
    then judge the DB the connection really uses)."""
    from redis.connection import parse_url

    fix = "set REDIS_URL to redis://host:6379/<db> (a DB number of this environment's own)"
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise Refusal("config", f"REDIS_URL has scheme {parts.scheme!r}", fix)
    try:
        parse_url(url)  # type: ignore[no-untyped-call]
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise Refusal("config", f"REDIS_URL cannot be read ({exc})", fix) from None
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise Refusal("config", f"REDIS_URL's path {parts.path!r} is not a DB number", fix)


def cdn_base_for(api_base: str) -> str:
    """The CDN that goes with an API base: Discord's CDN for Discord's API; for any
    other (the emulator), the API's root, where the emulator serves the CDN's paths
    (``…/api/v10`` → ``…``)."""
    parts = urlsplit(api_base)
    if (parts.hostname or "") in DISCORD_API_HOSTS:
        return DISCORD_CDN_DEFAULT
    path = re.sub(r"/api(?:/v\d+)?/*$", "", parts.path).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _cdn_base(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("DISCORD_CDN_BASE", "").strip().rstrip("/")
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise Refusal(
            "config",
            f"DISCORD_CDN_BASE={raw!r} is not an http(s) URL without query",
            "set DISCORD_CDN_BASE to https://cdn.discordapp.com, or leave it unset to use "
            "the CDN that goes with DISCORD_API_BASE",
        )
    return raw


def runserver_public_url(args: list[str]) -> str:
    """The origin ``runserver`` will listen on, from its arguments (Django's syntax:
    ``PORT``, ``ADDR:PORT``, ``[IPV6]:PORT``; default 127.0.0.1:8000)."""
    addrport = next((arg for arg in args if not arg.startswith("-")), "")
    host, port = "127.0.0.1", "8000"
    if addrport.isdigit():
        port = addrport
    elif addrport:
        host, _, port = addrport.rpartition(":")
        host = host or "127.0.0.1"
    if host in {"0", "0.0.0.0"}:  # noqa: S104 - a listening address, shown as loopback
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Parse the process environment into a :class:`Config`, or raise a :class:`Refusal`.

    Only parsing and per-variable validity live here; rules that compare several
    settings (production hygiene, production identity) are guards in
    :mod:`daylock.guardrails`.
    """
    environ = os.environ if environ is None else environ
    env = parse_app_env(environ)
    policy = POLICIES[env]

    def required(name: str, default: str | None, hint: str) -> str:
        value = environ.get(name, "").strip() or default
        if not value:
            raise Refusal("config", f"{name} is not set (required in {env.value})", hint)
        return value

    secret_key = required(
        "SECRET_KEY",
        policy.default_secret_key,
        "set SECRET_KEY to a long random value of this environment's own, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`",
    )
    public_url = required(
        "PUBLIC_URL",
        policy.default_public_url,
        "set PUBLIC_URL to the address users reach this environment at, e.g. https://daylock.example.org",
    ).rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        raise Refusal(
            "config",
            f"PUBLIC_URL={public_url!r} is not an http(s) origin",
            "set PUBLIC_URL to scheme://host[:port] with no path",
        )
    database_url = required(
        "DATABASE_URL",
        policy.default_database_url,
        "set DATABASE_URL to this environment's own PostgreSQL database, "
        "e.g. postgres://daylock@db.internal:5432/daylock_" + env.value,
    )
    scheme = urlsplit(database_url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise Refusal(
            "config",
            f"DATABASE_URL has scheme {scheme!r}",
            "use a postgres:// URL (or sqlite:/// in development)",
        )
    if scheme != "sqlite":
        check_database_url_stays_home(database_url, environ)
    redis_url = environ.get("REDIS_URL", "").strip() or None
    if redis_url is not None:
        check_redis_url(redis_url)
    debug = _flag(environ, "DEBUG")
    delivery_raw = environ.get("DISCORD_DELIVERY", "").strip().lower()
    if delivery_raw:
        try:
            delivery = DeliveryMode(delivery_raw)
        except ValueError:
            raise Refusal(
                "config",
                f"DISCORD_DELIVERY={delivery_raw!r} is not a delivery mode",
                "set DISCORD_DELIVERY to live, allowlist or capture",
            ) from None
    else:
        delivery = policy.default_delivery_mode
    api_base = (environ.get("DISCORD_API_BASE", "").strip() or "").rstrip("/")
    if not api_base:
        api_base = (
            public_url + EMULATOR_MOUNT + "/api/v10"
            if policy.embedded_emulator
            else DISCORD_API_DEFAULT
        )

    def discord(name: str, emulator_default: str) -> str:
        # The embedded emulator (development) needs no Discord application at all.
        if policy.embedded_emulator:
            return environ.get(name, "").strip() or emulator_default
        return required(
            name,
            None,
            f"set {name} from this environment's own Discord application "
            "(staging uses a separate application and test server)",
        )

    return Config(
        app_env=env,
        secret_key=secret_key,
        public_url=public_url,
        database_url=database_url,
        redis_url=redis_url,
        debug=policy.debug if debug is None else debug,
        discord_client_id=discord("DISCORD_CLIENT_ID", "100000000000000001"),
        discord_client_secret=discord("DISCORD_CLIENT_SECRET", "emulator-client-secret"),
        discord_bot_token=discord("DISCORD_BOT_TOKEN", "emulator-bot-token"),
        discord_guild_id=discord("DISCORD_GUILD_ID", "100000000000000002"),
        discord_api_base=api_base,
        discord_delivery=delivery,
        discord_cdn_base=_cdn_base(environ),
        discord_allowed_channel_ids=_id_set(environ, "DISCORD_ALLOWED_CHANNEL_IDS"),
        production_discord_ids=_id_set(environ, "PRODUCTION_DISCORD_IDS"),
        # With the embedded emulator, its Admin and Moderator roles count unless set.
        discord_admin_role_ids=_id_set(environ, "DISCORD_ADMIN_ROLE_IDS")
        or (frozenset({"100000000000000010"}) if policy.embedded_emulator else frozenset()),
        discord_moderator_role_ids=_id_set(environ, "DISCORD_MODERATOR_ROLE_IDS")
        or (frozenset({"100000000000000011"}) if policy.embedded_emulator else frozenset()),
        member_sync_max_age_minutes=_positive_int(
            environ, "DAYLOCK_MEMBER_SYNC_MAX_AGE_MINUTES", DEFAULT_MEMBER_SYNC_MAX_AGE_MINUTES
        ),
        last_day_reminder_hours=_positive_int(
            environ, "DAYLOCK_LAST_DAY_REMINDER_HOURS", DEFAULT_LAST_DAY_REMINDER_HOURS
        ),
    )


def current() -> Config:
    """The running process's configuration (as loaded into Django's settings)."""
    from django.conf import settings

    config: Config = settings.DAYLOCK
    return config


def policy() -> EnvironmentPolicy:
    return current().policy
