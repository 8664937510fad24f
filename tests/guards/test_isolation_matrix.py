"""Production's resources under generated spellings, handed to a staging process.

An operator who pastes production's database or Redis into staging's settings does
not write it the way production does: another host alias, a percent-encoded name,
the database in ``?dbname=`` instead of the path, a ``search_path`` that turns
staging into a schema of production's database, libpq variables in the shell. The
spellings below are *generated* from those dimensions, and every command an operator
can run (``doctor``, ``check``, ``migrate``, ``seed``, ``reset``, ``reset --full``,
``serve``, ``worker``, ``testtools``) is run with each of them as a real child
process. Each must be refused (exit 2, one ``daylock: refused:`` line; ``doctor`` a
FAIL line) naming the resource the connection really reached; and after every
spelling a checksum of every production table in every schema, the production
database's identity (its oid: a drop and re-create changes it) and every production
Redis key is unchanged.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import psycopg
import pytest
import redis
from psycopg import sql

from daylock.testing import pytest_plugin
from daylock.testing.pytest_plugin import production_environ, staging_environ
from tests.conftest import Databases, run_daylock

PG_HOST = "127.0.0.1"
#: The test Redis server's port (``DAYLOCK_TEST_REDIS`` may move it off 6379).
REDIS_PORT = urlsplit(pytest_plugin.REDIS).port or 6379
PG_PORT = 5432
SOCKET_DIR = "/var/run/postgresql"

COMMANDS: dict[str, tuple[str, ...]] = {
    "doctor": ("doctor",),
    "check": ("check",),
    "migrate": ("migrate", "--no-input"),
    "seed": ("seed", "--users", "5"),
    "reset": ("reset", "--yes", "--users", "5"),
    "reset-full": ("reset", "--yes", "--full", "--users", "5"),
    "serve": ("serve", "--bind", "127.0.0.1:0", "--workers", "1"),
    "worker": ("worker", "--once"),
    "testtools": ("testtools", "clock", "show"),
}
#: A command a guard wrongly let through is ended after this long (serve, worker).
RUN_TIMEOUT = 45


@dataclass
class World:
    prod_db: str  # database name
    staging_db: str
    prod_redis_db: int
    staging_redis_db: int

    def url(self, db: str, *, host: str = PG_HOST, user: str = "postgres", query: str = "") -> str:
        return f"postgres://{user}@{host}:{PG_PORT}/{db}" + (f"?{query}" if query else "")

    def redis_url(self, db: int, *, host: str = "127.0.0.1") -> str:
        return f"redis://{host}:{REDIS_PORT}/{db}"


def _staging(world: World) -> dict[str, str]:
    return staging_environ() | {
        "DATABASE_URL": world.url(world.staging_db),
        "REDIS_URL": pytest_plugin.redis_url(2),
    }


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    dbs = Databases()
    urls = [pytest_plugin.redis_url(slot) for slot in (1, 2)]
    for url in urls:
        redis.Redis.from_url(url).flushdb()
    try:
        prod_url, staging_url = dbs.create("iso_prod"), dbs.create("iso_stg")
        w = World(
            prod_db=prod_url.rsplit("/", 1)[1],
            staging_db=staging_url.rsplit("/", 1)[1],
            prod_redis_db=pytest_plugin.redis_db(1),
            staging_redis_db=pytest_plugin.redis_db(2),
        )
        production = production_environ() | {"DATABASE_URL": prod_url, "REDIS_URL": urls[0]}
        for env in (production, _staging(w)):
            result = run_daylock("migrate", "--no-input", env=env, timeout=300)
            assert result.returncode == 0, result.stderr[-3000:]
        with psycopg.connect(prod_url, autocommit=True) as conn:
            # Production has data, and a schema a staging operator might aim at.
            conn.execute(
                "INSERT INTO core_auditlog (created_at, environment, actor_label, action, "
                "target, details) VALUES (now(), 'production', 'ops', 'real', 'prize', '{}')"
            )
            conn.execute("CREATE SCHEMA stg")
        prod_redis = redis.Redis.from_url(urls[0])
        prod_redis.set("daylock:production:1:session-real", b"a real player's session")
        yield w
    finally:
        dbs.drop_all()
        for url in urls:
            redis.Redis.from_url(url).flushdb()


def production_checksum(world: World) -> str:
    """Every row of every table in every schema, the database's oid, every Redis key."""
    digest = hashlib.sha256()
    with psycopg.connect(f"{pytest_plugin.PG}/postgres") as admin:
        oid = admin.execute(
            "SELECT oid FROM pg_database WHERE datname = %s", (world.prod_db,)
        ).fetchone()
    digest.update(repr(oid).encode())
    with psycopg.connect(world.url(world.prod_db)) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2"
        ).fetchall()
        schemas = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
        digest.update(repr(schemas).encode())
        for schema, table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    "FROM {}.{} t"
                ).format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchone()
            digest.update(f"{schema}.{table}:{row}".encode())
    client = redis.Redis.from_url(pytest_plugin.redis_url(1))
    for key in sorted(client.scan_iter(count=1000)):
        digest.update(key + b"=" + (client.dump(key) or b""))
    return digest.hexdigest()


# --- generated spellings -------------------------------------------------------------------


@dataclass(frozen=True)
class Spelling:
    id: str
    #: Builds (DATABASE_URL, REDIS_URL, extra environment) from the world.
    database: str  # a template: {prod} {stg} {host} {user}
    redis: str  # "staging" or a template with {prod_db} {stg_db} {host}
    extra: tuple[tuple[str, str], ...] = ()
    #: Where the refusal must come from, and what it must name.
    guard: str = "database-stamp"


HOSTS = ("127.0.0.1", "localhost", "[::1]", quote(SOCKET_DIR, safe=""))
USERS = ("postgres", "%70ostgres", "postgres:")
REDIS_HOSTS = ("127.0.0.1", "localhost", "[::1]", ":@127.0.0.1", ":@localhost")

#: The production database reached by a URL the config cannot tell apart from a good
#: one: only the live connection's stamp can refuse these (every host alias).
REACHING = {
    "path": "{prod}",
    "path-percent-encoded": "{prod_encoded}",
    "path-with-allowed-parameters": "{prod}?sslmode=prefer&connect_timeout=5",
}
#: Spellings that move the connection behind the URL's back: refused before any I/O.
MOVING = {
    "dbname-names-production": "{stg}?dbname={prod}",
    "dbname-names-staging": "{prod}?dbname={stg}",
    "options-search-path": "{prod}?options=-c%20search_path%3Dstg",
    "options-search-path-compact": "{prod}?options=-csearch_path%3Dstg",
    "current-schema": "{prod}?currentSchema=stg",
    "host-parameter": "{stg}?host=127.0.0.1&dbname={prod}",
    "service": "{stg}?service=daylock",
    "harmless-options": "{stg}?options=-c%20statement_timeout%3D5000",
}
ENVIRONMENT_MOVES = {
    "PGOPTIONS-search-path": ("{prod}", (("PGOPTIONS", "-c search_path=stg"),)),
    "PGDATABASE": ("{stg}", (("PGDATABASE", "{prod}"),)),
    "PGSERVICE": ("{stg}", (("PGSERVICE", "daylock"),)),
}


def _spellings() -> list[Spelling]:
    out: list[Spelling] = []
    for (name, path), (host, user) in itertools.product(
        REACHING.items(), zip(HOSTS, itertools.cycle(USERS), strict=False)
    ):
        out.append(Spelling(f"db-{name}-{host[:9]}-{user[:4]}", f"{user}@{host}/{path}", "staging"))
    pairs = itertools.cycle(zip(HOSTS, itertools.cycle(USERS), strict=False))
    for (name, path), (host, user) in zip(MOVING.items(), pairs, strict=False):
        out.append(Spelling(f"db-{name}", f"{user}@{host}/{path}", "staging", guard="config"))
    for name, (path, extra) in ENVIRONMENT_MOVES.items():
        out.append(Spelling(f"db-{name}", f"postgres@127.0.0.1/{path}", "staging", extra, "config"))
    for host in REDIS_HOSTS:
        out.append(
            Spelling(
                f"redis-path-{host.strip(':@')}",
                "postgres@127.0.0.1/{stg}",
                f"redis://{host}:{REDIS_PORT}/{{prod_db}}",
                guard="redis-stamp",
            )
        )
    out.append(
        Spelling(
            "redis-query-db-overrides-path",
            "postgres@127.0.0.1/{stg}",
            f"redis://127.0.0.1:{REDIS_PORT}/{{stg_db}}?db={{prod_db}}",
            guard="redis-stamp",
        )
    )
    if REDIS_PORT == 6379:  # the port left out of the URL only reaches the test Redis there
        out.append(
            Spelling(
                "redis-default-port",
                "postgres@127.0.0.1/{stg}",
                "redis://localhost/{prod_db}",
                guard="redis-stamp",
            )
        )
    return out


SPELLINGS = _spellings()


def _fill(template: str, world: World) -> str:
    return template.format(
        prod=world.prod_db,
        prod_encoded="".join(f"%{ord(c):02X}" if c in "_t" else c for c in world.prod_db),
        stg=world.staging_db,
        prod_db=world.prod_redis_db,
        stg_db=world.staging_redis_db,
    )


def environment_for(spelling: Spelling, world: World) -> dict[str, str]:
    env = _staging(world)
    env["DATABASE_URL"] = "postgres://" + _fill(spelling.database, world)
    if spelling.redis != "staging":
        env["REDIS_URL"] = _fill(spelling.redis, world)
    for name, value in spelling.extra:
        env[name] = _fill(value, world)
    return env


def _run(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return run_daylock(*args, env=env, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(args, -1, str(exc.stdout), "TIMEOUT: it started")


def _connects(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


def _redis_connects(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError:
        return False
    return True


def _expected_names(spelling: Spelling, world: World, env: dict[str, str]) -> tuple[str, ...]:
    """What the refusal must say: the resource actually reached, as it reports itself
    (a host alias this server does not accept, e.g. ::1 without a pg_hba line, cannot be
    reached at all: then that is what must be said)."""
    if spelling.guard == "database-stamp":
        if not _connects(env["DATABASE_URL"]):
            return ("cannot reach the database",)
        return (f"/{world.prod_db} (cluster ", "stamped production")
    if spelling.guard == "redis-stamp":
        if not _redis_connects(env["REDIS_URL"]):
            return ("cannot reach Redis",)
        return (f" db {world.prod_redis_db}", "stamped production")
    return ()


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[s.id for s in SPELLINGS])
def test_production_under_another_spelling_is_refused_by_every_command(
    world: World, spelling: Spelling
) -> None:
    before = production_checksum(world)
    env = environment_for(spelling, world)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(
            zip(
                COMMANDS,
                pool.map(lambda args: _run(args, env), COMMANDS.values()),
                strict=True,
            )
        )
    after = production_checksum(world)
    expected = _expected_names(spelling, world, env)
    problems = []
    for name, result in results.items():
        out = f"{name}: exit {result.returncode}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        if result.returncode != 2 or "Traceback" in result.stdout + result.stderr:
            problems.append(out)
            continue
        if name == "doctor":
            line = next((x for x in result.stdout.splitlines() if x.startswith("FAIL ")), "")
            expected_start = f"FAIL {spelling.guard}: "
        else:
            lines = result.stderr.strip().splitlines()
            line = lines[-1] if lines else ""
            expected_start = f"daylock: refused: {spelling.guard}: "
        if not line.startswith(expected_start) or not all(needle in line for needle in expected):
            problems.append(out)
    assert not problems, "\n\n".join(problems)
    assert after == before, f"{spelling.id} changed production"


def test_the_spellings_cover_every_dimension() -> None:
    ids = [s.database + s.redis + repr(s.extra) for s in SPELLINGS]
    for host in HOSTS:
        assert sum(host in s for s in ids) >= len(REACHING)
    for user in USERS:
        assert any(f"{user}@" in s for s in ids)
    assert len({s.guard for s in SPELLINGS}) == 3
    assert len(SPELLINGS) == len(set(ids)) >= 25


def test_a_good_staging_spelling_is_accepted(world: World) -> None:
    """Positive control: the same machinery with staging's own resources (under host
    aliases) passes doctor, so the refusals above come from the spellings alone."""
    for host in ("127.0.0.1", "localhost", quote(SOCKET_DIR, safe="")):
        env = _staging(world) | {
            "DATABASE_URL": f"postgres://postgres@{host}/{world.staging_db}",
            "REDIS_URL": f"redis://localhost:{REDIS_PORT}/{world.staging_redis_db}",
        }
        result = run_daylock("doctor", env=env, timeout=60)
        assert "FAIL database-stamp" not in result.stdout, result.stdout
        assert "FAIL redis-stamp" not in result.stdout, result.stdout
        assert f"/{world.staging_db} (cluster " in result.stdout
        assert f"db {world.staging_redis_db}" in result.stdout
