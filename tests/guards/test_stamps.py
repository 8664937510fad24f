"""The stamp and identity reads of :mod:`daylock.stamps`, on real PostgreSQL and Redis.

Each database here is built by hand to be one thing an operator could point Daylock
at; the judgement must come from what the live connection and the catalog report.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import psycopg
import pytest
import redis
from psycopg import sql

from daylock import stamps
from daylock.config import Refusal
from daylock.testing import pytest_plugin
from daylock.testing.pytest_plugin import production_environ, staging_environ
from tests.conftest import Databases, run_daylock

OURS = frozenset({stamps.STAMP_TABLE, "django_migrations", "accounts_user"})


def _stamp_table(conn: psycopg.Connection, schema: str, environment: str | None) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE {}.{} (id bigserial PRIMARY KEY, singleton boolean UNIQUE, "
            "environment varchar(20), instance_id uuid, created_at timestamptz)"
        ).format(sql.Identifier(schema), sql.Identifier(stamps.STAMP_TABLE))
    )
    if environment is not None:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.{} (singleton, environment, instance_id, created_at) "
                "VALUES (true, %s, gen_random_uuid(), now())"
            ).format(sql.Identifier(schema), sql.Identifier(stamps.STAMP_TABLE)),
            (environment,),
        )


def _state(url: str) -> stamps.DatabaseState:
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        return stamps.inspect_postgresql(cursor, daylock_tables=OURS)


def _judge(state: stamps.DatabaseState, name: str | None = None) -> str:
    return stamps.judge_database(
        state, environment="staging", guard="database-stamp", settings_name=name
    )


@pytest.fixture
def staging_db(databases: Databases) -> str:
    """A database that looks like staging's own: stamp and a table in ``public``."""
    url = databases.create("stamps")
    with psycopg.connect(url, autocommit=True) as conn:
        _stamp_table(conn, "public", "staging")
        conn.execute("CREATE TABLE accounts_user (id serial PRIMARY KEY)")
    return url


def test_identity_is_what_the_connection_reports(staging_db: str) -> None:
    state = _state(staging_db)
    name = staging_db.rsplit("/", 1)[1]
    with psycopg.connect(staging_db) as conn:
        system_id = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    assert state.identity.database == name
    assert state.identity.system_identifier == str(system_id[0])  # type: ignore[index]
    assert state.identity.current_schema == "public"
    assert state.identity.describe() == f"postgresql 127.0.0.1:5432/{name} (cluster {system_id[0]})"  # type: ignore[index]
    assert _judge(state, name).endswith(
        "stamped staging (instance " + state.stamp.instance_id + ")"
    )  # type: ignore[union-attr]


def test_the_name_in_settings_must_be_the_database_reached(staging_db: str) -> None:
    state = _state(staging_db)
    with pytest.raises(Refusal) as info:
        _judge(state, "daylock_production")
    message = str(info.value)
    assert "DATABASE_URL names database 'daylock_production'" in message
    assert f"reached postgresql 127.0.0.1:5432/{state.identity.database} (cluster " in message


@pytest.mark.parametrize("foreign", ["production", "staging", "development"])
def test_a_stamp_in_another_schema_is_refused_whatever_it_says(
    staging_db: str, foreign: str
) -> None:
    """Staging as a schema of a shared database: even a staging stamp elsewhere is
    refused (one database, one environment)."""
    with psycopg.connect(staging_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
        _stamp_table(conn, "other", foreign)
    with pytest.raises(Refusal, match=f"holds a {foreign} stamp in schema 'other'"):
        _judge(_state(staging_db))


def test_daylock_tables_in_another_schema_are_refused(staging_db: str) -> None:
    with psycopg.connect(staging_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA old")
        conn.execute("CREATE TABLE old.django_migrations (id serial PRIMARY KEY)")
        conn.execute("CREATE TABLE old.unrelated (id serial PRIMARY KEY)")
    with pytest.raises(
        Refusal, match=r"Daylock tables outside its public schema \(old.django_migrations\)"
    ):
        _judge(_state(staging_db))


def test_production_stamped_database_seen_through_a_search_path_is_refused(
    databases: Databases,
) -> None:
    """The first break of the review: a search_path makes the stamp invisible to a
    search_path lookup; the catalog still sees it, and the schema is refused."""
    url = databases.create("sp")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        _stamp_table(conn, "public", "production")
        conn.execute("CREATE SCHEMA stg")
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET search_path = stg").format(sql.Identifier(name))
        )
    state = _state(url)
    assert state.identity.current_schema == "stg"
    assert state.stamp is not None and state.stamp.environment == "production"
    with pytest.raises(Refusal, match="search_path puts Daylock in schema 'stg'"):
        _judge(state, name)


def test_a_search_path_on_an_otherwise_good_database_is_refused(staging_db: str) -> None:
    name = staging_db.rsplit("/", 1)[1]
    with psycopg.connect(staging_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA elsewhere")
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET search_path = elsewhere, public").format(
                sql.Identifier(name)
            )
        )
    with pytest.raises(Refusal, match="ALTER ROLE/DATABASE … RESET search_path"):
        _judge(_state(staging_db), name)


@pytest.mark.parametrize("shape", ["no rows", "missing column", "no privilege"])
def test_a_stamp_that_cannot_be_read_counts_as_production(databases: Databases, shape: str) -> None:
    url = databases.create("unreadable")
    role = f"daylock_test_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        if shape == "missing column":
            conn.execute(
                sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, environment text)").format(
                    sql.Identifier(stamps.STAMP_TABLE)
                )
            )
            conn.execute(
                sql.SQL("INSERT INTO {} (environment) VALUES ('staging')").format(
                    sql.Identifier(stamps.STAMP_TABLE)
                )
            )
        else:
            _stamp_table(conn, "public", None if shape == "no rows" else "staging")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        user_url = url.replace("postgres@", f"{role}@") if shape == "no privilege" else url
        state = _state(user_url)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert state.stamp is not None
    assert state.stamp.environment == stamps.UNREADABLE
    assert stamps.stamp_is_production(state.stamp.environment)
    with pytest.raises(Refusal, match="is stamped unreadable"):
        _judge(state)


def test_an_empty_database_passes_and_one_with_foreign_tables_does_not(
    databases: Databases,
) -> None:
    url = databases.create("empty")
    assert "is empty; `daylock migrate` will stamp it staging" in _judge(_state(url))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.orders (id serial PRIMARY KEY)")
    with pytest.raises(Refusal, match="holds 1 tables but no environment stamp"):
        _judge(_state(url))


# --- Redis ---------------------------------------------------------------------------------


def test_redis_identity_is_the_db_the_connection_uses(redis_dbs: Callable[[int], str]) -> None:
    """``/A?db=B``: redis-py connects to B; the description says so, never the path."""
    path_url, real_url = redis_dbs(1), redis_dbs(2)
    path_db, real_db = int(path_url.rsplit("/", 1)[1]), int(real_url.rsplit("/", 1)[1])
    redis.Redis.from_url(real_url).set(
        stamps.REDIS_STAMP_KEY, json.dumps({"environment": "production", "instance_id": "p"})
    )
    client = redis.Redis.from_url(f"{path_url}?db={real_db}")
    try:
        state = stamps.inspect_redis(client)
    finally:
        client.close()
    assert state.identity.db == real_db != path_db
    with pytest.raises(Refusal) as info:
        stamps.judge_redis(state, environment="staging", guard="redis-stamp")
    assert f"db {real_db} is stamped production" in str(info.value)
    assert f"db {path_db}" not in str(info.value)


def test_an_unreadable_redis_stamp_is_refused(redis_dbs: Callable[[int], str]) -> None:
    url = redis_dbs(1)
    redis.Redis.from_url(url).set(stamps.REDIS_STAMP_KEY, b"not json")
    with pytest.raises(Refusal, match="unreadable stamp key"):
        stamps.judge_redis(
            stamps.inspect_redis(redis.Redis.from_url(url)), environment="staging", guard="x"
        )


# --- the reset template (break 4 of the review) ------------------------------------------------


@pytest.fixture
def staging_with_a_trap(
    databases: Databases, redis_dbs: Callable[[int], str]
) -> tuple[dict[str, str], str, str]:
    """A migrated staging database, and a *production*-stamped database sitting where
    reset keeps its template (``<name>_template``)."""
    staging_url, prod_url = databases.create("tpl_stg"), databases.create("tpl_prod")
    env = staging_environ() | {"DATABASE_URL": staging_url, "REDIS_URL": redis_dbs(2)}
    production = production_environ() | {"DATABASE_URL": prod_url, "REDIS_URL": redis_dbs(1)}
    for environ in (env, production):
        result = run_daylock("migrate", "--no-input", env=environ, timeout=300)
        assert result.returncode == 0, result.stderr
    template = staging_url.rsplit("/", 1)[1] + "_template"
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(template), sql.Identifier(prod_url.rsplit("/", 1)[1])
            )
        )
    databases.created.append(template)
    return env, template, f"{pytest_plugin.PG}/{template}"


def _oid_and_stamp(template_url: str, template: str) -> tuple[object, object]:
    with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as admin:
        oid = admin.execute(
            "SELECT oid FROM pg_database WHERE datname = %s", (template,)
        ).fetchone()
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                sql.Identifier(template)
            )
        )
    with psycopg.connect(template_url) as conn:
        stamp = conn.execute(
            sql.SQL("SELECT environment, instance_id FROM {}").format(
                sql.Identifier(stamps.STAMP_TABLE)
            )
        ).fetchone()
    return oid, stamp


@pytest.mark.parametrize("comment", [None, "forged"])
def test_reset_never_drops_or_uses_a_template_that_is_not_this_environments(
    staging_with_a_trap: tuple[dict[str, str], str, str], comment: str | None
) -> None:
    env, template, template_url = staging_with_a_trap
    if comment == "forged":
        # Someone copied the reset comment: the stamp inside must still decide.
        with psycopg.connect(f"{pytest_plugin.PG}/postgres", autocommit=True) as admin:
            admin.execute(
                sql.SQL("COMMENT ON DATABASE {} IS ").format(sql.Identifier(template))
                + sql.Literal("daylock reset template; fingerprint=x; environment=staging")
            )
    before = _oid_and_stamp(template_url, template)
    for args in (("reset", "--yes"), ("reset", "--yes", "--users", "7")):
        result = run_daylock(*args, env=env, timeout=180)
        assert result.returncode == 2, result.stdout + result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("daylock: refused: reset: "), line
        if comment is None:
            assert f"database {template} exists on cluster " in line
            assert "was not made by `daylock reset`" in line
        else:
            assert f"/{template} (cluster " in line and "is stamped production" in line
    assert _oid_and_stamp(template_url, template) == before
