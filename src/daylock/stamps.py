"""Environment stamps and resource identity: the one module that reads and writes them.

A guard must judge the very resource a command will touch, so everything here asks
the *live connection* what it is connected to — PostgreSQL's ``current_database()``,
server address, the cluster's ``system_identifier`` and schemas; Redis's DB number as
``CLIENT INFO`` reports it — and never reads a URL's text. Refusal and ``doctor``
lines describe that identity, and destructive steps compare it again right before
they act (:func:`same_database`).

Daylock owns a whole database: its tables live in ``public`` and the stamp is read
from the catalog across **every** schema, not through the ``search_path``. A schema
of another database that holds a stamp or Daylock tables is refused, so "staging as a
schema of production's database" cannot pass.

Any stamp that is not this environment's, or that cannot be read, counts as
production (:func:`stamp_is_production`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from daylock.config import POLICIES, Config, Environment, Refusal

STAMP_TABLE = "daylock_environment_stamp"
#: Deliberately *not* under the ``daylock:<env>:`` prefix: a process of any
#: environment must find another environment's stamp in the same place.
REDIS_STAMP_KEY = "daylock:environment-stamp"
#: The one schema Daylock's tables live in.
OWN_SCHEMA = "public"
#: What a stamp reads as when it exists but cannot be read: treated as production.
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Stamp:
    environment: str
    instance_id: str
    created_at: str


def stamp_is_production(environment: str) -> bool:
    """Unknown or unreadable stamp values count as production: fail closed."""
    try:
        return POLICIES[Environment(environment)].is_production
    except ValueError:
        return True


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseIdentity:
    """What a live connection reports about the database it reached."""

    engine: str  # "postgresql" | "sqlite"
    database: str  # current_database(), or the SQLite file's absolute path
    server: str  # "address:port" as the server sees it ("local socket:port" over a socket)
    system_identifier: str  # the cluster's pg_control_system() identifier ("" on SQLite)
    search_path_schemas: tuple[str, ...]  # current_schemas(true)
    current_schema: str

    def describe(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite {self.database}"
        return f"postgresql {self.server}/{self.database} (cluster {self.system_identifier})"

    def same_place(self, other: DatabaseIdentity) -> bool:
        """The same database of the same cluster (addresses may differ: host aliases)."""
        return (self.engine, self.database, self.system_identifier) == (
            other.engine,
            other.database,
            other.system_identifier,
        )


@dataclass(frozen=True)
class DatabaseState:
    """A database's identity, its stamp and what else it holds, read from the catalog."""

    identity: DatabaseIdentity
    stamp: Stamp | None  # the stamp in Daylock's own schema
    table_count: int  # tables in every non-system schema
    foreign_stamps: tuple[tuple[str, Stamp], ...]  # (schema, stamp) outside OWN_SCHEMA
    foreign_daylock_tables: tuple[str, ...]  # "schema.table" of Daylock tables elsewhere

    @property
    def empty(self) -> bool:
        return self.table_count == 0


_IDENTITY_SQL = (
    "SELECT current_database(), coalesce(host(inet_server_addr()), 'local socket'), "
    "coalesce(inet_server_port(), 0), "
    "(SELECT system_identifier::text FROM pg_control_system()), "
    "current_schemas(true)::text[], coalesce(current_schema(), '')"
)
_TABLES_SQL = (
    # Every table of every schema, and whether a stamp table there can be read as one
    # (privilege and columns checked in the catalog, so the read itself cannot fail).
    "SELECT n.nspname, c.relname, has_schema_privilege(n.oid, 'USAGE') "
    "AND has_table_privilege(c.oid, 'SELECT') AND ("
    "  SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid"
    "  AND NOT a.attisdropped AND a.attname IN ('id', 'environment', 'instance_id', 'created_at')"
    ") = 4 FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def daylock_table_names() -> frozenset[str]:
    """Every table Daylock's installed apps create (plus Django's migration record)."""
    from django.apps import apps

    names = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
    return frozenset(names | {STAMP_TABLE, "django_migrations"})


def _read_stamp_row(cursor: Any, schema: str) -> Stamp:
    table = f"{_quote(schema)}.{_quote(STAMP_TABLE)}"
    cursor.execute(f"SELECT environment, instance_id, created_at FROM {table} ORDER BY id LIMIT 1")  # noqa: S608
    row = cursor.fetchone()
    if row is None:
        return Stamp(UNREADABLE, "?", "?")
    return Stamp(str(row[0]), str(row[1]), str(row[2]))


def inspect_postgresql(cursor: Any, *, daylock_tables: Iterable[str]) -> DatabaseState:
    """Read identity, every schema's tables and every stamp through ``cursor``.

    ``cursor`` is any DB-API cursor on the connection to judge (Django's or a plain
    psycopg one, e.g. on the reset template). Reading a foreign schema's stamp may fail
    (no privilege, another table of the same name): whether a stamp can be read
    is decided from the catalog first, so no statement here fails on a foreign table.
    """
    cursor.execute(_IDENTITY_SQL)
    name, address, port, system_id, schemas, current = cursor.fetchone()
    identity = DatabaseIdentity(
        engine="postgresql",
        database=str(name),
        server=f"{address}:{port}",
        system_identifier=str(system_id),
        search_path_schemas=tuple(str(s) for s in schemas),
        current_schema=str(current),
    )
    cursor.execute(_TABLES_SQL)
    rows = [(str(schema), str(table), bool(readable)) for schema, table, readable in cursor]
    tables = [(schema, table) for schema, table, _ in rows]
    ours = frozenset(daylock_tables)
    stamp: Stamp | None = None
    foreign: list[tuple[str, Stamp]] = []
    for schema, table, readable in rows:
        if table != STAMP_TABLE:
            continue
        read = _read_stamp_row(cursor, schema) if readable else Stamp(UNREADABLE, "?", "?")
        if schema == OWN_SCHEMA:
            stamp = read
        else:
            foreign.append((schema, read))
    return DatabaseState(
        identity=identity,
        stamp=stamp,
        table_count=len(tables),
        foreign_stamps=tuple(sorted(foreign, key=lambda item: item[0])),
        foreign_daylock_tables=tuple(
            sorted(
                f"{schema}.{table}"
                for schema, table in tables
                if schema != OWN_SCHEMA and table in ours
            )
        ),
    )


def _inspect_sqlite(connection: Any) -> DatabaseState:
    tables = connection.introspection.table_names()
    stamp: Stamp | None = None
    if STAMP_TABLE in tables:
        with connection.cursor() as cursor:
            stamp = _read_stamp_row(cursor, "main")
    path = os.path.abspath(str(connection.settings_dict["NAME"]))
    identity = DatabaseIdentity("sqlite", path, "", "", ("main",), "main")
    return DatabaseState(identity, stamp, len(tables), (), ())


def inspect_database(using: str = "default") -> DatabaseState:
    """The state of the database Django's connection ``using`` actually reaches."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor == "sqlite":
        return _inspect_sqlite(connection)
    with connection.cursor() as cursor:
        return inspect_postgresql(cursor, daylock_tables=daylock_table_names())


def read_database_stamp(using: str = "default") -> tuple[Stamp | None, int]:
    """The database's own stamp (or None) and how many tables it holds in all schemas."""
    state = inspect_database(using)
    return state.stamp, state.table_count


def judge_database(
    state: DatabaseState, *, environment: str, guard: str, settings_name: str | None
) -> str:
    """Refuse a database this environment may not use; describe it when it may.

    ``settings_name`` is the database name in Django's settings: the one a destructive
    step would name. A connection that reached another database is refused, so the
    name a command acts on is always the name the guard verified.
    """
    identity = state.identity
    where = identity.describe()
    fix_url = f"point DATABASE_URL at {environment}'s own database"
    if identity.engine == "postgresql":
        if settings_name is not None and settings_name != identity.database:
            raise Refusal(
                guard,
                f"DATABASE_URL names database {settings_name!r} but the connection reached {where}",
                f"{fix_url} and remove whatever redirects the connection (dbname, service, "
                "PG* variables)",
            )
        if identity.current_schema != OWN_SCHEMA:
            raise Refusal(
                guard,
                f"{where}: the connection's search_path puts Daylock in schema "
                f"{identity.current_schema or '(none)'!r} (schemas: "
                f"{', '.join(identity.search_path_schemas)})",
                "Daylock owns a database of its own and uses its public schema; remove the "
                "search_path set on the role or database (ALTER ROLE/DATABASE … RESET "
                "search_path) and use a database of this environment's own",
            )
    for schema, foreign in state.foreign_stamps:
        raise Refusal(
            guard,
            f"{where} holds a {foreign.environment} stamp in schema {schema!r}",
            "Daylock owns a whole database, one per environment (a schema of a shared "
            f"database is refused); {fix_url}",
        )
    if state.foreign_daylock_tables:
        shown = ", ".join(state.foreign_daylock_tables[:3])
        raise Refusal(
            guard,
            f"{where} holds Daylock tables outside its {OWN_SCHEMA} schema ({shown})",
            f"Daylock owns a whole database, one per environment; {fix_url}",
        )
    stamp = state.stamp
    if stamp is None and state.empty:
        return f"{where} is empty; `daylock migrate` will stamp it {environment}"
    if stamp is None:
        raise Refusal(
            guard,
            f"{where} holds {state.table_count} tables but no environment stamp",
            "it may belong to another environment or predate stamps; "
            f"{fix_url} (or an empty one and run `daylock migrate`)",
        )
    if stamp.environment != environment:
        raise Refusal(
            guard,
            f"{where} is stamped {stamp.environment} (instance {stamp.instance_id}) "
            f"but this process is APP_ENV={environment}",
            f"{fix_url}; never share a database between environments",
        )
    return f"{where} stamped {stamp.environment} (instance {stamp.instance_id})"


def reach_database(*, guard: str, using: str = "default") -> DatabaseState:
    """Inspect the live database, or refuse when it cannot be reached."""
    from django.db import DatabaseError, connections

    try:
        return inspect_database(using)
    except DatabaseError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        settings = connections[using].settings_dict
        raise Refusal(
            guard,
            f"cannot reach the database {settings.get('NAME')!r} on "
            f"{settings.get('HOST') or 'the local socket'}: {first_line}",
            "check DATABASE_URL and that the database server is running",
        ) from None


def judge_reached(
    state: DatabaseState, config: Config, *, guard: str, using: str = "default"
) -> str:
    """:func:`judge_database` against the name Django's settings would act on."""
    from django.db import connections

    name = str(connections[using].settings_dict["NAME"])
    return judge_database(
        state,
        environment=config.app_env.value,
        guard=guard,
        settings_name=name if state.identity.engine == "postgresql" else None,
    )


def verify_database(config: Config, *, guard: str, using: str = "default") -> DatabaseState:
    """Inspect the live database and refuse it unless it is this environment's own.

    Returns the verified state (an empty database passes: ``migrate`` stamps it).
    """
    state = reach_database(guard=guard, using=using)
    judge_reached(state, config, guard=guard, using=using)
    return state


def renew_database_stamp(cursor: Any) -> Stamp | None:
    """A copied database is a new instance: new instance id and creation time."""
    cursor.execute(
        f"UPDATE {STAMP_TABLE} SET instance_id = %s, created_at = CURRENT_TIMESTAMP "  # noqa: S608
        "RETURNING environment, instance_id, created_at",
        [uuid.uuid4().hex],
    )
    row = cursor.fetchone()
    return None if row is None else Stamp(str(row[0]), str(row[1]), str(row[2]))


# --- Redis --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisIdentity:
    """The server address and DB number a live Redis connection reports."""

    server: str
    db: int

    def describe(self) -> str:
        return f"redis {self.server} db {self.db}"


@dataclass(frozen=True)
class RedisState:
    identity: RedisIdentity
    stamp: Stamp | None
    key_count: int


def redis_client(url: str, *, timeout: float = 3.0) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=timeout)


def _parse_redis_stamp(raw: bytes | None) -> Stamp | None:
    if raw is None:
        return None
    try:
        found = json.loads(raw)
        return Stamp(str(found["environment"]), str(found.get("instance_id", "?")), "")
    except (ValueError, KeyError, TypeError):
        return Stamp(UNREADABLE, "?", "")


def inspect_redis(client: Any) -> RedisState:
    """Identity, stamp and key count, all read on ``client``'s one connection."""
    pipe = client.pipeline(transaction=False)
    pipe.client_info()
    pipe.get(REDIS_STAMP_KEY)
    pipe.dbsize()
    info, raw, size = pipe.execute()
    identity = RedisIdentity(server=str(info.get("laddr", "?")), db=int(info["db"]))
    return RedisState(identity, _parse_redis_stamp(raw), int(size))


def judge_redis(state: RedisState, *, environment: str, guard: str) -> str:
    where = state.identity.describe()
    stamp = state.stamp
    if stamp is None and state.key_count:
        raise Refusal(
            guard,
            f"{where} holds {state.key_count} keys but no environment stamp",
            f"point REDIS_URL at {environment}'s own Redis DB (or an empty one)",
        )
    if stamp is not None and stamp.environment == UNREADABLE:
        raise Refusal(
            guard,
            f"{where} has an unreadable stamp key {REDIS_STAMP_KEY}",
            f"point REDIS_URL at {environment}'s own Redis DB",
        )
    if stamp is not None and stamp.environment != environment:
        raise Refusal(
            guard,
            f"{where} is stamped {stamp.environment} but this process is APP_ENV={environment}",
            f"point REDIS_URL at {environment}'s own Redis DB (another DB number or instance)",
        )
    return f"{where} stamped {environment}" if stamp else f"{where} is empty"


def verify_redis(config: Config, *, guard: str, stamp_empty: bool) -> RedisState | None:
    """Refuse a Redis DB that is not this environment's; stamp an empty one if asked.

    Returns None when the environment has no Redis.
    """
    if not config.redis_url:
        return None
    import redis

    client = redis_client(config.redis_url)
    try:
        state = inspect_redis(client)
        judge_redis(state, environment=config.app_env.value, guard=guard)
        if state.stamp is None and stamp_empty:
            stamp = {
                "environment": config.app_env.value,
                "instance_id": uuid.uuid4().hex,
                "stamped_by_pid": os.getpid(),
            }
            # NX: of two processes racing to stamp an empty DB, one wins and both compare.
            client.set(REDIS_STAMP_KEY, json.dumps(stamp), nx=True)
            state = inspect_redis(client)
            judge_redis(state, environment=config.app_env.value, guard=guard)
    except redis.RedisError as exc:
        raise Refusal(
            guard,
            f"cannot reach Redis ({_redis_address(config.redis_url)}): {exc}",
            "check REDIS_URL and that Redis is running",
        ) from None
    finally:
        client.close()
    return state


def _redis_address(url: str) -> str:
    """Where a failed connection was headed (the only time a URL is described)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"socket {parts.path}"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
