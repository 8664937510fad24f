"""Configuration guards (no I/O): each has a passing case and refused cases."""

from __future__ import annotations

import os

import pytest

from daylock.config import DeliveryMode, Environment, Refusal, load_config, parse_app_env
from daylock.guardrails import check_configuration
from daylock.testing.pytest_plugin import production_environ, staging_environ

RESOURCES = {"DATABASE_URL": "postgres://db.internal/daylock", "REDIS_URL": "redis://cache:6379/3"}


def production() -> dict[str, str]:
    return production_environ() | RESOURCES


def staging() -> dict[str, str]:
    return staging_environ() | RESOURCES


def refused(environ: dict[str, str]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check_configuration(environ)
    return caught.value


# --- flags ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", list(Environment))
def test_flags_accept_each_known_environment(env: Environment) -> None:
    assert parse_app_env({"APP_ENV": env.value}) is env


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, ["APP_ENV", "not set"]),
        ({"APP_ENV": "  "}, ["APP_ENV", "not set"]),
        ({"APP_ENV": "prod"}, ["APP_ENV='prod'", "production, staging, development"]),
        ({"APP_ENV": "staging", "IS_PRODUCTION": "true"}, ["IS_PRODUCTION=true", "staging"]),
        ({"APP_ENV": "production", "IS_PRODUCTION": "false"}, ["IS_PRODUCTION=false"]),
        ({"APP_ENV": "staging", "IS_PRODUCTION": "maybe"}, ["IS_PRODUCTION", "boolean"]),
    ],
)
def test_flags_refuse_missing_unknown_or_contradicting(
    environ: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(Refusal) as caught:
        parse_app_env(environ)
    assert caught.value.guard == "flags"
    for name in names:
        assert name in str(caught.value)


def test_is_production_is_derived_and_may_agree() -> None:
    assert load_config(production() | {"IS_PRODUCTION": "true"}).is_production
    assert not load_config(staging() | {"IS_PRODUCTION": "false"}).is_production
    assert not load_config({"APP_ENV": "development"}).is_production


# --- config --------------------------------------------------------------------------


def test_development_needs_no_setting_at_all() -> None:
    config = load_config({"APP_ENV": "development"})
    assert config.database_engine == "sqlite"
    assert config.redis_url is None
    assert config.discord_delivery is DeliveryMode.CAPTURE
    assert config.discord_api_base.endswith("/_emulator/discord/api/v10")


@pytest.mark.parametrize(
    "missing",
    ["SECRET_KEY", "PUBLIC_URL", "DATABASE_URL", "DISCORD_CLIENT_ID", "DISCORD_BOT_TOKEN"],
)
def test_staging_refuses_a_missing_required_setting_naming_it(missing: str) -> None:
    environ = staging()
    del environ[missing]
    refusal = refused(environ)
    assert refusal.guard == "config"
    assert missing in refusal.found


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://db/daylock"),
        ("REDIS_URL", "memcached://cache"),
        ("PUBLIC_URL", "daylock.example.org"),
        ("PUBLIC_URL", "https://daylock.example.org/app"),
        ("DISCORD_DELIVERY", "sometimes"),
        ("PRODUCTION_DISCORD_IDS", "12,abc"),
    ],
)
def test_config_refuses_malformed_values_naming_the_variable(name: str, value: str) -> None:
    refusal = refused(staging() | {name: value})
    assert refusal.guard == "config"
    assert name in refusal.found


def test_staging_requires_postgres_and_redis() -> None:
    assert "PostgreSQL" in refused(staging() | {"DATABASE_URL": "sqlite:///x.db"}).found
    environ = staging()
    del environ["REDIS_URL"]
    assert "REDIS_URL" in refused(environ).found


# --- production hygiene -----------------------------------------------------------------


def test_complete_production_settings_pass() -> None:
    config = check_configuration(production())
    assert config.is_production
    assert config.discord_delivery is DeliveryMode.LIVE


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"DATABASE_URL": "sqlite:////tmp/prod.sqlite3"}, "SQLite"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"PUBLIC_URL": "http://daylock.example.org"}, "not https"),
        ({"SECRET_KEY": "short-but-sweet"}, "SECRET_KEY is weak"),
        ({"SECRET_KEY": "a" * 80}, "SECRET_KEY is weak"),
        ({"SECRET_KEY": "django-insecure-" + "abcdefghij" * 6}, "SECRET_KEY is weak"),
        ({"DEBUG": "true"}, "DEBUG is on"),
        ({"DISCORD_DELIVERY": "capture"}, "DISCORD_DELIVERY=capture"),
        ({"DISCORD_DELIVERY": "allowlist"}, "DISCORD_DELIVERY=allowlist"),
        ({"PRODUCTION_DISCORD_IDS": "1234"}, "PRODUCTION_DISCORD_IDS"),
    ],
)
def test_production_hygiene_refuses(change: dict[str, str], needle: str) -> None:
    refusal = refused(production() | change)
    assert refusal.guard == "production-hygiene"
    assert needle in refusal.found
    assert refusal.fix  # every refusal says how to fix it


# --- production identity --------------------------------------------------------------------


def test_staging_with_its_own_identity_passes() -> None:
    config = check_configuration(staging())
    assert config.discord_delivery is DeliveryMode.CAPTURE
    allow = check_configuration(
        staging() | {"DISCORD_DELIVERY": "allowlist", "DISCORD_ALLOWED_CHANNEL_IDS": "7001,7002"}
    )
    assert allow.discord_allowed_channel_ids == {"7001", "7002"}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"DISCORD_CLIENT_ID": "900000000000000001"}, "DISCORD_CLIENT_ID=900000000000000001"),
        ({"DISCORD_GUILD_ID": "900000000000000002"}, "DISCORD_GUILD_ID=900000000000000002"),
        ({"DISCORD_DELIVERY": "live"}, "DISCORD_DELIVERY=live"),
        ({"PRODUCTION_DISCORD_IDS": ""}, "PRODUCTION_DISCORD_IDS is empty"),
        ({"DISCORD_DELIVERY": "allowlist"}, "empty DISCORD_ALLOWED_CHANNEL_IDS"),
        (
            {"DISCORD_DELIVERY": "allowlist", "DISCORD_ALLOWED_CHANNEL_IDS": "900000000000000002"},
            "DISCORD_ALLOWED_CHANNEL_IDS contains 900000000000000002",
        ),
    ],
)
def test_non_production_never_borrows_production_identity(
    change: dict[str, str], needle: str
) -> None:
    refusal = refused(staging() | change)
    assert refusal.guard == "production-identity"
    assert needle in refusal.found


def test_development_refuses_live_delivery_too() -> None:
    refusal = refused({"APP_ENV": "development", "DISCORD_DELIVERY": "live"})
    assert refusal.guard == "production-identity"


# --- connection settings that move the connection, or cannot be read -------------------------


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("DATABASE_URL", "postgres://db/daylock?dbname=daylock_production", "?dbname="),
        ("DATABASE_URL", "postgres://db/daylock?DBNAME=x", "?DBNAME="),
        ("DATABASE_URL", "postgres://db/daylock?options=-c%20search_path%3Dstg", "?options="),
        ("DATABASE_URL", "postgres://db/daylock?currentSchema=stg", "?currentSchema="),
        ("DATABASE_URL", "postgres://db/daylock?service=prod", "?service="),
        ("DATABASE_URL", "postgres://db/daylock?host=10.0.0.5", "?host="),
        ("DATABASE_URL", "postgres://db/daylock?sslmode=require&options=", "?options="),
        ("DATABASE_URL", "postgres://db/", "names no database"),
        ("DATABASE_URL", "postgres://db1:5432,db2:5432/daylock", "cannot be read"),
        ("DATABASE_URL", "postgres://u@::1/daylock", "cannot be read"),
        ("DATABASE_URL", "postgres://db:port/daylock", "cannot be read"),
        ("REDIS_URL", "redis://cache:6379/abc", "is not a DB number"),
        ("REDIS_URL", "redis://cache:6379/3?db=x", "cannot be read"),
        ("REDIS_URL", "redis://cache:port/3", "cannot be read"),
        ("REDIS_URL", "http://cache/3", "scheme 'http'"),
    ],
)
def test_connection_settings_that_cannot_be_trusted_are_refused(
    variable: str, value: str, needle: str
) -> None:
    refusal = refused(staging() | {variable: value})
    assert refusal.guard == "config"
    assert variable in str(refusal) and needle in str(refusal)


@pytest.mark.parametrize(
    "name", ["PGDATABASE", "PGOPTIONS", "PGSERVICE", "PGSERVICEFILE", "PGHOSTADDR"]
)
def test_libpq_variables_that_move_the_connection_are_refused(name: str) -> None:
    refusal = refused(staging() | {name: "x"})
    assert refusal.guard == "config" and name in refusal.found and f"unset {name}" in refusal.fix


@pytest.mark.parametrize(
    "url",
    [
        "postgres://db/daylock?sslmode=require&connect_timeout=5&application_name=x",
        "postgresql://u:p%40ss@db.internal:6543/daylock_staging?sslrootcert=/etc/ca.pem",
        "postgres://%2Fvar%2Frun%2Fpostgresql/daylock",
    ],
)
def test_connection_tuning_parameters_are_accepted(url: str) -> None:
    assert check_configuration(staging() | {"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("key", ["short-key-Q1", "ab" * 40, "django-insecure-" + "q7W-x" * 12])
def test_staging_needs_a_strong_secret_key_too(key: str) -> None:
    """Staging's sessions and signatures guard real staff accounts of its own."""
    refusal = refused(staging() | {"SECRET_KEY": key})
    assert refusal.guard == "config" and "SECRET_KEY is weak" in refusal.found


def test_development_may_keep_its_built_in_key() -> None:
    config = check_configuration({"APP_ENV": "development"})
    assert config.secret_key.startswith("development-only")


@pytest.mark.parametrize(
    ("args", "origin"),
    [
        ([], "http://127.0.0.1:8000"),
        (["8123"], "http://127.0.0.1:8123"),
        (["127.0.0.1:8124", "--noreload"], "http://127.0.0.1:8124"),
        (["--noreload", "0.0.0.0:8125"], "http://127.0.0.1:8125"),
        (["localhost:8126"], "http://localhost:8126"),
        (["[::1]:8127"], "http://[::1]:8127"),
    ],
)
def test_development_runserver_gives_its_own_public_url(args: list[str], origin: str) -> None:
    from daylock.config import runserver_public_url

    assert runserver_public_url(args) == origin


@pytest.mark.parametrize(("app_env", "follows"), [("development", True), ("staging", False)])
def test_only_the_policy_lets_runserver_choose_the_public_url(
    monkeypatch: pytest.MonkeyPatch, app_env: str, follows: bool
) -> None:
    from daylock import __main__ as entry

    monkeypatch.setenv("APP_ENV", app_env)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    entry._public_url_from_runserver(["127.0.0.1:8133"])
    assert (os.environ.get("PUBLIC_URL") == "http://127.0.0.1:8133") is follows
    monkeypatch.setenv("PUBLIC_URL", "http://example.test:9000")
    entry._public_url_from_runserver(["127.0.0.1:8134"])
    assert os.environ["PUBLIC_URL"] == "http://example.test:9000"  # an explicit one wins
