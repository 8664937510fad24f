"""Guards run at the start of every process, and ``daylock doctor``.

A guard either passes (returning a short description of what it saw) or raises a
:class:`~daylock.config.Refusal`. Processes stop at the first refusal with exit status
2 and one line on stderr; ``doctor`` runs them all and prints one line per guard.

The environment stamps are what make "staging writes to the production database"
impossible even when a URL is pasted wrong: every database and Redis DB records which
environment owns it, and a process of another environment is refused before it reads
or writes anything.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit

from daylock import stamps
from daylock.config import (
    MIN_SECRET_KEY_LENGTH,
    MIN_SECRET_KEY_UNIQUE_CHARS,
    Config,
    DeliveryMode,
    Refusal,
    load_config,
    parse_app_env,
)
from daylock.discord_identity import (
    bot_id_from_token,
    canonical_id,
    canonical_ids,
    check_discord_identity,
)

GUARD_NAMES = (
    "flags",
    "config",
    "production-hygiene",
    "production-identity",
    "database-stamp",
    "redis-stamp",
    # Live: asks Discord which bot the token is (daylock.discord_identity); doctor and
    # the worker's start only.
    "discord-identity",
)


def refuse_and_exit(refusal: Refusal) -> NoReturn:
    """Print the one-line refusal and stop the process with status 2 (no traceback)."""
    print(f"daylock: refused: {refusal}", file=sys.stderr, flush=True)
    raise SystemExit(2)


# --- configuration guards (no I/O) ---------------------------------------------------


def check_required_services(config: Config, *, guard: str) -> None:
    """PostgreSQL and Redis where the policy requires them."""
    policy = config.policy
    if policy.requires_postgres and config.database_engine != "postgresql":
        raise Refusal(
            guard,
            f"DATABASE_URL points at SQLite but {config.app_env} requires PostgreSQL",
            "set DATABASE_URL to this environment's own postgres:// database",
        )
    if policy.requires_redis and not config.redis_url:
        raise Refusal(
            guard,
            f"REDIS_URL is not set but {config.app_env} requires Redis",
            "set REDIS_URL to this environment's own Redis DB, e.g. redis://cache:6379/0",
        )


def check_secret_key(config: Config, *, guard: str) -> None:
    """A strong ``SECRET_KEY`` where the policy requires one (sessions and signatures of
    staging are as forgeable as production's otherwise)."""
    key = config.secret_key
    if not config.policy.requires_strong_secret_key:
        return
    if (
        len(key) < MIN_SECRET_KEY_LENGTH
        or len(set(key)) < MIN_SECRET_KEY_UNIQUE_CHARS
        or key.startswith("django-insecure-")
        or key.startswith("development-only")
    ):
        raise Refusal(
            guard,
            f"SECRET_KEY is weak ({len(key)} characters, {len(set(key))} distinct; "
            f"at least {MIN_SECRET_KEY_LENGTH} and {MIN_SECRET_KEY_UNIQUE_CHARS} needed)",
            "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(64))'`",
        )


def load_checked_config(environ: Mapping[str, str] | None = None) -> Config:
    """The ``config`` guard: parse, and (outside production, where the production
    hygiene guard owns these rules) check the services and the secret key the policy
    requires."""
    config = load_config(environ)
    if not config.policy.is_production:
        check_required_services(config, guard="config")
        check_secret_key(config, guard="config")
    return config


def check_production_hygiene(config: Config) -> str:
    policy = config.policy
    if not policy.is_production:
        return f"{config.app_env}: production rules not applied"
    guard = "production-hygiene"
    check_required_services(config, guard=guard)
    if urlsplit(config.public_url).scheme != "https":
        raise Refusal(
            guard,
            f"PUBLIC_URL={config.public_url} is not https",
            "serve production over TLS and set PUBLIC_URL=https://…",
        )
    check_secret_key(config, guard=guard)
    if config.debug:
        raise Refusal(guard, "DEBUG is on", "unset DEBUG (production never runs with DEBUG)")
    if config.discord_delivery is not DeliveryMode.LIVE:
        raise Refusal(
            guard,
            f"DISCORD_DELIVERY={config.discord_delivery} in production",
            "production delivers Discord messages for real: set DISCORD_DELIVERY=live or unset it",
        )
    own_ids = {config.discord_client_id, config.discord_guild_id}
    if not own_ids <= config.production_discord_ids:
        raise Refusal(
            guard,
            "PRODUCTION_DISCORD_IDS does not list production's own DISCORD_CLIENT_ID and "
            "DISCORD_GUILD_ID",
            "list them (the same value is set in every environment so staging can refuse them)",
        )
    # The bot is production's identity too: its id (carried by the token itself) must be
    # listed, so that a staging process given this token recognises it and refuses.
    bot_id = bot_id_from_token(config.discord_bot_token)
    if bot_id is None:
        raise Refusal(
            guard,
            "DISCORD_BOT_TOKEN is not a Discord bot token (its first segment is not the "
            "base64 of the bot's id)",
            "set DISCORD_BOT_TOKEN to production's bot token as the Discord developer portal "
            "shows it (application → Bot → Reset Token)",
        )
    if bot_id not in canonical_ids(config.production_discord_ids):
        raise Refusal(
            guard,
            f"PRODUCTION_DISCORD_IDS does not list production's own bot {bot_id} (the id "
            "DISCORD_BOT_TOKEN carries)",
            f"add {bot_id} to PRODUCTION_DISCORD_IDS in every environment, so that staging "
            "refuses production's bot token",
        )
    from django.conf import settings

    # What this configuration implies, and — when Django runs on this very
    # configuration — what the live settings say (catches an override in settings.py).
    views = [config.security_settings]
    if settings.configured and getattr(settings, "DAYLOCK", None) == config:
        views.append({name: getattr(settings, name) for name in config.security_settings})
    for view in views:
        if not (
            view["SESSION_COOKIE_SECURE"]
            and view["CSRF_COOKIE_SECURE"]
            and int(str(view["SECURE_HSTS_SECONDS"])) >= 31536000
        ):
            raise Refusal(
                guard,
                "cookies are not secure-only or HSTS is shorter than a year",
                "do not override SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE or SECURE_HSTS_SECONDS",
            )
    return "PostgreSQL, Redis, https, strong SECRET_KEY, DEBUG off, secure cookies, HSTS, live"


def check_production_identity(config: Config) -> str:
    """Non-production must not borrow production's Discord identity: application,
    guild, channels — and bot, read from the token itself (its first segment is the
    base64 of the bot's id), so production's token pasted into staging is refused
    whatever ids staging lists."""
    policy = config.policy
    if policy.is_production:
        return "production uses its own Discord identity"
    if config.discord_delivery not in policy.allowed_delivery_modes:
        allowed = " or ".join(sorted(m.value for m in policy.allowed_delivery_modes))
        raise Refusal(
            "production-identity",
            f"DISCORD_DELIVERY={config.discord_delivery} in {config.app_env}",
            f"only production delivers live; set DISCORD_DELIVERY to {allowed}",
        )
    if policy.requires_production_ids_listed and not config.production_discord_ids:
        raise Refusal(
            "production-identity",
            f"PRODUCTION_DISCORD_IDS is empty in {config.app_env}",
            "list production's Discord application, guild and bot ids so this environment "
            "can refuse them",
        )
    production_ids = canonical_ids(config.production_discord_ids)
    borrowed = [
        f"{name}={value}"
        for name, value in (
            ("DISCORD_CLIENT_ID", config.discord_client_id),
            ("DISCORD_GUILD_ID", config.discord_guild_id),
        )
        if canonical_id(value) in production_ids
    ] + [
        f"DISCORD_ALLOWED_CHANNEL_IDS contains {cid}"
        for cid in sorted(config.discord_allowed_channel_ids)
        if canonical_id(cid) in production_ids
    ]
    if borrowed:
        raise Refusal(
            "production-identity",
            f"{', '.join(borrowed)} is production's (listed in PRODUCTION_DISCORD_IDS)",
            f"use {config.app_env}'s own Discord application and test server",
        )
    bot_id = bot_id_from_token(config.discord_bot_token)
    if bot_id is not None and bot_id in production_ids:
        raise Refusal(
            "production-identity",
            f"DISCORD_BOT_TOKEN is the token of bot {bot_id}, which is production's (listed "
            "in PRODUCTION_DISCORD_IDS)",
            f"use {config.app_env}'s own bot token (from {config.app_env}'s own Discord "
            "application); never copy production's",
        )
    if bot_id is None and not policy.embedded_emulator:
        raise Refusal(
            "production-identity",
            "DISCORD_BOT_TOKEN is not a Discord bot token (its first segment is not the "
            "base64 of a bot's id), so it cannot be shown not to be production's",
            f"set DISCORD_BOT_TOKEN to {config.app_env}'s own bot token as the Discord "
            "developer portal shows it (application → Bot → Reset Token)",
        )
    if config.discord_delivery is DeliveryMode.ALLOWLIST and not config.discord_allowed_channel_ids:
        raise Refusal(
            "production-identity",
            "DISCORD_DELIVERY=allowlist with an empty DISCORD_ALLOWED_CHANNEL_IDS",
            "list the test server's channel ids, or use DISCORD_DELIVERY=capture",
        )
    bot = f"bot {bot_id}" if bot_id else "the embedded emulator's bot"
    return (
        f"{config.app_env} uses its own Discord identity; delivery {config.discord_delivery}; {bot}"
    )


def check_configuration(environ: Mapping[str, str] | None = None) -> Config:
    """The guards that need no I/O, in order; the first failure is raised."""
    config = load_checked_config(environ)
    check_production_hygiene(config)
    check_production_identity(config)
    return config


# --- resource stamps (identity read from the live connections, see daylock.stamps) ---------


def check_database_stamp(config: Config) -> str:
    """The database this process reaches is this environment's own (or empty)."""
    state = stamps.reach_database(guard="database-stamp")
    return stamps.judge_reached(state, config, guard="database-stamp")


def check_redis_stamp(config: Config) -> str:
    """The Redis DB this process reaches is this environment's own; stamps an empty one."""
    state = stamps.verify_redis(config, guard="redis-stamp", stamp_empty=True)
    if state is None:
        return "no REDIS_URL; using the in-process cache"
    return stamps.judge_redis(state, environment=config.app_env.value, guard="redis-stamp")


def check_resources(config: Config) -> None:
    check_database_stamp(config)
    check_redis_stamp(config)


# --- process start and doctor ------------------------------------------------------------


def setup_guarded(environ: Mapping[str, str] | None = None, *, resources: bool = True) -> Config:
    """Run every guard, configure Django and return the config, or exit 2 on a refusal.

    Called first by the ``daylock`` command, the WSGI application and the worker.
    """
    import django

    try:
        config = check_configuration(environ)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daylock.settings")
        django.setup()
        if resources:
            check_resources(config)
    except Refusal as refusal:
        refuse_and_exit(refusal)
    return config


@dataclass(frozen=True)
class GuardResult:
    guard: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.guard}: {self.detail}"


def run_doctor(environ: Mapping[str, str] | None = None) -> list[GuardResult]:
    """Run every guard and return one result each, in :data:`GUARD_NAMES` order.

    The stamps need a parsed configuration; when ``flags`` or ``config`` fails, the
    guards after it are reported as FAIL ("not checked") rather than left out.
    """
    environ = os.environ if environ is None else environ
    results: list[GuardResult] = []

    def run(name: str, check: Callable[[], str]) -> bool:
        try:
            results.append(GuardResult(name, True, check()))
        except Refusal as refusal:
            results.append(GuardResult(name, False, f"{refusal.found}; {refusal.fix}"))
            return False
        return True

    def not_checked(because: str) -> list[GuardResult]:
        done = {r.guard for r in results}
        return [
            GuardResult(name, False, f"not checked: {because} failed")
            for name in GUARD_NAMES
            if name not in done
        ]

    if not run("flags", lambda: f"APP_ENV={parse_app_env(environ)}"):
        return results + not_checked("flags")
    holder: dict[str, Config] = {}

    def parse() -> str:
        holder["config"] = load_checked_config(environ)
        return f"settings parsed for {holder['config'].app_env}"

    if not run("config", parse):
        return results + not_checked("config")
    config = holder["config"]
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daylock.settings")
    django.setup()
    run("production-hygiene", lambda: check_production_hygiene(config))
    run("production-identity", lambda: check_production_identity(config))
    run("database-stamp", lambda: check_database_stamp(config))
    run("redis-stamp", lambda: check_redis_stamp(config))
    # discord-identity sends the bot token to DISCORD_API_BASE: only once the
    # configuration guards have shown the token is not production's.
    config_failed = [r.guard for r in results if not r.passed and r.guard.startswith("production")]
    if config_failed:
        results.append(
            GuardResult("discord-identity", False, f"not checked: {config_failed[0]} failed")
        )
    else:
        run("discord-identity", lambda: check_discord_identity(config))
    return results
