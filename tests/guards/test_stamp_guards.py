"""Environment stamps on PostgreSQL and Redis, through the real ``daylock`` command."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest
import redis

from daylock.guardrails import GUARD_NAMES
from daylock.stamps import REDIS_STAMP_KEY, STAMP_TABLE
from daylock.testing.pytest_plugin import production_environ, staging_environ
from tests.conftest import Databases, run_daylock


def assert_refused(result: object, guard: str, *needles: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    stderr: str = result.stderr  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"daylock: refused: {guard}: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], stderr
    return lines[0]


@pytest.fixture
def staging_env(databases: Databases, redis_dbs: Callable[[int], str]) -> dict[str, str]:
    return staging_environ() | {"DATABASE_URL": databases.create("stg"), "REDIS_URL": redis_dbs(1)}


@pytest.fixture
def production_db(databases: Databases, redis_dbs: Callable[[int], str]) -> str:
    """A database migrated by a complete production configuration."""
    url = databases.create("prod")
    env = production_environ() | {"DATABASE_URL": url, "REDIS_URL": redis_dbs(2)}
    result = run_daylock("migrate", "--no-input", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    return url


def test_fresh_database_migrated_as_staging_passes_doctor(staging_env: dict[str, str]) -> None:
    before = run_daylock("doctor", env=staging_env)
    assert before.returncode == 0, before.stdout
    assert "is empty; `daylock migrate` will stamp it staging" in before.stdout

    migrated = run_daylock("migrate", "--no-input", env=staging_env, timeout=180)
    assert migrated.returncode == 0, migrated.stderr

    doctor = run_daylock("doctor", env=staging_env)
    assert doctor.returncode == 0, doctor.stdout
    lines = doctor.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"PASS {name}" for name in GUARD_NAMES]
    assert "stamped staging" in lines[GUARD_NAMES.index("database-stamp")]
    assert "stamped staging" in lines[GUARD_NAMES.index("redis-stamp")]
    with psycopg.connect(staging_env["DATABASE_URL"]) as conn:
        rows = conn.execute(f"SELECT environment FROM {STAMP_TABLE}").fetchall()  # noqa: S608
    assert rows == [("staging",)]


def test_production_database_is_refused_by_staging(
    production_db: str, staging_env: dict[str, str]
) -> None:
    env = staging_env | {"DATABASE_URL": production_db}
    line = assert_refused(
        run_daylock("migrate", env=env), "database-stamp", "production", "staging"
    )
    assert "APP_ENV=staging" in line
    doctor = run_daylock("doctor", env=env)
    assert doctor.returncode == 2
    assert "FAIL database-stamp: " in doctor.stdout
    assert "PASS redis-stamp" in doctor.stdout  # other guards still reported
    # The production database is untouched: still exactly one production stamp.
    with psycopg.connect(production_db) as conn:
        rows = conn.execute(f"SELECT environment FROM {STAMP_TABLE}").fetchall()  # noqa: S608
    assert rows == [("production",)]


def test_database_with_tables_but_no_stamp_is_refused(
    databases: Databases, staging_env: dict[str, str]
) -> None:
    url = databases.create("nostamp")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE customers (id int)")
    assert_refused(
        run_daylock("migrate", env=staging_env | {"DATABASE_URL": url}),
        "database-stamp",
        "1 tables but no environment stamp",
    )


def test_unreachable_database_is_refused_cleanly(staging_env: dict[str, str]) -> None:
    env = staging_env | {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/daylock_test_nothing"}
    assert_refused(run_daylock("check", env=env), "database-stamp", "cannot reach the database")


def test_production_stamped_redis_is_refused_by_staging(
    staging_env: dict[str, str], redis_dbs: Callable[[int], str]
) -> None:
    prod_redis = redis_dbs(3)
    redis.Redis.from_url(prod_redis).set(
        REDIS_STAMP_KEY, json.dumps({"environment": "production", "instance_id": "x"})
    )
    assert_refused(
        run_daylock("check", env=staging_env | {"REDIS_URL": prod_redis}),
        "redis-stamp",
        "stamped production",
        "APP_ENV=staging",
    )


def test_redis_with_keys_but_no_stamp_is_refused(
    staging_env: dict[str, str], redis_dbs: Callable[[int], str]
) -> None:
    other = redis_dbs(3)
    redis.Redis.from_url(other).set("someone-else:key", "1")
    assert_refused(
        run_daylock("check", env=staging_env | {"REDIS_URL": other}),
        "redis-stamp",
        "1 keys but no environment stamp",
    )


def test_empty_redis_is_stamped_by_its_first_process(staging_env: dict[str, str]) -> None:
    client = redis.Redis.from_url(staging_env["REDIS_URL"])
    assert client.get(REDIS_STAMP_KEY) is None
    result = run_daylock("check", env=staging_env)
    assert result.returncode == 0, result.stderr
    stamp = json.loads(client.get(REDIS_STAMP_KEY) or b"{}")
    assert stamp["environment"] == "staging"


@pytest.mark.parametrize(
    ("environ", "guard", "needle"),
    [
        ({}, "flags", "APP_ENV is not set"),
        ({"APP_ENV": "qa"}, "flags", "APP_ENV='qa'"),
        ({"APP_ENV": "staging", "IS_PRODUCTION": "true"}, "flags", "IS_PRODUCTION=true"),
    ],
)
def test_refusal_is_one_line_exit_2_for_commands_and_doctor(
    environ: dict[str, str], guard: str, needle: str
) -> None:
    assert_refused(run_daylock("migrate", env=environ), guard, needle)
    doctor = run_daylock("doctor", env=environ)
    assert doctor.returncode == 2
    lines = doctor.stdout.splitlines()
    assert len(lines) == len(GUARD_NAMES)
    assert lines[0].startswith(f"FAIL {guard}: ") and needle in lines[0]
    assert all(line.startswith("FAIL ") for line in lines[1:])


def test_wsgi_application_refuses_to_load(staging_env: dict[str, str]) -> None:
    import subprocess
    import sys

    env = staging_env | {"DISCORD_DELIVERY": "live", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import daylock.wsgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_refused(result, "production-identity", "DISCORD_DELIVERY=live")
