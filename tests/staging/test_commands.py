"""``daylock seed``, ``reset`` and ``testtools`` as real processes, against throw-away
databases and Redis DBs: production refuses all of them, staging pointed at a
production database refuses and leaves it untouched, staging resets for real."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import redis
from psycopg import sql

from daylock.stamps import REDIS_STAMP_KEY, STAMP_TABLE
from daylock.testing import pytest_plugin
from daylock.testing.pytest_plugin import production_environ, staging_environ
from tests.conftest import ROOT, Databases, run_daylock

DESTRUCTIVE = [
    ("seed",),
    ("reset", "--yes"),
    ("testtools", "unlock-day", "--event", "staging-running", "--day", "5"),
    ("testtools", "complete", "--user", "prod-user", "--event", "e", "--tier", "veteran"),
    ("testtools", "clock", "set", "--forward", "1d"),
    ("testtools", "clock", "reset"),
    ("testtools", "eligibility", "--user", "prod-user", "--event", "e", "--eligible",
     "--reason", "x"),
]  # fmt: skip


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row, per table: any change shows."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        for table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                    " FROM {} t"
                ).format(sql.Identifier(table))
            ).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


def database_exists(name: str) -> bool:
    with psycopg.connect(f"{pytest_plugin.PG}/postgres") as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def drop_database(name: str) -> None:
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def assert_refused(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 2, (result.args, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.match(r"daylock: refused: [a-z-]+: .+; .+", lines[0]), lines[0]
    return lines[0]


def _create(name: str, template: str | None = None) -> str:
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{pytest_plugin.PG}/{name}"


@pytest.fixture(scope="module")
def migrated_bases() -> Iterator[dict[str, str]]:
    """One database migrated by a real staging process and one by a real production
    process, per module; each test gets a copy (CREATE DATABASE … TEMPLATE) instead of
    migrating again."""
    scratch = pytest_plugin.redis_url(3)
    bases: dict[str, str] = {}
    try:
        for kind, environ in (("stg", staging_environ()), ("prod", production_environ())):
            name = f"daylock_test_base_{kind}_{uuid.uuid4().hex[:8]}"
            bases[kind] = name
            url = _create(name)
            redis.Redis.from_url(scratch).flushdb()
            env = environ | {"DATABASE_URL": url, "REDIS_URL": scratch}
            migrated = run_daylock("migrate", "--no-input", env=env, timeout=180)
            assert migrated.returncode == 0, migrated.stderr
        yield bases
    finally:
        redis.Redis.from_url(scratch).flushdb()
        for name in bases.values():
            drop_database(name)


def stamp_redis(url: str, environment: str) -> None:
    """As the first process of that environment would have (so keys may be added)."""
    redis.Redis.from_url(url).set(
        REDIS_STAMP_KEY, json.dumps({"environment": environment, "instance_id": "test"})
    )


def _copy_of(databases: Databases, base: str, label: str) -> str:
    name = f"daylock_test_{label}_{uuid.uuid4().hex[:8]}"
    databases.created.append(name)
    return _create(name, template=base)


@pytest.fixture
def production_env(
    databases: Databases, redis_dbs: Callable[[int], str], migrated_bases: dict[str, str]
) -> dict[str, str]:
    """A complete production configuration on a production-migrated throw-away database
    holding one user."""
    env = production_environ() | {
        "DATABASE_URL": _copy_of(databases, migrated_bases["prod"], "prod"),
        "REDIS_URL": redis_dbs(2),
    }
    stamp_redis(env["REDIS_URL"], "production")
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        conn.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined, role, is_banned, is_test_account)"
            " VALUES ('!', false, 'prod-user', '', '', '', false, true, now(), 'player', false,"
            " false)"
        )
    return env


@pytest.fixture
def staging_env(
    databases: Databases, redis_dbs: Callable[[int], str], migrated_bases: dict[str, str]
) -> Iterator[dict[str, str]]:
    url = _copy_of(databases, migrated_bases["stg"], "stg")
    env = staging_environ() | {"DATABASE_URL": url, "REDIS_URL": redis_dbs(1)}
    stamp_redis(env["REDIS_URL"], "staging")
    yield env
    drop_database(url.rsplit("/", 1)[1] + "_template")


def test_production_refuses_seed_reset_and_every_test_utility(
    production_env: dict[str, str],
) -> None:
    before = fingerprint(production_env["DATABASE_URL"])
    redis.Redis.from_url(production_env["REDIS_URL"]).set("daylock:production:1:k", b"v")
    for args in DESTRUCTIVE:
        line = assert_refused(run_daylock(*args, env=production_env), args[0])
        assert line.startswith(f"daylock: refused: {args[0]}: "), line
        assert "disabled in production" in line, line
    assert fingerprint(production_env["DATABASE_URL"]) == before
    assert redis.Redis.from_url(production_env["REDIS_URL"]).get("daylock:production:1:k") == b"v"
    name = production_env["DATABASE_URL"].rsplit("/", 1)[1]
    assert not database_exists(name + "_template")


def test_staging_pointed_at_a_production_database_is_refused_and_changes_nothing(
    production_env: dict[str, str], redis_dbs: Callable[[int], str]
) -> None:
    env = staging_environ() | {
        "DATABASE_URL": production_env["DATABASE_URL"],
        "REDIS_URL": redis_dbs(1),
    }
    before = fingerprint(env["DATABASE_URL"])
    for args in [("reset", "--yes"), ("reset", "--yes", "--full"), ("seed", "--add"),
                 ("testtools", "clock", "set", "--forward", "1d")]:  # fmt: skip
        line = assert_refused(run_daylock(*args, env=env), args[0])
        assert "stamped production" in line, line
    assert fingerprint(env["DATABASE_URL"]) == before
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    assert not database_exists(name + "_template")


def _query(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


COMPLETERS = """
SELECT p.tier, count(*) FROM (
  SELECT p.user_id, p.tier FROM events_progress p
  JOIN events_day d ON d.id = p.day_id JOIN events_event e ON e.id = d.event_id
  WHERE e.slug = 'staging-past' GROUP BY p.user_id, p.tier HAVING count(*) = max(e.day_count)
) p GROUP BY p.tier ORDER BY 1
"""


def test_reset_wipes_and_reseeds_via_the_template(staging_env: dict[str, str]) -> None:
    url = staging_env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    client = redis.Redis.from_url(staging_env["REDIS_URL"])
    client.set("daylock:staging:1:session-x", b"v")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            'INSERT INTO core_clockoverride (scope, "offset", set_at) '
            "VALUES ('environment', interval '3 days', now())"
        )
    stamp_before = _query(url, f"SELECT environment, instance_id FROM {STAMP_TABLE}")  # noqa: S608
    # A session of "the running web server": reset must not wait for it.
    lingering = psycopg.connect(url, autocommit=True)

    first = run_daylock("reset", "--yes", env=staging_env, timeout=180)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "Reset plan for environment: staging" in out
    assert re.search(
        rf"database: postgresql 127\.0\.0\.1:5432/{name} \(cluster \d+\) "
        r"— stamped staging \(instance ",
        out,
    ), out
    assert "will be DROPPED and re-created" in out
    assert f"{name}_template does not exist yet: built first" in out
    assert "will delete 1 keys matching daylock:staging:*" in out
    assert "reset staging (template)" in out
    with pytest.raises(psycopg.OperationalError):
        lingering.execute("SELECT 1")
    lingering.close()

    # Data present: test users with Discord links, both completion tiers, a drawn prize.
    (linked,) = _query(url, "SELECT count(*) FROM accounts_user u JOIN accounts_discordaccount d "
                            "ON d.user_id = u.id WHERE u.is_test_account")  # fmt: skip
    assert linked[0] == 50
    tiers = dict(_query(url, COMPLETERS))
    assert tiers.get("normal", 0) > 0 and tiers.get("veteran", 0) > 0
    drawn = _query(
        url,
        "SELECT count(*) FROM prizes_draw d JOIN prizes_prize p ON p.id = d.prize_id"
        " JOIN events_event e ON e.id = p.event_id"
        " WHERE e.slug = 'staging-past' AND d.status = 'drawn'",
    )
    assert drawn == [(2,)]
    assert _query(url, "SELECT count(*) FROM core_clockoverride") == [(0,)]  # wiped
    stamp_after = _query(url, f"SELECT environment, instance_id FROM {STAMP_TABLE}")  # noqa: S608
    assert stamp_after[0][0] == "staging"
    assert stamp_after[0][1] != stamp_before[0][1]  # a new instance
    assert client.get("daylock:staging:1:session-x") is None
    assert client.get(REDIS_STAMP_KEY) is not None
    assert _query(
        url, "SELECT action, actor_label FROM core_auditlog WHERE action LIKE 'staging.%'"
    ) == [("staging.reset", "cli")]

    # The template is kept, stamped staging, locked against connections, with its fingerprint.
    (template,) = _query(
        f"{pytest_plugin.PG}/postgres",
        f"SELECT datallowconn, shobj_description(oid, 'pg_database') FROM pg_database "  # noqa: S608
        f"WHERE datname = '{name}_template'",
    )
    assert template[0] is False
    assert "fingerprint=" in str(template[1]) and "environment=staging" in str(template[1])

    second = run_daylock("reset", "--yes", env=staging_env, timeout=180)
    assert second.returncode == 0, second.stderr
    assert f"{name}_template is current: the database is copied from it" in second.stdout
    assert "build template" not in second.stdout
    assert dict(_query(url, COMPLETERS)) == tiers  # same seed, same day, same data

    full = run_daylock("reset", "--yes", "--full", "--users", "12", env=staging_env, timeout=180)
    assert full.returncode == 0, full.stderr
    assert "then: create empty, migrate, seed (--full)" in full.stdout
    assert _query(url, "SELECT count(*) FROM accounts_user") == [(12,)]


def test_reset_without_yes_and_without_a_terminal_refuses(staging_env: dict[str, str]) -> None:
    before = fingerprint(staging_env["DATABASE_URL"])
    result = run_daylock("reset", env=staging_env, input="staging\n")
    line = assert_refused(result, "reset")
    assert line == (
        "daylock: refused: reset: not confirmed: no --yes and no terminal to ask on; "
        "pass --yes to confirm a non-interactive reset"
    )
    assert "Reset plan for environment: staging" in result.stdout  # it said what it would do
    assert fingerprint(staging_env["DATABASE_URL"]) == before


def _run_on_a_terminal(
    env: dict[str, str], typed: str, *args: str
) -> subprocess.CompletedProcess[str]:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    master, slave = pty.openpty()
    try:
        os.write(master, typed.encode())
        return subprocess.run(
            [sys.executable, "-m", "daylock", "reset", *args],
            env=base | env, stdin=slave, capture_output=True, text=True, timeout=120,
            cwd=ROOT, check=False,
        )  # fmt: skip
    finally:
        os.close(master)
        os.close(slave)


def test_reset_on_a_terminal_needs_the_environment_name_typed(staging_env: dict[str, str]) -> None:
    before = fingerprint(staging_env["DATABASE_URL"])
    wrong = _run_on_a_terminal(staging_env, "production\n", "--full", "--users", "4")
    assert wrong.returncode == 1, (wrong.stdout, wrong.stderr)
    assert "Type the environment's name (staging) to wipe it:" in wrong.stdout
    assert "daylock: reset: aborted; nothing was changed" in wrong.stderr
    assert fingerprint(staging_env["DATABASE_URL"]) == before
    right = _run_on_a_terminal(staging_env, "staging\n", "--full", "--users", "4")
    assert right.returncode == 0, (right.stdout, right.stderr)
    assert _query(staging_env["DATABASE_URL"], "SELECT count(*) FROM accounts_user") == [(4,)]


def test_seed_command_on_staging(staging_env: dict[str, str]) -> None:
    first = run_daylock("seed", "--users", "20", "--random-seed", "5", env=staging_env)
    assert first.returncode == 0, first.stderr
    assert "seeded 20 users (20 Discord accounts)" in first.stdout
    assert "\r[" not in first.stderr  # no progress bar without a terminal
    again = run_daylock("seed", env=staging_env)
    assert again.returncode == 1
    assert again.stderr.startswith("daylock: seed: the database already has 20 users;")
    added = run_daylock("seed", "--add", "--users", "5", env=staging_env)
    assert added.returncode == 0, added.stderr
    assert _query(
        staging_env["DATABASE_URL"], "SELECT max(discord_id) FROM accounts_discordaccount"
    ) == [("1000025",)]
    tool = run_daylock("testtools", "complete", "--user", "test-player-21", "--event",
                       "staging-past", "--tier", "veteran", env=staging_env)  # fmt: skip
    assert tool.returncode == 0, tool.stderr
    assert (
        "test-player-21 completed staging-past at veteran tier (5 new progress rows)" in tool.stdout
    )
