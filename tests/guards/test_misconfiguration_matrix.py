"""The misconfiguration matrix: every way an operator can wire an environment wrong,
run as the real ``daylock doctor`` and as real process starts, in child processes.

Each case must be refused at start with exit status 2, exactly one stderr line
beginning ``daylock: refused: <guard>:`` naming the right guard, and no traceback;
``doctor`` must report the same guard as FAIL with every guard before it PASS.
Positive controls prove the same commands start with a good staging and a good
production configuration, so the refusals are caused by the misconfiguration alone.

Resources are real: PostgreSQL databases migrated by ``daylock migrate`` under a
complete production or staging configuration, and Redis DBs stamped by those runs.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from daylock.guardrails import GUARD_NAMES
from daylock.stamps import REDIS_STAMP_KEY, STAMP_TABLE
from daylock.testing import pytest_plugin
from daylock.testing.pytest_plugin import production_environ, staging_environ
from tests.conftest import Databases, run_daylock

SRC = Path(__file__).resolve().parents[2] / "src" / "daylock"
#: The outbox worker is a guarded start like the web server; covered once it exists.
HAS_WORKER = any(SRC.glob("*/management/commands/worker.py"))
#: ``serve`` binds here if a guard wrongly lets it through (then the test times out).
SERVE_PORT_BASE = 18650


@dataclass
class Resources:
    """Real, stamped resources shared by the whole matrix (built once per module)."""

    prod_db: str
    staging_db: str
    unstamped_db: str  # tables, no stamp (e.g. a database that predates stamps)
    restored_prod_db: str  # a copy of production's database, as if restored for staging
    prod_redis: str
    staging_redis: str
    unstamped_redis: str  # keys, no stamp
    tmp: Path


def good_staging(r: Resources) -> dict[str, str]:
    return staging_environ() | {"DATABASE_URL": r.staging_db, "REDIS_URL": r.staging_redis}


def good_production(r: Resources) -> dict[str, str]:
    return production_environ() | {"DATABASE_URL": r.prod_db, "REDIS_URL": r.prod_redis}


def _migrate(env: dict[str, str]) -> None:
    result = run_daylock("migrate", "--no-input", env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Resources]:
    dbs = Databases()
    redis_urls = [pytest_plugin.redis_url(slot) for slot in (1, 2, 3)]
    for url in redis_urls:
        redis.Redis.from_url(url).flushdb()
    try:
        prod_db, staging_db = dbs.create("mx_prod"), dbs.create("mx_stg")
        r = Resources(
            prod_db=prod_db,
            staging_db=staging_db,
            unstamped_db=dbs.create("mx_nostamp"),
            restored_prod_db="",
            prod_redis=redis_urls[0],
            staging_redis=redis_urls[1],
            unstamped_redis=redis_urls[2],
            tmp=tmp_path_factory.mktemp("matrix"),
        )
        _migrate(good_production(r))
        _migrate(good_staging(r))
        with psycopg.connect(r.unstamped_db, autocommit=True) as conn:
            conn.execute("CREATE TABLE legacy_users (id serial PRIMARY KEY, name text)")
            conn.execute("INSERT INTO legacy_users (name) VALUES ('someone')")
        # "Restore production's backup into staging": a byte-for-byte copy of the
        # production database under a new name (no session may be connected to it).
        restored = f"daylock_test_mx_restored_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(restored), sql.Identifier(prod_db.rsplit("/", 1)[1])
                )
            )
        dbs.created.append(restored)
        r.restored_prod_db = f"{pytest_plugin.PG}/{restored}"
        redis.Redis.from_url(r.unstamped_redis).set("session:abc", "someone else's data")
        # Sanity: the fixtures are what their names say.
        assert _db_stamp(r.prod_db) == "production"
        assert _db_stamp(r.staging_db) == "staging"
        assert _db_stamp(r.restored_prod_db) == "production"
        assert _redis_stamp(r.prod_redis) == "production"
        assert _redis_stamp(r.staging_redis) == "staging"
        assert _redis_stamp(r.unstamped_redis) is None
        yield r
    finally:
        dbs.drop_all()
        for url in redis_urls:
            redis.Redis.from_url(url).flushdb()


def _db_stamp(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            sql.SQL("SELECT environment FROM {}").format(sql.Identifier(STAMP_TABLE))
        ).fetchone()
    return None if row is None else str(row[0])


def _redis_stamp(url: str) -> str | None:
    import json

    raw = redis.Redis.from_url(url).get(REDIS_STAMP_KEY)
    return None if raw is None else str(json.loads(raw)["environment"])


# --- the matrix -----------------------------------------------------------------------

Env = Callable[[Resources], dict[str, str]]


def without(env: Env, *names: str) -> Env:
    return lambda r: {k: v for k, v in env(r).items() if k not in names}


def with_(env: Env, **values: str | Callable[[Resources], str]) -> Env:
    def build(r: Resources) -> dict[str, str]:
        return env(r) | {k: v(r) if callable(v) else v for k, v in values.items()}

    return build


PROD_CLIENT_ID, PROD_GUILD_ID, PROD_BOT_ID = pytest_plugin.TEST_PRODUCTION_IDS.split(",")
DB_STARTS = ("migrate", "serve")
CONFIG_STARTS = ("check", "serve")


@dataclass(frozen=True)
class Case:
    id: str
    env: Env
    guard: str
    needles: tuple[str, ...]
    starts: tuple[str, ...] = CONFIG_STARTS


CASES = [
    # flags
    Case(
        "app-env-missing",
        without(good_staging, "APP_ENV"),
        "flags",
        ("APP_ENV is not set",),
        CONFIG_STARTS + (("worker",) if HAS_WORKER else ()),
    ),
    Case(
        "app-env-missing-with-production-settings",
        without(good_production, "APP_ENV"),
        "flags",
        ("APP_ENV is not set",),
    ),
    Case("app-env-unknown", with_(good_staging, APP_ENV="prod"), "flags", ("'prod'",)),
    Case(
        "is-production-true-in-staging",
        with_(good_staging, IS_PRODUCTION="true"),
        "flags",
        ("IS_PRODUCTION=true", "APP_ENV=staging"),
    ),
    Case(
        "is-production-false-in-production",
        with_(good_production, IS_PRODUCTION="false"),
        "flags",
        ("IS_PRODUCTION=false", "APP_ENV=production"),
    ),
    # config (non-production environments still need PostgreSQL and Redis)
    Case(
        "staging-on-sqlite",
        with_(good_staging, DATABASE_URL=lambda r: f"sqlite:///{r.tmp}/staging.sqlite3"),
        "config",
        ("SQLite",),
    ),
    Case(
        "staging-without-redis",
        without(good_staging, "REDIS_URL"),
        "config",
        ("REDIS_URL",),
    ),
    Case(
        "staging-without-secret-key", without(good_staging, "SECRET_KEY"), "config", ("SECRET_KEY",)
    ),
    # production hygiene
    Case(
        "production-on-sqlite",
        with_(good_production, DATABASE_URL=lambda r: f"sqlite:///{r.tmp}/production.sqlite3"),
        "production-hygiene",
        ("SQLite",),
    ),
    Case(
        "production-without-redis",
        without(good_production, "REDIS_URL"),
        "production-hygiene",
        ("REDIS_URL",),
    ),
    Case(
        "production-http-public-url",
        with_(good_production, PUBLIC_URL="http://daylock.test"),
        "production-hygiene",
        ("not https",),
    ),
    Case(
        "production-short-secret-key",
        with_(good_production, SECRET_KEY="sh0rt-but-varied-Key"),
        "production-hygiene",
        ("SECRET_KEY is weak",),
    ),
    Case(
        "production-low-entropy-secret-key",
        with_(good_production, SECRET_KEY="ab" * 40),
        "production-hygiene",
        ("SECRET_KEY is weak",),
    ),
    Case(
        "production-django-insecure-secret-key",
        with_(good_production, SECRET_KEY="django-insecure-" + "q7W-x" * 12),
        "production-hygiene",
        ("SECRET_KEY is weak",),
    ),
    Case(
        "production-debug-true",
        with_(good_production, DEBUG="true"),
        "production-hygiene",
        ("DEBUG is on",),
    ),
    Case(
        "production-delivery-capture",
        with_(good_production, DISCORD_DELIVERY="capture"),
        "production-hygiene",
        ("DISCORD_DELIVERY=capture",),
    ),
    Case(
        "production-ids-not-listing-its-own",
        with_(good_production, PRODUCTION_DISCORD_IDS="900000000000000009"),
        "production-hygiene",
        ("PRODUCTION_DISCORD_IDS",),
    ),
    Case(
        "production-ids-not-listing-its-own-bot",
        with_(good_production, PRODUCTION_DISCORD_IDS=f"{PROD_CLIENT_ID},{PROD_GUILD_ID}"),
        "production-hygiene",
        (f"own bot {PROD_BOT_ID}",),
    ),
    # non-production must not borrow production identity
    Case(
        "staging-with-production-client-id",
        with_(good_staging, DISCORD_CLIENT_ID=PROD_CLIENT_ID),
        "production-identity",
        (f"DISCORD_CLIENT_ID={PROD_CLIENT_ID}",),
    ),
    Case(
        "staging-with-production-guild-id",
        with_(good_staging, DISCORD_GUILD_ID=PROD_GUILD_ID),
        "production-identity",
        (f"DISCORD_GUILD_ID={PROD_GUILD_ID}",),
    ),
    Case(
        "staging-with-production-bot-token",
        with_(good_staging, DISCORD_BOT_TOKEN=pytest_plugin.PRODUCTION_TEST_BOT_TOKEN),
        "production-identity",
        (f"bot {PROD_BOT_ID}, which is production's",),
        CONFIG_STARTS + (("worker",) if HAS_WORKER else ()),
    ),
    Case(
        "staging-delivery-live",
        with_(good_staging, DISCORD_DELIVERY="live"),
        "production-identity",
        ("DISCORD_DELIVERY=live",),
    ),
    Case(
        "staging-empty-production-ids",
        with_(good_staging, PRODUCTION_DISCORD_IDS=""),
        "production-identity",
        ("PRODUCTION_DISCORD_IDS is empty",),
    ),
    Case(
        "staging-allowlist-without-channels",
        with_(good_staging, DISCORD_DELIVERY="allowlist", DISCORD_ALLOWED_CHANNEL_IDS=""),
        "production-identity",
        ("empty DISCORD_ALLOWED_CHANNEL_IDS",),
    ),
    Case(
        "staging-allowlist-with-a-production-id",
        with_(
            good_staging, DISCORD_DELIVERY="allowlist", DISCORD_ALLOWED_CHANNEL_IDS=PROD_GUILD_ID
        ),
        "production-identity",
        (f"DISCORD_ALLOWED_CHANNEL_IDS contains {PROD_GUILD_ID}",),
    ),
    # database stamps
    Case(
        "staging-database-url-is-productions",
        with_(good_staging, DATABASE_URL=lambda r: r.prod_db),
        "database-stamp",
        ("stamped production", "APP_ENV=staging"),
        DB_STARTS + (("worker",) if HAS_WORKER else ()),
    ),
    Case(
        "production-database-url-is-stagings",
        with_(good_production, DATABASE_URL=lambda r: r.staging_db),
        "database-stamp",
        ("stamped staging", "APP_ENV=production"),
        DB_STARTS,
    ),
    Case(
        "production-backup-restored-into-staging",
        with_(good_staging, DATABASE_URL=lambda r: r.restored_prod_db),
        "database-stamp",
        ("stamped production", "APP_ENV=staging"),
        DB_STARTS,
    ),
    Case(
        "staging-database-with-tables-but-no-stamp",
        with_(good_staging, DATABASE_URL=lambda r: r.unstamped_db),
        "database-stamp",
        ("tables but no environment stamp",),
        DB_STARTS,
    ),
    Case(
        "production-database-with-tables-but-no-stamp",
        with_(good_production, DATABASE_URL=lambda r: r.unstamped_db),
        "database-stamp",
        ("tables but no environment stamp",),
        DB_STARTS,
    ),
    Case(
        "database-unreachable",
        with_(good_staging, DATABASE_URL="postgres://postgres@127.0.0.1:1/daylock_nowhere"),
        "database-stamp",
        ("cannot reach the database",),
        DB_STARTS,
    ),
    # Redis stamps
    Case(
        "staging-redis-url-is-productions",
        with_(good_staging, REDIS_URL=lambda r: r.prod_redis),
        "redis-stamp",
        ("stamped production", "APP_ENV=staging"),
        DB_STARTS,
    ),
    Case(
        "production-redis-url-is-stagings",
        with_(good_production, REDIS_URL=lambda r: r.staging_redis),
        "redis-stamp",
        ("stamped staging", "APP_ENV=production"),
        DB_STARTS,
    ),
    Case(
        "redis-with-keys-but-no-stamp",
        with_(good_staging, REDIS_URL=lambda r: r.unstamped_redis),
        "redis-stamp",
        ("keys but no environment stamp",),
        DB_STARTS,
    ),
    Case(
        "redis-unreachable",
        with_(good_staging, REDIS_URL="redis://127.0.0.1:1/0"),
        "redis-stamp",
        ("cannot reach Redis",),
        DB_STARTS,
    ),
    # the live Discord identity (doctor and the worker): allowlist needs Discord's answer
    Case(
        "staging-allowlist-with-discord-unreachable",
        with_(good_staging, DISCORD_DELIVERY="allowlist", DISCORD_ALLOWED_CHANNEL_IDS="7003"),
        "discord-identity",
        ("not reachable",),
        ("worker",) if HAS_WORKER else (),
    ),
]

assert len({case.id for case in CASES}) == len(CASES)


def start_args(start: str, index: int) -> tuple[str, ...]:
    if start == "serve":
        return ("serve", "--bind", f"127.0.0.1:{SERVE_PORT_BASE + index % 40}", "--workers", "1")
    if start == "migrate":
        return ("migrate", "--no-input")
    return (start,)


def assert_refused_line(result: subprocess.CompletedProcess[str], case: Case) -> None:
    context = f"{case.id}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
    assert result.returncode == 2, context
    assert "Traceback" not in result.stderr + result.stdout, context
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, context
    assert result.stderr.startswith(f"daylock: refused: {case.guard}: "), context
    for needle in case.needles:
        assert needle in lines[0], context


def run_start(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return run_daylock(*args, env=env, timeout=60)
    except subprocess.TimeoutExpired as exc:  # it started: the guard let it through
        pytest.fail(f"`daylock {' '.join(args)}` was not refused; it kept running: {exc}")


@pytest.mark.parametrize(
    ("case", "start"),
    [
        pytest.param(case, start, id=f"{case.id}-{start}")
        for case in CASES
        for start in ("doctor", *case.starts)
    ],
)
def test_misconfiguration_is_refused(resources: Resources, case: Case, start: str) -> None:
    env = case.env(resources)
    if start == "doctor":
        result = run_daylock("doctor", env=env, timeout=60)
        context = f"{case.id}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert result.returncode == 2, context
        assert "Traceback" not in result.stderr + result.stdout, context
        lines = result.stdout.splitlines()
        assert [line.split(" ", 2)[1].rstrip(":") for line in lines] == list(GUARD_NAMES), context
        guard = case.guard
        position = GUARD_NAMES.index(guard)
        for line in lines[:position]:
            assert line.startswith("PASS "), context
        failed = lines[position]
        assert failed.startswith(f"FAIL {guard}: "), context
        for needle in case.needles:
            assert needle in failed, context
        return
    result = run_start(start_args(start, CASES.index(case)), env)
    assert_refused_line(result, case)


def test_the_matrix_is_wide_enough() -> None:
    """At least 15 distinct misconfigurations, and every guard is exercised."""
    assert len(CASES) >= 15
    assert {case.guard for case in CASES} == set(GUARD_NAMES)


# --- positive controls ----------------------------------------------------------------


@pytest.mark.parametrize("build", [good_staging, good_production], ids=["staging", "production"])
def test_a_good_configuration_passes_doctor(resources: Resources, build: Env) -> None:
    result = run_daylock("doctor", env=build(resources), timeout=60)
    assert result.returncode == 0, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert len(lines) == len(GUARD_NAMES) == 7, result.stdout
    for guard, line in zip(GUARD_NAMES, lines, strict=True):
        assert line.startswith(f"PASS {guard}: "), result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("build", [good_staging, good_production], ids=["staging", "production"])
@pytest.mark.parametrize(
    "args", [("check",), ("migrate", "--check")], ids=["check", "migrate-check"]
)
def test_a_good_configuration_starts(
    resources: Resources, build: Env, args: tuple[str, ...]
) -> None:
    """The same start commands succeed when nothing is wrong (so refusals mean something)."""
    result = run_daylock(*args, env=build(resources), timeout=60)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "daylock: refused" not in result.stderr
